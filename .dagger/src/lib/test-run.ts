/**
 * The Rust gates' exec: for the test gates migrations, then cargo (test or tarpaulin); for the
 * code-quality gates cargo fmt, clippy or doc; as one shell script that decides inside the container
 * whether the run produced a verdict or crashed.
 *
 * Why inside: the engine caches every successful exec, and `expect: ANY` makes a crash a success
 * too, replayed until the source changes. So the script exits 0 only for deterministic outcomes
 * (tests passed, tests failed, did not compile, no integration target), announcing cargo's exit
 * code on stderr for the gate to read; anything else (database unreachable, migrations failed, a
 * process killed by the OOM killer, a hung run stopped by `timeout`, tarpaulin dying, a registry
 * download failing) exits non-zero, so the exec fails, is not cached, and runs again next call.
 */

export const MIGRATED_MARKER = "observatory-ci: migrations applied";
/** `observatory-ci: cargo exited <code>`: the deterministic outcome the gate interprets. */
export const FINISHED_MARKER = "observatory-ci: cargo exited";
/** `observatory-ci: crashed: <reason>`: printed before a non-zero exit. */
export const CRASH_MARKER = "observatory-ci: crashed:";
/** Exit code of the script when the migrations failed (sqlx's own code is 1, like everything else). */
export const MIGRATIONS_FAILED_EXIT = 3;
/** GNU coreutils `timeout`: 124 when it stopped the command with TERM, 128+9 when --kill-after had to KILL it. */
export const TIMED_OUT_EXIT_CODES = [124, 137] as const;
/** Seconds `timeout` waits after TERM before KILL. */
export const KILL_AFTER_SECONDS = 30;

/**
 * Output that only a deterministic run prints, for a non-zero cargo exit. A line listed here turns the
 * exit into a verdict, unless a process was killed by SIGKILL (the OOM killer; cargo reports it as
 * `signal: 9, SIGKILL: kill`, rust-lang/cargo 0.96.0 (Rust 1.95.0) crates/cargo-util/src/process_error.rs
 * `exit_status_to_string`).
 */
export const VERDICT_PATTERNS = {
  /** libtest's summary line when a test failed (cargo test, and the test binaries tarpaulin runs). */
  testsFailed: "test result: FAILED",
  /** cargo: a crate of the workspace does not compile. */
  compileError: "error: could not compile",
  /** tarpaulin 0.31.2 src/errors/mod.rs `RunError::TestCompile`. */
  tarpaulinCompileError: "Failed to compile tests!",
  /**
   * cargo 0.96.0 src/cargo/ops/cargo_compile/unit_generator.rs: `no {target_desc} target {named}
   * `{target_name}`...` with `named = "matches pattern"` for a glob; exit 101.
   */
  noTestTarget: "no test target matches pattern",
} as const;

export const KILLED_PATTERN = "signal: 9, SIGKILL";

