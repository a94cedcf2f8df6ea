/**
 * Security gates (cargo audit, cargo deny, Trivy, Semgrep, Gitleaks) and their SARIF reports (the
 * daily scan of what runs in each environment is scan-deployed.ts). Every gate fails closed: a scanner that crashes,
 * times out or writes no parsable report is a failure, never a pass. Findings are judged in
 * TypeScript (lib/findings) with the allowlist of `ci/pipeline.json`.
 */
import { dag, CacheSharingMode, type Container, type Directory, type File } from "@dagger.io/dagger";
import { withRunNonce } from "./exec";
import { CARGO_HOME, SOURCE_DIR, cargoAudit, cargoDeny, rustWorkspace } from "./rust";
import { denyScopeArgs, trivyFsIncludes } from "./lib/scope";
import type { Pipeline } from "./pipeline";
import { cacheVolume } from "./cache";
import * as image from "./image";
import { ConfigError, GateFailure, errorMessage, isExecFailure, tail } from "./lib/errors";
import {
  REPORTS_DIR,
  SCAN_DAY_ENV,
  crashDetail,
  parseOrFail,
  readReport,
  runScanner,
  runTrivy,
  scanDay,
  scanOutcome,
  scannerCrash,
  trivyBase,
  trivyReport,
  trivyScanArgs,
} from "./scan";
import { FINDINGS_EXIT_CODE, INCOMPLETE_SCAN_REASON, SCANNERS, TIMEOUT_EXIT_CODES } from "./lib/scanner-exit";
import type { GateReport } from "./lib/summary";
import {
  SEVERITIES,
  formatCounts,
  parseCargoAudit,
  parseCargoDeny,
  parseGitleaks,
  parseSemgrep,
  securityVerdict,
  failureHeadline,
  type ParsedReport,
  type ScannerName,
  type SecurityVerdict,
} from "./lib/findings";
import {
  NO_HISTORY_NOTE,
  gitleaksInput,
  notAGitDir,
  shallowHistoryMessage,
  type CheckoutGitEntry,
  type GitleaksInput,
} from "./lib/gitleaks-input";
import { DEFAULT_DENY_TOML } from "./lib/default-deny";
import { sarifCategory, sarifRunCollisions, withSarifCategory } from "./lib/sarif-category";
import { DEFAULT_DENY_CONFIG } from "./lib/config/security";
import { requireLockfile } from "./doctor";

/**
 * The RustSec database's cache volume. cargo-audit's default is $CARGO_HOME/advisory-db, but rustsec
 * removes that directory when it exists and is empty before cloning into it, and a mount point cannot
 * be removed (EBUSY): a cache mounted there would fail the first run on a fresh volume. So the volume
 * holds the directory and `--db` points into it (the clone's lock file sits beside it, in the volume).
 */
export const AUDIT_DB_CACHE = "/var/cache/rustsec";
export const AUDIT_DB_DIR = `${AUDIT_DB_CACHE}/advisory-db`;
/** cargo-deny (>= 0.14) keeps its advisory databases under $CARGO_HOME/advisory-dbs. */
export const DENY_DB_DIR = `${CARGO_HOME}/advisory-dbs`;
/** Where the module's default deny.toml is written when the repository has none. */
export const DEFAULT_DENY_PATH = "/etc/observatory-ci/deny.toml";
/** Mount points of the gitleaks container: the source, with `.git` mounted inside it for a history scan. */
export const GITLEAKS_REPO_DIR = "/repo";
/**
 * gitleaks 8.21.2 exits 1 when it finds leaks (the default `--exit-code`), when it dies (`log.Fatal`)
 * and after a partial scan (cmd/root.go `findingSummaryAndExit`: `if err != nil { os.Exit(1) }`, before
 * the leaks' exit code). A code of our own for "leaks found" tells leaks apart from the other two
 * (SCANNERS.gitleaks).
 */
export const GITLEAKS_LEAKS_EXIT_CODE = FINDINGS_EXIT_CODE;

// ------------------------------------------------------------------ shared

