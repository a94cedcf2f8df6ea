import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import {
  baselineFromCriterion,
  baselineFromReport,
  benchmarkMarkdown,
  benchmarkReportJson,
  changeVerdict,
  compareBenchmarks,
  formatDuration,
  intervalChange,
  meanEstimate,
  parseCriterionDirectory,
  type Estimate,
} from "../../.dagger/src/lib/benchmark";

const criterion = (name: string) => readFileSync(new URL(`../fixtures/reports/criterion/${name}`, import.meta.url), "utf8");

/** Genuine criterion outputs laid out as criterion writes them under its output directory. */
const V02 = {
  "Fibonacci/Recursive/new/estimates.json": criterion("v0.2-estimates-Fibonacci-Recursive-new.json"),
  "Fibonacci/Recursive/new/benchmark.json": criterion("v0.2-benchmark-Fibonacci-Recursive.json"),
  "Fibonacci/Recursive/change/estimates.json": criterion("v0.2-change-estimates-Fibonacci-Recursive.json"),
};
const V03 = {
  "fib 20 - fast/new/estimates.json": criterion("v0.3-estimates-fib20-fast-new.json"),
  "fib 20 - fast/new/benchmark.json": criterion("v0.3-benchmark-fib20-fast.json"),
  "fib 20 - fast/change/estimates.json": criterion("v0.3-change-estimates-fib20-fast.json"),
};
const V05 = {
  "hashes/ahash/new/estimates.json": criterion("v0.5-estimates-slope-null-hashes-ahash.json"),
  "hashes/ahash/new/benchmark.json": criterion("v0.5-benchmark-hashes-ahash.json"),
};
const files = (...parts: Record<string, string>[]) => new Map(parts.flatMap((p) => Object.entries(p)));

/** A run's estimates with every time multiplied (a derived slower run of a genuine result). */
function scaled(text: string, factor: number): string {
  const doc = JSON.parse(text) as Record<string, { point_estimate: number; confidence_interval: { lower_bound: number; upper_bound: number } } | null>;
  for (const stat of Object.values(doc)) {
    if (!stat) continue;
    stat.point_estimate *= factor;
    stat.confidence_interval.lower_bound *= factor;
    stat.confidence_interval.upper_bound *= factor;
  }
  return JSON.stringify(doc);
}

describe("criterion output", () => {
  it("reads the mean of 0.2 (capitalised), 0.3 and 0.5 (slope null) estimates", () => {
    expect(meanEstimate(criterion("v0.2-estimates-Fibonacci-Recursive-new.json"), "x")).toEqual({
      point: 19284.21673781045,
      lower: 19189.436993840445,
      upper: 19387.95822974072,
    });
    expect(meanEstimate(criterion("v0.3-estimates-fib20-fast-new.json"), "x").point).toBeCloseTo(4.8577, 4);
    expect(meanEstimate(criterion("v0.5-estimates-slope-null-hashes-ahash.json"), "x").point).toBeCloseTo(748680.67, 2);
  });

  it("keys benchmarks by directory and names them by full_id (0.5: hashes/ahash is Hashes/AHash)", () => {
    const run = parseCriterionDirectory(files(V02, V03, V05, { "report/index.html": "<html>" }), "criterion");
    expect(run.current.map((b) => [b.directory, b.id])).toEqual([
      ["Fibonacci/Recursive", "Fibonacci/Recursive"],
      ["fib 20 - fast", "fib 20 - fast"],
      ["hashes/ahash", "Hashes/AHash"],
    ]);
    expect(run.change.get("Fibonacci/Recursive")).toEqual({ point: -0.012258823084615678, lower: -0.022760338155223825, upper: -0.002236127647050845 });
    expect(run.change.has("hashes/ahash")).toBe(false);
  });

  it("names the file of a malformed or truncated output", () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ "a/new/estimates.json": criterion("v0.3-estimates-fib20-fast-new.json").slice(0, 80) }, /criterion\/a\/new\/estimates\.json: not valid JSON/],
      [{ "a/new/estimates.json": "{}" }, /a\/new\/estimates\.json: no mean estimate/],
      [{ "a/change/estimates.json": '{"mean":{"point_estimate":"x","confidence_interval":{}}}' }, /a\/change\/estimates\.json: mean\.point_estimate: expected a number/],
    ];
    for (const [input, error] of cases) expect(() => parseCriterionDirectory(files(input), "criterion")).toThrow(error);
  });
});

describe("regression verdict", () => {
  it("reads criterion's genuine 0.3 change [-0.81 %, +0.75 %] as noise, and 0.2's -1.2 % [-2.3 %, -0.2 %] as under the 10 % threshold", () => {
    const run = parseCriterionDirectory(files(V02, V03), "criterion");
    expect(changeVerdict(run.change.get("fib 20 - fast")!, 10)).toBe("unchanged");
    expect(changeVerdict(run.change.get("fib 20 - fast")!, 0)).toBe("unchanged");
    expect(changeVerdict(run.change.get("Fibonacci/Recursive")!, 10)).toBe("unchanged");
    // significant (the interval excludes zero) and beyond a 1 % threshold
    expect(changeVerdict(run.change.get("Fibonacci/Recursive")!, 1)).toBe("improved");
  });

  it("a change whose point is beyond the threshold but whose interval includes zero is noise", () => {
    expect(changeVerdict({ point: 0.3, lower: -0.05, upper: 0.6 }, 10)).toBe("unchanged");
    expect(changeVerdict({ point: 0.12, lower: 0.02, upper: 0.2 }, 10)).toBe("regressed");
    expect(changeVerdict({ point: 0.08, lower: 0.02, upper: 0.2 }, 10)).toBe("unchanged");
  });

  it("compares two runs' intervals when criterion did not: widest change the intervals allow", () => {
    const base: Estimate = { point: 100, lower: 95, upper: 105 };
    const change = intervalChange(base, { point: 120, lower: 118, upper: 122 });
    expect(change.point).toBeCloseTo(0.2);
    expect(change.lower).toBeCloseTo(118 / 105 - 1);
    expect(change.upper).toBeCloseTo(122 / 95 - 1);
  });
});

