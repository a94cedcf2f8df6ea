/**
 * What the engine's TypeScript runtime does with `.dagger/` before it runs the SDK's entrypoint,
 * replayed from its source. Engine v0.21.9 is cut from dagger/dagger's `backport-0.21` branch,
 * whose `sdk/typescript/runtime/` is identical to tag v0.21.8 apart from its own dagger.json;
 * every "runtime:" reference below is a file of that folder at v0.21.8.
 *
 * 1. Load (core/schema/modulesource.go, local sources): `host.directory(<context>, include:
 *    [dagger.json, <source subpath>], gitignore: true)`: `.gitignore` rules apply to the module.
 * 2. Analyse (runtime: config.go, analyzeModuleConfig): read package.json, detect the runtime
 *    and its version (`dagger.runtime`), the package manager (`packageManager`, else the lockfile
 *    present, else yarn), the base image and where the SDK library comes from.
 * 3. Rewrite package.json and tsconfig.json (runtime: tsutils/package_json_updator.go,
 *    tsutils/tsconfig_updator.go).
 * 4. Install (runtime: runtime_node.go, withInstalledDependencies): when the ORIGINAL package.json
 *    pins `dependencies.typescript` to exactly the bundled version, bind-mount the engine's own
 *    TypeScript at node_modules/typescript; with no other dependency, stop there; otherwise copy
 *    the lockfile and .npmrc and run the package manager's install.
 * 5. Assemble (runtime: runtime_node.go, SetupContainer; config.go, wrappedSourceCodeDirectory):
 *    the generated SDK at sdk/ and node_modules/@dagger.io/dagger, the rewritten tsconfig.json,
 *    every other file of the module source except the config files, sdk/ and node_modules/, and
 *    the entrypoint at src/__dagger.entrypoint.ts, run with `tsx --tsconfig <module>/tsconfig.json`.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const MODULE_DIR = join(ROOT, ".dagger");

/** runtime: tsdistconsts/consts.go. */
export const BUNDLED_TYPESCRIPT = "5.9.3";
export const DEFAULT_NODE_VERSION = "24.13.1";
export const DEFAULT_NODE_IMAGE = `node:${DEFAULT_NODE_VERSION}-alpine@sha256:4f696fbf39f383c1e486030ba6b289a5d9af541642fc78ab197e584a113b9c03`;
/** runtime: config.go. */
export const DEFAULT_PACKAGE_MANAGER_VERSIONS = { npm: "11.8.0", yarn: "1.22.22", pnpm: "8.15.4" } as const;
/** The module runtime's path for the module source (runtime: main.go, ModSourceDirPath). */
export const MOD_SOURCE_DIR = "/src";

/** runtime: config.go, moduleConfigFiles: loaded for analysis, excluded from the copied source. */
export const MODULE_CONFIG_FILES = [
  "package.json",
  "tsconfig.json",
  "pnpm-workspace.yaml",
  ".yarnrc.yml",
  "package-lock.json",
  "yarn.lock",
  "pnpm-lock.yaml",
  "bun.lockb",
  "bun.lock",
  "bunfig.toml",
  "deno.json",
  "deno.lock",
] as const;

interface PackageJson {
  type?: string;
  packageManager?: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  dagger?: { runtime?: string; baseImage?: string };
  [key: string]: unknown;
}

export interface RuntimeConfig {
  runtime: "node" | "bun" | "deno";
  runtimeVersion: string;
  packageManager: "npm" | "yarn" | "pnpm" | "bun" | "deno";
  packageManagerVersion: string;
  image: string;
  sdkLibOrigin: "bundle" | "local" | "remote";
}