/**
 * Scanners whose every finding fails the gate: cargo audit fails on any vulnerability, and Semgrep
 * runs with --error so any finding fails (exit 1). `security.failOn` must not let a medium-rated
 * advisory or a WARNING-level Semgrep rule through; only the allowlist (reason + expiry) accepts one.
 */
export const FAIL_ON_EVERY_FINDING: readonly ScannerName[] = ["cargo-audit", "semgrep"];

export function verdictOf(p: Pipeline, tool: ScannerName, report: ParsedReport): SecurityVerdict {
  const { allowlist } = p.config.security;
  const failOn = FAIL_ON_EVERY_FINDING.includes(tool) ? [...SEVERITIES] : p.config.security.failOn;
  return securityVerdict(tool, report, { failOn, allowlist, today: new Date() });
}

/** A passed verdict becomes the summary row; a failed one a GateFailure whose message is its details. */
function gateOf(gate: string, verdict: SecurityVerdict, figure = verdict.summary): GateReport {
  if (!verdict.passed) throw new GateFailure(gate, verdict.details, figure, "markdown");
  return { figure };
}

// ------------------------------------------------------------------ cargo audit

/** `cargo audit --json` on the workspace's Cargo.lock, with the RustSec database in a cache volume. */
export function auditRun(p: Pipeline, options: { fresh?: boolean } = {}): Container {
  let ctr = rustWorkspace(p, { tools: { "cargo-audit": cargoAudit(p) } })
    .withMountedCache(AUDIT_DB_CACHE, cacheVolume(p, "rustsec-advisory-db"), {
      sharing: CacheSharingMode.Locked, // one git fetch of the database at a time
    })
    .withEnvVariable(SCAN_DAY_ENV, scanDay());
  if (options.fresh) ctr = withRunNonce(ctr);
  const args = ["cargo", "audit", "--db", AUDIT_DB_DIR, "--json", "--file", "Cargo.lock", ...p.config.security.audit.ignore.flatMap((id) => ["--ignore", id])];
  return runScanner(ctr, SCANNERS.cargoAudit, "stdout", args);
}

/** The parsed cargo-audit report; a crash or an unparsable report throws a GateFailure. */
export async function scanAudit(p: Pipeline, gate = "audit", options: { fresh?: boolean } = {}): Promise<ParsedReport> {
  await requireLockfile(p, gate);
  // cargo audit exits 1 when it found vulnerabilities (report on stdout) and also when it could not
  // fetch its database (no report): the wrapper fails the exec for the latter.
  const outcome = await scanOutcome(gate, auditRun(p, options), (crash) => `cargo audit crashed ${crashDetail(crash)}`);
  if (!outcome.stdout.trim()) throw scannerCrash(gate, `cargo audit wrote no JSON report (exit ${outcome.exitCode})`, outcome);
  const report = parseOrFail(gate, () => parseCargoAudit(outcome.stdout, "cargo audit --json"), outcome);
  if (outcome.verdict === "findings" && report.findings.length === 0) {
    throw scannerCrash(gate, "cargo audit exited 1 but its report lists no vulnerability: it failed", outcome);
  }
  return report;
}

export async function audit(p: Pipeline): Promise<GateReport> {
  const verdict = verdictOf(p, "cargo-audit", await scanAudit(p));
  const ids = [...new Set([...verdict.blocking, ...verdict.belowThreshold].map((f) => f.id))];
  const vulnerabilities = verdict.blocking.length + verdict.belowThreshold.length + verdict.accepted.length;
  const figure =
    `${verdict.passed ? "passed" : "FAILED"}: ${vulnerabilities} ${vulnerabilities === 1 ? "vulnerability" : "vulnerabilities"}` +
    (vulnerabilities > 0 ? ` (${formatCounts(verdict.counts)})` : "") +
    (ids.length > 0 ? `; advisories: ${ids.join(", ")}` : "") +
    (verdict.accepted.length > 0 ? `; ${verdict.accepted.length} accepted` : "") +
    (verdict.expired.length > 0 ? `; expired allowlist: ${verdict.expired.map((e) => e.id).join(", ")}` : "") +
    (verdict.stale.length > 0 ? `; stale allowlist: ${verdict.stale.map((e) => e.id).join(", ")}` : "");
  return gateOf("audit", verdict, figure);
}

