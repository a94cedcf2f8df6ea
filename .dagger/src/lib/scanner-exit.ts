/**
 * Which exit codes of each scanner are a scan result (clean, findings) and which are a crash, and the
 * shell wrapper that turns a crash into a failed exec.
 *
 * The engine caches a successful exec like any other result, and `expect: ANY` makes every exit code
 * a success: a scanner that crashed (database download failed, network, out of memory) would be
 * replayed as its verdict until an input changes. A failed exec is not cached. So the wrapper runs
 * the tool with the engine's default `expect: SUCCESS` and exits 0 only for a scan result with its
 * report; every other outcome exits SCANNER_CRASH_EXIT_CODE, fails the exec, and runs again next call.
 */

/** A code of our own for "found something", where the tool lets the caller choose it (`--exit-code`). */
export const FINDINGS_EXIT_CODE = 42;
/** The wrapper's exit code for a crash (sysexits.h EX_SOFTWARE): not a code any scanner here uses for a result. */
export const SCANNER_CRASH_EXIT_CODE = 70;
/** Prefix of the wrapper's last stderr line, which carries the tool's own exit code. */
export const SCAN_STATUS_PREFIX = "observatory-ci-scan:";
/** The wrapper's reason when a result code came with error lines (SCANNERS.gitleaks.incompleteScan). */
export const INCOMPLETE_SCAN_REASON = "errors logged: incomplete scan";
/** Exit codes of `timeout` when it stopped the command: GNU coreutils 124, BusyBox 143 (SIGTERM), SIGKILL 137. */
export const TIMEOUT_EXIT_CODES: readonly number[] = [124, 137, 143];

/** Where the tool writes the report whose presence the wrapper checks: a file, or its stdout/stderr. */
export type ReportChannel = "stdout" | "stderr" | { file: string };

export interface ScannerAdapter {
  tool: string;
  /** Exit codes that mean "scanned, nothing found". */
  clean: readonly number[];
  /** Exit codes that mean "scanned, found something". */
  findings: readonly number[];
  /** A fixed string a complete report always contains (checked with `grep -F`). */
  reportMarker?: string;
  /** An extended regex over the tool's stderr (escape codes removed) that marks an incomplete scan despite a result code. */
  incompleteScan?: string;
  /** Where these codes are defined, at the pinned version. */
  source: string;
}

/** One row per scanner; every row's source is the tool's code at the version pinned in versions.ts. */
export const SCANNERS = {
  trivy: {
    tool: "trivy",
    clean: [0],
    // `--exit-code FINDINGS_EXIT_CODE` is returned only when results failed (pkg/commands/operation/operation.go
    // `Exit`); every error ends in log.Fatal, which exits 1 (cmd/trivy/main.go, pkg/log/logger.go `Fatal`).
    findings: [FINDINGS_EXIT_CODE],
    source: "aquasecurity/trivy v0.57.1: cmd/trivy/main.go, pkg/commands/operation/operation.go (Exit), pkg/log/logger.go (Fatal: os.Exit(1))",
  },
  semgrep: {
    tool: "semgrep",
    clean: [0],
    // With --error: 1 = findings; 2 = fatal, 3..8, 13, 14 = other errors (cli/src/semgrep/error.py,
    // src/osemgrep/core/Exit_code.ml). 124/137/143 come from `timeout`.
    findings: [1],
    source: "semgrep/semgrep cli/src/semgrep/error.py and src/osemgrep/core/Exit_code.ml (snapshot 6568da50, 2024-10-24, after v1.93.0; the v1.95.0 tag is not in the mirror)",
  },
  gitleaks: {
    tool: "gitleaks",
    clean: [0],
    // `--exit-code FINDINGS_EXIT_CODE` when leaks were found; 1 after a partial scan (the report is still
    // written first) and from every log.Fatal; 126 for an unknown flag (cmd/root.go findingSummaryAndExit, Execute).
    findings: [FINDINGS_EXIT_CODE],
    // git errors are logged as ERR lines; zerolog's console writer colours the level (ESC[..m), hence no \b.
    incompleteScan: "(^|[^A-Z])(ERR|FTL)([^A-Z]|$)|partial scan",
    source: "gitleaks/gitleaks v8.21.2: cmd/root.go (findingSummaryAndExit, Execute)",
  },
  cargoAudit: {
    tool: "cargo-audit",
    clean: [0],
    // 1 = vulnerabilities (should_exit_with_failure), but also a database fetch/load failure, which
    // exits 1 before any report: the report check tells them apart. 2 = lockfile or audit error.
    findings: [1],
    source: "rustsec/rustsec cargo-audit/v0.22.0: cargo-audit/src/commands/audit.rs (run), cargo-audit/src/auditor.rs (database: exit(1))",
  },
  cargoDeny: {
    tool: "cargo-deny",
    clean: [0],
    // The exit code is a bitset of the checks with errors: advisories 1, bans 2, licenses 4, sources 8
    // (src/cargo-deny/stats.rs stats_to_exit_code). Any other failure logs an error and exits 1
    // (src/cargo-deny/main.rs main), without the summary line that every finished check prints.
    findings: Array.from({ length: 15 }, (_, i) => i + 1),
    reportMarker: '"type":"summary"',
    source: "EmbarkStudios/cargo-deny 0.18.9: src/cargo-deny/stats.rs (print_stats, stats_to_exit_code), src/cargo-deny/main.rs",
  },
} as const satisfies Record<string, ScannerAdapter>;

