/**
 * What the Argo Rollouts controller says about a release, read from `kubectl get rollout|analysisrun -o json`.
 * Field names and meanings are those of argoproj/argo-rollouts v1.9.1 pkg/apis/rollouts/v1alpha1/types.go
 * (RolloutStatus) and analysis_types.go (AnalysisRunStatus); the phase follows utils/rollout/rolloututil.go
 * GetRolloutPhase: the controller's own status.phase once it observed the current generation, else the
 * client-side CalculateRolloutPhase the plugin falls back to (objects written before the controller set a phase).
 */

export type RolloutPhase = "Healthy" | "Degraded" | "Progressing" | "Paused";
export type AnalysisPhase = "Pending" | "Running" | "Successful" | "Failed" | "Error" | "Inconclusive";

export interface RolloutState {
  name: string;
  phase: RolloutPhase;
  message: string;
  /** The image of the pod template's container (the release the Rollout is going to). */
  image: string | null;
  aborted: boolean;
  /** The stable ReplicaSet runs the pod template: nothing is in flight. */
  fullyPromoted: boolean;
  /** 0-based index of the canary step running; equal to `steps` when all steps are done; null when unknown. */
  stepIndex: number | null;
  steps: number;
  /** The analysis run of the current step, when the controller reports one. */
  analysisRun: { name: string; status: string; message?: string } | null;
}

export interface MetricResult {
  name: string;
  phase: string;
  count: number;
  successful: number;
  failed: number;
  errors: number;
  inconclusive: number;
  message?: string;
  /** The newest measurement's value (as the provider formatted it) and phase. */
  last: { value?: string; phase: string; finishedAt?: string } | null;
}

export interface AnalysisRunState {
  name: string;
  phase: AnalysisPhase;
  message: string;
  metrics: MetricResult[];
}

type Json = Record<string, unknown>;