// ------------------------------------------------------------------ cargo deny

/** `cargo deny check` with the repository's deny.toml, or the module's default when it has none. */
export async function denyRun(p: Pipeline): Promise<{ ran: Container; configOrigin: string }> {
  await requireLockfile(p, "deny");
  const explicit = p.config.security.denyConfig;
  const configured = explicit ?? DEFAULT_DENY_CONFIG;
  const present = await p.source.exists(configured);
  if (explicit && !present) {
    throw new ConfigError(
      `deny: security.denyConfig = ${JSON.stringify(explicit)} (${p.configOrigin}) does not exist in the source; commit it or fix the field (a configured policy never falls back to the module's default)`,
    );
  }
  let ctr = rustWorkspace(p, { tools: { "cargo-deny": cargoDeny(p) } }).withMountedCache(
    DENY_DB_DIR,
    cacheVolume(p, "cargo-deny-advisory-dbs"),
    { sharing: CacheSharingMode.Locked },
  );
  if (!present) ctr = ctr.withNewFile(DEFAULT_DENY_PATH, DEFAULT_DENY_TOML);
  ctr = ctr.withEnvVariable(SCAN_DAY_ENV, scanDay());
  const configPath = present ? `${SOURCE_DIR}/${configured}` : DEFAULT_DENY_PATH;
  const args = [
    "cargo", "deny",
    ...denyScopeArgs(p.config, SOURCE_DIR),
    "--format", "json", // JSON lines on stderr
    "--color", "never",
    "--locked",
    "check",
    "--config", configPath,
    "advisories", "bans", "licenses", "sources",
  ];
  return { ran: runScanner(ctr, SCANNERS.cargoDeny, "stderr", args), configOrigin: present ? configured : "the module's default deny.toml" };
}

export async function deny(p: Pipeline): Promise<GateReport> {
  const { ran, configOrigin } = await denyRun(p);
  const outcome = await scanOutcome("deny", ran, (crash) => `cargo deny crashed ${crashDetail(crash)}`);
  // The parser fails when the summary line is missing; a non-zero exit must also be explained by an
  // error diagnostic, or cargo-deny failed in a way the stream does not show (fail closed).
  const report = parseOrFail("deny", () => parseCargoDeny(outcome.stderr, "cargo deny check (stderr)"), outcome);
  if (outcome.exitCode !== 0 && report.findings.length === 0) {
    throw scannerCrash("deny", `cargo deny exited ${outcome.exitCode} but reported no error diagnostic: it failed`, outcome);
  }
  const verdict = verdictOf(p, "cargo-deny", report);
  return gateOf("deny", verdict, `${verdict.summary}; config: ${configOrigin}`);
}

// ------------------------------------------------------------------ Trivy

export const TRIVY_FS_JSON = `${REPORTS_DIR}/trivy-fs.json`;
export const TRIVY_FS_SARIF = `${REPORTS_DIR}/trivy-fs.sarif`;

export function trivyFsRun(p: Pipeline): Container {
  const include = trivyFsIncludes(p.config);
  const scanned = include ? p.source.filter({ include }) : p.source;
  const ctr = trivyBase(p).withMountedDirectory(SOURCE_DIR, scanned).withWorkdir(SOURCE_DIR);
  const args = [
    "trivy", "fs",
    ...trivyScanArgs(p, TRIVY_FS_JSON),
    ...p.config.security.trivy.skipDirs.flatMap((dir) => ["--skip-dirs", dir]),
    ".",
  ];
  return runTrivy(ctr, TRIVY_FS_JSON, args);
}

export async function trivyFs(p: Pipeline): Promise<GateReport> {
  const report = await trivyReport("trivyFs", trivyFsRun(p), TRIVY_FS_JSON, "the source");
  return gateOf("trivyFs", verdictOf(p, "trivy", report));
}

