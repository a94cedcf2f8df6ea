/**
 * The metrics report: computed once from what the GitHub API and the deployment records returned, then
 * rendered as Markdown (the plan's targets and DORA's Elite level side by side), JSON, or Prometheus text.
 */
import { markdownTable, markdownText } from "../markdown";
import { doraMetrics, mergeEvents, type DeliveryEvent, type DoraMetrics, type Window } from "./delivery";
import type { Artifact, ComparedCommit, WorkflowJob, WorkflowRun } from "./github-api";
import { artifactFigures, jobFigures, workflowFigures, type ArtifactFigures, type JobFigures, type WorkflowFigures } from "./pipeline";

export interface MetricsInput {
  repository: string;
  window: Window;
  runs: WorkflowRun[];
  jobs: WorkflowJob[];
  artifacts: Artifact[];
  githubEvents: DeliveryEvent[];
  recordEvents: DeliveryEvent[];
  releaseCommits: ReadonlyMap<string, readonly ComparedCommit[]>;
  /** What the figures could not cover (a capped listing, runs whose jobs were not read). */
  notes: string[];
}

export interface MetricsReport {
  repository: string;
  window: { start: string; end: string; days: number };
  dora: DoraMetrics;
  workflows: WorkflowFigures[];
  jobs: JobFigures[];
  artifacts: ArtifactFigures[];
  notes: string[];
}

export function metricsReport(input: MetricsInput): MetricsReport {
  const events = mergeEvents(input.githubEvents, input.recordEvents);
  return {
    repository: input.repository,
    window: { start: new Date(input.window.start).toISOString(), end: new Date(input.window.end).toISOString(), days: Math.round((input.window.end - input.window.start) / 86_400_000) },
    dora: doraMetrics(events, input.window, input.releaseCommits),
    workflows: workflowFigures(input.runs, input.window),
    jobs: jobFigures(input.jobs, input.runs),
    artifacts: artifactFigures(input.artifacts, input.window),
    notes: input.notes,
  };
}

// ---- Markdown ----

function duration(seconds: number | null): string {
  if (seconds === null) return "n/a";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} d`;
}

function percent(ratio: number | null): string {
  return ratio === null ? "n/a" : `${(ratio * 100).toFixed(1)} %`;
}

function met(ok: boolean | null): string {
  return ok === null ? "n/a" : ok ? "yes" : "**no**";
}

/**
 * The plan's targets (daily deploys, lead time < 1 h, time to restore < 1 h, change failure rate < 15 %) and
 * the Elite level of the 2023 Accelerate State of DevOps Report (on demand, less than one day, less than one
 * hour, 5 %).
 */
export function renderMetricsMarkdown(report: MetricsReport): string {
  const d = report.dora;
  const prod = d.deployments.production ?? { count: 0, perDay: 0, failed: 0, canaryAborts: 0, rollbacks: 0 };
  const lines = [
    `## Delivery metrics: ${markdownText(report.repository)}, ${report.window.start.slice(0, 10)} to ${report.window.end.slice(0, 10)} (${report.window.days} days)`,
    "",
    ...markdownTable(
      [{ header: "Metric" }, { header: "Value", align: "right" }, { header: "Plan's target" }, { header: "Met" }, { header: "DORA Elite (2023)" }],
      [
        ["Deployment frequency (production)", `${prod.perDay}/day (${prod.count})`, "daily", met(prod.perDay >= 1), "on demand (several a day)"],
        ["Lead time for changes (P50)", duration(d.leadTime.p50), "< 1 hour", met(d.leadTime.p50 === null ? null : d.leadTime.p50 < 3600), "< 1 day"],
        ["Time to restore (P50)", duration(d.timeToRestore.p50), "< 1 hour", met(d.timeToRestore.p50 === null ? null : d.timeToRestore.p50 < 3600), "< 1 hour"],
        ["Change failure rate", `${percent(d.changeFailureRate)} (${d.failedChanges}/${d.changes})`, "< 15 %", met(d.changeFailureRate === null ? null : d.changeFailureRate < 0.15), "5 %"],
      ],
    ),
    "",
    ...markdownTable(
      [
        { header: "Environment" },
        { header: "Deployments", align: "right" },
        { header: "Per day", align: "right" },
        { header: "Failed", align: "right" },
        { header: "Canary aborted", align: "right" },
        { header: "Rollbacks", align: "right" },
      ],
      Object.entries(d.deployments)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([env, row]) => [markdownText(env), row.count, row.perDay, row.failed, row.canaryAborts, row.rollbacks]),
    ),
  ];
  if (d.unrestored > 0) lines.push("", `${d.unrestored} failed production change(s) not restored in the window.`);
  if (d.leadTimeUnmeasured.length > 0) lines.push("", `Lead time not measured for ${d.leadTimeUnmeasured.map(markdownText).join(", ")} (no earlier release to compare with).`);
  lines.push(
    "",
    "### Pipelines",
    "",
    ...markdownTable(
      [{ header: "Workflow" }, { header: "Runs", align: "right" }, { header: "Success", align: "right" }, { header: "Duration P50 / P95", align: "right" }, { header: "Queue P50 / P95", align: "right" }],
      report.workflows.map((w) => [markdownText(w.workflow), w.counted, percent(w.successRate), `${duration(w.duration.p50)} / ${duration(w.duration.p95)}`, `${duration(w.queue.p50)} / ${duration(w.queue.p95)}`]),
    ),
  );
  if (report.jobs.length > 0) {
    lines.push(
      "",
      ...markdownTable(
        [{ header: "Job" }, { header: "Runs", align: "right" }, { header: "Success", align: "right" }, { header: "Duration P50 / P95", align: "right" }, { header: "Queue P95", align: "right" }],
        report.jobs.map((j) => [markdownText(`${j.workflow} / ${j.job}`), j.counted, percent(j.successRate), `${duration(j.duration.p50)} / ${duration(j.duration.p95)}`, duration(j.queue.p95)]),
      ),
    );
  }
  if (report.artifacts.length > 0) {
    lines.push("", ...markdownTable([{ header: "Artifact" }, { header: "Latest size", align: "right" }, { header: "Uploads", align: "right" }], report.artifacts.map((a) => [markdownText(a.artifact), `${(a.latestBytes / 1e6).toFixed(1)} MB`, a.series.length])));
  }
  if (report.notes.length > 0) lines.push("", ...report.notes.map((n) => `- ${markdownText(n, 400)}`));
  return `${lines.join("\n")}\n`;
}