describe("compareBenchmarks", () => {
  const baselineRun = parseCriterionDirectory(files(V03, V05), "baseline");

  it("fails on a 20 % slower run of the genuine 0.5 result and lists it as regressed", () => {
    const slower = parseCriterionDirectory(files({ "hashes/ahash/new/estimates.json": scaled(V05["hashes/ahash/new/estimates.json"], 1.2), "hashes/ahash/new/benchmark.json": V05["hashes/ahash/new/benchmark.json"] }, V03), "now");
    const report = compareBenchmarks(slower, baselineFromCriterion(baselineRun), 10);
    expect(report.passed).toBe(false);
    expect(report.regressions).toBe(1);
    const ahash = report.benchmarks.find((b) => b.id === "Hashes/AHash")!;
    expect(ahash).toMatchObject({ verdict: "regressed", changeSource: "intervals" });
    expect(ahash.change!.point).toBeCloseTo(0.2);
    // criterion's own comparison of fib 20 (noise) is used as is
    expect(report.benchmarks.find((b) => b.id === "fib 20 - fast")).toMatchObject({ verdict: "unchanged", changeSource: "criterion" });
  });

  it("passes on noise: the same genuine run again, and a 3 % slower one under the 10 % threshold", () => {
    const same = compareBenchmarks(parseCriterionDirectory(files(V05), "now"), baselineFromCriterion(baselineRun), 10);
    expect(same.passed).toBe(true);
    const slightly = parseCriterionDirectory(files({ "hashes/ahash/new/estimates.json": scaled(V05["hashes/ahash/new/estimates.json"], 1.03) }), "now");
    expect(compareBenchmarks(slightly, baselineFromCriterion(baselineRun), 10).passed).toBe(true);
  });

  it("lists new and removed benchmarks without failing", () => {
    const report = compareBenchmarks(parseCriterionDirectory(files(V02, V05), "now"), baselineFromCriterion(baselineRun), 10);
    expect(report.passed).toBe(true);
    expect(report.benchmarks.map((b) => [b.id, b.verdict])).toEqual([
      ["Fibonacci/Recursive", "new"],
      ["Hashes/AHash", "unchanged"],
      ["fib 20 - fast", "removed"],
    ]);
  });

  it("records a first baseline and says so when there is none", () => {
    const report = compareBenchmarks(parseCriterionDirectory(files(V05), "now"), { kind: "none", means: new Map() }, 10);
    expect(report).toMatchObject({ baseline: "none", passed: true, regressions: 0 });
    expect(benchmarkMarkdown(report)).toContain("No baseline: these 1 result(s) are recorded as the first baseline");
  });

  it("fails closed when cargo bench wrote no criterion results", () => {
    expect(() => compareBenchmarks(parseCriterionDirectory(new Map(), "now"), { kind: "none", means: new Map() }, 10)).toThrow(/no criterion results/);
  });

  it("the JSON report is a baseline for the next run (a CI that keeps one file)", () => {
    const first = compareBenchmarks(parseCriterionDirectory(files(V05), "now"), { kind: "none", means: new Map() }, 10);
    const baseline = baselineFromReport(benchmarkReportJson(first), "benchmark.json");
    expect(baseline.means.get("hashes/ahash")?.mean.point).toBeCloseTo(748680.67, 2);
    const slower = parseCriterionDirectory(files({ "hashes/ahash/new/estimates.json": scaled(V05["hashes/ahash/new/estimates.json"], 1.5) }), "now");
    expect(compareBenchmarks(slower, baseline, 10)).toMatchObject({ baseline: "file", passed: false });
    expect(() => baselineFromReport("{}", "--baseline-file bench.json")).toThrow(/--baseline-file bench\.json: not a benchmark report/);
  });

  it("renders the Markdown table: benchmark, baseline, now, change, interval, verdict", () => {
    const slower = parseCriterionDirectory(files({ "hashes/ahash/new/estimates.json": scaled(V05["hashes/ahash/new/estimates.json"], 1.2) }), "now");
    const md = benchmarkMarkdown(compareBenchmarks(slower, baselineFromCriterion(baselineRun), 10));
    expect(md).toContain("| benchmark | baseline | now | change | interval | verdict |");
    expect(md).toContain("| `Hashes/AHash` | 748.7 µs | 898.4 µs | +20.00 % |");
    expect(md).toContain("**regressed**");
    expect(md).toContain("| `fib 20 - fast` | 4.858 ns | – | – | – | removed |");
    expect(formatDuration(0.5)).toBe("500 ps");
    expect(formatDuration(1_500_000_000)).toBe("1.5 s");
  });
});
