// File content travels as base64 (proto3 JSON bytes); the editor wants text.

/** base64 → bytes. */
export function base64ToBytes(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** bytes → base64. */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  const step = 0x8000;
  for (let i = 0; i < bytes.length; i += step) {
    binary += String.fromCharCode(...bytes.subarray(i, i + step));
  }
  return btoa(binary);
}

/** UTF-8 text → base64, for WriteFile. */
export function textToBase64(text: string): string {
  return bytesToBase64(new TextEncoder().encode(text));
}

export type DecodedContent = { kind: "text"; text: string } | { kind: "binary"; size: number };

/**
 * What a file holds, for the editor: text when it is valid UTF-8 without NUL
 * bytes, else "binary" (shown, not edited, so nothing is mangled on save).
 */
export function decodeContent(base64: string | undefined): DecodedContent {
  const bytes = base64ToBytes(base64 ?? "");
  if (bytes.includes(0)) return { kind: "binary", size: bytes.length };
  try {
    return { kind: "text", text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    return { kind: "binary", size: bytes.length };
  }
}

/** 1536 → "1.5 KB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "";
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
