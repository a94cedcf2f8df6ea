import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { describeAnalysis, parseAnalysisRun, parseRollout } from "../../.dagger/src/lib/deploy/argo-status";

/** The controller's own test objects (argoproj/argo-rollouts v1.9.1 pkg/kubectl-argo-rollouts/info/testdata), as kubectl -o json prints them. */
const fixture = (name: string) => JSON.stringify(parse(readFileSync(new URL(`../fixtures/reports/argo-rollouts/status/${name}`, import.meta.url), "utf8")));

describe("parseRollout", () => {
  it("reads a canary stuck past its progress deadline as Degraded, at step 0 of its steps", () => {
    const state = parseRollout(fixture("canary-canary-rollout.yaml"), "canary-demo");
    expect(state).toMatchObject({
      name: "canary-demo",
      phase: "Degraded",
      image: "argoproj/rollouts-demo:does-not-exist",
      aborted: false,
      fullyPromoted: false,
      stepIndex: 0,
    });
    expect(state.message).toBe('ProgressDeadlineExceeded: ReplicaSet "canary-demo-65fb5ffc84" has timed out progressing.');
    expect(state.steps).toBeGreaterThan(0);
    expect(parseRollout(fixture("canary-canary-rollout.yaml"), "sidecar").image).toBeNull();
  });

  it("reads an aborted rollout as Degraded with its failed analysis run", () => {
    const state = parseRollout(fixture("rollout-aborted-rollout.yaml"));
    expect(state.phase).toBe("Degraded");
    expect(state.message).toMatch(/^RolloutAborted: /);
    expect(state.aborted).toBe(true);
    expect(state.analysisRun).toEqual({
      name: "rollout-background-analysis-db976bc44-2",
      status: "Failed",
      message: 'metric "web" assessed Failed due to failed (1) > failureLimit (0)',
    });
  });

  it("reads a paused blue-green rollout as Paused", () => {
    expect(parseRollout(fixture("blue-green-bluegreen-rollout.yaml")).phase).toBe("Paused");
  });

  it("prefers the controller's status.phase once it observed the generation, and waits while it has not", () => {
    const rollout = JSON.parse(fixture("canary-canary-rollout.yaml"));
    rollout.status.phase = "Healthy";
    rollout.status.message = "";
    expect(parseRollout(rollout).phase).toBe("Healthy");
    rollout.metadata.generation = 430;
    expect(parseRollout(rollout)).toMatchObject({ phase: "Progressing", message: "waiting for rollout spec update to be observed" });
  });

  it("names what is wrong in malformed input", () => {
    expect(() => parseRollout("not json")).toThrow(/Rollout: kubectl output is not JSON/);
    expect(() => parseRollout(fixture("rollout-aborted-analysisrun.yaml"))).toThrow(/expected kind Rollout, got "AnalysisRun"/);
    const rollout = JSON.parse(fixture("canary-canary-rollout.yaml"));
    rollout.status.phase = "Finished";
    expect(() => parseRollout(rollout)).toThrow(/Rollout canary-demo: unknown status.phase "Finished"/);
  });
});

describe("parseAnalysisRun", () => {
  it("reads the failed run of the aborted rollout with its measurement", () => {
    const run = parseAnalysisRun(fixture("rollout-aborted-analysisrun.yaml"));
    expect(run).toEqual({
      name: "rollout-background-analysis-db976bc44-2",
      phase: "Failed",
      message: 'metric "web" assessed Failed due to failed (1) > failureLimit (0)',
      metrics: [{ name: "web", phase: "Failed", count: 1, successful: 0, failed: 1, errors: 0, inconclusive: 0, last: { value: "false", phase: "Failed", finishedAt: "2020-09-22T09:10:04Z" } }],
    });
    expect(describeAnalysis(run)).toBe(
      'analysis run rollout-background-analysis-db976bc44-2: Failed (metric "web" assessed Failed due to failed (1) > failureLimit (0))\n' +
        "  web Failed (1 failed, 0 errors of 1): last false Failed at 2020-09-22T09:10:04Z",
    );
  });

  it("reads a run with several metrics, errors and inconclusive measurements", () => {
    const run = parseAnalysisRun(fixture("experiment-analysis-canary-analysis.yaml"));
    expect(run.metrics.length).toBeGreaterThan(0);
    expect(run.metrics[0]).toMatchObject({ count: 8, failed: 4, errors: 1, inconclusive: 1 });
  });
});
