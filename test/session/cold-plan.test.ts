/**
 * The recorded plan of `ci` read as a cold engine runs it (empty caches): no tool is compiled from
 * source where its project publishes a release binary, and the dependency tree is compiled at most once
 * per compiler-flag set, however many lanes need it.
 */
import { describe, expect, it } from "vitest";
import { buildsPerFlagSet, coldPlanSummary, dependencyBuilds, installedCrate, isCargoInstall } from "../support/cold-plan";
import { healthyScript, startPerTest } from "../support/module";
import { TOOL_RELEASES, TOOLS } from "../../.dagger/src/versions";
import type { ExecView } from "../support/recording-session";

const start = startPerTest();

async function coldPlanOfCi(): Promise<ExecView[]> {
  const { session, call } = await start(healthyScript());
  await call((ci) => ci.ci());
  return session.execs;
}

describe("the cold plan of ci", () => {
  it("builds no tool from source that has an official release binary: only sqlx-cli, which has none", async () => {
    const execs = await coldPlanOfCi();
    const installs = execs.filter(isCargoInstall).map(installedCrate);
    expect(installs).toEqual([`sqlx-cli@${TOOLS.sqlxCli}`]);
    for (const tool of ["cargo-deny", "cargo-audit", "cargo-tarpaulin"]) expect(installs.join(" ")).not.toContain(tool);
    // each released tool is fetched once, verified against its pin, and shared by every gate using it
    for (const [tool, pin] of Object.entries(TOOL_RELEASES)) {
      const fetches = execs.filter((e) => e.args[0] === "sh" && (e.args[2] ?? "").includes(pin.x86_64.sha256));
      expect(fetches, tool).toHaveLength(1);
      expect(fetches[0].args[2]).toContain(pin.aarch64.sha256);
    }
  }, 60_000);

  it("compiles the dependencies once per compiler-flag set: one dev layer for clippy, doc and the integration tests, one for tarpaulin", async () => {
    const execs = await coldPlanOfCi();
    const perSet = buildsPerFlagSet(dependencyBuilds(execs));
    expect(Object.fromEntries(perSet)).toEqual({
      dev: ["dependency layer (dev)"],
      "dev + tarpaulin instrumentation": ["dependency layer (coverage)"],
    });
    for (const [set, builds] of perSet) expect(builds.length, set).toBeLessThanOrEqual(1);
  }, 60_000);

  it("counts a lane that compiles on its own as a dependency build of its flag set", () => {
    const lane = (sub: string): ExecView =>
      ({ args: ["sh", "-euc", "script", "cargo", sub, "--locked"], env: {}, chain: [] }) as unknown as ExecView;
    const perSet = buildsPerFlagSet(dependencyBuilds([lane("clippy"), lane("doc"), lane("fmt")]));
    expect(Object.fromEntries(perSet)).toEqual({ dev: ["cargo clippy lane without a dependency layer", "cargo doc lane without a dependency layer"] });
  });

  it("is what `npm run plan -- ci` prints after the execs", async () => {
    const summary = coldPlanSummary(await coldPlanOfCi());
    expect(summary).toBe(
      [
        `cold plan: 1 tool(s) built from source with cargo install: sqlx-cli@${TOOLS.sqlxCli}`,
        "cold plan: 2 dependency build(s), by compiler-flag set:",
        "  dev: 1 (dependency layer (dev))",
        "  dev + tarpaulin instrumentation: 1 (dependency layer (coverage))",
      ].join("\n"),
    );
  }, 60_000);
});
