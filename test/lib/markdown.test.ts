import { describe, expect, it } from "vitest";
import { markdownCode, markdownTable, markdownText } from "../../.dagger/src/lib/markdown";
import { summaryTable } from "../../.dagger/src/lib/summary";

describe("markdown", () => {
  it("renders header, rule and rows, numbers right-aligned where asked", () => {
    expect(markdownTable([{ header: "scanner" }, { header: "high", align: "right" }], [["trivy", 2], ["**gitleaks**", 0]])).toEqual([
      "| scanner | high |",
      "|---|---:|",
      "| trivy | 2 |",
      "| **gitleaks** | 0 |",
    ]);
  });

  it("refuses a row whose cell count does not match the columns", () => {
    expect(() => markdownTable([{ header: "a" }, { header: "b" }], [["1"]])).toThrow("markdownTable: row 1 has 1 cells for 2 columns");
  });

  it("keeps text on one line inside its cell: pipes, backslashes, newlines and HTML tags", () => {
    expect(markdownText("a | b\nc\\ <script>x</script> <1.0.0")).toBe("a \\| b c\\\\ &lt;script>x&lt;/script> <1.0.0");
    expect(markdownText("x".repeat(10), 5)).toBe("xxxx…");
    expect(markdownText("x".repeat(300), Infinity)).toHaveLength(300);
  });

  it("keeps inline code inside its span and its cell", () => {
    expect(markdownCode("a`b|c")).toBe("`a'b\\|c`");
  });

  it("a summary figure ending in a backslash no longer escapes the cell's closing pipe", () => {
    // The summary's own escaper left `\` alone, so `| C:\ |` turned the delimiter into a literal pipe and merged the columns.
    const row = summaryTable([{ gate: "fmt", passed: true, durationMs: 1, figure: "C:\\", error: "" }]).split("\n")[2];
    expect(row).toBe("| fmt | ✅ pass | 1 ms | C:\\\\ |");
  });
});
