/** codeQualityReport: GitLab's Code Quality JSON from the SARIF reports of securityReports' own chains. */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { failureOf, healthyScript, startPerTest } from "../support/module";

const start = startPerTest();
const fixture = (path: string) => readFileSync(new URL(`../fixtures/reports/${path}`, import.meta.url), "utf8");

describe("codeQualityReport", () => {
  it("turns every scanner's SARIF into GitLab Code Quality issues, suppressed results left out", async () => {
    const { call } = await start(
      healthyScript({
        file: (p) =>
          p === "/reports/semgrep.sarif" ? fixture("semgrep/sarif-with-suppression.sarif") : p === "/reports/gitleaks.sarif" ? fixture("gitleaks/report-sarif-simple.sarif") : undefined,
      }),
    );
    const report = await call(async (ci) => (await ci.codeQualityReport()).contents());
    const issues = JSON.parse(report) as { check_name: string; severity: string; location: { path: string } }[];
    expect(issues.map((i) => [i.check_name, i.severity, i.location.path])).toEqual([
      ["gitleaks/test-rule", "blocker", "auth.py"],
      ["semgrep/rules.regex.detected-aws-account-id", "critical", "targets/basic/regex-nosemgrep.txt"],
    ]);
    expect(report).not.toContain("a secret");
  });

  it("fails, naming the function, when a scanner wrote no report", async () => {
    const { call } = await start(healthyScript({ file: (p) => (p === "/reports/semgrep.sarif" ? "" : undefined) }));
    const err = await failureOf(call((ci) => ci.codeQualityReport()));
    expect(err.message).toMatch(/^codeQualityReport: semgrep produced no SARIF report \(semgrep\.sarif\)/);
  });
});
