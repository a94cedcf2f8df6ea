/**
 * A scripted Argo Rollouts controller on top of the fake cluster: answers kubectl about the Rollout, its
 * AnalysisRuns and ReplicaSets, and moves a release along the clock (not along the reads), so a release goes on
 * while no job watches it. Status fields and messages are those of argo-rollouts v1.9.1 (rollout/sync.go
 * calculateRolloutConditions: "Rollout aborted update to revision %d: <abort message>"; analysis/analysis.go:
 * `metric "<name>" assessed Failed due to failed (n) > failureLimit (m)`).
 */
import type { ExecResult, ExecView, Script } from "../support/recording-session";
import type { FakeClock, FakeCluster } from "./deploy-fake-cluster";

type Json = any;

export type ReleaseOutcome = "healthy" | "analysis-fails";

/** When (seconds after the image change) the controller reaches each state. */
export const TIMELINE = { observed: 5, analysing: 60, done: 720 };

export class FakeArgoController {
  rollout: Json;
  /** The AnalysisTemplate as applied from the overlay (null: not applied). */
  analysisTemplate: Json | null = null;
  replicaSets: Json[] = [];
  outcome: ReleaseOutcome = "healthy";
  /** When set, the API server refuses patches of the Rollout with this error. */
  refusePatch?: string;
  /** kubectl argument lists about Argo objects, in the order they ran. */
  commands: string[][] = [];
  private releaseStarted: number | null = null;
  private memo = new Map<string, ExecResult>();

