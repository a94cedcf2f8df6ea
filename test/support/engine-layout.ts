/**
 * Lays the module out the way the engine's TypeScript runtime does, in a temporary folder, from
 * the replay of its steps (test/support/engine-runtime.ts): the files the engine loads from
 * `.dagger` (`.gitignore` applied) minus the config files, the package.json and tsconfig.json as
 * the runtime rewrites them, node_modules from the runtime's own install (npm, offline), and
 * `node_modules/@dagger.io/dagger` holding what the runtime mounts there: an `index.ts` that
 * re-exports only the names of the bundled SDK and a TypeScript `client.gen.ts` (the SDK's
 * introspector resolves core types such as Directory by finding their declarations in a
 * non-declaration `client.gen.ts`, which the npm package does not ship).
 * At run time `index.js` re-exports the same names from the npm package, so a module that imports
 * a name the bundled SDK lacks (ExecError, up...) fails to load here as it would in the engine.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { analyzeModule, installConflict, MODULE_DIR, replayDir, replayInstall } from "./engine-runtime";

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
  const load = analyzeModule();
  const conflict = installConflict(load.plan);
  if (conflict) throw new Error(`the engine cannot install .dagger: ${conflict}`);
  const root = replayDir("observatory-ci-engine-");
  const install = replayInstall(load, root);
  if (install.status !== 0) throw new Error(`the runtime's install of .dagger fails:\n${install.output}`);
  for (const file of load.sourceFiles) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    cpSync(join(MODULE_DIR, file), join(root, file));
  }
  writeFileSync(join(root, "tsconfig.json"), `${JSON.stringify(load.tsconfig, null, 2)}\n`);

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
  // the runtime's __dagger.entrypoint.ts passes every .ts and .mts file under src/
  return { root, files: walk(join(root, "src")).filter((f) => f.endsWith(".ts") || f.endsWith(".mts")) };
}
