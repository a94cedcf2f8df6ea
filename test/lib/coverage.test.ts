import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { coverageGate, formatPercent, parseCobertura } from "../../.dagger/src/lib/coverage";

const report = (name: string) => readFileSync(new URL(`../fixtures/reports/tarpaulin/${name}`, import.meta.url), "utf8");

describe("Cobertura from cargo-tarpaulin", () => {
  it("reads the line counts of a genuine partial-coverage report", () => {
    const summary = parseCobertura(report("cobertura-partial-coverage.xml"));
    expect(summary).toEqual({ linesCovered: 204, linesValid: 237, percent: (204 / 237) * 100 });
    expect(formatPercent(summary.percent)).toBe("86.07");
  });

  it("reads a genuine zero-coverage report with an empty package", () => {
    expect(parseCobertura(report("cobertura-zero-coverage-empty-package.xml"))).toEqual({ linesCovered: 0, linesValid: 11, percent: 0 });
  });

  it("rejects what is not a usable Cobertura report, naming the file", () => {
    const partial = report("cobertura-partial-coverage.xml");
    const cases: [string, RegExp][] = [
      ["", /cobertura.xml: the file is empty/],
      ["<html></html>", /no <coverage> element/],
      [partial.slice(0, partial.length / 2), /truncated/],
      ['<coverage lines-valid="10"></coverage>', /no lines-covered attribute/],
      ['<coverage lines-covered="x" lines-valid="10"></coverage>', /lines-covered="x" is not a line count/],
      ['<coverage lines-covered="11" lines-valid="10"></coverage>', /exceeds lines-valid/],
      ['<coverage lines-covered="0" lines-valid="0"></coverage>', /nothing was measured/],
      [report("tarpaulin-report-with-fn_name.json"), /no <coverage> element/],
    ];
    for (const [xml, error] of cases) expect(() => parseCobertura(xml, "cobertura.xml")).toThrow(error);
  });
});

describe("coverage gate", () => {
  it("fails below the threshold naming both numbers", () => {
    const verdict = coverageGate(parseCobertura(report("cobertura-partial-coverage.xml")), 90);
    expect(verdict).toEqual({
      passed: false,
      figure: "86.07 % < 90 %",
      message: "line coverage 86.07 % is below the required 90 % (204/237 lines covered)",
    });
  });

  it("passes at exactly the threshold and above", () => {
    expect(coverageGate({ linesCovered: 90, linesValid: 100, percent: 90 }, 90)).toMatchObject({ passed: true, figure: "90 % (≥ 90 %)" });
    expect(coverageGate({ linesCovered: 95, linesValid: 100, percent: 95 }, 90).passed).toBe(true);
    expect(coverageGate({ linesCovered: 899, linesValid: 1000, percent: 89.9 }, 90).passed).toBe(false);
  });

  it("never rounds a failing figure up to the threshold", () => {
    expect(formatPercent(89.999)).toBe("89.99");
  });
});
