import { describe, expect, it } from "vitest";
import { failureReport, formatDuration, runGates, summaryTable } from "../../.dagger/src/lib/summary";
import { GateFailure, UsageError } from "../../.dagger/src/lib/errors";

describe("ci summary", () => {
  it("runs every gate even when one fails, and keeps each outcome", async () => {
    let clock = 0;
    const finished: string[] = [];
    const outcomes = await runGates(
      {
        fmt: async () => {
          finished.push("fmt");
          return { figure: "formatted" };
        },
        clippy: async () => {
          throw new GateFailure("clippy", "1 lint", "1 error(s)");
        },
        doc: async () => {
          await new Promise((r) => setTimeout(r, 5));
          finished.push("doc");
          return {};
        },
        crash: async () => {
          throw new Error("engine went away");
        },
      },
      () => (clock += 1000),
    );
    expect(finished.sort()).toEqual(["doc", "fmt"]);
    expect(outcomes.map((o) => [o.gate, o.passed, o.figure, o.error])).toEqual([
      ["fmt", true, "formatted", ""],
      ["clippy", false, "1 error(s)", "clippy: 1 lint"],
      ["doc", true, "", ""],
      ["crash", false, "", "engine went away"],
    ]);
    expect(outcomes.every((o) => o.durationMs > 0)).toBe(true);
  });

  it("renders a Markdown table with result, duration and key figure", () => {
    const table = summaryTable([
      { gate: "fmt", passed: true, durationMs: 800, figure: "formatted", error: "" },
      { gate: "unitTest", passed: false, durationMs: 125_000, figure: "85 % < 90 %", error: "unitTest: below" },
    ]);
    expect(table).toBe(
      [
        "| gate | result | duration | key figure |",
        "|---|---|---|---|",
        "| fmt | ✅ pass | 800 ms | formatted |",
        "| unitTest | ❌ fail | 2 min 5 s | 85 % < 90 % |",
        "",
        "**1 of 2 gates failed.**",
      ].join("\n"),
    );
  });

  it("escapes pipes and newlines inside cells", () => {
    expect(summaryTable([{ gate: "a|b", passed: true, durationMs: 1, figure: "x\ny", error: "" }])).toContain("| a\\|b | ✅ pass | 1 ms | x y |");
  });

  it("appends each failure's message to the failure report", () => {
    const report = failureReport([
      { gate: "fmt", passed: true, durationMs: 1, figure: "", error: "" },
      { gate: "clippy", passed: false, durationMs: 1, figure: "", error: "clippy: needless_return" },
    ]);
    expect(report).toContain("### clippy\n\nneedless_return");
    expect(report).not.toContain("### fmt");
  });

  it("shows a usage error as a usage error, apart from failed gates", async () => {
    const outcomes = await runGates({
      gitleaks: async () => {
        throw new UsageError({ fn: "ci", flag: "--git-dir", problem: "is not a .git directory", found: "src" });
      },
      fmt: async () => {
        throw new GateFailure("fmt", "run cargo fmt --all");
      },
    });
    expect(outcomes.map((o) => [o.gate, o.passed, o.usage ?? false])).toEqual([["gitleaks", false, true], ["fmt", false, false]]);
    const table = summaryTable(outcomes);
    expect(table).toContain("| gitleaks | ⛔ usage error |");
    expect(table).toContain("| fmt | ❌ fail |");
    const report = failureReport(outcomes);
    expect(report).toContain('### gitleaks (usage error: nothing was started)\n\nci --git-dir: is not a .git directory (found "src")');
    expect(report).toContain("### fmt\n");
  });

  it("renders a Markdown report as Markdown: its tables are never inside a code fence", async () => {
    const details = "#### trivy: failed\n\n| severity | id |\n|---|---|\n| high | `CVE-1` |\n";
    const outcomes = await runGates({
      trivyFs: async () => {
        throw new GateFailure("trivyFs", details, "FAILED: 1 high", "markdown");
      },
      clippy: async () => {
        throw new GateFailure("clippy", "cargo clippy -D warnings failed (exit 101), lints: clippy::needless-return:\nerror: unneeded `return` statement\n```x```", "1 error");
      },
    });
    const report = failureReport(outcomes);
    expect(report).toContain(`### trivyFs\n\n${details.trim()}`);
    const fences = [...report.matchAll(/^(`{3,})text\n([\s\S]*?)\n\1$/gm)].map((m) => m[2]);
    expect(fences).toEqual(["error: unneeded `return` statement\n```x```"]);
    expect(fences.join("\n")).not.toMatch(/^\|/m);
    expect(report).toContain("### clippy\n\ncargo clippy -D warnings failed (exit 101), lints: clippy::needless-return:\n\n````text\n");
  });

  it("keeps the key-figure cell short and gives the whole figure below the table", () => {
    const figure = "passed: 3 low; 2 accepted; stale allowlist entries: RUSTSEC-2020-0001, RUSTSEC-2020-0002; git history, 120 commits";
    const table = summaryTable([{ gate: "gitleaks", passed: true, durationMs: 1, figure, error: "" }]);
    const cell = table.split("\n")[2].split(" | ")[3].replace(/ \|$/, "");
    expect(cell.length).toBeLessThanOrEqual(60);
    expect(cell.endsWith("…")).toBe(true);
    expect(table).toContain(`Key figures in full:\n- gitleaks: ${figure}`);
  });

  it("formats durations", () => {
    expect([formatDuration(0), formatDuration(1500), formatDuration(61_000)]).toEqual(["0 ms", "1.5 s", "1 min 1 s"]);
  });
});
