/** GitLab Code Quality issues from the scanners' real SARIF output (test/fixtures/reports, sources in SOURCES.md). */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { codeQualityIssues } from "../../.dagger/src/lib/code-quality";

const fixture = (path: string) => readFileSync(new URL(`../fixtures/reports/${path}`, import.meta.url), "utf8");

describe("codeQualityIssues", () => {
  it("maps Trivy's security-severity to GitLab's scale, one issue per result with a distinct fingerprint", () => {
    const issues = codeQualityIssues([{ name: "trivy-image.sarif", sarif: fixture("trivy/image-alpine310.sarif") }]);
    expect(issues).toHaveLength(4);
    expect(issues[0]).toMatchObject({
      check_name: "trivy/CVE-2019-1549",
      location: { path: "testdata/fixtures/images/alpine-310.tar.gz", lines: { begin: 1 } },
    });
    expect(issues[0]!.description).toMatch(/^trivy: Package: libcrypto1\.1/);
    for (const issue of issues) expect(["info", "minor", "major", "critical", "blocker"]).toContain(issue.severity);
    expect(new Set(issues.map((i) => i.fingerprint)).size).toBe(4);
    for (const issue of issues) expect(issue.fingerprint).toMatch(/^[0-9a-f]{32}$/);
  });

  it("leaves out suppressed results (nosemgrep) and takes the rule's default level", () => {
    const issues = codeQualityIssues([{ name: "semgrep.sarif", sarif: fixture("semgrep/sarif-with-suppression.sarif") }]);
    expect(issues).toEqual([
      expect.objectContaining({ check_name: "semgrep/rules.regex.detected-aws-account-id", severity: "critical", location: { path: "targets/basic/regex-nosemgrep.txt", lines: { begin: 3 } } }),
    ]);
  });

  it("gitleaks: every leak is a blocker, and the secret's snippet never reaches the report", () => {
    const issues = codeQualityIssues([{ name: "gitleaks.sarif", sarif: fixture("gitleaks/report-sarif-simple.sarif") }]);
    expect(issues).toEqual([expect.objectContaining({ check_name: "gitleaks/test-rule", severity: "blocker", location: { path: "auth.py", lines: { begin: 1 } } })]);
    expect(JSON.stringify(issues)).not.toContain("a secret");
  });

  it("reads every report together, and an empty one adds nothing", () => {
    const issues = codeQualityIssues([
      { name: "gitleaks.sarif", sarif: fixture("gitleaks/baseline-empty-runs.sarif") },
      { name: "semgrep.sarif", sarif: fixture("semgrep/sarif-dataflow-codeflows.sarif") },
    ]);
    expect(issues.map((i) => [i.check_name, i.severity])).toEqual([["semgrep/rules.classic", "major"]]);
  });

  it("fails on a report it cannot trust (a scanner error), naming it", () => {
    expect(() => codeQualityIssues([{ name: "semgrep.sarif", sarif: fixture("semgrep/sarif-errors-no-results.sarif") }])).toThrow(/semgrep\.sarif/);
    expect(() => codeQualityIssues([{ name: "x.sarif", sarif: "{" }])).toThrow(/x\.sarif/);
  });
});
