import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, type Dirent } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { dag } from "@dagger.io/dagger";
import { IMAGES } from "../../.dagger/src/versions";
import { benchCommand } from "../../.dagger/src/benchmark";
import type { Pipeline } from "../../.dagger/src/pipeline";
import { execFileSync } from "node:child_process";
import type { ExecView } from "../support/recording-session";
import { failureOf, healthyScript, sourceWithConfig, startPerTest } from "../support/module";

const start = startPerTest();

const criterion = (name: string) => readFileSync(new URL(`../fixtures/reports/criterion/${name}`, import.meta.url), "utf8");
const HOME = "/bench-out/criterion";

/** A genuine criterion 0.5 result, optionally made slower by `factor` (every time multiplied). */
function ahash(factor = 1): Record<string, string> {
  const doc = JSON.parse(criterion("v0.5-estimates-slope-null-hashes-ahash.json")) as Record<string, { point_estimate: number; confidence_interval: { lower_bound: number; upper_bound: number } } | null>;
  for (const stat of Object.values(doc)) {
    if (!stat) continue;
    stat.point_estimate *= factor;
    stat.confidence_interval.lower_bound *= factor;
    stat.confidence_interval.upper_bound *= factor;
  }
  return {
    "hashes/ahash/new/estimates.json": JSON.stringify(doc),
    "hashes/ahash/new/benchmark.json": criterion("v0.5-benchmark-hashes-ahash.json"),
  };
}

/** A previous run's criterion/ directory on disk, as the workflow downloads the artifact. */
function baselineOnDisk(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "observatory-ci-baseline-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const isBench = (e: ExecView) => e.args[0] === "sh" && e.args.includes("bench") && e.args.includes("cargo");
const globMatches = (pattern: string, paths: string[]) => {
  const re = new RegExp(`^${pattern.replace(/\./g, "\\.").replace(/\*\*\//g, "\0").replace(/\*/g, "[^/]*").replace(/\0/g, "(?:.*/)?")}$`);
  return paths.filter((p) => re.test(p));
};
/** The files of a host directory, relative, as the engine's glob sees them. */
const filesUnder = (dir: string): string[] =>
  (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));

/** criterion's output after the bench exec: `written` under CRITERION_HOME. */
function benchScript(written: Record<string, string>, benchResult?: { exitCode: number; stderr: string }) {
  return healthyScript({
    exec: (e) => (isBench(e) ? (benchResult ?? { exitCode: 0, stdout: "Benchmarking Hashes/AHash\n" }) : undefined),
    file: (path) => {
      if (path === `${HOME}/`) return JSON.stringify(Object.keys(written));
      if (path.startsWith(`${HOME}/`)) return written[path.slice(HOME.length + 1)];
      return undefined;
    },
    leaf: (field, chain) => {
      if (field !== "glob") return undefined;
      const pattern = String(chain[chain.length - 1]!.args.pattern);
      const host = chain.find((s) => s.field === "directory" && chain[chain.indexOf(s) - 1]?.field === "host");
      return globMatches(pattern, host ? filesUnder(String(host.args.path)) : Object.keys(written));
    },
  });
}

describe("the bench script", () => {
  it("copies the baseline's new/ results into base/ of CRITERION_HOME (paths with spaces too) before cargo runs", () => {
    const baseline = baselineOnDisk({ ...ahash(), "fib 20 - fast/new/estimates.json": criterion("v0.3-estimates-fib20-fast-new.json"), "fib 20 - fast/base/estimates.json": "old" });
    const home = mkdtempSync(join(tmpdir(), "observatory-ci-criterion-home-"));
    const [sh, flag, script] = benchCommand({ config: { benchmarks: { timeoutSeconds: 60 } } } as unknown as Pipeline);
    // the script as the container runs it, with the baseline at its mount point, and `true` in place of cargo
    execFileSync(sh!, [flag!, script!.replaceAll("/bench-baseline", baseline), "bench", "true"], { env: { ...process.env, CRITERION_HOME: home } });
    expect(filesUnder(home).sort()).toEqual(["fib 20 - fast/base/estimates.json", "hashes/ahash/base/benchmark.json", "hashes/ahash/base/estimates.json"]);
    expect(readFileSync(join(home, "fib 20 - fast/base/estimates.json"), "utf8")).toBe(criterion("v0.3-estimates-fib20-fast-new.json"));
  });
});

