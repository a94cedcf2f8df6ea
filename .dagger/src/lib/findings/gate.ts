import { applyAllowlist, describeEntry, type AcceptedFinding, type AllowlistEntry, type InvalidEntry } from "./allowlist";
import {
  SEVERITIES,
  compareSeverity,
  describeFindingBriefly,
  emptySeverityCounts,
  findingWhere,
  type Finding,
  type ParsedReport,
  type ScanWarning,
  type ScannerName,
  type Severity,
} from "./model";
import { markdownCode, markdownTable, markdownText } from "../markdown";

export const DEFAULT_FAIL_ON: readonly Severity[] = ["critical", "high"];

export interface VerdictOptions {
  /** Severities that fail the gate; default critical and high. */
  failOn?: readonly Severity[];
  allowlist?: readonly AllowlistEntry[];
  /** The day allowlist expiry is judged on (UTC); default now. */
  today?: Date;
  /** Extra warnings to carry into the verdict, besides those of a ParsedReport. */
  warnings?: readonly ScanWarning[];
}

export interface SecurityVerdict {
  tool: ScannerName;
  passed: boolean;
  failOn: Severity[];
  /** Every finding the scanner reported, accepted ones included, per severity. */
  counts: Record<Severity, number>;
  /** Findings at a `failOn` severity that no valid allowlist entry accepts, worst first. */
  blocking: Finding[];
  /** Findings no entry accepts but below the fail threshold: reported, not failing. */
  belowThreshold: Finding[];
  accepted: AcceptedFinding[];
  /** Expired entries scoped to this scanner, or unscoped ones naming one of its findings: each one fails the gate. */
  expired: AllowlistEntry[];
  /**
   * Entries that cannot be valid today (added after today, or outside the 90-day rule), each with its
   * place in the configuration (`security.allowlist.N`): each one fails the gate.
   */
  invalid: InvalidEntry[];
  /** Entries scoped to this scanner (`tool` set) that matched nothing. */
  stale: AllowlistEntry[];
  warnings: ScanWarning[];
  suppressed: number;
  /** One line for the CI summary table. */
  summary: string;
  /** Markdown for the error message or report: why it failed, every blocking finding, allowlist problems. */
  details: string;
}

/** The gate decision for one scanner's findings. */
export function securityVerdict(
  tool: ScannerName,
  report: ParsedReport | readonly Finding[],
  options: VerdictOptions = {},
): SecurityVerdict {
  const findings: readonly Finding[] = isParsedReport(report) ? report.findings : report;
  const failOn = [...(options.failOn ?? DEFAULT_FAIL_ON)];
  // An entry without `tool` concerns this scanner only when it names one of its findings: otherwise every
  // scanner would report the same expired or invalid entry as its own failure.
  const entries = (options.allowlist ?? []).filter((entry) =>
    entry.tool === undefined ? findings.some((finding) => entry.id === finding.id || (finding.aliases ?? []).includes(entry.id)) : entry.tool === tool,
  );
  const outcome = applyAllowlist(findings, entries, options.today ?? new Date());
  const configured = options.allowlist ?? [];
  const invalid = outcome.invalid.map(({ entry, problem }) => ({ entry, problem: `security.allowlist.${configured.indexOf(entry)}: ${problem}` }));

  const counts = emptySeverityCounts();
  for (const finding of findings) counts[finding.severity] += 1;
  const worstFirst = (a: Finding, b: Finding) => compareSeverity(a.severity, b.severity);
  const blocking = outcome.blocking.filter((finding) => failOn.includes(finding.severity)).sort(worstFirst);
  const belowThreshold = outcome.blocking.filter((finding) => !failOn.includes(finding.severity)).sort(worstFirst);

  const verdict: SecurityVerdict = {
    tool,
    passed: blocking.length === 0 && outcome.expired.length === 0 && invalid.length === 0,
    failOn,
    counts,
    blocking,
    belowThreshold,
    accepted: outcome.accepted,
    expired: outcome.expired,
    invalid,
    stale: outcome.stale.filter((entry) => entry.tool !== undefined),
    warnings: [...(isParsedReport(report) ? report.warnings : []), ...(options.warnings ?? [])],
    suppressed: isParsedReport(report) ? report.suppressed : 0,
    summary: "",
    details: "",
  };
  verdict.summary = summaryLine(verdict);
  verdict.details = detailsMarkdown(verdict);
  return verdict;
}

/**
 * The first line of a failed verdict's message, true to why it failed: findings the gate fails on, or
 * only allowlist entries that accept nothing (then no finding is called blocking).
 */
export function failureHeadline(verdict: SecurityVerdict, noun: { one: string; many: string }, where: string): string {
  const count = verdict.blocking.length;
  if (count > 0) return `${count} ${count === 1 ? noun.one : noun.many} in ${where} that no allowlist entry accepts`;
  const entries = verdict.expired.length + verdict.invalid.length;
  return `no ${noun.one} in ${where} fails the gate, but ${plural(entries, "allowlist entry accepts", "allowlist entries accept")} nothing (expired or invalid)`;
}

function isParsedReport(report: ParsedReport | readonly Finding[]): report is ParsedReport {
  return !Array.isArray(report);
}

function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}

export function formatCounts(counts: Record<Severity, number>): string {
  const parts = SEVERITIES.filter((severity) => counts[severity] > 0).map((severity) => `${counts[severity]} ${severity}`);
  return parts.length > 0 ? parts.join(", ") : "no findings";
}