/** SARIF of the filesystem scan, converted from its JSON report (no second scan). */
export function trivyFsSarif(p: Pipeline): Container {
  return trivyFsRun(p).withExec(["trivy", "convert", "--format", "sarif", "--output", TRIVY_FS_SARIF, TRIVY_FS_JSON]);
}

// ------------------------------------------------------------------ Semgrep

export const SEMGREP_JSON = `${REPORTS_DIR}/semgrep.json`;
export const SEMGREP_SARIF = `${REPORTS_DIR}/semgrep.sarif`;

/** One Semgrep run writing both reports; `timeout` bounds the whole run (`security.semgrep.timeout`). */
export function semgrepRun(p: Pipeline): Container {
  const { semgrep } = p.config.security;
  const ctr = dag
    .container()
    .from(p.config.images.semgrep)
    .withEnvVariable("SEMGREP_SEND_METRICS", "off")
    .withEnvVariable("SEMGREP_ENABLE_VERSION_CHECK", "0")
    .withDirectory(REPORTS_DIR, dag.directory())
    .withEnvVariable(SCAN_DAY_ENV, scanDay())
    .withMountedDirectory(SOURCE_DIR, p.source)
    .withWorkdir(SOURCE_DIR);
  const args = [
    "timeout", String(semgrep.timeout),
    "semgrep", "scan",
    ...semgrep.configs.flatMap((config) => ["--config", config]),
    "--error",
    "--metrics", "off",
    "--json-output", SEMGREP_JSON,
    "--sarif-output", SEMGREP_SARIF,
  ];
  return runScanner(ctr, SCANNERS.semgrep, { file: SEMGREP_JSON }, args);
}

export async function semgrep(p: Pipeline): Promise<GateReport> {
  const ran = semgrepRun(p);
  // With --error: 0 = no blocking finding, 1 = findings; 2 and above are Semgrep's own errors.
  const outcome = await scanOutcome("semgrep", ran, (crash) =>
    crash.toolExit !== undefined && TIMEOUT_EXIT_CODES.includes(crash.toolExit)
      ? `semgrep did not finish within security.semgrep.timeout = ${p.config.security.semgrep.timeout} s (exit ${crash.toolExit})`
      : `semgrep crashed ${crashDetail(crash)}`,
  );
  const text = await readReport(ran, SEMGREP_JSON);
  if (text === undefined) throw scannerCrash("semgrep", `semgrep wrote no report at ${SEMGREP_JSON} (exit ${outcome.exitCode})`, outcome);
  const report = parseOrFail("semgrep", () => parseSemgrep(text, SEMGREP_JSON), outcome);
  if (outcome.verdict === "findings" && report.findings.length === 0) {
    throw scannerCrash("semgrep", "semgrep exited 1 but its report has no finding: it failed", outcome);
  }
  return gateOf("semgrep", verdictOf(p, "semgrep", report));
}

// ------------------------------------------------------------------ Gitleaks

export const GITLEAKS_JSON = `${REPORTS_DIR}/gitleaks.json`;
export const GITLEAKS_SARIF = `${REPORTS_DIR}/gitleaks.sarif`;

interface GitleaksScan {
  mode: "git" | "dir";
  base: Container;
  args: (format: "json" | "sarif", path: string) => string[];
}

/** Where gitleaks may find the history: `--git-dir`, else the caller's checkout filtered to `.git`. */
export interface GitHistoryInputs {
  gitDir?: Directory;
  checkout?: Directory;
}

