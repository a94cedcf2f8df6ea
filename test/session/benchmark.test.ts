import { dependencyBuildCommand } from "../../.dagger/src/lib/dependency-layer";
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dag } from "@dagger.io/dagger";
import { IMAGES } from "../../.dagger/src/versions";
import { benchCommand } from "../../.dagger/src/benchmark";
import type { Pipeline } from "../../.dagger/src/pipeline";
import { execFileSync } from "node:child_process";
import { failureOf, sourceWithConfig, startPerTest } from "../support/module";
import { HOME, ahash, baselineOnDisk, benchScript, criterion, filesUnder, isBench } from "../support/scheduled";

const start = startPerTest();

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
    // built over the bench dependency layer (the bench profile is a flag set of its own), after touching the workspace
    expect(bench.env.CARGO_TARGET_DIR).toBe("/cargo-target");
    expect(session.execs.some((e) => JSON.stringify(e.args) === JSON.stringify(dependencyBuildCommand("bench")))).toBe(true);
    expect(bench.args[2]).toContain("find . -type f -exec touch -c {} +");
    // no cache volume holds criterion's output (at HOME or above it)
    expect(Object.keys(bench.caches).filter((dir) => HOME === dir || HOME.startsWith(`${dir}/`))).toEqual([]);
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
    expect(bench.args[2]).toContain("find . -path '*/new/*' -type f -exec sh -c");
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
