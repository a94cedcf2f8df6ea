/**
 * The four DORA figures from delivery events: GitHub deployments (with their statuses) and the records that
 * deploy, deployProduction and rollback return. A record knows what GitHub cannot (an automatic rollback, a
 * rollback's reason), so where both describe one run the record wins.
 */
import type { DeploymentRecord } from "../deploy/record";
import { runIdOf, type ComparedCommit, type Deployment, type DeploymentStatus, type Release, type WorkflowRun } from "./github-api";

export interface DeliveryEvent {
  environment: string;
  kind: "deploy" | "rollback";
  /** success: live and healthy; rolled-back: went live (canary) and was undone automatically; failure: did not finish. */
  outcome: "success" | "failure" | "rolled-back";
  startedAt: number;
  finishedAt: number;
  /** The release tag or branch deployed. */
  ref?: string;
  source: "github" | "record";
}

const FINAL_STATES = new Set(["success", "failure", "error"]);

/**
 * One event per GitHub deployment that reached a final state. A deployment made by a run of the rollback
 * workflow (its status links the run) is a rollback.
 */
export function eventsFromGitHub(deployments: { deployment: Deployment; statuses: DeploymentStatus[] }[], runs: WorkflowRun[], rollbackWorkflow: string): DeliveryEvent[] {
  const runPath = new Map(runs.map((r) => [r.id, r.path]));
  return deployments.flatMap(({ deployment, statuses }) => {
    const final = [...statuses].sort((a, b) => b.createdAt - a.createdAt).find((s) => FINAL_STATES.has(s.state));
    if (!final) return [];
    const runId = statuses.map((s) => runIdOf(s.logUrl)).find((id) => id !== undefined);
    const path = runId === undefined ? undefined : runPath.get(runId);
    return [{
      environment: deployment.environment,
      kind: path !== undefined && path.replace(/@.*$/, "") === rollbackWorkflow ? "rollback" : "deploy",
      outcome: final.state === "success" ? "success" : "failure",
      startedAt: deployment.createdAt,
      finishedAt: final.createdAt,
      ref: deployment.ref,
      source: "github",
    } satisfies DeliveryEvent];
  });
}

function recordTime(record: DeploymentRecord, name: "startedAt" | "finishedAt", where: string): number {
  const ms = Date.parse(record[name]);
  if (Number.isNaN(ms)) throw new Error(`${where}: ${name} is not an ISO 8601 time: ${JSON.stringify(record[name])}`);
  return ms;
}

/** A record as an event; `where` names the file it came from, for errors. */
export function eventFromRecord(record: DeploymentRecord, where: string): DeliveryEvent {
  if (typeof record.environment !== "string" || !["deploy", "rollback", "deploy-production"].includes(record.operation)) {
    throw new Error(`${where}: not a deployment record (environment ${JSON.stringify(record.environment)}, operation ${JSON.stringify(record.operation)})`);
  }
  if (!["success", "failure", "rolled-back"].includes(record.result)) throw new Error(`${where}: result ${JSON.stringify(record.result)} is not success, failure or rolled-back`);
  const tag = (record.details as { tag?: unknown } | undefined)?.tag;
  return {
    environment: record.environment,
    kind: record.operation === "rollback" ? "rollback" : "deploy",
    outcome: record.result,
    startedAt: recordTime(record, "startedAt", where),
    finishedAt: recordTime(record, "finishedAt", where),
    ...(typeof tag === "string" ? { ref: tag } : {}),
    source: "record",
  };
}

/** GitHub's view of a run is dropped when a record of the same environment started inside it. */
export function mergeEvents(github: DeliveryEvent[], records: DeliveryEvent[]): DeliveryEvent[] {
  const covered = (g: DeliveryEvent) => records.some((r) => r.environment === g.environment && r.startedAt >= g.startedAt && r.startedAt <= g.finishedAt);
  return [...github.filter((g) => !covered(g)), ...records].sort((a, b) => a.finishedAt - b.finishedAt);
}

export interface Window {
  start: number;
  end: number;
}

export const DAY_MS = 86_400_000;

/** Nearest-rank percentile (p in 0..100) of the values; null when there are none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export interface Distribution {
  count: number;
  p50: number | null;
  p95: number | null;
}

export function distribution(seconds: readonly number[]): Distribution {
  return { count: seconds.length, p50: percentile(seconds, 50), p95: percentile(seconds, 95) };
}

export interface EnvironmentDeployments {
  count: number;
  perDay: number;
  failed: number;
  canaryAborts: number;
  rollbacks: number;
}

export interface DoraMetrics {
  /**
   * Per environment in the window: successful deployments (not rollbacks) and per day, deployments that did not
   * finish, deployments whose canary was aborted and rolled back automatically, and rollbacks.
   */
  deployments: Record<string, EnvironmentDeployments>;
  /** Production: commit (committer date) to the successful deploy of the release containing it, seconds. */
  leadTime: Distribution;
  /** Production changes that went live (success or rolled back) and how many of them failed. */
  changes: number;
  failedChanges: number;
  /** failedChanges / changes; null without a change in the window. */
  changeFailureRate: number | null;
  /** Production: failure to the next healthy deploy or successful rollback, seconds. */
  timeToRestore: Distribution;
  /** Failed changes with nothing healthy after them in the window. */
  unrestored: number;
  /** Production releases deployed whose commits could not be listed (first release, or no earlier tag). */
  leadTimeUnmeasured: string[];
}