/** The `.git` directory to scan, or none: see lib/gitleaks-input for the rules. */
async function historyToScan(fn: string, { gitDir, checkout }: GitHistoryInputs): Promise<{ dir?: Directory; input: GitleaksInput }> {
  let entry: CheckoutGitEntry | undefined;
  if (!gitDir && checkout) {
    const gitDirectory = await checkout.exists(".git/HEAD");
    const gitEntry = gitDirectory || (await checkout.exists(".git"));
    const pointer = gitEntry && !gitDirectory ? await checkout.file(".git").contents().catch(() => undefined) : undefined;
    entry = { gitDirectory, gitEntry, pointer };
  }
  const input = gitleaksInput(gitDir !== undefined, entry, fn);
  if (input.mode === "dir") return { input };
  return { dir: gitDir ?? checkout!.directory(".git"), input };
}

/**
 * Validates the inputs (config file, a usable, complete `.git`) before any container, then
 * describes the scan: `gitleaks git` over the full history when there is one, `gitleaks dir`
 * over the source otherwise.
 */
async function gitleaksScan(p: Pipeline, history: GitHistoryInputs, fn = "gitleaks"): Promise<GitleaksScan> {
  const { configPath } = p.config.security.gitleaks;
  if (configPath && !(await p.source.exists(configPath))) {
    throw new ConfigError(`gitleaks: security.gitleaks.configPath ${JSON.stringify(configPath)} does not exist in the source`);
  }
  const { dir: gitDir, input } = await historyToScan(fn, history);
  if (gitDir && input.mode === "git") {
    if (!(await gitDir.exists("HEAD"))) throw notAGitDir(fn);
    if (await gitDir.exists("shallow")) throw new GateFailure("gitleaks", shallowHistoryMessage(input.origin), "shallow clone");
  }
  // safe.directory: the mounted repository belongs to another uid than the container user (git's "dubious ownership").
  let base = dag
    .container()
    .from(p.config.images.gitleaks)
    .withExec(["git", "config", "--global", "--add", "safe.directory", "*"])
    .withDirectory(REPORTS_DIR, dag.directory())
    .withMountedDirectory(GITLEAKS_REPO_DIR, p.source);
  if (gitDir) base = base.withMountedDirectory(`${GITLEAKS_REPO_DIR}/.git`, gitDir);
  base = base.withWorkdir(GITLEAKS_REPO_DIR);
  const mode = gitDir ? "git" : "dir";
  return {
    mode,
    base,
    args: (format, path) => [
      "gitleaks", mode,
      "--redact", // never a secret in a report or a log
      "--no-banner",
      "--exit-code", String(GITLEAKS_LEAKS_EXIT_CODE),
      "--report-format", format,
      "--report-path", path,
      ...(configPath ? ["--config", `${GITLEAKS_REPO_DIR}/${configPath}`] : []),
      GITLEAKS_REPO_DIR,
    ],
  };
}

function gitleaksRun(ctr: Container, scan: GitleaksScan, format: "json" | "sarif", path: string): Container {
  return runScanner(ctr, SCANNERS.gitleaks, { file: path }, scan.args(format, path));
}

function gitleaksJsonRun(scan: GitleaksScan): Container {
  return gitleaksRun(scan.base, scan, "json", GITLEAKS_JSON);
}

export async function gitleaks(p: Pipeline, history: GitHistoryInputs = {}): Promise<GateReport> {
  const scan = await gitleaksScan(p, history);
  const ran = gitleaksJsonRun(scan);
  const what = scan.mode === "git" ? "the full git history" : `the source directory (${NO_HISTORY_NOTE})`;
  const outcome = await scanOutcome("gitleaks", ran, (crash) =>
    crash.reason === INCOMPLETE_SCAN_REASON
      ? `gitleaks reported errors scanning ${what} (exit ${crash.toolExit}); the scan is incomplete`
      : `gitleaks crashed scanning ${what} ${crashDetail(crash)}; leaks would exit ${GITLEAKS_LEAKS_EXIT_CODE}`,
  );
  const text = await readReport(ran, GITLEAKS_JSON);
  if (text === undefined) throw scannerCrash("gitleaks", `gitleaks wrote no report at ${GITLEAKS_JSON} (exit ${outcome.exitCode})`, outcome);
  const report = parseOrFail("gitleaks", () => parseGitleaks(text, GITLEAKS_JSON), outcome);
  if (outcome.exitCode === GITLEAKS_LEAKS_EXIT_CODE && report.findings.length === 0) {
    throw scannerCrash("gitleaks", `gitleaks exited ${GITLEAKS_LEAKS_EXIT_CODE} (leaks) but its report lists none`, outcome);
  }
  if (outcome.exitCode === 0 && report.findings.length > 0) {
    throw scannerCrash("gitleaks", "gitleaks exited 0 but its report lists leaks", outcome);
  }
  const verdict = verdictOf(p, "gitleaks", report);
  const commits = /(\d+) commits scanned/.exec(outcome.stderr)?.[1];
  const scope = scan.mode === "git" ? `git history${commits ? `, ${commits} commits` : ""}` : NO_HISTORY_NOTE;
  const figure = `${verdict.summary}; ${scope}`;
  if (!verdict.passed) {
    throw new GateFailure("gitleaks", `${failureHeadline(verdict, { one: "leak", many: "leaks" }, what)} (redacted)\n\n${verdict.details}`, figure, "markdown");
  }
  return { figure };
}