describe("benchmark", () => {
  it("runs cargo bench on the bench targets in the pinned Rust base, criterion writing outside the cached target dir", async () => {
    const { session, call } = await start(benchScript(ahash()));
    const out = await call((ci) => ci.benchmark().then((d) => d.file("benchmark.md").contents()));
    const bench = session.execs.find(isBench)!;
    expect(bench.image).toBe(IMAGES.rust);
    expect(bench.args.slice(3)).toEqual(["bench", "cargo", "bench", "--locked", "--workspace", "--benches", "--"]);
    expect(bench.args[2]).toContain("exec timeout --kill-after=30 3600");
    expect(bench.env.CRITERION_HOME).toBe(HOME);
    expect(bench.env.OBSERVATORY_CI_RUN).toBeDefined();
    expect(Object.keys(bench.caches)).toContain("/cargo-target");
    expect(Object.values(bench.caches).some((c) => c.includes("target-bench"))).toBe(true);
    expect(Object.keys(bench.caches)).not.toContain(HOME);
    expect(out).toContain("No baseline: these 1 result(s) are recorded as the first baseline");
  });

  it("scopes cargo bench with benchmarks.package and benchmarks.filter", async () => {
    const source = sourceWithConfig({ benchmarks: { package: "analytics-api", filter: "^ingest/", regressionPercent: 5, timeoutSeconds: 900 } });
    const { session, call } = await start(benchScript(ahash()), source);
    await call((ci) => ci.benchmark().then((d) => d.file("benchmark.json").contents()));
    const bench = session.execs.find(isBench)!;
    expect(bench.args.slice(5)).toEqual(["bench", "--locked", "-p", "analytics-api", "--benches", "--", "^ingest/"]);
    expect(bench.args[2]).toContain("timeout --kill-after=30 900");
  });

  it("seeds criterion's base/ from the baseline and passes on the same genuine result", async () => {
    const baseline = baselineOnDisk(ahash());
    const { session, call } = await start(benchScript(ahash()));
    const json = await call((ci) => ci.benchmark(dag.host().directory(baseline)).then((d) => d.file("benchmark.json").contents()));
    const bench = session.execs.find(isBench)!;
    expect(bench.mounts["/bench-baseline"]).toBeDefined();
    expect(bench.args[2]).toContain('mkdir -p "$CRITERION_HOME/$dir/base"');
    const report = JSON.parse(json) as { baseline: string; passed: boolean; benchmarks: Array<{ verdict: string }> };
    expect(report).toMatchObject({ baseline: "criterion", passed: true });
    expect(report.benchmarks.map((b) => b.verdict)).toEqual(["unchanged"]);
  });

  it("fails on a 20 % regression, with the table in the error", async () => {
    const baseline = baselineOnDisk(ahash());
    const { call } = await start(benchScript(ahash(1.2)));
    const error = await failureOf(call((ci) => ci.benchmark(dag.host().directory(baseline))));
    expect(error.message).toContain("benchmark: ");
    expect(error.message).toContain("1 benchmark(s) regressed by more than 10 %");
    expect(error.message).toMatch(/\| `Hashes\/AHash` \| 748\.7 µs \| 898\.4 µs \| \+20\.00 % \| .* \| \*\*regressed\*\* \|/);
  });

  it("a failed cargo bench fails with its output; no criterion results fail closed", async () => {
    const crashed = await start(benchScript({}, { exitCode: 101, stderr: "error: could not compile `analytics-api`" }));
    const error = await failureOf(crashed.call((ci) => ci.benchmark()));
    expect(error.message).toMatch(/benchmark: cargo bench failed \(exit 101\)/);
    expect(error.message).toContain("could not compile");
    const empty = await start(benchScript({}));
    expect((await failureOf(empty.call((ci) => ci.benchmark()))).message).toMatch(/benchmark: no criterion results/);
  });

  it("refuses two baselines, or an empty one, before any container starts", async () => {
    const baseline = baselineOnDisk(ahash());
    const { session, call } = await start(benchScript(ahash()));
    const both = await failureOf(call((ci) => ci.benchmark(dag.host().directory(baseline), dag.host().file(join(baseline, "hashes/ahash/new/estimates.json")))));
    expect(both.message).toMatch(/^benchmark --baseline-file: conflicts with --baseline/);
    const empty = await failureOf(call((ci) => ci.benchmark(dag.host().directory(mkdtempSync(join(tmpdir(), "observatory-ci-empty-"))))));
    expect(empty.message).toMatch(/^benchmark --baseline: holds no criterion results/);
    expect(session.execs.filter(isBench)).toHaveLength(0);
  });
});