// ---- Prometheus text exposition ----

/** Every metric `metrics` emits, with its labels: what the dashboard and the alert rules may query. */
export const EMITTED_METRICS = {
  observatory_ci_deployments: { help: "Successful deployments in the window.", labels: ["repository", "environment"] },
  observatory_ci_deployments_per_day: { help: "Successful deployments per day over the window.", labels: ["repository", "environment"] },
  observatory_ci_deployment_failures: { help: "Deployments that did not finish, in the window.", labels: ["repository", "environment"] },
  observatory_ci_canary_aborts: { help: "Deployments whose canary failed its analysis and was rolled back automatically, in the window.", labels: ["repository", "environment"] },
  observatory_ci_rollbacks: { help: "Rollbacks (manual or by the rollback workflow) in the window.", labels: ["repository", "environment"] },
  observatory_ci_lead_time_seconds: { help: "Commit to production deploy, seconds (quantile over the window's commits).", labels: ["repository", "quantile"] },
  observatory_ci_change_failure_ratio: { help: "Production changes rolled back (automatically or later) over changes that went live.", labels: ["repository"] },
  observatory_ci_production_changes: { help: "Production changes that went live in the window.", labels: ["repository"] },
  observatory_ci_failed_production_changes: { help: "Production changes rolled back in the window.", labels: ["repository"] },
  observatory_ci_time_to_restore_seconds: { help: "Production failure to the next healthy deploy or rollback, seconds.", labels: ["repository", "quantile"] },
  observatory_ci_unrestored_failures: { help: "Failed production changes with nothing healthy after them in the window.", labels: ["repository"] },
  observatory_ci_workflow_runs: { help: "Completed workflow runs in the window, by conclusion.", labels: ["repository", "workflow", "conclusion"] },
  observatory_ci_workflow_success_ratio: { help: "Successful runs over runs that succeeded or failed.", labels: ["repository", "workflow"] },
  observatory_ci_workflow_duration_seconds: { help: "Workflow run duration, seconds.", labels: ["repository", "workflow", "quantile"] },
  observatory_ci_workflow_queue_seconds: { help: "Workflow run creation to start, seconds.", labels: ["repository", "workflow", "quantile"] },
  observatory_ci_workflow_failures_protected_branches: { help: "Failed runs on main and release branches in the window.", labels: ["repository", "workflow"] },
  observatory_ci_job_success_ratio: { help: "Successful jobs over jobs that succeeded or failed.", labels: ["repository", "workflow", "job"] },
  observatory_ci_job_duration_seconds: { help: "Job duration, seconds.", labels: ["repository", "workflow", "job", "quantile"] },
  observatory_ci_job_queue_seconds: { help: "Job creation to start, seconds.", labels: ["repository", "workflow", "job", "quantile"] },
  observatory_ci_artifact_size_bytes: { help: "Size of the newest artifact of this name in the window.", labels: ["repository", "artifact"] },
  observatory_ci_metrics_window_seconds: { help: "Length of the window the figures cover.", labels: ["repository"] },
} as const;