function countsOf(findings: readonly Finding[]): Record<Severity, number> {
  const counts = emptySeverityCounts();
  for (const finding of findings) counts[finding.severity] += 1;
  return counts;
}

function summaryLine(verdict: SecurityVerdict): string {
  const parts = [`${verdict.passed ? "passed" : "FAILED"}: ${formatCounts(verdict.counts)}`];
  if (verdict.accepted.length > 0) parts.push(`${verdict.accepted.length} accepted`);
  if (verdict.blocking.length > 0) {
    const top = verdict.blocking.slice(0, 3).map(describeFindingBriefly).join(", ");
    const more = verdict.blocking.length > 3 ? ` and ${verdict.blocking.length - 3} more` : "";
    parts.push(`blocking: ${top}${more}`);
  }
  if (verdict.expired.length > 0) {
    parts.push(`expired allowlist: ${verdict.expired.map((entry) => entry.id).join(", ")}`);
  }
  if (verdict.invalid.length > 0) {
    parts.push(`invalid allowlist: ${verdict.invalid.map(({ entry }) => entry.id).join(", ")}`);
  }
  if (verdict.stale.length > 0) parts.push(plural(verdict.stale.length, "stale allowlist entry", "stale allowlist entries"));
  if (verdict.warnings.length > 0) parts.push(plural(verdict.warnings.length, "warning"));
  return parts.join("; ");
}

export function findingsTable(findings: readonly Finding[], withTool = false): string[] {
  const columns = ["severity", ...(withTool ? ["scanner"] : []), "id", "where", "message", "fixed in"].map((header) => ({ header }));
  const rows = findings.map((finding) => [
    finding.severity,
    ...(withTool ? [finding.tool] : []),
    markdownCode(finding.id),
    markdownText(findingWhere(finding) ?? ""),
    markdownText(finding.message),
    markdownText(finding.fixedVersion ?? ""),
  ]);
  return markdownTable(columns, rows);
}

const MAX_LISTED_WARNINGS = 50;

function detailsMarkdown(verdict: SecurityVerdict): string {
  const lines: string[] = [`#### ${verdict.tool}: ${verdict.passed ? "passed" : "failed"}`, ""];
  const reasons: string[] = [];
  if (verdict.blocking.length > 0) {
    reasons.push(
      `${plural(verdict.blocking.length, "finding")} at a severity the gate fails on (${verdict.failOn.join(", ")}): ` +
        formatCounts(countsOf(verdict.blocking)),
    );
  }
  if (verdict.expired.length > 0) {
    reasons.push(`${plural(verdict.expired.length, "allowlist entry has", "allowlist entries have")} expired`);
  }
  if (verdict.invalid.length > 0) {
    reasons.push(`${plural(verdict.invalid.length, "allowlist entry is", "allowlist entries are")} invalid`);
  }
  if (reasons.length > 0) {
    lines.push(`**Why it failed:** ${reasons.join("; ")}.`, "");
  } else {
    lines.push(`Findings: ${formatCounts(verdict.counts)} (the gate fails on ${verdict.failOn.join(", ")}).`, "");
  }
  if (verdict.blocking.length > 0) lines.push(...findingsTable(verdict.blocking), "");
  if (verdict.expired.length > 0) {
    lines.push("**Expired allowlist entries** (they accept nothing until renewed with a new expiry, or removed):");
    for (const entry of verdict.expired) lines.push(`- ${markdownCode(describeEntry(entry))}: ${markdownText(entry.reason)}`);
    lines.push("");
  }
  if (verdict.invalid.length > 0) {
    lines.push("**Invalid allowlist entries** (they accept nothing until corrected):");
    for (const { entry, problem } of verdict.invalid) lines.push(`- ${markdownCode(describeEntry(entry))}: ${markdownText(problem)}`);
    lines.push("");
  }
  if (verdict.belowThreshold.length > 0) {
    lines.push(`Below the fail threshold (not failing): ${formatCounts(countsOf(verdict.belowThreshold))}.`, "");
  }
  if (verdict.accepted.length > 0) {
    lines.push("**Accepted by the allowlist:**");
    for (const { finding, entry } of verdict.accepted) {
      lines.push(`- ${finding.severity} ${markdownCode(describeFindingBriefly(finding))}: ${markdownText(entry.reason)} (until ${entry.expires})`);
    }
    lines.push("");
  }
  if (verdict.stale.length > 0) {
    lines.push("**Stale allowlist entries** (matched no finding; remove them):");
    for (const entry of verdict.stale) lines.push(`- ${markdownCode(describeEntry(entry))}: ${markdownText(entry.reason)}`);
    lines.push("");
  }
  if (verdict.warnings.length > 0) {
    lines.push(`**Warnings** (not failing, ${verdict.warnings.length}):`);
    for (const warning of verdict.warnings.slice(0, MAX_LISTED_WARNINGS)) lines.push(`- ${describeWarning(warning)}`);
    if (verdict.warnings.length > MAX_LISTED_WARNINGS) lines.push(`- … and ${verdict.warnings.length - MAX_LISTED_WARNINGS} more`);
    lines.push("");
  }
  if (verdict.suppressed > 0) lines.push(`${plural(verdict.suppressed, "result")} suppressed in the report itself (nosemgrep, VEX, SARIF suppressions).`, "");
  return lines.join("\n").trimEnd() + "\n";
}

function describeWarning(warning: ScanWarning): string {
  const subject = [warning.id, warning.package, warning.location?.path].filter(Boolean).join(" ");
  return `${markdownText(warning.kind, 60)}${subject ? ` ${markdownCode(subject)}` : ""}: ${markdownText(warning.message)}`;
}