// ------------------------------------------------------------------ SARIF reports

interface SarifSource {
  scanner: string;
  name: string;
  /** Set on every run of the file; trivy-image sets its own (one per platform). */
  category?: string;
  produce: () => Promise<File>;
}

async function sarifText(source: SarifSource): Promise<string> {
  try {
    const text = await (await source.produce()).contents();
    if (!text.trim()) throw new Error("the file is empty");
    return source.category ? withSarifCategory(text, source.name, source.category) : text;
  } catch (e) {
    const detail = isExecFailure(e) ? `${e.message}${e.stderr.trim() ? `\n${tail(e.stderr, 20)}` : ""}` : errorMessage(e);
    throw new Error(`${source.scanner} produced no SARIF report (${source.name}): ${detail}`);
  }
}

/**
 * Every SARIF report, from the same container chains as the gates (so a run after the gates is
 * served from cache), each run with its own code scanning category (lib/sarif-category.ts). Findings do
 * not make this fail; a missing report does, naming the scanner, and so do two runs code scanning would
 * refuse to take in one upload.
 */
export async function securityReports(p: Pipeline, history: GitHistoryInputs = {}, fn = "securityReports"): Promise<Directory> {
  const sources: SarifSource[] = [
    { scanner: "trivy", name: "trivy-fs.sarif", category: sarifCategory("trivy-fs"), produce: async () => trivyFsSarif(p).file(TRIVY_FS_SARIF) },
    { scanner: "semgrep", name: "semgrep.sarif", category: sarifCategory("semgrep"), produce: async () => semgrepRun(p).file(SEMGREP_SARIF) },
    {
      scanner: "gitleaks",
      name: "gitleaks.sarif",
      category: sarifCategory("gitleaks"),
      produce: async () => {
        const scan = await gitleaksScan(p, history, fn);
        // Chained after the gate's JSON run (cached): gitleaks writes one format per run.
        return gitleaksRun(gitleaksJsonRun(scan), scan, "sarif", GITLEAKS_SARIF).file(GITLEAKS_SARIF);
      },
    },
    // ---- image stage: the Trivy scan of the built image (image.ts) ----
    { scanner: "trivy (image)", name: "trivy-image.sarif", produce: () => image.trivyImageSarif(p) },
  ];
  const results = await Promise.allSettled(sources.map(sarifText));
  const failures = results.flatMap((r) => (r.status === "rejected" ? [errorMessage(r.reason)] : []));
  if (failures.length > 0) throw new Error(`${fn}: ${failures.join("\n")}`);
  const files = results.map((r, i) => ({ name: sources[i]!.name, text: (r as PromiseFulfilledResult<string>).value }));
  const collisions = sarifRunCollisions(files);
  if (collisions.length > 0) {
    throw new Error(`${fn}: code scanning refuses several runs with one tool and category in an upload:\n${collisions.join("\n")}`);
  }
  return files.reduce((dir, file) => dir.withNewFile(file.name, file.text), dag.directory());
}
