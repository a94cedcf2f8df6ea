/**
 * `metrics`: DORA and pipeline figures for a window, from the GitHub API (one curl exec per request, the token a
 * mounted Secret) and the deployment records deploy, deployProduction and rollback returned. The computation is
 * lib/metrics; this file fetches, and sends the results to a Pushgateway or Slack when asked.
 */
import { dag, type Directory, type Secret } from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import type { Pipeline } from "./pipeline";
import { GITHUB_API, GITHUB_REQUEST_HEADERS, githubCurl } from "./github";
import { postSlack } from "./deploy-support";
import type { Clock } from "./lib/clock";
import { tail } from "./lib/errors";
import type { DeploymentRecord } from "./lib/deploy/record";
import { slackAlert } from "./lib/alerts/slack-alerts";
import { MetricsFormat, type MetricsRequest, type PipelineFailureRequest } from "./lib/metrics/args";
import { collectPages, type SendRequest } from "./lib/metrics/collect";
import { DAY_MS, eventFromRecord, eventsFromGitHub, previousRelease, productionReleases, mergeEvents, type DeliveryEvent } from "./lib/metrics/delivery";
import { artifact, comparedCommit, deployment, deploymentStatus, parseCurlResponse, release, workflowJob, workflowRun, type ComparedCommit, type WorkflowJob } from "./lib/metrics/github-api";
import { isProtectedBranch } from "./lib/metrics/pipeline";
import { renderMetricsMarkdown, metricsReport, prometheusText, type MetricsReport } from "./lib/metrics/report";

const BODY_PATH = "/tmp/github-response.json";
/** The runs listing with a `created` filter returns at most 1,000 results (docs.github.com, list workflow runs for a repository). */
const RUNS_SEARCH_LIMIT = 1000;

function githubSender(p: Pipeline, token: Secret): SendRequest {
  const base = githubCurl(p, token);
  return async (url) => {
    // no --fail: a 403/429 must reach retryDecision with its status and headers
    const ran = runAllowingFailure(withRunNonce(base), [
      "curl", "--silent", "--show-error", "--max-time", "60", ...GITHUB_REQUEST_HEADERS,
      "--output", BODY_PATH, "--write-out", "%{http_code}\\n%{header_json}", url,
    ]);
    const outcome = await outcomeOf(ran);
    if (outcome.exitCode !== 0) throw new Error(`metrics: GitHub API request ${url} failed (curl exit ${outcome.exitCode}): ${tail(outcome.stderr || outcome.stdout, 5)}`);
    return parseCurlResponse(outcome.stdout, await ran.file(BODY_PATH).contents(), url);
  };
}

/** Runs `work` over `items`, `width` at a time. */
async function inBatches<T, R>(items: readonly T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += width) results.push(...(await Promise.all(items.slice(i, i + width).map(work))));
  return results;
}

async function readRecords(records: Directory): Promise<DeliveryEvent[]> {
  const paths = (await records.glob("**/*.json")).sort();
  const perFile = await Promise.all(
    paths.map(async (path) => {
      const where = `metrics --records: ${path}`;
      let parsed: unknown;
      try {
        parsed = JSON.parse(await records.file(path).contents());
      } catch {
        throw new Error(`${where}: not JSON`);
      }
      return (Array.isArray(parsed) ? parsed : [parsed]).map((r, i) => eventFromRecord(r as DeploymentRecord, Array.isArray(parsed) ? `${where}[${i}]` : where));
    }),
  );
  return perFile.flat();
}

