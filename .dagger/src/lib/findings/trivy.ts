import { z } from "zod";
import { checkShape, parseJsonReport } from "./json";
import { severityFromTrivy, type Finding, type ParsedReport, type Severity } from "./model";
import { formatCounts } from "./gate";

const TRIVY_SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"] as const;
const severity = z.enum(TRIVY_SEVERITIES);

const vulnerability = z.looseObject({
  VulnerabilityID: z.string().min(1),
  PkgName: z.string(),
  InstalledVersion: z.string().optional(),
  FixedVersion: z.string().optional(),
  Severity: severity,
  Title: z.string().optional(),
  Description: z.string().optional(),
});

// Secrets also carry `Match` and `Code.Lines` (the matched text): deliberately not part of the shape.
const secret = z.looseObject({
  RuleID: z.string().min(1),
  Severity: severity,
  Title: z.string().optional(),
  StartLine: z.number().int().optional(),
});

const misconfiguration = z.looseObject({
  ID: z.string().min(1),
  AVDID: z.string().optional(),
  Title: z.string().optional(),
  Message: z.string().optional(),
  Severity: severity,
  Status: z.string().optional(),
  CauseMetadata: z.looseObject({ StartLine: z.number().int().optional() }).optional(),
});

const license = z.looseObject({
  Name: z.string().min(1),
  Severity: severity,
  PkgName: z.string().optional(),
  FilePath: z.string().optional(),
  Category: z.string().optional(),
});

const result = z.looseObject({
  Target: z.string(),
  Vulnerabilities: z.array(vulnerability).nullish(),
  Secrets: z.array(secret).nullish(),
  Misconfigurations: z.array(misconfiguration).nullish(),
  Licenses: z.array(license).nullish(),
  ExperimentalModifiedFindings: z.array(z.unknown()).nullish(),
});

const trivyReport = z.looseObject({
  SchemaVersion: z.literal(2),
  ArtifactName: z.string().optional(),
  Results: z.array(result).nullish(),
});

/**
 * Findings of a Trivy `--format json` report (schema version 2): vulnerabilities, secrets, failed
 * misconfiguration checks and license findings. A report without `Results` has nothing to report
 * (Trivy omits the key when every target was skipped). `ExperimentalModifiedFindings` are findings
 * a VEX statement or `.trivyignore` suppressed: counted as suppressed, not returned.
 */
export function parseTrivy(text: string, source: string): ParsedReport {
  const report = checkShape("trivy", source, trivyReport, parseJsonReport("trivy", source, text), "a Trivy JSON report (SchemaVersion 2)");
  const parsed: ParsedReport = { findings: [], warnings: [], suppressed: 0 };
  for (const target of report.Results ?? []) {
    parsed.suppressed += target.ExperimentalModifiedFindings?.length ?? 0;
    for (const vuln of target.Vulnerabilities ?? []) {
      const finding: Finding = {
        tool: "trivy",
        id: vuln.VulnerabilityID,
        severity: severityFromTrivy(vuln.Severity) ?? "unknown",
        location: { path: target.Target },
        message: vuln.Title || firstLine(vuln.Description) || `${vuln.VulnerabilityID} in ${vuln.PkgName}`,
        package: vuln.InstalledVersion ? `${vuln.PkgName}@${vuln.InstalledVersion}` : vuln.PkgName,
      };
      if (vuln.FixedVersion) finding.fixedVersion = vuln.FixedVersion;
      parsed.findings.push(finding);
    }
    for (const leak of target.Secrets ?? []) {
      parsed.findings.push({
        tool: "trivy",
        id: leak.RuleID,
        severity: severityFromTrivy(leak.Severity) ?? "unknown",
        location: leak.StartLine === undefined ? { path: target.Target } : { path: target.Target, line: leak.StartLine },
        message: `secret: ${leak.Title || leak.RuleID}`,
      });
    }
    for (const check of target.Misconfigurations ?? []) {
      // `--include-non-failures` adds PASS/EXCEPTION entries: only failures are findings.
      if (check.Status !== undefined && check.Status !== "FAIL") continue;
      const line = check.CauseMetadata?.StartLine;
      parsed.findings.push({
        tool: "trivy",
        id: check.AVDID || check.ID,
        severity: severityFromTrivy(check.Severity) ?? "unknown",
        location: line ? { path: target.Target, line } : { path: target.Target },
        message: check.Message || check.Title || check.ID,
      });
    }
    for (const found of target.Licenses ?? []) {
      const finding: Finding = {
        tool: "trivy",
        id: found.Name,
        severity: severityFromTrivy(found.Severity) ?? "unknown",
        location: { path: found.FilePath || target.Target },
        message: `license ${found.Name}${found.Category ? ` (${found.Category})` : ""}`,
      };
      if (found.PkgName) finding.package = found.PkgName;
      parsed.findings.push(finding);
    }
  }
  return parsed;
}

function firstLine(text: string | undefined): string | undefined {
  return text?.split("\n").find((line) => line.trim() !== "")?.trim();
}

/** The severities Trivy reports (`security.trivy.severity`), lower-cased, worst first. */
function reportedSeverities(trivySeverity: string): Severity[] {
  return trivySeverity
    .split(",")
    .map((value) => severityFromTrivy(value))
    .filter((value): value is Severity => value !== undefined);
}

/** The image gate's key figure: the counts of the severities Trivy was asked for, or all counts when others occur. */
export function trivyImageFigure(trivySeverity: string, counts: Record<Severity, number>, accepted: number, findings: readonly Finding[]): string {
  const shown = reportedSeverities(trivySeverity);
  const parts = shown.map((severity) => `${counts[severity]} ${severity}`);
  const others = findings.filter((finding) => !shown.includes(finding.severity)).length;
  const text = others > 0 ? formatCounts(counts) : parts.join(", ");
  return accepted > 0 ? `${text} (${accepted} accepted)` : text;
}
