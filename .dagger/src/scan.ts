/**
 * Running a scanner whose report decides a gate, shared by the security stage and the image scan:
 * the crash-vs-result wrapper, the pinned Trivy container, the daily re-scan stamp, and reading
 * reports so that a crash, a missing or an unparsable report fails the gate (fail closed), never
 * passes it.
 */
import { dag, CacheSharingMode, type Container } from "@dagger.io/dagger";
import { outcomeUnlessCrashed, type ExecOutcome } from "./exec";
import { cacheVolume } from "./cache";
import type { Pipeline } from "./pipeline";
import { GateFailure, tail } from "./lib/errors";
import { parseTrivy, ReportParseError, utcDay, type ParsedReport } from "./lib/findings";
import { FINDINGS_EXIT_CODE, SCANNERS, scanCommand, scanStatus, toolStderr, type ReportChannel, type ScannerAdapter } from "./lib/scanner-exit";

/** Where scanners write their reports inside their containers. */
export const REPORTS_DIR = "/reports";
/** Trivy's vulnerability database and scan cache (a cache volume; Trivy locks it, so runs take turns). */
export const TRIVY_CACHE_DIR = "/var/cache/trivy";
/**
 * Advisory databases change daily while the source may not: scan execs carry the UTC day, so the
 * engine re-runs them once a day and serves the same day's result from cache.
 */
export const SCAN_DAY_ENV = "OBSERVATORY_CI_SCAN_DAY";

export function scanDay(): string {
  return utcDay(new Date());
}

/** A scanner that did not do its job: a failed gate with the tail of its output. */
export function scannerCrash(gate: string, message: string, outcome?: ExecOutcome): GateFailure {
  const output = outcome ? tail((outcome.stderr || outcome.stdout).trim(), 30) : "";
  return new GateFailure(gate, `${message}${output ? `:\n${output}` : ""}`, "scanner error");
}

/**
 * Runs a scanner under the wrapper, with the engine's default `expect: SUCCESS`: a clean or findings
 * result (with its report) is a successful, cacheable exec; a crash fails the exec, so the engine
 * does not cache it and the next call scans again.
 */
export function runScanner(container: Container, adapter: ScannerAdapter, report: ReportChannel, command: string[]): Container {
  return container.withExec(scanCommand(adapter, report, command));
}

/** A scanner's result: the tool's own exit code and output, the wrapper's status line removed. */
export interface ScanOutcome extends ExecOutcome {
  verdict: "clean" | "findings";
}

/** What the gate says about a crash: the tool's exit code (when the wrapper ran) and the wrapper's reason. */
export type CrashDescription = (crash: { toolExit?: number; reason: string }) => string;

/** The outcome of a wrapped scanner; its failed exec (a crash) becomes the gate's failure. */
export async function scanOutcome(gate: string, ran: Container, describeCrash: CrashDescription): Promise<ScanOutcome> {
  const outcome = await outcomeUnlessCrashed(ran, (e) => {
    const status = scanStatus(e.stderr);
    const crash = status?.verdict === "crash" ? status : { reason: `the exec failed (exit ${e.exitCode})` };
    return scannerCrash(gate, describeCrash(crash), { exitCode: e.exitCode, stdout: e.stdout, stderr: e.stderr });
  });
  const status = scanStatus(outcome.stderr);
  if (status === undefined || status.verdict === "crash") {
    throw scannerCrash(gate, `the scanner wrapper reported no result (exit ${outcome.exitCode})`, outcome);
  }
  return { exitCode: status.toolExit, stdout: outcome.stdout, stderr: toolStderr(outcome.stderr), verdict: status.verdict };
}

/** "(exit 2: not a scan result)", or the reason alone when the tool's code is unknown. */
export function crashDetail(crash: { toolExit?: number; reason: string }): string {
  return crash.toolExit === undefined ? `(${crash.reason})` : `(exit ${crash.toolExit}: ${crash.reason})`;
}

/** Parses a report; an unparsable one is a failed gate (fail closed), never a pass. */
export function parseOrFail(gate: string, parse: () => ParsedReport, outcome: ExecOutcome): ParsedReport {
  try {
    return parse();
  } catch (e) {
    if (e instanceof ReportParseError) {
      throw scannerCrash(gate, `the scanner's report cannot be trusted (exit ${outcome.exitCode}): ${e.message}`, outcome);
    }
    throw e;
  }
}

/** A file the scanner should have written, or undefined when it did not. */
export async function readReport(ran: Container, path: string): Promise<string | undefined> {
  try {
    const text = await ran.file(path).contents();
    return text.trim() === "" ? undefined : text;
  } catch {
    return undefined;
  }
}

/** Pinned Trivy with its database in a locked cache volume, re-run daily. */
export function trivyBase(p: Pipeline): Container {
  return dag
    .container()
    .from(p.config.images.trivy)
    .withMountedCache(TRIVY_CACHE_DIR, cacheVolume(p, "trivy-cache"), {
      sharing: CacheSharingMode.Locked, // Trivy holds a file lock on its cache database
    })
    .withEnvVariable("TRIVY_CACHE_DIR", TRIVY_CACHE_DIR)
    .withEnvVariable("TRIVY_NO_PROGRESS", "true")
    .withDirectory(REPORTS_DIR, dag.directory())
    .withEnvVariable(SCAN_DAY_ENV, scanDay());
}

/**
 * The flags every Trivy scan gets: severities, JSON report, timeout, database mirrors, and an exit
 * code of our own for findings, since every Trivy error exits 1 (SCANNERS.trivy).
 */
export function trivyScanArgs(p: Pipeline, reportPath: string): string[] {
  const { trivy } = p.config.security;
  return [
    "--cache-dir", TRIVY_CACHE_DIR,
    "--severity", trivy.severity,
    "--exit-code", String(FINDINGS_EXIT_CODE),
    "--format", "json",
    "--output", reportPath,
    "--timeout", trivy.timeout,
    ...(trivy.dbRepository ? ["--db-repository", trivy.dbRepository] : []),
    ...(trivy.javaDbRepository ? ["--java-db-repository", trivy.javaDbRepository] : []),
  ];
}

/** A Trivy scan under the wrapper, writing its JSON report at `reportPath`. */
export function runTrivy(container: Container, reportPath: string, command: string[]): Container {
  return runScanner(container, SCANNERS.trivy, { file: reportPath }, command);
}

/**
 * The findings of a wrapped Trivy scan. A crash is a failed exec (never cached); a result whose
 * report is unparsable, or says "findings" with none in the report, still fails closed.
 */
export async function trivyReport(gate: string, ran: Container, reportPath: string, what: string): Promise<ParsedReport> {
  const outcome = await scanOutcome(gate, ran, (crash) => `trivy crashed scanning ${what} ${crashDetail(crash)}`);
  const text = await readReport(ran, reportPath);
  if (text === undefined) throw scannerCrash(gate, `trivy wrote no report at ${reportPath} scanning ${what} (exit ${outcome.exitCode})`, outcome);
  const report = parseOrFail(gate, () => parseTrivy(text, reportPath), outcome);
  if (outcome.verdict === "findings" && report.findings.length === 0) {
    throw scannerCrash(gate, `trivy exited ${outcome.exitCode} (findings) scanning ${what} but its report has no finding: it failed`, outcome);
  }
  return report;
}
