/**
 * The clippy gate's reading of clippy's stderr, on what the installed cargo clippy really prints
 * for the broken fixture (dependency-free, so it runs offline).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clippyDiagnostics } from "../../.dagger/src/lib/clippy-output";
import { BROKEN, GOOD } from "../support/module";

const work = mkdtempSync(join(tmpdir(), "observatory-ci-clippy-"));

/** The gate's own command (quality.ts), run offline on a copy of `fixture`. */
function realClippy(fixture: string, name: string): { status: number | null; stderr: string } {
  const dir = join(work, name);
  cpSync(fixture, dir, { recursive: true });
  const run = spawnSync(
    "cargo",
    ["clippy", "--offline", "--locked", "--workspace", "--all-targets", "--all-features", "--target-dir", join(work, "target"), "--", "-D", "warnings"],
    { cwd: dir, encoding: "utf8", env: { ...process.env, CARGO_TERM_COLOR: "never" }, timeout: 120_000 },
  );
  return { status: run.status, stderr: run.stderr };
}

let broken: { status: number | null; stderr: string };
beforeAll(() => {
  execFileSync("cargo", ["clippy", "--version"]);
  broken = realClippy(BROKEN, "broken");
}, 180_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("clippy's real output", () => {
  it("the broken fixture fails clippy with exit 101", () => {
    expect(broken.status, broken.stderr).toBe(101);
  });

  it("names the denied lint, not the -D warnings switch", () => {
    const { lints } = clippyDiagnostics(broken.stderr);
    expect(lints).toEqual(["clippy::needless-return"]);
    expect(lints).not.toContain("warnings");
  });

  it("counts the lint once, not cargo's per-target 'could not compile' lines", () => {
    // cargo closes each failed target with its own line: lib, and lib test when it got to start it
    expect(broken.stderr).toMatch(/^error: could not compile `analytics-api` \(lib\) due to 1 previous error/m);
    expect(clippyDiagnostics(broken.stderr).errors, broken.stderr).toBe(1);
  });

  it("the good fixture passes clippy, with nothing to report", () => {
    const good = realClippy(GOOD, "good");
    expect(good.status, good.stderr).toBe(0);
    expect(clippyDiagnostics(good.stderr)).toEqual({ lints: [], errors: 0 });
  }, 180_000);

  it("a lint denied by default is named from its #[deny] note", () => {
    const stderr = "error: this comparison involving the minimum or maximum element for this type contains a case that is always true or always false\n  |\n  = note: `#[deny(clippy::absurd_extreme_comparisons)]` on by default\n";
    expect(clippyDiagnostics(stderr)).toEqual({ lints: ["clippy::absurd_extreme_comparisons"], errors: 1 });
  });
});
