/**
 * One finding model for every security scanner the pipeline runs, and the rules that map each
 * tool's own severity vocabulary onto it.
 *
 * Severity choices (what a gate with the default `failOn: ["critical", "high"]` blocks on):
 * - Trivy: its own CRITICAL/HIGH/MEDIUM/LOW/UNKNOWN, lower-cased. UNKNOWN stays "unknown" (add it to
 *   `failOn` to fail closed on unrated vulnerabilities).
 * - SARIF: the CVSS-like `security-severity` property (result first, then its rule) when present
 *   (>= 9 critical, >= 7 high, >= 4 medium, > 0 low, 0 info); otherwise the result `level`, falling
 *   back to the rule's `defaultConfiguration.level`, then to SARIF's own default "warning":
 *   error -> high, warning -> medium, note -> low, none -> info.
 * - Semgrep: ERROR -> high, WARNING -> medium, INFO -> low (Semgrep documents INFO as its "low"),
 *   and the newer CRITICAL/HIGH/MEDIUM/LOW levels map to themselves.
 * - cargo-audit: the advisory's CVSS v3.x vector, scored with the CVSS 3.1 base-score formula. An
 *   advisory without CVSS, or with only a CVSS 4.0 vector (not scored here), is "high": every
 *   RustSec vulnerability is a real, exploitable-by-someone bug, so an unrated one must block by
 *   default rather than slip through as "unknown".
 * - cargo-deny: a diagnostic with `severity: error` is a policy violation your deny.toml declared
 *   fatal, so it is at least "high"; a vulnerability advisory whose CVSS scores critical is "critical".
 * - Gitleaks: every leak is "critical" (GITLEAKS_LEAK_SEVERITY). Gitleaks cannot tell a live
 *   credential from a test fixture, and a leaked live credential is the worst outcome the gate can
 *   miss; it must block even when `failOn` is narrowed to ["critical"]. False positives belong in
 *   the allowlist (with a reason and an expiry) or in `.gitleaksignore`.
 */

export const SEVERITIES = ["critical", "high", "medium", "low", "info", "unknown"] as const;
export type Severity = (typeof SEVERITIES)[number];

export const SCANNER_NAMES = ["cargo-audit", "cargo-deny", "trivy", "semgrep", "gitleaks"] as const;
export type ScannerName = (typeof SCANNER_NAMES)[number];

export interface FindingLocation {
  path: string;
  line?: number;
}

export interface Finding {
  tool: ScannerName;
  /** Rule or advisory id: CVE-2019-14697, RUSTSEC-2021-0078, generic-api-key, rules.eqeq-is-bad. */
  id: string;
  severity: Severity;
  location?: FindingLocation;
  /** One human sentence; never contains a secret value. */
  message: string;
  /** `name@version` of the affected package, for dependency findings. */
  package?: string;
  /** Versions that fix a dependency finding, as the tool states them. */
  fixedVersion?: string;
  /** Other ids of the same advisory (a RUSTSEC advisory's CVE/GHSA ids); the allowlist matches them too. */
  aliases?: string[];
}

/** Something the scanner reported that does not fail a gate: an unmaintained crate, a per-file timeout. */
export interface ScanWarning {
  tool: ScannerName;
  /** What sort of warning: unmaintained, yanked, unsound, Timeout, license warning code... */
  kind: string;
  message: string;
  id?: string;
  package?: string;
  location?: FindingLocation;
}

export interface ParsedReport {
  findings: Finding[];
  warnings: ScanWarning[];
  /** Results the report itself marks as suppressed (nosemgrep, SARIF suppressions, Trivy VEX): not findings. */
  suppressed: number;
}

/** A report that cannot be trusted: the gate must fail, never pass, on it. */
export class ReportParseError extends Error {
  override readonly name = "ReportParseError";
  constructor(
    readonly tool: ScannerName | "sarif",
    readonly source: string,
    readonly reason: string,
  ) {
    super(`${tool} report ${JSON.stringify(source)}: ${reason}`);
  }
}

