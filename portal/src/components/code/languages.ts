import type { Extension } from "@codemirror/state";

/** The language support for a file name, loaded on demand. */
export async function languageFor(path: string): Promise<Extension[]> {
  const ext = path.split(".").pop()?.toLowerCase() ?? "";
  if (["js", "jsx", "mjs", "cjs", "ts", "tsx", "json"].includes(ext)) {
    const { javascript } = await import("@codemirror/lang-javascript");
    return [javascript({ jsx: ext.endsWith("x"), typescript: ext.startsWith("ts") })];
  }
  if (ext === "py") return [(await import("@codemirror/lang-python")).python()];
  if (ext === "md" || ext === "markdown") return [(await import("@codemirror/lang-markdown")).markdown()];
  return [];
}