/** runtime: config.go, detectRuntime / detectPackageManager / detectBaseImageRef / detectSDKLibOrigin. */
export function analyzeModuleConfig(files: ReadonlySet<string>, pkg: PackageJson | undefined): RuntimeConfig {
  let runtime: RuntimeConfig["runtime"] = "node";
  let runtimeVersion = "";
  const declared = pkg?.dagger?.runtime;
  if (declared) {
    const [name, version = ""] = declared.split("@", 2);
    if (name !== "node" && name !== "bun") throw new Error(`unsupported runtime "${name}"`);
    runtime = name;
    runtimeVersion = version;
  } else if (files.has("bun.lockb") || files.has("bun.lock")) {
    runtime = "bun";
  } else if (!files.has("package-lock.json") && !files.has("yarn.lock") && !files.has("pnpm-lock.yaml") && (files.has("deno.json") || files.has("deno.lock"))) {
    runtime = "deno";
  }

  let packageManager: RuntimeConfig["packageManager"];
  let packageManagerVersion = "";
  if (runtime === "bun") packageManager = "bun";
  else if (runtime === "deno") packageManager = "deno";
  else if (pkg?.packageManager) {
    const [name, version = ""] = pkg.packageManager.split("@", 2);
    if (!version) throw new Error("packageManager version is missing, please add it to your package.json");
    if (name !== "npm" && name !== "yarn" && name !== "pnpm") throw new Error(`detected unknown package manager: ${name}`);
    packageManager = name;
    packageManagerVersion = version;
  } else if (files.has("bun.lockb") || files.has("bun.lock")) packageManager = "bun";
  else if (files.has("package-lock.json")) [packageManager, packageManagerVersion] = ["npm", DEFAULT_PACKAGE_MANAGER_VERSIONS.npm];
  else if (files.has("yarn.lock")) [packageManager, packageManagerVersion] = ["yarn", DEFAULT_PACKAGE_MANAGER_VERSIONS.yarn];
  else if (files.has("pnpm-lock.yaml")) [packageManager, packageManagerVersion] = ["pnpm", DEFAULT_PACKAGE_MANAGER_VERSIONS.pnpm];
  else [packageManager, packageManagerVersion] = ["yarn", DEFAULT_PACKAGE_MANAGER_VERSIONS.yarn];

  let image = pkg?.dagger?.baseImage ?? "";
  if (!image && runtime === "node") image = runtimeVersion ? `node:${runtimeVersion}-alpine` : DEFAULT_NODE_IMAGE;
  if (!image) image = `(default ${runtime} image)`;

  const daggerDep = pkg?.dependencies?.["@dagger.io/dagger"];
  const sdkLibOrigin = daggerDep === undefined ? "bundle" : daggerDep === "./sdk" ? "local" : "remote";
  return { runtime, runtimeVersion, packageManager, packageManagerVersion, image, sdkLibOrigin };
}

/** runtime: tsutils/package_json_updator.go, UpdatePackageJSONForModule. */
export function updatePackageJsonForModule(pkg: PackageJson): PackageJson {
  const updated: PackageJson = { ...pkg, type: "module" };
  updated.dependencies = { ...pkg.dependencies };
  if (!("typescript" in updated.dependencies)) updated.dependencies.typescript = BUNDLED_TYPESCRIPT;
  delete updated.dependencies["@dagger.io/dagger"];
  if (pkg.devDependencies) {
    updated.devDependencies = { ...pkg.devDependencies };
    delete updated.devDependencies["@dagger.io/dagger"];
  }
  return updated;
}

/** runtime: tsutils/tsconfig_updator.go, UpdateTSConfigForModule (the default from tsutils/template/tsconfig.json). */
export function updateTsconfigForModule(tsconfig: { compilerOptions?: Record<string, unknown> } | undefined): Record<string, unknown> {
  const base = tsconfig ?? {
    compilerOptions: { target: "ES2022", moduleResolution: "Node", experimentalDecorators: true, strict: true, skipLibCheck: true },
  };
  const compilerOptions = { ...base.compilerOptions };
  compilerOptions.paths = {
    ...(compilerOptions.paths as Record<string, string[]> | undefined),
    "@dagger.io/dagger": ["./sdk/index.ts"],
    "@dagger.io/dagger/telemetry": ["./sdk/telemetry.ts"],
  };
  compilerOptions.experimentalDecorators = true;
  return { ...base, compilerOptions };
}