export type EmittedMetric = keyof typeof EMITTED_METRICS;

/** A label value in the text format: backslash, double quote and line feed escaped. */
function labelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function sampleValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/**
 * The report in the Prometheus text exposition format (version 0.0.4): one HELP and TYPE line per metric,
 * then its samples; every figure is a gauge over the window. A figure without data (no production deploy,
 * no restore) is left out rather than exported as 0.
 */
export function prometheusText(report: MetricsReport): string {
  const samples = new Map<EmittedMetric, string[]>();
  const add = (name: EmittedMetric, labels: Record<string, string>, value: number | null) => {
    if (value === null) return;
    const declared: readonly string[] = EMITTED_METRICS[name].labels;
    const all = { repository: report.repository, ...labels };
    const unknown = Object.keys(all).filter((l) => !declared.includes(l));
    if (unknown.length) throw new Error(`prometheusText: ${name} has undeclared labels ${unknown.join(", ")}`);
    const text = Object.entries(all).map(([k, v]) => `${k}="${labelValue(v)}"`).join(",");
    samples.set(name, [...(samples.get(name) ?? []), `${name}{${text}} ${sampleValue(value)}`]);
  };
  const quantiles = (name: EmittedMetric, labels: Record<string, string>, d: { p50: number | null; p95: number | null }) => {
    add(name, { ...labels, quantile: "0.5" }, d.p50);
    add(name, { ...labels, quantile: "0.95" }, d.p95);
  };
  const d = report.dora;
  for (const [environment, row] of Object.entries(d.deployments)) {
    add("observatory_ci_deployments", { environment }, row.count);
    add("observatory_ci_deployments_per_day", { environment }, row.perDay);
    add("observatory_ci_deployment_failures", { environment }, row.failed);
    add("observatory_ci_canary_aborts", { environment }, row.canaryAborts);
    add("observatory_ci_rollbacks", { environment }, row.rollbacks);
  }
  quantiles("observatory_ci_lead_time_seconds", {}, d.leadTime);
  add("observatory_ci_change_failure_ratio", {}, d.changeFailureRate);
  add("observatory_ci_production_changes", {}, d.changes);
  add("observatory_ci_failed_production_changes", {}, d.failedChanges);
  quantiles("observatory_ci_time_to_restore_seconds", {}, d.timeToRestore);
  add("observatory_ci_unrestored_failures", {}, d.unrestored);
  for (const w of report.workflows) {
    for (const [conclusion, count] of Object.entries(w.conclusions)) add("observatory_ci_workflow_runs", { workflow: w.workflow, conclusion }, count);
    add("observatory_ci_workflow_success_ratio", { workflow: w.workflow }, w.successRate);
    quantiles("observatory_ci_workflow_duration_seconds", { workflow: w.workflow }, w.duration);
    quantiles("observatory_ci_workflow_queue_seconds", { workflow: w.workflow }, w.queue);
    add("observatory_ci_workflow_failures_protected_branches", { workflow: w.workflow }, w.failedOnProtectedBranches);
  }
  for (const j of report.jobs) {
    add("observatory_ci_job_success_ratio", { workflow: j.workflow, job: j.job }, j.successRate);
    quantiles("observatory_ci_job_duration_seconds", { workflow: j.workflow, job: j.job }, j.duration);
    quantiles("observatory_ci_job_queue_seconds", { workflow: j.workflow, job: j.job }, j.queue);
  }
  for (const a of report.artifacts) add("observatory_ci_artifact_size_bytes", { artifact: a.artifact }, a.latestBytes);
  add("observatory_ci_metrics_window_seconds", {}, (Date.parse(report.window.end) - Date.parse(report.window.start)) / 1000);

  const out: string[] = [];
  for (const [name, lines] of samples) {
    out.push(`# HELP ${name} ${EMITTED_METRICS[name].help}`, `# TYPE ${name} gauge`, ...lines);
  }
  return `${out.join("\n")}\n`;
}
