/**
 * Pipeline figures from workflow runs and their jobs: success rate, P50/P95 duration and queue time per
 * workflow and per job, and the size of each artifact over time.
 */
import { distribution, round, type Distribution, type Window } from "./delivery";
import type { Artifact, WorkflowJob, WorkflowRun } from "./github-api";

/** Conclusions that say nothing about the pipeline's health: not counted in a success rate. */
const NEUTRAL = new Set(["cancelled", "skipped", "neutral", "stale"]);

export interface Outcomes {
  /** Completed, with a conclusion counted in the success rate. */
  counted: number;
  succeeded: number;
  /** Everything completed, by conclusion (cancelled and skipped included). */
  conclusions: Record<string, number>;
  successRate: number | null;
}

export interface WorkflowFigures extends Outcomes {
  workflow: string;
  duration: Distribution;
  queue: Distribution;
  /** Runs on main or a release/* branch that failed. */
  failedOnProtectedBranches: number;
}

export interface JobFigures extends Outcomes {
  workflow: string;
  job: string;
  duration: Distribution;
  queue: Distribution;
}

export interface ArtifactFigures {
  artifact: string;
  latestBytes: number;
  /** Oldest first. */
  series: { at: string; bytes: number }[];
}

function outcomes(conclusions: (string | null)[]): Outcomes {
  const byConclusion: Record<string, number> = {};
  for (const c of conclusions) byConclusion[c ?? "none"] = (byConclusion[c ?? "none"] ?? 0) + 1;
  const counted = conclusions.filter((c) => c !== null && !NEUTRAL.has(c)).length;
  const succeeded = conclusions.filter((c) => c === "success").length;
  return { counted, succeeded, conclusions: byConclusion, successRate: counted === 0 ? null : round(succeeded / counted, 4) };
}

function seconds(from: number, to: number): number {
  return Math.max(0, (to - from) / 1000);
}

export function isProtectedBranch(branch: string | null): boolean {
  return branch === "main" || (branch?.startsWith("release/") ?? false);
}

/** Completed runs created in the window, per workflow name, sorted by name. */
export function workflowFigures(runs: readonly WorkflowRun[], window: Window): WorkflowFigures[] {
  const byName = new Map<string, WorkflowRun[]>();
  for (const run of runs) {
    if (run.status !== "completed" || run.createdAt < window.start || run.createdAt >= window.end) continue;
    byName.set(run.name, [...(byName.get(run.name) ?? []), run]);
  }
  return [...byName].sort(([a], [b]) => a.localeCompare(b)).map(([workflow, list]) => ({
    workflow,
    ...outcomes(list.map((r) => r.conclusion)),
    // run_started_at is the latest attempt's start: a re-run's duration is its own attempt's
    duration: distribution(list.map((r) => seconds(r.runStartedAt, r.updatedAt))),
    // created_at is the first attempt's: queue time only means something for first attempts
    queue: distribution(list.filter((r) => r.runAttempt === 1).map((r) => seconds(r.createdAt, r.runStartedAt))),
    failedOnProtectedBranches: list.filter((r) => isProtectedBranch(r.headBranch) && r.conclusion === "failure").length,
  }));
}

/** Completed jobs of the given runs, per workflow and job name. */
export function jobFigures(jobs: readonly WorkflowJob[], runs: readonly WorkflowRun[]): JobFigures[] {
  const workflowOf = new Map(runs.map((r) => [r.id, r.name]));
  const groups = new Map<string, { workflow: string; job: string; list: WorkflowJob[] }>();
  for (const job of jobs) {
    const workflow = workflowOf.get(job.runId);
    if (workflow === undefined || job.status !== "completed") continue;
    const key = `${workflow}\u0000${job.name}`;
    const group = groups.get(key) ?? { workflow, job: job.name, list: [] };
    group.list.push(job);
    groups.set(key, group);
  }
  return [...groups.values()]
    .sort((a, b) => a.workflow.localeCompare(b.workflow) || a.job.localeCompare(b.job))
    .map(({ workflow, job, list }) => {
      const ran = list.filter((j) => j.conclusion !== "skipped" && j.completedAt !== null);
      return {
        workflow,
        job,
        ...outcomes(list.map((j) => j.conclusion)),
        duration: distribution(ran.map((j) => seconds(j.startedAt, j.completedAt!))),
        queue: distribution(ran.map((j) => seconds(j.createdAt, j.startedAt))),
      };
    });
}

/** Artifacts created in the window (expired ones too: their size was real), per name. */
export function artifactFigures(artifacts: readonly Artifact[], window: Window): ArtifactFigures[] {
  const byName = new Map<string, Artifact[]>();
  for (const a of artifacts) {
    if (a.createdAt < window.start || a.createdAt >= window.end) continue;
    byName.set(a.name, [...(byName.get(a.name) ?? []), a]);
  }
  return [...byName].sort(([a], [b]) => a.localeCompare(b)).map(([artifact, list]) => {
    const series = [...list].sort((a, b) => a.createdAt - b.createdAt).map((a) => ({ at: new Date(a.createdAt).toISOString(), bytes: a.sizeInBytes }));
    return { artifact, latestBytes: series[series.length - 1]!.bytes, series };
  });
}