export const GITLEAKS_LEAK_SEVERITY: Severity = "critical";

const SEVERITY_RANK: Record<Severity, number> = {
  critical: 0,
  high: 1,
  medium: 2,
  low: 3,
  info: 4,
  unknown: 5,
};

/** Sort order: critical first, unknown last. */
export function compareSeverity(a: Severity, b: Severity): number {
  return SEVERITY_RANK[a] - SEVERITY_RANK[b];
}

/** The worse of two severities; "unknown" never wins over a known one. */
export function worseSeverity(a: Severity, b: Severity): Severity {
  return compareSeverity(a, b) <= 0 ? a : b;
}

export function emptySeverityCounts(): Record<Severity, number> {
  return { critical: 0, high: 0, medium: 0, low: 0, info: 0, unknown: 0 };
}

/** CVSS base score (0-10) to the qualitative scale of CVSS v3/v4 and GitHub's `security-severity`. */
export function severityFromScore(score: number): Severity {
  if (!Number.isFinite(score) || score < 0 || score > 10) return "unknown";
  if (score >= 9) return "critical";
  if (score >= 7) return "high";
  if (score >= 4) return "medium";
  if (score > 0) return "low";
  return "info";
}

/** Trivy's CRITICAL/HIGH/MEDIUM/LOW/UNKNOWN; undefined for anything else. */
export function severityFromTrivy(value: string): Severity | undefined {
  switch (value) {
    case "CRITICAL":
      return "critical";
    case "HIGH":
      return "high";
    case "MEDIUM":
      return "medium";
    case "LOW":
      return "low";
    case "UNKNOWN":
      return "unknown";
    default:
      return undefined;
  }
}

export type SarifLevel = "error" | "warning" | "note" | "none";

export function severityFromSarifLevel(level: SarifLevel): Severity {
  switch (level) {
    case "error":
      return "high";
    case "warning":
      return "medium";
    case "note":
      return "low";
    case "none":
      return "info";
  }
}

/** Semgrep's rule severities, legacy (ERROR/WARNING/INFO) and current (CRITICAL/HIGH/MEDIUM/LOW). */
export function severityFromSemgrep(value: string): Severity {
  switch (value.toUpperCase()) {
    case "CRITICAL":
      return "critical";
    case "ERROR":
    case "HIGH":
      return "high";
    case "WARNING":
    case "MEDIUM":
      return "medium";
    case "INFO":
    case "LOW":
      return "low";
    case "INVENTORY":
    case "EXPERIMENT":
      return "info";
    default:
      return "unknown";
  }
}

/** `id (package)`, `id (file:line)` or `id`: how a finding is named in one-line summaries. */
export function describeFindingBriefly(finding: Finding): string {
  const where = finding.package ?? (finding.location ? formatLocation(finding.location) : undefined);
  return where ? `${finding.id} (${where})` : finding.id;
}

/** `pkg@1.0 in Cargo.lock`, `src/main.rs:12`, `pkg@1.0`: where a finding is, for tables. */
export function findingWhere(finding: Finding): string | undefined {
  const location = finding.location ? formatLocation(finding.location) : undefined;
  if (finding.package && location) return `${finding.package} in ${location}`;
  return finding.package ?? location;
}

function formatLocation({ path, line }: FindingLocation): string {
  return line === undefined ? path : `${path}:${line}`;
}

/** The same vulnerability in every platform's image is one finding. */
export function mergeReports(reports: ParsedReport[]): ParsedReport {
  const merged: ParsedReport = { findings: [], warnings: [], suppressed: 0 };
  const seen = new Set<string>();
  for (const report of reports) {
    merged.suppressed += report.suppressed;
    merged.warnings.push(...report.warnings);
    for (const finding of report.findings) {
      const key = JSON.stringify([finding.id, finding.package ?? "", finding.location?.path ?? "", finding.location?.line ?? 0]);
      if (seen.has(key)) continue;
      seen.add(key);
      merged.findings.push(finding);
    }
  }
  return merged;
}
