/** Scanner outputs for session tests of the security stage: clean runs, findings, crashes. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ExecResult, ExecView } from "./recording-session";

const REPORTS = fileURLToPath(new URL("../fixtures/reports/", import.meta.url));
export const reportFixture = (path: string): string => readFileSync(`${REPORTS}${path}`, "utf8");

export const AUDIT_CLEAN = reportFixture("cargo-audit/no-findings.json");
export const AUDIT_FINDINGS = reportFixture("cargo-audit/many-findings-cvss-v3-v4.json");
export const denySummary = (errors: Record<string, number> = {}): string =>
  JSON.stringify({
    type: "summary",
    fields: Object.fromEntries(
      ["advisories", "bans", "licenses", "sources"].map((check) => [check, { errors: errors[check] ?? 0, warnings: 0, notes: 0, helps: 0 }]),
    ),
  });
export const DENY_CLEAN = denySummary();
export const TRIVY_CLEAN = JSON.stringify({ SchemaVersion: 2, ArtifactName: ".", ArtifactType: "filesystem", Results: [] });
export const TRIVY_FINDINGS = reportFixture("trivy/fs-composer-vendor-vuln.json");
export const TRIVY_IMAGE_FINDINGS = reportFixture("trivy/image-alpine310-vulns.json");
export const SEMGREP_CLEAN = reportFixture("semgrep/json-no-findings.json");
export const SEMGREP_FINDINGS = reportFixture("semgrep/json-one-finding.json");
export const GITLEAKS_CLEAN = "[]";
export const GITLEAKS_FINDINGS = reportFixture("gitleaks/report-json-simple.json");
export const SARIF_EMPTY = JSON.stringify({ version: "2.1.0", $schema: "https://json.schemastore.org/sarif-2.1.0.json", runs: [] });

/** Exec answers of a clean security run: nothing found by any scanner. */
export function cleanSecurityExec(e: ExecView): ExecResult | undefined {
  const line = e.args.join(" ");
  if (line.startsWith("cargo audit")) return { stdout: AUDIT_CLEAN };
  if (line.startsWith("cargo deny")) return { stderr: DENY_CLEAN };
  if (e.args[0] === "gitleaks") return { stderr: "INF 12 commits scanned.\nINF no leaks found" };
  return undefined;
}

/** Report files of a clean security run. */
export function cleanSecurityFile(path: string): string | undefined {
  switch (path) {
    case "/reports/trivy-fs.json":
      return TRIVY_CLEAN;
    case "/reports/semgrep.json":
      return SEMGREP_CLEAN;
    case "/reports/gitleaks.json":
      return GITLEAKS_CLEAN;
  }
  if (/^\/reports\/trivy-image-[a-z]+\.json$/.test(path)) return TRIVY_CLEAN;
  if (path.startsWith("/reports/") && path.endsWith(".sarif")) return SARIF_EMPTY;
  return undefined;
}
