/**
 * The benchmark regression gate: criterion's own output compared with a baseline.
 *
 * Criterion's layout under its output directory (CRITERION_HOME), per benchmark directory
 * (bheisler/criterion.rs 0.5.1 src/analysis/mod.rs `analysis`, src/analysis/compare.rs `common`):
 *   <dir>/new/estimates.json    this run's estimates (mean, median, slope... each point + 95 % interval)
 *   <dir>/new/benchmark.json    the benchmark's id (`full_id`, `directory_name`)
 *   <dir>/base/estimates.json   the baseline it compared with, when one existed before the run
 *   <dir>/change/estimates.json the relative change of the mean and median against base (bootstrapped interval)
 * Criterion 0.2 capitalises the statistic names (`Mean`), 0.3 and later write them in lower case;
 * 0.5 writes `"slope": null` in flat sampling mode. Only the mean is read here.
 */
import { markdownCode, markdownTable, markdownText } from "./markdown";

/** One statistic as criterion writes it: point estimate and its confidence interval (times in ns). */
export interface Estimate {
  point: number;
  lower: number;
  upper: number;
}

export interface BenchmarkResult {
  /** criterion's `full_id` ("Fibonacci/Recursive"), or the directory when benchmark.json is missing. */
  id: string;
  /** Path of the benchmark's folder under the criterion directory: the key baselines are matched on. */
  directory: string;
  mean: Estimate;
}

export interface CriterionRun {
  /** Benchmarks this run measured (a `new/estimates.json`). */
  current: BenchmarkResult[];
  /** The baseline criterion compared with (`base/estimates.json`), by directory. */
  base: Map<string, Estimate>;
  /** criterion's relative change of the mean (`change/estimates.json`), by directory: 0.1 = 10 % slower. */
  change: Map<string, Estimate>;
}

export type Verdict = "regressed" | "improved" | "unchanged" | "new" | "removed";

export interface BenchmarkComparison {
  id: string;
  directory: string;
  baseline?: Estimate;
  now?: Estimate;
  /** Relative change of the mean with its interval (0.1 = +10 %). */
  change?: Estimate;
  /** Where the change came from: criterion's bootstrap, or the two runs' intervals compared here. */
  changeSource?: "criterion" | "intervals";
  verdict: Verdict;
}