export interface InstallPlan {
  /** `npm -v | grep -qx <v> || npm install -g npm@<v>` (runtime: runtime_node.go, withSetupPackageManager). */
  packageManagerSetup: string;
  /** The engine's own TypeScript bind-mounted at node_modules/typescript. */
  mountsTypescript: boolean;
  /** Files copied from the module source before the install. */
  copied: string[];
  /** The install command, or null when the mount alone satisfies the dependencies. */
  install: string[] | null;
}

/** runtime: runtime_node.go, NpmPkgManager/YarnPkgManager/PnpmPkgManager.withInstalledDependencies. */
export function installPlan(config: RuntimeConfig, original: PackageJson | undefined): InstallPlan {
  const dependencies = original?.dependencies ?? {};
  const mountsTypescript = dependencies.typescript === BUNDLED_TYPESCRIPT;
  const lockfile = { npm: "package-lock.json", yarn: "yarn.lock", pnpm: "pnpm-lock.yaml" } as Record<string, string>;
  const command: Record<string, string[]> = {
    npm: ["npm", "install", "--omit=dev"],
    yarn: ["yarn", "install", "--prod"],
    pnpm: ["pnpm", "install", "--shamefully-hoist=true", "--prod"],
  };
  if (!(config.packageManager in command)) throw new Error(`the replay covers the node runtime's npm, yarn and pnpm, not ${config.packageManager}`);
  const v = config.packageManagerVersion;
  const packageManagerSetup =
    config.packageManager === "npm"
      ? `npm -v | grep -qx ${v.replaceAll(".", "\\.")} || npm install -g npm@${v}`
      : config.packageManager === "pnpm"
        ? `npm install -g pnpm@${v}`
        : "(corepack)";
  if (mountsTypescript && Object.keys(dependencies).length <= 1) {
    return { packageManagerSetup, mountsTypescript, copied: [], install: null };
  }
  return { packageManagerSetup, mountsTypescript, copied: [lockfile[config.packageManager], ".npmrc"], install: command[config.packageManager] };
}

/**
 * Why a plan cannot work, before anything runs: npm, yarn and pnpm all replace a dependency folder
 * they did not install themselves by renaming it, and a bind mount cannot be renamed (EBUSY).
 */
export function installConflict(plan: InstallPlan): string | undefined {
  if (plan.mountsTypescript && plan.install) {
    return (
      `the runtime bind-mounts its TypeScript at node_modules/typescript and then runs \`${plan.install.join(" ")}\`, ` +
      `which renames that folder to replace it (EBUSY): pin typescript in .dagger/package.json so that it is not ` +
      `exactly "${BUNDLED_TYPESCRIPT}" (e.g. "=${BUNDLED_TYPESCRIPT}"), or drop every other dependency`
    );
  }
  return undefined;
}

/** The files of `.dagger` the engine loads: tracked or untracked, minus what `.gitignore` excludes. */
export function loadedModuleFiles(moduleDir = MODULE_DIR): string[] {
  const out = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "--", "."], { cwd: moduleDir, encoding: "utf8" });
  return out
    .split("\n")
    .filter(Boolean)
    .filter((f) => existsSync(join(moduleDir, f)))
    .sort();
}

export interface ModuleLoad {
  files: string[];
  original: PackageJson | undefined;
  config: RuntimeConfig;
  plan: InstallPlan;
  packageJson: PackageJson;
  tsconfig: Record<string, unknown>;
  /** Files of the module source copied into the runtime container (not config files, sdk/ or node_modules/). */
  sourceFiles: string[];
}

function readJson<T>(path: string): T | undefined {
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as T) : undefined;
}

