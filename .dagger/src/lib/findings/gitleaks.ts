import { z } from "zod";
import { checkShape, parseJsonReport } from "./json";
import { GITLEAKS_LEAK_SEVERITY, type Finding, type ParsedReport } from "./model";

// `Secret` and `Match` hold the leaked value (unless gitleaks ran with --redact): they are neither
// validated nor read, so no code path can copy them into a finding or an error message.
const leak = z.looseObject({
  RuleID: z.string().min(1),
  Description: z.string(),
  File: z.string(),
  StartLine: z.number().int(),
  Commit: z.string(),
});

const gitleaksReport = z.array(leak);

/** Findings of a gitleaks `--report-format json` report: one per leak, `[]` for none. */
export function parseGitleaks(text: string, source: string): ParsedReport {
  const leaks = checkShape("gitleaks", source, gitleaksReport, parseJsonReport("gitleaks", source, text), "a gitleaks JSON report (an array of leaks)");
  const findings: Finding[] = leaks.map((found) => {
    const what = found.Description.trim() || found.RuleID;
    // Leaks from `gitleaks dir` (no git) have an empty Commit.
    const commit = found.Commit ? ` in commit ${found.Commit.slice(0, 7)}` : "";
    return {
      tool: "gitleaks",
      id: found.RuleID,
      severity: GITLEAKS_LEAK_SEVERITY,
      location: { path: found.File, line: found.StartLine },
      message: `${what}${commit}`,
    };
  });
  return { findings, warnings: [], suppressed: 0 };
}