export interface TestRunOptions {
  /** Seconds for the cargo run (build and tests, not migrations); none = unbounded. */
  timeoutSeconds?: number;
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * `sh -euc <script> cargo <args>`: touch the workspace (built over a dependency layer, see rust.ts
 * rustWorkspace), migrate, run cargo under `timeout`, classify. cargo's output is kept in files to
 * classify it and printed after the run, stdout to stdout and stderr to stderr.
 */
export function testRunCommand(cargoArgs: string[], options: TestRunOptions = {}): string[] {
  const script = [
    "find . -type f -exec touch -c {} +",
    'if ! sqlx migrate run --source "$MIGRATIONS_DIR"; then',
    `  echo "${CRASH_MARKER} sqlx migrations failed before any test ran (database unreachable or a bad migration)" >&2`,
    `  exit ${MIGRATIONS_FAILED_EXIT}`,
    "fi",
    `echo "${MIGRATED_MARKER}" >&2`,
    // a random test-only JWT signing key per run unless the caller passed one (a Secret): 32 bytes from the kernel
    'if [ -z "${JWT_SECRET:-}" ]; then JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d \' \\n\'); export JWT_SECRET; fi',
    ...classifiedCargoRun(Object.values(VERDICT_PATTERNS), "a test result or a compile error", options.timeoutSeconds),
  ].join("\n");
  return ["sh", "-euc", script, "cargo", ...cargoArgs];
}

/**
 * Output that makes a non-zero exit of a code-quality gate a verdict (the same source gives the same
 * result), per gate; any other non-zero exit is a crash (a registry download, the lock file, OOM).
 */
export const QUALITY_VERDICTS = {
  /** rustfmt `--check` prints `Diff in <file>:<line>:` per hunk (rust-lang/rustfmt src/rustfmt_diff.rs); a file it cannot parse is reported with a ` --> ` location. */
  fmt: ["Diff in ", " --> "],
  /** cargo 0.96.0 src/cargo/core/compiler/mod.rs: `could not compile <crate>` after rustc (clippy-driver) errors, warnings denied included. */
  clippy: [VERDICT_PATTERNS.compileError],
  /** cargo 0.96.0 src/cargo/core/compiler/mod.rs: `could not document <crate>` after rustdoc errors; `could not compile` for a dependency or build script. */
  doc: ["error: could not document", VERDICT_PATTERNS.compileError],
} as const;

/**
 * `sh -euc <script> cargo <args>` for a code-quality gate: cargo (after touching the workspace when
 * it builds over a dependency layer, see rust.ts rustWorkspace), then the same classification as the
 * test gates: a verdict exits 0 announcing cargo's code, a crash fails the exec.
 */
export function qualityRunCommand(cargoArgs: string[], verdicts: readonly string[], options: { touch: boolean }): string[] {
  const script = [...(options.touch ? ["find . -type f -exec touch -c {} +"] : []), ...classifiedCargoRun(verdicts, "a finding or a compile error")].join("\n");
  return ["sh", "-euc", script, "cargo", ...cargoArgs];
}

/** Runs `cargo "$@"` (under `timeout` when given) and classifies its exit: verdict (exit 0 + marker) or crash. */
function classifiedCargoRun(verdicts: readonly string[], verdictName: string, timeout?: number): string[] {
  const run = timeout === undefined ? 'cargo "$@"' : `timeout --kill-after=${KILL_AFTER_SECONDS} ${timeout} cargo "$@"`;
  const verdictGrep = verdicts.map((pattern) => `-e ${shellQuote(pattern)}`).join(" ");
  return [
    "out=$(mktemp -d)",
    "set +e",
    `${run} >"$out/stdout" 2>"$out/stderr"`,
    "code=$?",
    "set -e",
    'cat "$out/stdout"',
    'cat "$out/stderr" >&2',
    'if [ "$code" -ne 0 ]; then',
    ...(timeout === undefined
      ? []
      : [
          `  if [ "$code" -eq ${TIMED_OUT_EXIT_CODES[0]} ] || [ "$code" -eq ${TIMED_OUT_EXIT_CODES[1]} ]; then`,
          `    echo "${CRASH_MARKER} timed out after ${timeout}s (exit $code)" >&2`,
          '    exit "$code"',
          "  fi",
        ]),
    `  if grep -q -F ${shellQuote(KILLED_PATTERN)} "$out/stdout" "$out/stderr"; then`,
    `    echo "${CRASH_MARKER} a process was killed (SIGKILL: out of memory?), exit $code" >&2`,
    '    exit "$code"',
    "  fi",
    `  if ! grep -q -F ${verdictGrep} "$out/stdout" "$out/stderr"; then`,
    `    echo "${CRASH_MARKER} cargo exited $code without ${verdictName}" >&2`,
    '    exit "$code"',
    "  fi",
    "fi",
    `echo "${FINISHED_MARKER} $code" >&2`,
  ];
}

/** cargo's exit code as the script announced it, or undefined when the script printed no verdict. */
export function finishedExitCode(stderr: string): number | undefined {
  const match = new RegExp(`^${FINISHED_MARKER} (\\d+)$`, "m").exec(stderr);
  return match ? Number(match[1]) : undefined;
}

/** The crash reason the script printed, if any. */
export function crashReason(stderr: string): string | undefined {
  const line = stderr.split("\n").find((l) => l.startsWith(CRASH_MARKER));
  return line?.slice(CRASH_MARKER.length).trim();
}

/**
 * Passed, failed and ignored tests over every libtest summary line of a `cargo test` run:
 * `test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s`
 * (rust-lang/rust 1.95.0 library/test/src/formatters/pretty.rs `write_run_finish`).
 */
export function testCounts(stdout: string): { passed: number; failed: number; ignored: number } {
  return [...stdout.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed(?:; (\d+) ignored)?/g)].reduce(
    (acc, m) => ({ passed: acc.passed + Number(m[1]), failed: acc.failed + Number(m[2]), ignored: acc.ignored + Number(m[3] ?? 0) }),
    { passed: 0, failed: 0, ignored: 0 },
  );
}