  constructor(
    readonly cluster: FakeCluster,
    readonly clock: FakeClock,
    liveImage: string,
    steps: Json[],
  ) {
    this.rollout = {
      apiVersion: "argoproj.io/v1alpha1",
      kind: "Rollout",
      metadata: { name: "analytics-api", namespace: cluster.options.namespace, generation: 1, annotations: { "rollout.argoproj.io/revision": "1" } },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: "analytics-api" } },
        template: { metadata: { labels: { app: "analytics-api" } }, spec: { containers: [{ name: "analytics-api", image: liveImage }] } },
        strategy: { canary: { stableService: "analytics-api", canaryService: "analytics-api-canary", steps } },
      },
      status: { phase: "Healthy", message: "", observedGeneration: "1", stableRS: "hash1", currentPodHash: "hash1", currentStepIndex: steps.length, replicas: 3, updatedReplicas: 3, availableReplicas: 3, canary: {} },
    };
    this.addReplicaSet(1, liveImage);
  }

  private addReplicaSet(revision: number, image: string): void {
    this.replicaSets.push({
      kind: "ReplicaSet",
      metadata: { name: `analytics-api-hash${revision}`, annotations: { "rollout.argoproj.io/revision": String(revision) }, labels: { app: "analytics-api", "rollouts-pod-template-hash": `hash${revision}` } },
      spec: { template: { metadata: { labels: { app: "analytics-api", "rollouts-pod-template-hash": `hash${revision}` } }, spec: { containers: [{ name: "analytics-api", image }] } } },
    });
  }

  private get revision(): number {
    return Number(this.rollout.metadata.annotations["rollout.argoproj.io/revision"]);
  }

  private runName(): string {
    return `analytics-api-${this.rollout.status.currentPodHash}-${this.revision}-1`;
  }

  /** The controller's work up to now. */
  private reconcile(): void {
    if (this.releaseStarted === null) return;
    const elapsed = (this.clock.now() - this.releaseStarted) / 1000;
    const status = this.rollout.status;
    if (status.abort && this.outcome !== "analysis-fails") return;
    if (elapsed < TIMELINE.observed) return;
    status.observedGeneration = String(this.rollout.metadata.generation);
    const steps = this.rollout.spec.strategy.canary.steps.length;
    if (elapsed < TIMELINE.analysing) {
      Object.assign(status, { phase: "Progressing", message: "more replicas need to be updated", currentStepIndex: 0 });
      return;
    }
    if (elapsed < TIMELINE.done) {
      Object.assign(status, { phase: "Progressing", message: "waiting for all steps to complete", currentStepIndex: 1 });
      status.canary = { currentStepAnalysisRunStatus: { name: this.runName(), status: "Running" } };
      return;
    }
    if (this.outcome === "healthy") {
      Object.assign(status, { phase: "Healthy", message: "", currentStepIndex: steps, stableRS: status.currentPodHash });
      status.canary = { currentStepAnalysisRunStatus: { name: this.runName(), status: "Successful" } };
      return;
    }
    const message = 'Metric "error-rate" assessed Failed due to failed (2) > failureLimit (1)';
    Object.assign(status, {
      phase: "Degraded",
      message: `RolloutAborted: Rollout aborted update to revision ${this.revision}: ${message}`,
      abort: true,
      currentStepIndex: 0,
    });
    status.canary = { currentStepAnalysisRunStatus: { name: this.runName(), status: "Failed", message } };
  }

  private analysisRun(name: string): Json | undefined {
    const run = this.rollout.status.canary?.currentStepAnalysisRunStatus;
    if (!run || run.name !== name) return undefined;
    const failed = run.status === "Failed";
    const values = failed ? ["[0.031]", "[0.034]"] : ["[0.002]", "[0.003]"];
    const measurements = values.map((value, n) => ({ phase: failed ? "Failed" : "Successful", value, startedAt: `2025-06-02T10:0${n + 2}:00Z`, finishedAt: `2025-06-02T10:0${n + 2}:01Z` }));
    return {
      apiVersion: "argoproj.io/v1alpha1",
      kind: "AnalysisRun",
      metadata: { name },
      status: {
        phase: run.status,
        ...(run.message ? { message: `metric "error-rate" assessed Failed due to failed (2) > failureLimit (1)` } : {}),
        metricResults: [
          { name: "error-rate", phase: failed ? "Failed" : run.status === "Running" ? "Running" : "Successful", count: 2, failed: failed ? 2 : 0, successful: failed ? 0 : 2, measurements },
        ],
      },
    };
  }

  private kubectl(args: string[]): ExecResult | undefined {
    const [verb, kind, name] = args;
    if (!["rollout", "analysisrun", "analysistemplate", "replicasets"].includes(kind)) return undefined;
    this.commands.push(args);
    this.reconcile();
    if (verb === "get" && kind === "rollout") return name === "analytics-api" ? { stdout: JSON.stringify(this.rollout) } : { stdout: "" };
    if (verb === "get" && kind === "analysistemplate") return { stdout: this.analysisTemplate && name === this.analysisTemplate.metadata.name ? JSON.stringify(this.analysisTemplate) : "" };
    if (verb === "get" && kind === "analysisrun") {
      const run = this.analysisRun(name);
      return { stdout: run ? JSON.stringify(run) : "" };
    }
    if (verb === "get" && kind === "replicasets") return { stdout: JSON.stringify({ kind: "List", items: this.replicaSets }) };
    if (verb === "patch" && kind === "rollout") {
      if (this.refusePatch) return { exitCode: 1, stderr: this.refusePatch };
      const patch = JSON.parse(args[args.indexOf("-p") + 1]);
      if (args.includes("--type=merge")) {
        if (patch.status?.abort === true) {
          Object.assign(this.rollout.status, { abort: true, phase: "Degraded", message: `RolloutAborted: Rollout aborted update to revision ${this.revision}` });
          this.releaseStarted = null;
        }
        return { stdout: "rollout.argoproj.io/analytics-api patched" };
      }
      for (const op of patch) {
        const path = op.path.split("/").slice(1);
        const parent = path.slice(0, -1).reduce((node: Json, key: string) => node[key], this.rollout);
        const key = path.at(-1);
        if (op.op === "test" && parent[key] !== op.value) return { exitCode: 1, stderr: `The request is invalid: the server rejected our request due to an error in our request` };
        if (op.op === "replace") parent[key] = op.value;
      }
      const image = this.rollout.spec.template.spec.containers[0].image;
      const revision = this.revision + 1;
      this.rollout.metadata.generation++;
      this.rollout.metadata.annotations["rollout.argoproj.io/revision"] = String(revision);
      Object.assign(this.rollout.status, { abort: undefined, phase: "Progressing", currentPodHash: `hash${revision}` });
      delete this.rollout.status.abort;
      this.addReplicaSet(revision, image);
      this.releaseStarted = this.clock.now();
      return { stdout: "rollout.argoproj.io/analytics-api patched" };
    }
    return { exitCode: 1, stderr: `fake controller: unsupported kubectl ${args.join(" ")}` };
  }

  script(): Script {
    const inner = this.cluster.script();
    return {
      ...inner,
      exec: (view: ExecView) => {
        if (view.args[0] !== "kubectl") return inner.exec!(view);
        let args = view.args.slice(1);
        if (args[0] === "-n") args = args.slice(2);
        const nonce = view.env.OBSERVATORY_CI_RUN;
        const key = JSON.stringify([nonce, view.image, view.args]);
        if (nonce !== undefined && this.memo.has(key)) return this.memo.get(key);
        const answer = this.kubectl(args);
        if (answer === undefined) return inner.exec!(view);
        if (nonce !== undefined) this.memo.set(key, answer);
        return answer;
      },
    };
  }

  /** The commands that changed the Rollout. */
  mutations(): string[] {
    return this.commands.filter(([verb]) => verb === "patch").map((args) => args.join(" "));
  }
}
