import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderDailyReport } from "../../.dagger/src/lib/daily-report";
import { parseCargoAudit, parseTrivy, securityVerdict } from "../../.dagger/src/lib/findings";

const fixture = (path: string) => readFileSync(new URL(`../fixtures/reports/${path}`, import.meta.url), "utf8");
const today = new Date("2025-03-10T23:30:00Z");

describe("daily scan report", () => {
  it("lists every scan with its counts, names the failing ones, then each scan's details", () => {
    const trivy = securityVerdict("trivy", parseTrivy(fixture("trivy/image-alpine310-vulns.json"), "image.json"), { today, allowlist: [] });
    const audit = securityVerdict("cargo-audit", parseCargoAudit(fixture("cargo-audit/many-findings-with-unmaintained-warnings.json"), "a.json"), {
      today,
      allowlist: [],
    });
    const report = renderDailyReport(
      [
        { title: "production (trivy)", target: "ghcr.io/o/analytics-api:1.4.0 (llm-observatory/analytics-api-green)", verdict: trivy },
        { title: "source (cargo audit)", target: "Cargo.lock", verdict: audit },
      ],
      "2025-03-10",
    );
    expect(report.split("\n").slice(0, 8)).toEqual([
      "# Daily security scan (2025-03-10)",
      "",
      "**Findings in:** source (cargo audit).",
      "",
      "| scan | target | result | critical | high | medium | low | info | unknown | accepted |",
      "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
      "| production (trivy) | `ghcr.io/o/analytics-api:1.4.0 (llm-observatory/analytics-api-green)` | passed | 0 | 0 | 4 | 0 | 0 | 0 | 0 |",
      "| source (cargo audit) | `Cargo.lock` | **failed** | 0 | 4 | 0 | 0 | 0 | 0 | 0 |",
    ]);
    expect(report).toContain("\n### source (cargo audit): `Cargo.lock`\n\n**Why it failed:**");
    expect(report.endsWith("\n")).toBe(true);
  });
});