/** The release deployed before `tag`: the newest non-draft release created before it. */
export function previousRelease(tag: string, releases: readonly Release[]): string | undefined {
  const published = releases.filter((r) => !r.draft);
  const own = published.find((r) => r.tagName === tag);
  if (!own) return undefined;
  return published.filter((r) => r.createdAt < own.createdAt).sort((a, b) => b.createdAt - a.createdAt)[0]?.tagName;
}

/** Production events in the window that made a release live, with the tag they deployed. */
export function productionReleases(events: readonly DeliveryEvent[], window: Window): string[] {
  const tags = events.filter((e) => e.environment === "production" && e.kind === "deploy" && e.outcome === "success" && inWindow(e, window) && e.ref).map((e) => e.ref!);
  return [...new Set(tags)];
}

function inWindow(event: DeliveryEvent, window: Window): boolean {
  return event.finishedAt >= window.start && event.finishedAt < window.end;
}

/**
 * DORA over the window. `releaseCommits` maps a production tag to the commits it added over the previous release
 * (GitHub's compare); a tag missing from it is listed as unmeasured.
 */
export function doraMetrics(allEvents: readonly DeliveryEvent[], window: Window, releaseCommits: ReadonlyMap<string, readonly ComparedCommit[]>): DoraMetrics {
  const events = allEvents.filter((e) => inWindow(e, window)).sort((a, b) => a.finishedAt - b.finishedAt);
  const days = (window.end - window.start) / DAY_MS;
  const deployments: DoraMetrics["deployments"] = {};
  for (const e of events) {
    const row = (deployments[e.environment] ??= { count: 0, perDay: 0, failed: 0, canaryAborts: 0, rollbacks: 0 });
    if (e.kind === "rollback") row.rollbacks++;
    else if (e.outcome === "success") row.count++;
    else if (e.outcome === "rolled-back") row.canaryAborts++;
    else row.failed++;
  }
  for (const row of Object.values(deployments)) row.perDay = round(row.count / days, 3);

  const production = events.filter((e) => e.environment === "production");
  const leadTimes: number[] = [];
  const unmeasured: string[] = [];
  const firstDeploy = new Map<string, number>();
  for (const e of production) if (e.kind === "deploy" && e.outcome === "success" && e.ref && !firstDeploy.has(e.ref)) firstDeploy.set(e.ref, e.finishedAt);
  for (const [tag, deployedAt] of firstDeploy) {
    const commits = releaseCommits.get(tag);
    if (!commits) unmeasured.push(tag);
    else for (const c of commits) leadTimes.push(Math.max(0, (deployedAt - c.committedAt) / 1000));
  }

  // A change goes live with a successful deploy or a rolled-back one (its canary took traffic). It failed when
  // it was rolled back automatically, or when a rollback came before the next change.
  let changes = 0;
  let failedChanges = 0;
  let unrestored = 0;
  const restore: number[] = [];
  const isChange = (e: DeliveryEvent) => e.kind === "deploy" && (e.outcome === "success" || e.outcome === "rolled-back");
  const healthy = (e: DeliveryEvent) => e.outcome === "success";
  production.forEach((e, i) => {
    if (!isChange(e)) return;
    changes++;
    const later = production.slice(i + 1);
    if (e.outcome === "rolled-back") {
      failedChanges++;
      // the run undid itself: the figure is an upper bound, from the run's start to its end
      restore.push((e.finishedAt - e.startedAt) / 1000);
      return;
    }
    const nextChange = later.findIndex(isChange);
    const rollback = later.findIndex((l, j) => l.kind === "rollback" && (nextChange < 0 || j < nextChange));
    if (rollback < 0) return;
    failedChanges++;
    const restoredBy = later.slice(rollback).find(healthy);
    if (restoredBy) restore.push((restoredBy.finishedAt - e.finishedAt) / 1000);
    else unrestored++;
  });

  return {
    deployments,
    leadTime: distribution(leadTimes),
    changes,
    failedChanges,
    changeFailureRate: changes === 0 ? null : round(failedChanges / changes, 4),
    timeToRestore: distribution(restore),
    unrestored,
    leadTimeUnmeasured: unmeasured,
  };
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
