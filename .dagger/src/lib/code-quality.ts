/**
 * GitLab's Code Quality report from the module's SARIF reports, so GitLab shows the security findings in merge
 * requests and pipelines (`artifacts: reports: codequality:`). GitLab reads a JSON array of issues with
 * `description`, `check_name`, `fingerprint`, `severity` (info, minor, major, critical, blocker) and
 * `location.path` + `location.lines.begin`, and shows one issue per fingerprint
 * (https://docs.gitlab.com/ci/testing/code_quality/#code-quality-report-format).
 * The SARIF is read by the one SARIF reader (lib/findings): suppressed results are left out, a report with a
 * scanner error fails.
 */
import { createHash } from "node:crypto";
import { parseSarif, type Severity } from "./findings";

export type CodeQualitySeverity = "info" | "minor" | "major" | "critical" | "blocker";

export interface CodeQualityIssue {
  description: string;
  check_name: string;
  fingerprint: string;
  severity: CodeQualitySeverity;
  location: { path: string; lines: { begin: number } };
}

/** The module's severities on GitLab's scale: critical blocks the widget's top, unknown is shown, never hidden. */
const GITLAB_SEVERITY: Record<Severity, CodeQualitySeverity> = {
  critical: "blocker",
  high: "critical",
  medium: "major",
  low: "minor",
  info: "info",
  unknown: "major",
};

/** One Code Quality issue per unsuppressed finding of every SARIF report, in report order. */
export function codeQualityIssues(reports: { name: string; sarif: string }[]): CodeQualityIssue[] {
  const issues: CodeQualityIssue[] = [];
  const seen = new Set<string>();
  for (const report of reports) {
    for (const finding of parseSarif(report.sarif, report.name).findings) {
      const path = finding.location?.path ?? report.name;
      const line = finding.location?.line ?? 1;
      const checkName = `${finding.tool}/${finding.id}`;
      // the location is part of the fingerprint: GitLab merges issues that share one
      let fingerprint = createHash("sha256").update(`${checkName}\0${path}\0${line}\0${finding.package ?? ""}`).digest("hex").slice(0, 32);
      for (let n = 2; seen.has(fingerprint); n++) fingerprint = createHash("sha256").update(`${fingerprint}\0${n}`).digest("hex").slice(0, 32);
      seen.add(fingerprint);
      issues.push({
        description: `${finding.tool}: ${finding.message}`,
        check_name: checkName,
        fingerprint,
        severity: GITLAB_SEVERITY[finding.severity],
        location: { path, lines: { begin: Math.max(1, line) } },
      });
    }
  }
  return issues;
}
