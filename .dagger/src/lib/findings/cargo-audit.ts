import { z } from "zod";
import { severityFromCvssVector } from "./cvss";
import { checkShape, parseJsonReport } from "./json";
import { ReportParseError, type Finding, type ParsedReport, type ScanWarning } from "./model";

const auditPackage = z.looseObject({ name: z.string().min(1), version: z.string() });

const advisory = z.looseObject({
  id: z.string().min(1),
  title: z.string(),
  cvss: z.string().nullish(),
  aliases: z.array(z.string()).optional(),
});

const versions = z.looseObject({ patched: z.array(z.string()).optional() }).nullish();

const vulnerability = z.looseObject({ advisory, package: auditPackage, versions });

const warning = z.looseObject({
  kind: z.string().min(1),
  package: auditPackage,
  advisory: advisory.nullish(),
  versions,
});

const auditReport = z.looseObject({
  vulnerabilities: z.looseObject({
    found: z.boolean(),
    count: z.number().int().nonnegative(),
    list: z.array(vulnerability),
  }),
  warnings: z.record(z.string(), z.array(warning)).optional(),
});

/**
 * Findings of `cargo audit --json`: one per vulnerable package version. Severity comes from the
 * advisory's CVSS v3 vector; without one (or with a CVSS 4.0 vector, not scored) it is "high"
 * (see model.ts). Informational advisories (unmaintained, unsound, notice) and yanked crates are
 * `warnings`: reported, never gate failures.
 */
export function parseCargoAudit(text: string, source: string): ParsedReport {
  const report = checkShape("cargo-audit", source, auditReport, parseJsonReport("cargo-audit", source, text), "cargo-audit JSON output");
  const { list, count, found } = report.vulnerabilities;
  if (count !== list.length || found !== list.length > 0) {
    throw new ReportParseError(
      "cargo-audit",
      source,
      `vulnerabilities is inconsistent: found=${found}, count=${count}, but the list holds ${list.length} entries`,
    );
  }

  const findings = list.map((entry): Finding => {
    const finding: Finding = {
      tool: "cargo-audit",
      id: entry.advisory.id,
      severity: severityFromCvssVector(entry.advisory.cvss) ?? "high",
      message: entry.advisory.title,
      package: `${entry.package.name}@${entry.package.version}`,
    };
    const patched = entry.versions?.patched ?? [];
    if (patched.length > 0) finding.fixedVersion = patched.join(" or ");
    if (entry.advisory.aliases?.length) finding.aliases = entry.advisory.aliases;
    return finding;
  });

  const warnings: ScanWarning[] = [];
  for (const entries of Object.values(report.warnings ?? {})) {
    for (const entry of entries) {
      const pkg = `${entry.package.name}@${entry.package.version}`;
      const item: ScanWarning = {
        tool: "cargo-audit",
        kind: entry.kind,
        message: entry.advisory ? entry.advisory.title : `${pkg} is ${entry.kind}`,
        package: pkg,
      };
      if (entry.advisory) item.id = entry.advisory.id;
      warnings.push(item);
    }
  }
  return { findings, warnings, suppressed: 0 };
}