export interface BenchmarkReport {
  regressionPercent: number;
  /** "none" when no baseline was given: this run becomes the first one. */
  baseline: "criterion" | "file" | "none";
  benchmarks: BenchmarkComparison[];
  regressions: number;
  passed: boolean;
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: not valid JSON (${(e as Error).message})`);
  }
}

function finite(value: unknown, where: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`${where}: expected a number, found ${JSON.stringify(value)}`);
  return value;
}

/** The mean of an estimates.json (criterion 0.2 `Mean`, 0.3+ `mean`). */
export function meanEstimate(text: string, where: string): Estimate {
  const doc = parseJson(text, where) as Record<string, unknown> | null;
  const mean = (doc && typeof doc === "object" ? (doc.mean ?? doc.Mean) : undefined) as
    | { point_estimate?: unknown; confidence_interval?: { lower_bound?: unknown; upper_bound?: unknown } }
    | undefined;
  if (!mean || typeof mean !== "object") throw new Error(`${where}: no mean estimate (expected a "mean" or "Mean" object)`);
  const ci = mean.confidence_interval ?? {};
  const estimate = {
    point: finite(mean.point_estimate, `${where}: mean.point_estimate`),
    lower: finite(ci.lower_bound, `${where}: mean.confidence_interval.lower_bound`),
    upper: finite(ci.upper_bound, `${where}: mean.confidence_interval.upper_bound`),
  };
  if (estimate.lower > estimate.upper) throw new Error(`${where}: mean interval lower bound ${estimate.lower} is above its upper bound ${estimate.upper}`);
  return estimate;
}

function benchmarkId(text: string | undefined, directory: string, where: string): string {
  if (text === undefined) return directory;
  const doc = parseJson(text, where) as { full_id?: unknown } | null;
  return doc && typeof doc.full_id === "string" && doc.full_id ? doc.full_id : directory;
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const RESULT_FILE = /^(.+)\/(new|base|change)\/(estimates|benchmark)\.json$/;

/**
 * Reads a criterion output directory given as relative path -> contents (only the
 * `new|base|change/{estimates,benchmark}.json` files matter; anything else, e.g. `report/`, is ignored).
 */
export function parseCriterionDirectory(files: ReadonlyMap<string, string>, origin: string): CriterionRun {
  const byDir = new Map<string, Partial<Record<"new" | "base" | "change" | "benchmark", string>>>();
  for (const [path, text] of files) {
    const m = RESULT_FILE.exec(path.replace(/^\.\//, ""));
    if (!m) continue;
    const [, dir, kind, file] = m as unknown as [string, string, "new" | "base" | "change", "estimates" | "benchmark"];
    const entry = byDir.get(dir) ?? {};
    if (file === "estimates") entry[kind] = text;
    else if (kind === "new") entry.benchmark = text;
    byDir.set(dir, entry);
  }
  const run: CriterionRun = { current: [], base: new Map(), change: new Map() };
  for (const [directory, entry] of [...byDir].sort(([a], [b]) => byCodePoint(a, b))) {
    const at = (kind: string) => `${origin}/${directory}/${kind}`;
    if (entry.new !== undefined) {
      run.current.push({
        id: benchmarkId(entry.benchmark, directory, at("new/benchmark.json")),
        directory,
        mean: meanEstimate(entry.new, at("new/estimates.json")),
      });
    }
    if (entry.base !== undefined) run.base.set(directory, meanEstimate(entry.base, at("base/estimates.json")));
    if (entry.change !== undefined) run.change.set(directory, meanEstimate(entry.change, at("change/estimates.json")));
  }
  return run;
}

/**
 * The relative change of two runs' means when criterion did not compare them (a baseline kept as this
 * module's JSON report): the point is the ratio of the means, the interval the widest the two intervals
 * allow (this run's lower bound over the baseline's upper bound, and the reverse).
 */
export function intervalChange(baseline: Estimate, now: Estimate): Estimate {
  if (baseline.point <= 0 || baseline.lower <= 0) throw new Error(`a baseline mean must be positive, found ${baseline.point} [${baseline.lower}, ${baseline.upper}]`);
  return { point: now.point / baseline.point - 1, lower: now.lower / baseline.upper - 1, upper: now.upper / baseline.lower - 1 };
}

/**
 * A regression is a change whose interval excludes zero (not noise) and whose point estimate is above the
 * threshold; an improvement the mirror image. A change whose interval spans zero, or that is smaller than the
 * threshold, is unchanged.
 */
export function changeVerdict(change: Estimate, regressionPercent: number): "regressed" | "improved" | "unchanged" {
  const threshold = regressionPercent / 100;
  if (change.lower > 0 && change.point > threshold) return "regressed";
  if (change.upper < 0 && change.point < -threshold) return "improved";
  return "unchanged";
}

export interface BaselineInput {
  kind: "criterion" | "file" | "none";
  /** The baseline's means by benchmark directory. */
  means: ReadonlyMap<string, { id: string; mean: Estimate }>;
}

/** The comparison of this run with its baseline. `run.change` (criterion's own bootstrap) wins over the intervals. */
export function compareBenchmarks(run: CriterionRun, baseline: BaselineInput, regressionPercent: number): BenchmarkReport {
  if (run.current.length === 0) {
    throw new Error("no criterion results: cargo bench wrote no new/estimates.json (no benchmark matched, or the benches do not use criterion)");
  }
  const benchmarks: BenchmarkComparison[] = [];
  for (const bench of run.current) {
    const known = baseline.means.get(bench.directory);
    const base = known?.mean ?? run.base.get(bench.directory);
    // a run without benchmark.json is named by its directory: the baseline may know its real id
    const id = bench.id === bench.directory && known ? known.id : bench.id;
    if (baseline.kind === "none" || !base) {
      benchmarks.push({ id, directory: bench.directory, now: bench.mean, verdict: "new" });
      continue;
    }
    const criterionChange = run.change.get(bench.directory);
    const change = criterionChange ?? intervalChange(base, bench.mean);
    benchmarks.push({
      id,
      directory: bench.directory,
      baseline: base,
      now: bench.mean,
      change,
      changeSource: criterionChange ? "criterion" : "intervals",
      verdict: changeVerdict(change, regressionPercent),
    });
  }
  const ran = new Set(run.current.map((b) => b.directory));
  for (const [directory, { id, mean }] of [...baseline.means].sort(([a], [b]) => byCodePoint(a, b))) {
    if (!ran.has(directory)) benchmarks.push({ id, directory, baseline: mean, verdict: "removed" });
  }
  const regressions = benchmarks.filter((b) => b.verdict === "regressed").length;
  return { regressionPercent, baseline: baseline.kind, benchmarks, regressions, passed: regressions === 0 };
}

/** The baseline out of a previous run's criterion directory (its `new/` results). */
export function baselineFromCriterion(run: CriterionRun): BaselineInput {
  return { kind: "criterion", means: new Map(run.current.map((b) => [b.directory, { id: b.id, mean: b.mean }])) };
}

export const BENCHMARK_REPORT_FORMAT = "observatory-ci/benchmark-report@1";

/** The JSON report: also a portable baseline (`--baseline-file`) for a CI that keeps one file. */
export function benchmarkReportJson(report: BenchmarkReport): string {
  return JSON.stringify({ format: BENCHMARK_REPORT_FORMAT, ...report }, null, 2) + "\n";
}

/** A previous JSON report as a baseline: its measured benchmarks (removed ones have no current mean). */
export function baselineFromReport(text: string, where: string): BaselineInput {
  const doc = parseJson(text, where) as { format?: unknown; benchmarks?: unknown } | null;
  if (!doc || doc.format !== BENCHMARK_REPORT_FORMAT || !Array.isArray(doc.benchmarks)) {
    throw new Error(`${where}: not a benchmark report (expected "format": "${BENCHMARK_REPORT_FORMAT}" and a "benchmarks" list)`);
  }
  const means = new Map<string, { id: string; mean: Estimate }>();
  doc.benchmarks.forEach((b: { id?: unknown; directory?: unknown; now?: Partial<Estimate> }, i: number) => {
    if (!b.now) return;
    const at = `${where}: benchmarks[${i}]`;
    if (typeof b.directory !== "string" || typeof b.id !== "string") throw new Error(`${at}: expected "id" and "directory" strings`);
    means.set(b.directory, {
      id: b.id,
      mean: { point: finite(b.now.point, `${at}.now.point`), lower: finite(b.now.lower, `${at}.now.lower`), upper: finite(b.now.upper, `${at}.now.upper`) },
    });
  });
  return { kind: "file", means };
}

/** Nanoseconds as criterion prints them: ps, ns, µs, ms, s. */
export function formatDuration(ns: number): string {
  const units: Array<[number, string]> = [[1e9, "s"], [1e6, "ms"], [1e3, "µs"], [1, "ns"], [1e-3, "ps"]];
  const [scale, unit] = units.find(([s]) => Math.abs(ns) >= s) ?? units[units.length - 1]!;
  return `${(ns / scale).toPrecision(4).replace(/\.?0+$/, "")} ${unit}`;
}

function percent(fraction: number): string {
  return `${fraction >= 0 ? "+" : ""}${(fraction * 100).toFixed(2)} %`;
}

const VERDICT_TEXT: Record<Verdict, string> = {
  regressed: "**regressed**",
  improved: "improved",
  unchanged: "unchanged (noise)",
  new: "new",
  removed: "removed",
};

/** The Markdown for a job summary: a sentence, then one row per benchmark. */
export function benchmarkMarkdown(report: BenchmarkReport): string {
  const rows = report.benchmarks.map((b) => [
    markdownCode(markdownText(b.id)),
    b.baseline ? formatDuration(b.baseline.point) : "–",
    b.now ? formatDuration(b.now.point) : "–",
    b.change ? percent(b.change.point) : "–",
    b.change ? `[${percent(b.change.lower)}, ${percent(b.change.upper)}]` : "–",
    VERDICT_TEXT[b.verdict],
  ]);
  const head =
    report.baseline === "none"
      ? `No baseline: these ${report.benchmarks.length} result(s) are recorded as the first baseline; nothing was compared.`
      : report.passed
        ? `No benchmark regressed by more than ${report.regressionPercent} % (mean, 95 % interval).`
        : `${report.regressions} benchmark(s) regressed by more than ${report.regressionPercent} % (mean, 95 % interval excluding no change).`;
  const table = markdownTable(
    [{ header: "benchmark" }, { header: "baseline", align: "right" }, { header: "now", align: "right" }, { header: "change", align: "right" }, { header: "interval" }, { header: "verdict" }],
    rows,
  );
  return [`## Benchmarks`, "", head, "", ...table, ""].join("\n");
}
