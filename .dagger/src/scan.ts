/**
 * Running a scanner whose report decides a gate, shared by the security stage and the image scan:
 * the pinned Trivy container, the daily re-scan stamp, and reading reports so that a crash, a
 * missing or an unparsable report fails the gate (fail closed), never passes it.
 */
import { dag, CacheSharingMode, type Container } from "@dagger.io/dagger";
import { outcomeOf, type ExecOutcome } from "./exec";
import type { Pipeline } from "./pipeline";
import { GateFailure, tail } from "./lib/errors";
import { parseTrivy, ReportParseError, utcDay, type ParsedReport } from "./lib/findings";

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
    .withMountedCache(TRIVY_CACHE_DIR, dag.cacheVolume("observatory-ci-trivy-cache"), {
      sharing: CacheSharingMode.Locked, // Trivy holds a file lock on its cache database
    })
    .withEnvVariable("TRIVY_CACHE_DIR", TRIVY_CACHE_DIR)
    .withEnvVariable("TRIVY_NO_PROGRESS", "true")
    .withDirectory(REPORTS_DIR, dag.directory())
    .withEnvVariable(SCAN_DAY_ENV, scanDay());
}

/** The flags every Trivy scan gets: severities, `--exit-code 1`, JSON report, timeout, database mirrors. */
export function trivyScanArgs(p: Pipeline, reportPath: string): string[] {
  const { trivy } = p.config.security;
  return [
    "--cache-dir", TRIVY_CACHE_DIR,
    "--severity", trivy.severity,
    "--exit-code", "1",
    "--format", "json",
    "--output", reportPath,
    "--timeout", trivy.timeout,
    ...(trivy.dbRepository ? ["--db-repository", trivy.dbRepository] : []),
    ...(trivy.javaDbRepository ? ["--java-db-repository", trivy.javaDbRepository] : []),
  ];
}

/**
 * Trivy exits 1 both for findings (`--exit-code 1`) and for errors: exit 1 counts as findings only
 * with a parsable report that has some; any other code, or no report, is a crash.
 */
export async function trivyReport(gate: string, ran: Container, reportPath: string, what: string): Promise<ParsedReport> {
  const outcome = await outcomeOf(ran);
  if (outcome.exitCode !== 0 && outcome.exitCode !== 1) {
    throw scannerCrash(gate, `trivy crashed scanning ${what} (exit ${outcome.exitCode})`, outcome);
  }
  const text = await readReport(ran, reportPath);
  if (text === undefined) throw scannerCrash(gate, `trivy wrote no report at ${reportPath} scanning ${what} (exit ${outcome.exitCode})`, outcome);
  const report = parseOrFail(gate, () => parseTrivy(text, reportPath), outcome);
  if (outcome.exitCode === 1 && report.findings.length === 0) {
    throw scannerCrash(gate, `trivy exited 1 scanning ${what} but its report has no finding: it failed`, outcome);
  }
  return report;
}
