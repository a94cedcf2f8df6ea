/**
 * The dependency layer run for real with the local cargo (offline: the fixture workspace has no
 * registry dependency): the skeleton script over the manifests, the dev flag set's cargo runs on it,
 * then the real sources over the skeleton as a lane sees them, touched like the gates touch them.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { dependencyBuilds, SKELETON_EXCLUDE, SKELETON_INCLUDE, SKELETON_SCRIPT, tarpaulinBuildArgs } from "../../.dagger/src/lib/dependency-layer";
import { laneScopes } from "../../.dagger/src/lib/scope";
import { parseConfig } from "../../.dagger/src/lib/pipeline-config";

/** The plan's default scopes: clippy, doc and the integration tests on the service's package, tarpaulin on the workspace. */
const PLAN_SCOPES = laneScopes(parseConfig(undefined, "defaults"));
import { GOOD } from "../support/module";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "dependency-layer-"));
  dirs.push(dir);
  return dir;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));
}

/** `**\/name` patterns as the engine's filter applies them here: a file whose path ends with the pattern's tail. */
function matches(globs: string[], path: string): boolean {
  return globs.some((g) => (g.endsWith("/**") ? path.includes(`/${g.slice(3, -3)}/`) || path.startsWith(`${g.slice(3, -3)}/`) : `/${path}`.endsWith(g.slice(2))));
}

/** What `source.filter({ include: SKELETON_INCLUDE, exclude: SKELETON_EXCLUDE })` gives, copied with mtimes kept. */
function filteredCopy(source: string): string {
  const out = tempDir();
  for (const file of files(source)) {
    const path = relative(source, file);
    if (!matches(SKELETON_INCLUDE, path) || matches(SKELETON_EXCLUDE, path)) continue;
    mkdirSync(join(out, dirname(path)), { recursive: true });
    cpSync(file, join(out, path), { preserveTimestamps: true });
  }
  return out;
}

function sh(script: string, cwd: string): void {
  const run = spawnSync("sh", ["-euc", script], { cwd, encoding: "utf8" });
  if (run.status !== 0) throw new Error(`sh exited ${run.status}: ${run.stderr}`);
}

function cargo(args: string[], cwd: string, targetDir: string): { status: number | null; out: string } {
  const run = spawnSync(args[0], args.slice(1), { cwd, encoding: "utf8", env: { ...process.env, CARGO_NET_OFFLINE: "true", CARGO_TARGET_DIR: targetDir, CARGO_TERM_COLOR: "never" } });
  if (run.error) throw new Error(`cargo could not run (the dependency-layer tests need a local Rust toolchain): ${run.error.message}`);
  return { status: run.status, out: run.stdout + run.stderr };
}

describe("the dependency skeleton", () => {
  it("takes only manifests and the lockfile from the source", () => {
    const skeleton = filteredCopy(GOOD);
    expect(files(skeleton).map((f) => relative(skeleton, f)).sort()).toEqual(["Cargo.lock", "Cargo.toml", "crates/storage/Cargo.toml", "services/analytics-api/Cargo.toml"]);
  });

  it("gives every package an empty library, so cargo resolves the workspace without a line of its code", () => {
    const skeleton = filteredCopy(GOOD);
    sh(SKELETON_SCRIPT, skeleton);
    expect(readFileSync(join(skeleton, "services/analytics-api/src/lib.rs"), "utf8")).toBe("");
    expect(readFileSync(join(skeleton, "crates/storage/src/lib.rs"), "utf8")).toBe("");
    const metadata = cargo(["cargo", "metadata", "--locked", "--no-deps", "--format-version", "1"], skeleton, join(skeleton, "target"));
    expect(metadata.status, metadata.out).toBe(0);
  });

  it("stubs explicit target paths and a build script for build dependencies", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "Cargo.toml"), '[workspace]\nresolver = "2"\nmembers = ["app", "helper"]\n');
    mkdirSync(join(dir, "app"));
    mkdirSync(join(dir, "helper"));
    writeFileSync(join(dir, "helper/Cargo.toml"), '[package]\nname = "helper"\nversion = "0.1.0"\nedition = "2021"\n');
    writeFileSync(
      join(dir, "app/Cargo.toml"),
      [
        "[package]", 'name = "app"', 'version = "0.1.0"', 'edition = "2021"', "",
        "[lib]", 'path = "lib/app.rs"', "",
        "[[bin]]", 'name = "serve"', 'path = "bin/serve.rs"', "",
        "[[test]]", 'name = "api"', 'path = "checks/api.rs"', "",
        "[build-dependencies]", 'helper = { path = "../helper" }', "",
      ].join("\n"),
    );
    sh(SKELETON_SCRIPT, dir);
    for (const stub of ["app/lib/app.rs", "app/bin/serve.rs", "app/checks/api.rs", "app/build.rs"]) expect(existsSync(join(dir, stub)), stub).toBe(true);
    const run = cargo(["cargo", "check", "--workspace", "--all-features", "--all-targets"], dir, join(dir, "target"));
    expect(run.status, run.out).toBe(0);
    expect(run.out).toContain("Compiling helper"); // the build dependency was compiled for the stub build script
  }, 120_000);
});

describe("the dev dependency layer and a lane over it", () => {
  it("builds on the skeleton, then the lane compiles the real crates, not the stubs, and its tests pass", () => {
    const skeleton = filteredCopy(GOOD);
    const target = join(tempDir(), "target");
    sh(SKELETON_SCRIPT, skeleton);
    for (const run of dependencyBuilds("dev", PLAN_SCOPES)) {
      const result = cargo(run, skeleton, target);
      expect(result.status, `${run.join(" ")}\n${result.out}`).toBe(0);
    }
    // The lane: the real source over the skeleton's paths, with its checkout's (older) mtimes, touched
    // as the gates do (lib/test-run.ts) so no crate is taken for its stub built a moment ago.
    cpSync(GOOD, skeleton, { recursive: true, preserveTimestamps: true });
    sh("find . -type f -exec touch -c {} +", skeleton);
    const lane = cargo(["cargo", "test", "--locked", ...PLAN_SCOPES.integrationTest, "--all-features", "--test", "*"], skeleton, target);
    expect(lane.status, lane.out).toBe(0);
    expect(lane.out).toContain("Compiling analytics-api");
    expect(lane.out).toMatch(/test result: ok\. [1-9]\d* passed/);
  }, 240_000);

  it("the coverage layer builds with the coverage lane's own tarpaulin arguments, without running the tests", () => {
    expect(dependencyBuilds("coverage", PLAN_SCOPES)).toEqual([["cargo", ...tarpaulinBuildArgs(["--workspace"]), "--no-run"]]);
    expect(tarpaulinBuildArgs(["--packages", "a"])).toEqual(expect.arrayContaining(["--engine", "llvm", "--skip-clean", "--locked", "--all-features", "--packages", "a"]));
  });

  it("each layer selects the packages its lanes select (cargo unifies dependency features over the selection)", () => {
    expect(PLAN_SCOPES.clippy).toEqual(["--package", "analytics-api"]);
    expect(dependencyBuilds("dev", PLAN_SCOPES).map((run) => run.slice(3, 5))).toEqual([
      ["--package", "analytics-api"],
      ["--package", "analytics-api"],
      ["--package", "analytics-api"],
    ]);
  });
});

describe("local toolchain", () => {
  it("cargo is installed (the layer tests above run it)", () => {
    expect(execFileSync("cargo", ["--version"]).toString()).toMatch(/^cargo \d+\.\d+/);
  });
});
