/**
 * The test gates' shell script, run by the real `sh` (dash, as in Debian bookworm's rust image) with
 * the real coreutils `timeout`, `grep` and `mktemp`, and stand-ins for `sqlx` and `cargo` that print
 * what the real tools print in each case:
 * - libtest's summary line `test result: FAILED. 2 passed; 1 failed; ...` (rust library/test/src/console.rs);
 * - cargo 0.96.0 (Rust 1.95.0) `error: no test target matches pattern `*` in default-run packages`
 *   (src/cargo/ops/cargo_compile/unit_generator.rs), exit 101;
 * - cargo's `process didn't exit successfully: ... (signal: 9, SIGKILL: kill)` for a killed test binary
 *   (crates/cargo-util/src/process_error.rs);
 * - tarpaulin 0.31.2's `Error: "Test failed during run"` (src/errors/mod.rs), exit 1.
 */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onTestFinished } from "vitest";
import { crashReason, finishedExitCode, MIGRATIONS_FAILED_EXIT, QUALITY_VERDICTS, qualityRunCommand, testRunCommand, type TestRunOptions } from "../../.dagger/src/lib/test-run";

interface Fake {
  sqlx?: string;
  cargo: string;
}

function run(fake: Fake, args: string[], options: TestRunOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), "observatory-ci-test-run-"));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, "bin");
  spawnSync("mkdir", ["-p", bin, join(dir, "work")]);
  for (const [name, body] of Object.entries({ sqlx: fake.sqlx ?? "exit 0", cargo: fake.cargo })) {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  }
  const [cmd, ...rest] = testRunCommand(args, options);
  const result = spawnSync(cmd!, rest, {
    cwd: join(dir, "work"),
    env: { PATH: `${bin}:/usr/bin:/bin`, MIGRATIONS_DIR: "/nowhere" },
    encoding: "utf8",
    timeout: 20_000,
  });
  return { exitCode: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

const TEST_ARGS = ["test", "--workspace", "--test", "*", "--", "--test-threads=1"];

describe("testRunCommand: a verdict exits 0 and announces cargo's code", () => {
  it("tests passed", () => {
    const r = run({ cargo: 'echo "test result: ok. 3 passed; 0 failed; 0 ignored"' }, TEST_ARGS);
    expect(r.exitCode).toBe(0);
    expect(finishedExitCode(r.stderr)).toBe(0);
    expect(r.stdout).toContain("3 passed");
    expect(r.stderr).toContain("observatory-ci: migrations applied");
  });

  it("the arguments reach cargo unchanged, the glob unexpanded", () => {
    const r = run({ cargo: 'printf "%s|" "$@"' }, TEST_ARGS);
    expect(r.stdout).toBe("test|--workspace|--test|*|--|--test-threads=1|");
  });

  it("a test failed (exit 101 with libtest's FAILED summary)", () => {
    const r = run({ cargo: 'echo "test api::rejects_expired_token ... FAILED"; echo "test result: FAILED. 2 passed; 1 failed; 0 ignored"; exit 101' }, TEST_ARGS);
    expect(r.exitCode).toBe(0);
    expect(finishedExitCode(r.stderr)).toBe(101);
  });

  it("no integration test target (cargo's own message, exit 101)", () => {
    const r = run({ cargo: "echo \"error: no test target matches pattern \\`*\\` in default-run packages\" >&2; exit 101" }, TEST_ARGS);
    expect(r.exitCode).toBe(0);
    expect(finishedExitCode(r.stderr)).toBe(101);
  });

  it("the workspace does not compile", () => {
    const r = run({ cargo: 'echo "error: could not compile \\`analytics-api\\` (lib test) due to 1 previous error" >&2; exit 101' }, TEST_ARGS);
    expect(r.exitCode).toBe(0);
    expect(finishedExitCode(r.stderr)).toBe(101);
  });
});

describe("testRunCommand: a crash exits non-zero (a failed exec, never cached)", () => {
  it("migrations failed: cargo never runs", () => {
    const r = run({ sqlx: 'echo "error: error communicating with database: Connection refused (os error 111)" >&2; exit 1', cargo: "echo CARGO-RAN" }, TEST_ARGS);
    expect(r.exitCode).toBe(MIGRATIONS_FAILED_EXIT);
    expect(r.stdout).not.toContain("CARGO-RAN");
    expect(crashReason(r.stderr)).toMatch(/^sqlx migrations failed before any test ran/);
    expect(finishedExitCode(r.stderr)).toBeUndefined();
  });

  it("a test binary killed by SIGKILL (OOM), even when another test failed", () => {
    const r = run(
      {
        cargo:
          'echo "test result: FAILED. 0 passed; 1 failed"; echo "error: test failed, to rerun pass \\`--test api\\`" >&2; ' +
          "echo \"Caused by:\n  process didn't exit successfully: \\`/cargo-target/debug/deps/api-1a2b\\` (signal: 9, SIGKILL: kill)\" >&2; exit 101",
      },
      TEST_ARGS,
    );
    expect(r.exitCode).toBe(101);
    expect(crashReason(r.stderr)).toMatch(/killed \(SIGKILL: out of memory\?\), exit 101/);
    expect(finishedExitCode(r.stderr)).toBeUndefined();
  });

  it("tarpaulin failing without any test result (its own crash)", () => {
    const r = run({ cargo: 'echo "Error: \\"Failed to get test coverage! Error: profraw\\"" >&2; exit 1' }, ["tarpaulin", "--engine", "llvm"]);
    expect(r.exitCode).toBe(1);
    expect(crashReason(r.stderr)).toBe("cargo exited 1 without a test result or a compile error");
  });

  it("cargo failing to download a dependency (network)", () => {
    const r = run({ cargo: 'echo "error: failed to download from \\`https://static.crates.io/crates/tokio/1.41.0/download\\`" >&2; exit 101' }, TEST_ARGS);
    expect(r.exitCode).toBe(101);
    expect(crashReason(r.stderr)).toMatch(/without a test result/);
  });

  it("a hung run is stopped by timeout and reported as timed out", () => {
    const r = run({ cargo: "sleep 30" }, ["tarpaulin"], { timeoutSeconds: 1 });
    expect(r.exitCode).toBe(124);
    expect(crashReason(r.stderr)).toBe("timed out after 1s (exit 124)");
  });

  it("without a timeout option there is no timeout wrapper", () => {
    expect(testRunCommand(TEST_ARGS)[2]).not.toContain("timeout");
    expect(testRunCommand(TEST_ARGS, { timeoutSeconds: 600 })[2]).toContain("timeout --kill-after=30 600 cargo");
  });
});

/**
 * The code-quality gates' script, same harness. What the stand-ins print: rustfmt `--check`'s
 * `Diff in <file>:<line>:` (rust-lang/rustfmt src/rustfmt_diff.rs), exit 1; cargo 0.96.0's
 * `error: could not compile `<crate>` (lib) due to N previous errors` and `error: could not document
 * `<crate>`` (src/cargo/core/compiler/mod.rs), exit 101; a registry failure `error: failed to download`
 * (src/cargo/core/package.rs), exit 101.
 */
function runQuality(cargo: string, gate: keyof typeof QUALITY_VERDICTS, touch = false) {
  const dir = mkdtempSync(join(tmpdir(), "observatory-ci-quality-run-"));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, "bin");
  spawnSync("mkdir", ["-p", bin, join(dir, "work")]);
  writeFileSync(join(bin, "cargo"), `#!/bin/sh\n${cargo}\n`);
  chmodSync(join(bin, "cargo"), 0o755);
  const [cmd, ...rest] = qualityRunCommand([gate], QUALITY_VERDICTS[gate], { touch });
  const result = spawnSync(cmd!, rest, { cwd: join(dir, "work"), env: { PATH: `${bin}:/usr/bin:/bin` }, encoding: "utf8", timeout: 20_000 });
  return { exitCode: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

describe("qualityRunCommand: lints and diffs are verdicts, everything else a crash", () => {
  it("clean: exit 0, cargo's 0 announced", () => {
    const r = runQuality("exit 0", "fmt");
    expect([r.exitCode, finishedExitCode(r.stderr)]).toEqual([0, 0]);
  });

  it("rustfmt found unformatted code: a verdict", () => {
    const r = runQuality('echo "Diff in /src/src/lib.rs:3:"; exit 1', "fmt");
    expect([r.exitCode, finishedExitCode(r.stderr)]).toEqual([0, 1]);
    expect(r.stdout).toContain("Diff in /src/src/lib.rs:3:");
  });

  it("rustfmt failing without a diff or a located error: a crash", () => {
    const r = runQuality('echo "error: failed to find targets" >&2; exit 1', "fmt");
    expect(r.exitCode).toBe(1);
    expect(finishedExitCode(r.stderr)).toBeUndefined();
    expect(crashReason(r.stderr)).toBe("cargo exited 1 without a finding or a compile error");
  });

  it("clippy lints denied: a verdict; a registry download failure: a crash", () => {
    const lint = runQuality("echo \"error: could not compile \\`analytics-api\\` (lib) due to 1 previous error\" >&2; exit 101", "clippy", true);
    expect([lint.exitCode, finishedExitCode(lint.stderr)]).toEqual([0, 101]);
    const network = runQuality('echo "error: failed to download from `https://index.crates.io/...`" >&2; exit 101', "clippy", true);
    expect(network.exitCode).toBe(101);
    expect(crashReason(network.stderr)).toContain("without a finding or a compile error");
  });

  it("rustdoc errors: a verdict; a killed rustdoc: a crash even with cargo's could-not-document line", () => {
    const warn = runQuality("echo \"error: could not document \\`analytics-api\\`\" >&2; exit 101", "doc", true);
    expect([warn.exitCode, finishedExitCode(warn.stderr)]).toEqual([0, 101]);
    const killed = runQuality("echo \"error: could not document \\`analytics-api\\`\nCaused by: process didn't exit successfully: rustdoc (signal: 9, SIGKILL: kill)\" >&2; exit 101", "doc", true);
    expect(killed.exitCode).toBe(101);
    expect(crashReason(killed.stderr)).toMatch(/SIGKILL/);
  });
});