/** Steps 1-3 and the install decision for a module folder, optionally with another package.json. */
export function analyzeModule(moduleDir = MODULE_DIR, packageJsonOverride?: PackageJson): ModuleLoad {
  const files = loadedModuleFiles(moduleDir);
  const topLevel = new Set(files.filter((f) => !f.includes("/")));
  const original = packageJsonOverride ?? readJson<PackageJson>(join(moduleDir, "package.json"));
  const config = analyzeModuleConfig(topLevel, original);
  const plan = installPlan(config, original);
  const excluded = new Set<string>(MODULE_CONFIG_FILES);
  const sourceFiles = files.filter((f) => !excluded.has(f) && !/^(sdk|node_modules)(\/|$)/.test(f));
  return {
    files,
    original,
    config,
    plan,
    packageJson: updatePackageJsonForModule(original ?? { type: "module" }),
    tsconfig: updateTsconfigForModule(readJson(join(moduleDir, "tsconfig.json"))),
    sourceFiles,
  };
}

/** The npm the runtime uses: the module's packageManager version, a devDependency of this project. */
export function npmCli(version: string): string {
  const cli = join(ROOT, "node_modules/npm/bin/npm-cli.js");
  const installed = readJson<{ version: string }>(join(ROOT, "node_modules/npm/package.json"))?.version;
  if (installed !== version) {
    throw new Error(`the replay needs npm ${version} (the module's packageManager) in node_modules/npm, found ${installed ?? "none"}: run npm ci`);
  }
  return cli;
}

/** Whether this process can bind-mount (root with CAP_SYS_ADMIN, as on CI). */
export function canBindMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(join(tmpdir(), "observatory-ci-mount-"));
  mkdirSync(join(probe, "a"));
  mkdirSync(join(probe, "b"));
  const mounted = spawnSync("mount", ["--bind", join(probe, "a"), join(probe, "b")]).status === 0;
  if (mounted) spawnSync("umount", [join(probe, "b")]);
  rmSync(probe, { recursive: true, force: true });
  return mounted;
}

export interface InstallReplay {
  dir: string;
  status: number;
  output: string;
}

/**
 * Step 4 for real, in `dir`: the rewritten package.json, the copied lockfile and .npmrc, the
 * engine's TypeScript bind-mounted when the plan says so (this project's typescript package is
 * the same 5.9.3 release), then the install command with the runtime's npm, offline: the tarballs
 * come from npm's cache, which `npm ci` of this project filled (same zod and typescript versions,
 * checked by the test). The mount is always released.
 */
export function replayInstall(load: ModuleLoad, dir: string, moduleDir = MODULE_DIR): InstallReplay {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), `${JSON.stringify(load.packageJson, null, 2)}\n`);
  if (!load.plan.install) return { dir, status: 0, output: "no install: the bundled TypeScript is the only dependency" };
  for (const name of load.plan.copied) if (existsSync(join(moduleDir, name))) cpSync(join(moduleDir, name), join(dir, name));
  const mountPoint = join(dir, "node_modules/typescript");
  let mounted = false;
  try {
    if (load.plan.mountsTypescript) {
      mkdirSync(mountPoint, { recursive: true });
      const mount = spawnSync("mount", ["--bind", join(ROOT, "node_modules/typescript"), mountPoint], { encoding: "utf8" });
      if (mount.status !== 0) throw new Error(`cannot bind-mount TypeScript for the replay: ${mount.stderr}`);
      mounted = true;
    }
    const [, ...args] = load.plan.install;
    const run = spawnSync(process.execPath, [npmCli(load.config.packageManagerVersion), ...args, "--offline", "--no-audit", "--no-fund"], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, npm_config_update_notifier: "false" },
      timeout: 120_000,
    });
    return { dir, status: run.status ?? 1, output: `${run.stdout}\n${run.stderr}` };
  } finally {
    if (mounted) spawnSync("umount", [mountPoint]);
  }
}

/** A fresh temporary folder for a replay. */
export function replayDir(prefix = "observatory-ci-runtime-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Installed version of a package in a replayed node_modules. */
export function installedVersion(dir: string, name: string): string | undefined {
  return readJson<{ version: string }>(join(dir, "node_modules", name, "package.json"))?.version;
}

export function lockedVersion(lockfile: string, name: string): string | undefined {
  return readJson<{ packages?: Record<string, { version?: string }> }>(lockfile)?.packages?.[`node_modules/${name}`]?.version;
}
