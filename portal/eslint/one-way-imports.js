// One-way imports inside src/ (bulletproof-react's layering, checked on the
// import specifier so no module resolver is needed):
//
//   src/lib          → src/lib
//   src/components   → src/lib, src/components
//   src/features/X   → src/lib, src/components, src/features/X,
//                      src/features/Y only through its public index (src/features/Y or …/Y/index)
//   src/app, src/*.tsx → anything
//
// Specifiers are relative ("./x", "../../lib/x") or use the "@/" alias for src/.
import path from "node:path";

function layerOf(srcRoot, file) {
  const rel = path.relative(srcRoot, file);
  if (rel.startsWith("..") || path.isAbsolute(rel)) return null;
  const [top, second] = rel.split(path.sep);
  if (top === "features") return { name: "features", feature: second ?? "" };
  if (top === "lib" || top === "components" || top === "app") return { name: top };
  return { name: "root" };
}

function targetOf(srcRoot, file, specifier) {
  if (specifier.startsWith("@/")) return path.join(srcRoot, specifier.slice(2));
  if (specifier.startsWith(".")) return path.resolve(path.dirname(file), specifier);
  return null; // a package
}

function isFeaturePublicApi(srcRoot, target) {
  const parts = path.relative(srcRoot, target).split(path.sep);
  // features/<name> or features/<name>/index(.ts|.tsx)
  return parts.length === 2 || (parts.length === 3 && /^index(\.tsx?)?$/.test(parts[2]));
}

function problem(from, to, srcRoot, target) {
  if (to === null) return null;
  switch (from.name) {
    case "lib":
      return to.name === "lib" ? null : "src/lib may import only src/lib";
    case "components":
      return to.name === "lib" || to.name === "components"
        ? null
        : "src/components may import only src/lib and src/components";
    case "features":
      if (to.name === "lib" || to.name === "components") return null;
      if (to.name === "features") {
        if (to.feature === from.feature || isFeaturePublicApi(srcRoot, target)) return null;
        return `a feature may use another feature only through its index: import "@/features/${to.feature}"`;
      }
      return to.name === "app"
        ? "a feature may not import src/app (the app composes features, not the other way round)"
        : "a feature may import only src/lib, src/components, itself and other features' index";
    default:
      return null;
  }
}

const rule = {
  meta: {
    type: "problem",
    docs: { description: "enforce the portal's one-way imports (lib ← components ← features ← app)" },
    schema: [],
  },
  create(context) {
    const srcRoot = path.join(context.cwd, "src");
    const file = context.filename;
    const from = layerOf(srcRoot, file);
    if (from === null) return {};
    const check = (node) => {
      if (!node.source || typeof node.source.value !== "string") return;
      const target = targetOf(srcRoot, file, node.source.value);
      if (target === null) return;
      const message = problem(from, layerOf(srcRoot, target), srcRoot, target);
      if (message) context.report({ node: node.source, message });
    };
    return {
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
      ImportExpression: check,
    };
  },
};

export default { meta: { name: "ccplane-portal" }, rules: { "one-way-imports": rule } };
