import { dag, type File } from "@dagger.io/dagger";
import type { Pipeline } from "./pipeline";
import { securityReports, type GitHistoryInputs } from "./security";
import { codeQualityIssues } from "./lib/code-quality";

/** The file name GitLab's docs use for a Code Quality artifact. */
export const CODE_QUALITY_REPORT = "gl-code-quality-report.json";

/** GitLab's Code Quality report of every SARIF report securityReports returns (the same cached chains). */
export async function codeQualityReport(p: Pipeline, history: GitHistoryInputs = {}): Promise<File> {
  const reports = await securityReports(p, history, "codeQualityReport");
  const names = (await reports.entries()).filter((name) => name.endsWith(".sarif")).sort();
  const sarif = await Promise.all(names.map(async (name) => ({ name, sarif: await reports.file(name).contents() })));
  const issues = codeQualityIssues(sarif);
  return dag.directory().withNewFile(CODE_QUALITY_REPORT, `${JSON.stringify(issues, null, 2)}\n`).file(CODE_QUALITY_REPORT);
}
