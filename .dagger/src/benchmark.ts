/**
 * The weekly benchmarks: `cargo bench` (criterion) in the shared Rust base, compared with the previous
 * run's results (lib/benchmark.ts decides). The baseline travels as an artifact: the function takes the
 * last kept results and returns the new ones.
 */
import { dag, type Directory, type File } from "@dagger.io/dagger";
import type { Pipeline } from "./pipeline";
import { rustWorkspace } from "./rust";
import { withRunNonce } from "./exec";
import { GateFailure, UsageError, isExecFailure, tail } from "./lib/errors";
import {
  baselineFromCriterion,
  baselineFromReport,
  benchmarkMarkdown,
  benchmarkReportJson,
  compareBenchmarks,
  parseCriterionDirectory,
  type BaselineInput,
} from "./lib/benchmark";
import type { BenchmarkRequest } from "./lib/scheduled-args";
import { benchScope } from "./lib/scope";

/**
 * criterion writes to $CRITERION_HOME when it is set (bheisler/criterion.rs 0.5.1 src/lib.rs
 * DEFAULT_OUTPUT_DIRECTORY; read since 0.3.3, src/lib.rs at 0.3.3), else to the target dir, here a cache volume
 * that would mix in earlier runs. A plain directory keeps each run's results its own and readable. An older
 * criterion writes into the target dir, leaves this one empty, and the gate fails with "no criterion results".
 */
const CRITERION_HOME = "/bench-out/criterion";
const BASELINE_DIR = "/bench-baseline";

/**
 * The baseline's results become `<benchmark>/base/`: criterion compares a run with the `base` baseline
 * when that folder exists and writes `change/estimates.json`, the bootstrapped change of the mean
 * (criterion.rs 0.5.1 src/analysis/mod.rs `base_dir_exists`, src/analysis/compare.rs `common`, which reads
 * base/sample.json and base/estimates.json). Only the baseline's `new/` is copied: a benchmark that no longer
 * runs leaves no `new/` here, which is how it shows as removed.
 */
const COPY_TO_BASE = 'for f do d="$CRITERION_HOME/${f%/new/*}/base"; mkdir -p "$d"; cp "$f" "$d/${f##*/new/}"; done';
const SEED_BASELINE = [
  `if [ -d ${BASELINE_DIR} ]; then`,
  `  (cd ${BASELINE_DIR} && find . -path '*/new/*' -type f -exec sh -c '${COPY_TO_BASE}' seed {} +)`,
  "fi",
].join("\n");

/** What criterion writes that the comparison reads. */
const RESULT_GLOBS = ["**/new/estimates.json", "**/new/benchmark.json", "**/change/estimates.json"];

async function readCriterion(dir: Directory): Promise<Map<string, string>> {
  const paths = [...new Set((await Promise.all(RESULT_GLOBS.map((g) => dir.glob(g)))).flat())].sort();
  const contents = await Promise.all(paths.map((path) => dir.file(path).contents()));
  return new Map(paths.map((path, i) => [path, contents[i]!]));
}

async function baselineOf(request: BenchmarkRequest<Directory, File>): Promise<BaselineInput> {
  if (request.baselineFile) {
    return baselineFromReport(await request.baselineFile.contents(), "benchmark --baseline-file");
  }
  if (!request.baseline) return { kind: "none", means: new Map() };
  const baseline = baselineFromCriterion(parseCriterionDirectory(await readCriterion(request.baseline), "benchmark --baseline"));
  if (baseline.means.size === 0) {
    throw new UsageError({
      fn: "benchmark",
      flag: "--baseline",
      problem: "holds no criterion results (no <benchmark>/new/estimates.json)",
      expected: "the criterion directory a previous benchmark run returned (criterion/ in its output), or target/criterion",
    });
  }
  return baseline;
}

/** `cargo bench` over the bench targets only: a lib's libtest harness would refuse criterion's filter flags. */
export function benchCommand(p: Pipeline): string[] {
  const { filter, timeoutSeconds } = p.config.benchmarks;
  const scope = benchScope(p.config);
  const cargo = ["cargo", "bench", "--locked", ...scope, "--benches", "--", ...(filter ? [filter] : [])];
  const script = [
    "set -eu",
    'mkdir -p "$CRITERION_HOME"',
    SEED_BASELINE,
    // built over the bench dependency layer: touch the workspace so no crate is taken for the skeleton's stub
    "find . -type f -exec touch -c {} +",
    `exec timeout --kill-after=30 ${timeoutSeconds} "$@"`,
  ].join("\n");
  return ["sh", "-euc", script, "bench", ...cargo];
}

/**
 * Runs the benchmarks and returns criterion/ (the baseline of the next run), benchmark.md and benchmark.json.
 * Fails when a benchmark regressed, with the table; when cargo bench fails, with its output.
 */
export async function benchmark(p: Pipeline, request: BenchmarkRequest<Directory, File>): Promise<Directory> {
  const baseline = await baselineOf(request);
  let ctr = rustWorkspace(p, { dependencies: "bench" }).withEnvVariable("CRITERION_HOME", CRITERION_HOME);
  if (request.baseline) ctr = ctr.withDirectory(BASELINE_DIR, request.baseline);
  // a measurement, not a build: an unchanged source is measured again
  const ran = withRunNonce(ctr).withExec(benchCommand(p));
  try {
    await ran.sync();
  } catch (e) {
    if (!isExecFailure(e)) throw e;
    const timedOut = e.exitCode === 124 || e.exitCode === 137;
    throw new GateFailure(
      "benchmark",
      `cargo bench ${timedOut ? `timed out after ${p.config.benchmarks.timeoutSeconds}s (benchmarks.timeoutSeconds)` : `failed (exit ${e.exitCode})`}:\n${tail(e.stdout + "\n" + e.stderr, 40)}`,
      timedOut ? "timed out" : "crashed",
    );
  }
  const results = ran.directory(CRITERION_HOME);
  const files = await readCriterion(results);
  let report;
  try {
    report = compareBenchmarks(parseCriterionDirectory(files, "criterion"), baseline, p.config.benchmarks.regressionPercent);
  } catch (e) {
    throw new GateFailure("benchmark", (e as Error).message, "no results");
  }
  const markdown = benchmarkMarkdown(report);
  if (!report.passed) throw new GateFailure("benchmark", `\n${markdown}`, `${report.regressions} regression(s)`);
  return dag
    .directory()
    .withDirectory("criterion", results, { include: ["**/new/**"] })
    .withNewFile("benchmark.md", markdown)
    .withNewFile("benchmark.json", benchmarkReportJson(report));
}