export async function collectMetrics(p: Pipeline, request: MetricsRequest<Secret, Directory>, clock: Clock): Promise<MetricsReport> {
  const send = githubSender(p, request.githubToken);
  const repo = `${GITHUB_API}/repos/${request.githubRepository}`;
  const end = clock.now();
  const window = { start: end - request.days * DAY_MS, end };
  const since = new Date(window.start).toISOString().slice(0, 10);
  const older = (createdAt: number) => createdAt < window.start;
  const notes: string[] = [];

  const [runs, deployments, releases, artifacts, recordEvents] = await Promise.all([
    collectPages(send, `${repo}/actions/runs?per_page=100&created=%3E%3D${since}`, clock, { key: "workflow_runs", parse: workflowRun, maxPages: RUNS_SEARCH_LIMIT / 100, what: "workflow runs" }),
    collectPages(send, `${repo}/deployments?per_page=100`, clock, { parse: deployment, stopAfter: (d) => older(d.createdAt), maxPages: 20, what: "deployments" }),
    collectPages(send, `${repo}/releases?per_page=100`, clock, { parse: release, maxPages: 5, what: "releases" }),
    collectPages(send, `${repo}/actions/artifacts?per_page=100`, clock, { key: "artifacts", parse: artifact, stopAfter: (a) => older(a.createdAt), maxPages: 10, what: "artifacts" }),
    request.records ? readRecords(request.records) : Promise.resolve([]),
  ]);
  if (runs.truncated) notes.push(`GitHub lists at most ${RUNS_SEARCH_LIMIT} workflow runs for a date filter: runs before the oldest listed are missing; use a shorter --days.`);

  const inWindow = deployments.items.filter((d) => !older(d.createdAt));
  const withStatuses = await inBatches(inWindow, 4, async (d) => ({
    deployment: d,
    statuses: (await collectPages(send, `${repo}/deployments/${d.id}/statuses?per_page=100`, clock, { parse: deploymentStatus, maxPages: 1, what: `statuses of deployment ${d.id}` })).items,
  }));
  const githubEvents = eventsFromGitHub(withStatuses, runs.items, request.rollbackWorkflow);

  const completed = runs.items.filter((r) => r.status === "completed");
  const jobRuns = completed.slice(0, request.maxJobRuns);
  if (jobRuns.length < completed.length) notes.push(`Job figures cover the newest ${jobRuns.length} of ${completed.length} completed runs (--max-job-runs).`);
  const jobs: WorkflowJob[] = (
    await inBatches(jobRuns, 4, async (r) => (await collectPages(send, `${repo}/actions/runs/${r.id}/jobs?per_page=100`, clock, { key: "jobs", parse: workflowJob, maxPages: 3, what: `jobs of run ${r.id}` })).items)
  ).flat();

  const releaseCommits = new Map<string, ComparedCommit[]>();
  const tags = productionReleases(mergeEvents(githubEvents, recordEvents), window);
  await inBatches(tags, 4, async (tag) => {
    const base = previousRelease(tag, releases.items);
    if (!base) return;
    const compare = await collectPages(send, `${repo}/compare/${encodeURIComponent(base)}...${encodeURIComponent(tag)}?per_page=100`, clock, { key: "commits", parse: comparedCommit, maxPages: 3, what: `commits from ${base} to ${tag}` });
    releaseCommits.set(tag, compare.items);
  });

  return metricsReport({ repository: request.githubRepository, window, runs: runs.items, jobs, artifacts: artifacts.items, githubEvents, recordEvents, releaseCommits, notes });
}

/**
 * Pushes the exposition to a Pushgateway with PUT (replacing the group), grouped by job and repository; the
 * repository contains a slash, so its value is base64url-encoded under `repository@base64`
 * (prometheus/pushgateway v1.11.3 README.md, "URL" and "PUT method").
 */
async function pushToGateway(p: Pipeline, url: string, repository: string, exposition: string): Promise<string> {
  const target = `${url}/metrics/job/observatory_ci/repository@base64/${Buffer.from(repository).toString("base64url")}`;
  const ctr = withRunNonce(dag.container().from(p.config.images.curl).withNewFile("/tmp/metrics.prom", exposition));
  const out = await outcomeOf(
    runAllowingFailure(ctr, ["curl", "-sS", "--fail-with-body", "--max-time", "30", "--retry", "3", "-X", "PUT", "-H", "Content-Type: text/plain; version=0.0.4", "--data-binary", "@/tmp/metrics.prom", target]),
  );
  if (out.exitCode !== 0) throw new Error(`metrics --pushgateway-url: push to ${target} failed (curl exit ${out.exitCode}): ${tail(out.stderr || out.stdout, 5)}`);
  return `pushed to ${target}`;
}

export async function metrics(p: Pipeline, request: MetricsRequest<Secret, Directory>, clock: Clock): Promise<string> {
  const report = await collectMetrics(p, request, clock);
  const exposition = prometheusText(report);
  if (request.pushgatewayUrl) await pushToGateway(p, request.pushgatewayUrl, request.githubRepository, exposition);
  if (request.slackWebhook) await postSlack(p, request.slackWebhook, slackAlert({ kind: "weekly-summary", report }), "metrics");
  switch (request.format) {
    case MetricsFormat.Json:
      return `${JSON.stringify(report, null, 2)}\n`;
    case MetricsFormat.Prometheus:
      return exposition;
    case MetricsFormat.Markdown:
      return renderMetricsMarkdown(report);
  }
}

/** Posts a failed run of main or a release branch to Slack; other branches are not announced. */
export async function notifyPipelineFailure(p: Pipeline, request: PipelineFailureRequest<Secret>): Promise<string> {
  if (!isProtectedBranch(request.branch)) return `not sent: ${request.branch} is neither main nor a release/* branch`;
  const { slackWebhook, ...alert } = request;
  return postSlack(p, slackWebhook, slackAlert({ kind: "pipeline-failed", ...alert }), "notifyPipelineFailure");
}