function record(value: unknown, where: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${where}: expected an object, got ${JSON.stringify(value)?.slice(0, 120)}`);
  return value as Json;
}

function parseObject(input: string | unknown, kind: string): Json {
  let value = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw new Error(`${kind}: kubectl output is not JSON (${(error as Error).message}): ${JSON.stringify(input.slice(0, 200))}`);
    }
  }
  const object = record(value, kind);
  if (object.kind !== kind) throw new Error(`${kind}: expected kind ${kind}, got ${JSON.stringify(object.kind)}`);
  return object;
}

const number = (value: unknown): number => (typeof value === "number" ? value : 0);
const text = (value: unknown): string => (typeof value === "string" ? value : "");

const RUNNING_PHASES: readonly string[] = ["Healthy", "Degraded", "Progressing", "Paused"];

function calculatePhase(spec: Json, status: Json): { phase: RolloutPhase; message: string } {
  const conditions = Array.isArray(status.conditions) ? (status.conditions as Json[]) : [];
  for (const condition of conditions) {
    if (condition.type === "InvalidSpec") return { phase: "Degraded", message: `InvalidSpec: ${text(condition.message)}` };
    if (condition.reason === "RolloutAborted" || condition.reason === "ProgressDeadlineExceeded") {
      return { phase: "Degraded", message: `${text(condition.reason)}: ${text(condition.message)}` };
    }
  }
  if (spec.paused === true) return { phase: "Paused", message: "manually paused" };
  const pauses = Array.isArray(status.pauseConditions) ? (status.pauseConditions as Json[]) : [];
  if (pauses.length > 0) return { phase: "Paused", message: text(pauses[0].reason) };
  const replicas = typeof spec.replicas === "number" ? spec.replicas : 1;
  if (number(status.updatedReplicas) < replicas) return { phase: "Progressing", message: "more replicas need to be updated" };
  if (number(status.availableReplicas) < number(status.updatedReplicas)) return { phase: "Progressing", message: "updated replicas are still becoming available" };
  const strategy = record(spec.strategy ?? {}, "Rollout spec.strategy");
  if (strategy.blueGreen) {
    const blueGreen = record(status.blueGreen ?? {}, "Rollout status.blueGreen");
    if (!blueGreen.activeSelector || blueGreen.activeSelector !== status.currentPodHash) return { phase: "Progressing", message: "active service cutover pending" };
  } else if (strategy.canary) {
    const canary = record(strategy.canary, "Rollout spec.strategy.canary");
    if (!canary.trafficRouting && number(status.replicas) > number(status.updatedReplicas)) return { phase: "Progressing", message: "old replicas are pending termination" };
  }
  if (!status.stableRS || status.stableRS !== status.currentPodHash) {
    return { phase: "Progressing", message: strategy.blueGreen ? "waiting for post-promotion verification to complete" : "waiting for all steps to complete" };
  }
  return { phase: "Healthy", message: "" };
}

/** Parses a Rollout (`kubectl get rollout <name> -o json`); `container` picks the image. */
export function parseRollout(input: string | unknown, container?: string): RolloutState {
  const rollout = parseObject(input, "Rollout");
  const metadata = record(rollout.metadata, "Rollout metadata");
  const spec = record(rollout.spec, "Rollout spec");
  const status = record(rollout.status ?? {}, "Rollout status");
  const name = text(metadata.name);

  let phase: RolloutPhase;
  let message: string;
  // v0.10+ writes a number as a string; older controllers a hash, which says nothing about the generation.
  const observed = String(status.observedGeneration ?? "");
  if (/^\d+$/.test(observed) && Number(observed) < number(metadata.generation)) {
    [phase, message] = ["Progressing", "waiting for rollout spec update to be observed"];
  } else if (status.controllerPause === true && !(Array.isArray(status.pauseConditions) && status.pauseConditions.length > 0)) {
    [phase, message] = ["Progressing", "waiting for rollout to unpause"];
  } else if (typeof status.phase === "string" && status.phase !== "") {
    if (!RUNNING_PHASES.includes(status.phase)) throw new Error(`Rollout ${name}: unknown status.phase ${JSON.stringify(status.phase)}`);
    [phase, message] = [status.phase as RolloutPhase, text(status.message)];
  } else {
    ({ phase, message } = calculatePhase(spec, status));
  }

  const template = record(spec.template ?? {}, "Rollout spec.template");
  const podSpec = record(template.spec ?? {}, "Rollout spec.template.spec");
  const containers = Array.isArray(podSpec.containers) ? (podSpec.containers as Json[]) : [];
  const chosen = container === undefined ? containers[0] : containers.find((candidate) => candidate.name === container);
  const strategy = record(spec.strategy ?? {}, "Rollout spec.strategy");
  const steps = strategy.canary && Array.isArray(record(strategy.canary, "canary").steps) ? ((strategy.canary as Json).steps as unknown[]).length : 0;
  const canaryStatus = record(status.canary ?? {}, "Rollout status.canary");
  const stepRun = canaryStatus.currentStepAnalysisRunStatus ?? canaryStatus.currentBackgroundAnalysisRunStatus;
  const run = stepRun ? record(stepRun, "Rollout status.canary analysis run") : null;

  return {
    name,
    phase,
    message,
    image: chosen && typeof chosen.image === "string" ? chosen.image : null,
    aborted: status.abort === true,
    fullyPromoted: Boolean(status.stableRS) && status.stableRS === status.currentPodHash,
    stepIndex: typeof status.currentStepIndex === "number" ? status.currentStepIndex : null,
    steps,
    analysisRun: run ? { name: text(run.name), status: text(run.status), ...(run.message ? { message: text(run.message) } : {}) } : null,
  };
}

const ANALYSIS_PHASES: readonly string[] = ["Pending", "Running", "Successful", "Failed", "Error", "Inconclusive"];

/** Parses an AnalysisRun (`kubectl get analysisrun <name> -o json`). */
export function parseAnalysisRun(input: string | unknown): AnalysisRunState {
  const run = parseObject(input, "AnalysisRun");
  const name = text(record(run.metadata, "AnalysisRun metadata").name);
  const status = record(run.status ?? {}, "AnalysisRun status");
  const phase = text(status.phase) || "Pending";
  if (!ANALYSIS_PHASES.includes(phase)) throw new Error(`AnalysisRun ${name}: unknown status.phase ${JSON.stringify(phase)}`);
  const results = Array.isArray(status.metricResults) ? (status.metricResults as unknown[]) : [];
  return {
    name,
    phase: phase as AnalysisPhase,
    message: text(status.message),
    metrics: results.map((raw, index) => {
      const result = record(raw, `AnalysisRun ${name} status.metricResults[${index}]`);
      const measurements = Array.isArray(result.measurements) ? (result.measurements as Json[]) : [];
      const last = measurements.at(-1);
      return {
        name: text(result.name),
        phase: text(result.phase),
        count: number(result.count),
        successful: number(result.successful),
        failed: number(result.failed),
        errors: number(result.error),
        inconclusive: number(result.inconclusive),
        ...(result.message ? { message: text(result.message) } : {}),
        last: last
          ? { ...(typeof last.value === "string" ? { value: last.value } : {}), phase: text(last.phase), ...(last.finishedAt ? { finishedAt: text(last.finishedAt) } : {}) }
          : null,
      };
    }),
  };
}

/** One line per metric, for the record and the failure text: `error-rate Failed (2 failed of 3): last 0.034`. */
export function describeAnalysis(run: AnalysisRunState): string {
  const metrics = run.metrics.map(
    (metric) =>
      `  ${metric.name} ${metric.phase || "Pending"} (${metric.failed} failed, ${metric.errors} errors of ${metric.count})` +
      (metric.last ? `: last ${metric.last.value ?? "(no value)"} ${metric.last.phase}${metric.last.finishedAt ? ` at ${metric.last.finishedAt}` : ""}` : "") +
      (metric.message ? ` [${metric.message}]` : ""),
  );
  return [`analysis run ${run.name}: ${run.phase}${run.message ? ` (${run.message})` : ""}`, ...metrics].join("\n");
}
