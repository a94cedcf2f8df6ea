/**
 * Lays the module out the way the engine's TypeScript runtime does, in a temporary folder:
 * `src/` (a copy of .dagger/src) and `node_modules/@dagger.io/dagger` holding what the runtime
 * mounts there: an `index.ts` that re-exports only the names of the bundled SDK and a TypeScript
 * `client.gen.ts` (the SDK's introspector resolves core types such as Directory by finding their
 * declarations in a non-declaration `client.gen.ts`, which the npm package does not ship).
 * At run time `index.js` re-exports the same names from the npm package, so a module that imports
 * a name the bundled SDK lacks (ExecError, up...) fails to load here as it would in the engine.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SDK = join(ROOT, "node_modules/@dagger.io/dagger/dist/src");

/** What the engine's generated sdk/index.ts exports at v0.21 (sdk/typescript/runtime/tsutils/module/index.ts). */
export const BUNDLED_SDK_EXPORTS = [
  "connection",
  "connect",
  "Context",
  "func",
  "check",
  "generate",
  "argument",
  "object",
  "field",
  "enumType",
  "entrypoint",
] as const;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? walk(full) : [full];
  });
}

export interface EngineLayout {
  root: string;
  /** The module's source files in the layout, as the runtime passes them to `entrypoint`. */
  files: string[];
}

export function prepareEngineLayout(): EngineLayout {
  const root = mkdtempSync(join(tmpdir(), "observatory-ci-engine-"));
  cpSync(join(ROOT, ".dagger/src"), join(root, "src"), { recursive: true });
  writeFileSync(join(root, "tsconfig.json"), readFileSync(join(ROOT, ".dagger/tsconfig.json")));
  writeFileSync(join(root, "package.json"), readFileSync(join(ROOT, ".dagger/package.json")));

  const pkg = join(root, "node_modules/@dagger.io/dagger");
  for (const file of walk(SDK).filter((f) => f.endsWith(".d.ts"))) {
    const target = join(pkg, "core", relative(SDK, file).replace(/\.d\.ts$/, ".ts"));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, readFileSync(file));
  }
  const names = BUNDLED_SDK_EXPORTS.join(", ");
  writeFileSync(join(pkg, "index.ts"), `export { ${names} } from "./core/index.js";\nexport * from "./core/api/client.gen.js";\n`);
  writeFileSync(
    join(pkg, "index.js"),
    `export { ${names} } from ${JSON.stringify(join(SDK, "index.js"))};\nexport * from ${JSON.stringify(join(SDK, "api/client.gen.js"))};\n`,
  );
  writeFileSync(
    join(pkg, "package.json"),
    JSON.stringify({ name: "@dagger.io/dagger", type: "module", exports: { ".": "./index.js" }, types: "./index.ts" }),
  );
  symlinkSync(join(ROOT, "node_modules/zod"), join(root, "node_modules/zod"), "dir");
  return { root, files: walk(join(root, "src")).filter((f) => f.endsWith(".ts")) };
}
