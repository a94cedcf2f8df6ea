/**
 * The engine boundary before the entrypoint: what the engine's TypeScript runtime does with
 * `.dagger/` (see test/support/engine-runtime.ts for the source of each step), replayed on the
 * module's own files. The install step runs for real with the runtime's npm, offline; on a machine
 * where this process can bind-mount (root, as on CI) the engine's TypeScript mount is replayed too.
 */
import { afterAll, describe, expect, it } from "vitest";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  analyzeModule,
  analyzeModuleConfig,
  BUNDLED_TYPESCRIPT,
  canBindMount,
  DEFAULT_NODE_VERSION,
  DEFAULT_PACKAGE_MANAGER_VERSIONS,
  installConflict,
  installedVersion,
  installPlan,
  lockedVersion,
  MODULE_DIR,
  replayDir,
  replayInstall,
  ROOT,
} from "./support/engine-runtime";

const modulePackage = JSON.parse(readFileSync(join(MODULE_DIR, "package.json"), "utf8"));
/** The package.json that made every call fail before this test existed: typescript pinned to exactly 5.9.3. */
const mountingPackage = { ...modulePackage, dependencies: { ...modulePackage.dependencies, typescript: BUNDLED_TYPESCRIPT } };
const mountable = canBindMount();
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("the runtime's decisions for .dagger", () => {
  const load = analyzeModule();

  it("detects node 24.13.1 (the engine's default) and npm from packageManager, with the bundled SDK", () => {
    expect(load.config).toEqual({
      runtime: "node",
      runtimeVersion: DEFAULT_NODE_VERSION,
      packageManager: "npm",
      packageManagerVersion: DEFAULT_PACKAGE_MANAGER_VERSIONS.npm,
      image: `node:${DEFAULT_NODE_VERSION}-alpine`,
      sdkLibOrigin: "bundle",
    });
    // engines.node of the project is what the replay itself runs on; the module's runtime is pinned separately
    expect(modulePackage.dagger.runtime).toBe(`node@${DEFAULT_NODE_VERSION}`);
  });

  it("installs with npm from the lockfile and never mounts the engine's TypeScript over an npm install", () => {
    expect(load.plan).toEqual({
      packageManagerSetup: "npm -v | grep -qx 11\\.8\\.0 || npm install -g npm@11.8.0",
      mountsTypescript: false,
      copied: ["package-lock.json", ".npmrc"],
      install: ["npm", "install", "--omit=dev"],
    });
    expect(installConflict(load.plan)).toBeUndefined();
  });

  it("keeps package.json as the runtime rewrites it: typescript stays the module's own exact pin", () => {
    expect(load.packageJson.type).toBe("module");
    expect(load.packageJson.dependencies).toEqual(modulePackage.dependencies);
    expect(load.packageJson.dependencies?.typescript).toBe(`=${BUNDLED_TYPESCRIPT}`);
    // the lockfile is what `dagger develop` writes from that package.json (runtime: npm install --package-lock-only)
    const lock = JSON.parse(readFileSync(join(MODULE_DIR, "package-lock.json"), "utf8"));
    expect(lock.packages[""].dependencies).toEqual(load.packageJson.dependencies);
  });

  it("rewrites tsconfig.json to the same paths and decorators the module's own tsconfig declares", () => {
    const own = JSON.parse(readFileSync(join(MODULE_DIR, "tsconfig.json"), "utf8"));
    expect(load.tsconfig).toEqual(own);
  });

  it("loads every source file: .gitignore excludes none of .dagger/src, and only the config files stay out of the copy", () => {
    const tracked = load.files.filter((f) => f.startsWith("src/"));
    expect(tracked.length).toBeGreaterThan(20);
    expect(tracked.every((f) => f.endsWith(".ts"))).toBe(true);
    expect(load.sourceFiles.filter((f) => f.startsWith("src/"))).toEqual(tracked);
    expect(load.sourceFiles).not.toContain("package.json");
    expect(load.sourceFiles).not.toContain("package-lock.json");
    expect(load.sourceFiles).not.toContain("tsconfig.json");
    expect(load.sourceFiles.some((f) => f.startsWith("sdk/") || f.startsWith("node_modules/"))).toBe(false);
  });

  it("flags the old package.json: a 5.9.3 pin with another dependency mounts TypeScript and then installs over it", () => {
    const plan = installPlan(analyzeModuleConfig(new Set(["package.json", "package-lock.json"]), mountingPackage), mountingPackage);
    expect(plan.mountsTypescript).toBe(true);
    expect(plan.install).toEqual(["npm", "install", "--omit=dev"]);
    expect(installConflict(plan)).toMatch(/EBUSY/);
  });

  it("follows the runtime's package-manager fallbacks: lockfile present, else yarn", () => {
    const bare = { dependencies: { zod: "4.6.7" } };
    expect(analyzeModuleConfig(new Set(["package.json", "package-lock.json"]), bare).packageManager).toBe("npm");
    expect(analyzeModuleConfig(new Set(["package.json", "pnpm-lock.yaml"]), bare).packageManager).toBe("pnpm");
    expect(analyzeModuleConfig(new Set(["package.json"]), bare)).toMatchObject({ packageManager: "yarn", packageManagerVersion: "1.22.22" });
    expect(() => analyzeModuleConfig(new Set(["package.json"]), { packageManager: "npm" })).toThrow(/version is missing/);
    // typescript pinned alone: the mount satisfies it and nothing is installed
    const only = { dependencies: { typescript: BUNDLED_TYPESCRIPT } };
    expect(installPlan(analyzeModuleConfig(new Set(["package.json"]), only), only).install).toBeNull();
  });
});

describe("the runtime's install, replayed", () => {
  it("uses the same dependency versions as this project, so the replay runs offline from npm's cache", () => {
    const moduleLock = join(MODULE_DIR, "package-lock.json");
    const rootLock = join(ROOT, "package-lock.json");
    for (const name of ["zod", "typescript"]) expect(lockedVersion(moduleLock, name)).toBe(lockedVersion(rootLock, name));
    expect(lockedVersion(rootLock, "npm")).toBe(DEFAULT_PACKAGE_MANAGER_VERSIONS.npm);
  });

  it("installs .dagger's dependencies with `npm install --omit=dev` as the runtime does", () => {
    const load = analyzeModule();
    const dir = replayDir();
    dirs.push(dir);
    const replay = replayInstall(load, dir);
    expect(replay.output).not.toMatch(/ERR!|npm error/);
    expect(replay.status).toBe(0);
    expect(installedVersion(dir, "zod")).toBe(lockedVersion(join(MODULE_DIR, "package-lock.json"), "zod"));
    expect(installedVersion(dir, "typescript")).toBe(BUNDLED_TYPESCRIPT);
  });

  it.runIf(mountable)("fails with EBUSY on the old package.json, with the engine's TypeScript bind-mounted (root only)", () => {
    const load = analyzeModule(MODULE_DIR, mountingPackage);
    const dir = replayDir();
    dirs.push(dir);
    const replay = replayInstall(load, dir);
    expect(replay.status).not.toBe(0);
    expect(replay.output).toMatch(/EBUSY: resource busy or locked, rename '[^']*node_modules\/typescript'/);
  });

  it.skipIf(mountable)("cannot bind-mount here: the decision table above still rejects the old package.json", () => {
    expect(installConflict(analyzeModule(MODULE_DIR, mountingPackage).plan)).toMatch(/EBUSY/);
  });
});
