/**
 * Code scanning categories: github/codeql-action v4.31.9 src/upload-lib.ts refuses an upload holding two runs
 * with the same `createRunKey` (driver name, fullName, version, semanticVersion, guid, automationDetails.id):
 * PR #2959, GitHub changelog 2025-07-21, issue #3051.
 */
import { describe, expect, it } from "vitest";
import { sarifCategory, sarifRunCollisions, withSarifCategory } from "../../.dagger/src/lib/sarif-category";
import { reportFixture } from "../support/security-reports";

const TRIVY = reportFixture("trivy/image-alpine310.sarif");
const SEMGREP = reportFixture("semgrep/sarif-with-suppression.sarif");
const GITLEAKS = reportFixture("gitleaks/report-sarif-simple.sarif");

describe("SARIF categories", () => {
  it("two Trivy runs without a category (filesystem and image, as trivy convert writes them) collide", () => {
    expect(sarifRunCollisions([{ name: "trivy-fs.sarif", text: TRIVY }, { name: "trivy-image.sarif", text: TRIVY }])).toEqual([
      "tool Trivy, category (none): trivy-fs.sarif runs[0], trivy-image.sarif runs[0]",
    ]);
  });

  it("one category per scanner (and per platform) keeps every run apart", () => {
    expect(sarifCategory("trivy-fs")).toBe("observatory-ci/trivy-fs/");
    expect(sarifCategory("trivy-image", "linux/arm64")).toBe("observatory-ci/trivy-image/linux-arm64/");
    const files = [
      { name: "trivy-fs.sarif", text: withSarifCategory(TRIVY, "trivy-fs.sarif", sarifCategory("trivy-fs")) },
      { name: "trivy-image.sarif", text: withSarifCategory(TRIVY, "trivy-image.sarif", sarifCategory("trivy-image")) },
      { name: "semgrep.sarif", text: withSarifCategory(SEMGREP, "semgrep.sarif", sarifCategory("semgrep")) },
      { name: "gitleaks.sarif", text: withSarifCategory(GITLEAKS, "gitleaks.sarif", sarifCategory("gitleaks")) },
    ];
    expect(sarifRunCollisions(files)).toEqual([]);
    const log = JSON.parse(files[0]!.text) as { version: string; runs: { automationDetails: { id: string }; results: unknown[] }[] };
    expect(log.version).toBe("2.1.0");
    expect(log.runs[0]!.automationDetails.id).toBe("observatory-ci/trivy-fs/");
    // the rest of the report is untouched
    expect(log.runs[0]!.results).toEqual((JSON.parse(TRIVY) as { runs: { results: unknown[] }[] }).runs[0]!.results);
  });

  it("refuses what is not a SARIF log, naming the file", () => {
    expect(() => withSarifCategory("{", "semgrep.sarif", "x/")).toThrow(/^semgrep\.sarif: not JSON/);
    expect(() => withSarifCategory('{"version":"2.1.0"}', "semgrep.sarif", "x/")).toThrow("semgrep.sarif: not a SARIF log (no runs array)");
  });
});