/**
 * The wrapper (POSIX sh, with mktemp, tail, tr and grep: busybox in the scanner images, all alpine-based:
 * aquasecurity/trivy v0.57.1 Dockerfile `FROM alpine:3.20.3`, gitleaks/gitleaks v8.21.2 Dockerfile
 * `FROM alpine:3.19`, semgrep/semgrep Dockerfile target semgrep-cli `FROM python:3.11-alpine`; dash in
 * the Debian-based Rust image).
 * Arguments: tool, clean codes, findings codes, report (stdout | stderr | a path), report marker,
 * incomplete-scan pattern, then the command. It replays the tool's stdout and stderr, and its last
 * stderr line says what the tool's exit code meant.
 */
export const SCAN_WRAPPER = `tool=$1 clean=$2 findings=$3 report=$4 marker=$5 incomplete=$6
shift 6
out=$(mktemp) && err=$(mktemp) || exit ${SCANNER_CRASH_EXIT_CODE}
"$@" >"$out" 2>"$err"
code=$?
cat "$out"
cat "$err" >&2
# the status line starts a line of its own even when the tool's stderr does not end with one
[ ! -s "$err" ] || [ -z "$(tail -c 1 "$err")" ] || echo >&2
crash() {
  printf '%s %s crashed: exit %s: %s\\n' "${SCAN_STATUS_PREFIX}" "$tool" "$code" "$1" >&2
  exit ${SCANNER_CRASH_EXIT_CODE}
}
verdict=
for c in $clean; do [ "$code" = "$c" ] && verdict=clean; done
for c in $findings; do [ "$code" = "$c" ] && verdict=findings; done
[ -n "$verdict" ] || crash "not a scan result"
case $report in
  stdout) written=$out ;;
  stderr) written=$err ;;
  *) written=$report ;;
esac
[ -s "$written" ] || crash "no report ($report)"
[ -z "$marker" ] || grep -qF -e "$marker" "$written" || crash "incomplete report ($report has no $marker)"
[ -z "$incomplete" ] || ! tr -d '\\033' <"$err" | grep -qE -e "$incomplete" || crash "${INCOMPLETE_SCAN_REASON}"
printf '%s %s exited %s: %s\\n' "${SCAN_STATUS_PREFIX}" "$tool" "$code" "$verdict" >&2
exit 0
`;

/** Number of arguments before the tool's command in a wrapped exec. */
export const SCAN_WRAPPER_ARGC = 10;

/** The exec arguments that run `command` under the wrapper for `adapter`. */
export function scanCommand(adapter: ScannerAdapter, report: ReportChannel, command: string[]): string[] {
  return [
    "sh", "-c", SCAN_WRAPPER, "observatory-ci-scan",
    adapter.tool,
    adapter.clean.join(" "),
    adapter.findings.join(" "),
    typeof report === "string" ? report : report.file,
    adapter.reportMarker ?? "",
    adapter.incompleteScan ?? "",
    ...command,
  ];
}

export type ScanStatus =
  | { verdict: "clean" | "findings"; toolExit: number }
  | { verdict: "crash"; toolExit: number; reason: string };

/** The wrapper's status line in a stderr, or undefined when there is none (the wrapper itself did not run). */
export function scanStatus(stderr: string): ScanStatus | undefined {
  const lines = stderr.trimEnd().split("\n").filter((line) => line.startsWith(SCAN_STATUS_PREFIX));
  const line = lines[lines.length - 1];
  if (line === undefined) return undefined;
  const result = /^\S+ \S+ exited (\d+): (clean|findings)$/.exec(line);
  if (result) return { verdict: result[2] as "clean" | "findings", toolExit: Number(result[1]) };
  const crash = /^\S+ \S+ crashed: exit (\d+): (.*)$/.exec(line);
  if (crash) return { verdict: "crash", toolExit: Number(crash[1]), reason: crash[2] };
  return undefined;
}

/** The tool's own stderr: the wrapper's status line removed. */
export function toolStderr(stderr: string): string {
  return stderr
    .split("\n")
    .filter((line) => !line.startsWith(SCAN_STATUS_PREFIX))
    .join("\n");
}
