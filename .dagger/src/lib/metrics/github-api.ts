/**
 * The GitHub REST API as `metrics` reads it: pages (Link header), rate limits, and the fields of workflow runs,
 * jobs, deployments, deployment statuses, releases, comparisons and artifacts it uses. Shapes follow
 * docs.github.com (API version 2022-11-28):
 * - /rest/actions/workflow-runs#list-workflow-runs-for-a-repository (`total_count`, `workflow_runs[]`)
 * - /rest/actions/workflow-jobs#list-jobs-for-a-workflow-run (`total_count`, `jobs[]`)
 * - /rest/deployments/deployments#list-deployments, /rest/deployments/statuses#list-deployment-statuses (arrays)
 * - /rest/releases/releases#list-releases (array), /rest/commits/commits#compare-two-commits (`commits[]`)
 * - /rest/actions/artifacts#list-artifacts-for-a-repository (`artifacts[]`)
 * - /rest/using-the-rest-api/using-pagination-in-the-rest-api (Link: <url>; rel="next")
 * - /rest/using-the-rest-api/rate-limits-for-the-rest-api (exceeding the limits: retry-after, x-ratelimit-*)
 */

/** Response headers as curl's `%{header_json}` prints them: lower-case names, every value in an array. */
export type ResponseHeaders = Record<string, string[]>;

export interface ApiResponse {
  status: number;
  headers: ResponseHeaders;
  body: string;
}

function header(headers: ResponseHeaders, name: string): string | undefined {
  return headers[name.toLowerCase()]?.[0];
}

/** `Link: <https://...&page=2>; rel="next", <...>; rel="last"` as `{ next: url, last: url }`. */
export function parseLinkHeader(value: string | undefined): Record<string, string> {
  const links: Record<string, string> = {};
  for (const part of (value ?? "").split(/,\s*(?=<)/)) {
    const match = /^\s*<([^>]+)>\s*;(.*)$/.exec(part);
    if (!match) continue;
    const rel = /\brel="?([^";]+)"?/.exec(match[2]!);
    for (const name of rel?.[1]!.trim().split(/\s+/) ?? []) links[name] = match[1]!;
  }
  return links;
}

export function nextPage(response: ApiResponse): string | undefined {
  return parseLinkHeader(header(response.headers, "link")).next;
}

/** What to do with a response that is not a 2xx. */
export type RetryDecision = { retry: true; waitMs: number; reason: string } | { retry: false; reason: string };

const SECONDARY_MIN_WAIT_MS = 60_000;

/**
 * GitHub's rules for an exceeded limit (403 or 429): wait `retry-after` seconds when present; else, with
 * `x-ratelimit-remaining: 0`, until `x-ratelimit-reset` (UTC epoch seconds); else at least one minute,
 * growing exponentially, and give up after a number of retries. 5xx answers are retried with a short backoff.
 */
export function retryDecision(response: ApiResponse, nowMs: number, attempt: number, maxAttempts: number): RetryDecision {
  const { status, headers } = response;
  const limited = status === 429 || (status === 403 && (header(headers, "retry-after") !== undefined || header(headers, "x-ratelimit-remaining") === "0" || /rate limit/i.test(response.body)));
  if (!limited && status < 500) return { retry: false, reason: `HTTP ${status}` };
  if (attempt + 1 >= maxAttempts) return { retry: false, reason: `HTTP ${status} after ${attempt + 1} attempts${limited ? " (rate limited)" : ""}` };
  if (!limited) return { retry: true, waitMs: 2_000 * 2 ** attempt, reason: `HTTP ${status}` };
  const retryAfter = Number(header(headers, "retry-after"));
  if (header(headers, "retry-after") !== undefined && Number.isFinite(retryAfter) && retryAfter >= 0) {
    return { retry: true, waitMs: retryAfter * 1000, reason: `rate limited: retry-after ${retryAfter}s` };
  }
  const reset = Number(header(headers, "x-ratelimit-reset"));
  if (header(headers, "x-ratelimit-remaining") === "0" && Number.isFinite(reset)) {
    return { retry: true, waitMs: Math.max(1_000, reset * 1000 - nowMs + 1_000), reason: `primary rate limit exhausted until ${new Date(reset * 1000).toISOString()}` };
  }
  return { retry: true, waitMs: SECONDARY_MIN_WAIT_MS * 2 ** attempt, reason: "secondary rate limit (no retry-after)" };
}

// ---- the fields metrics reads ----

export interface WorkflowRun {
  id: number;
  name: string;
  path: string;
  headBranch: string | null;
  event: string;
  status: string;
  conclusion: string | null;
  runAttempt: number;
  createdAt: number;
  runStartedAt: number;
  updatedAt: number;
  htmlUrl: string;
}

export interface WorkflowJob {
  id: number;
  runId: number;
  name: string;
  status: string;
  conclusion: string | null;
  createdAt: number;
  startedAt: number;
  completedAt: number | null;
}

export interface Deployment {
  id: number;
  environment: string;
  ref: string;
  sha: string;
  task: string;
  createdAt: number;
}

export interface DeploymentStatus {
  state: string;
  createdAt: number;
  /** Actions sets it to the job's page: .../actions/runs/<run id>/job/<job id>. */
  logUrl: string;
}

export interface Release {
  tagName: string;
  draft: boolean;
  prerelease: boolean;
  createdAt: number;
  publishedAt: number | null;
}

export interface ComparedCommit {
  sha: string;
  committedAt: number;
}

export interface Artifact {
  name: string;
  sizeInBytes: number;
  createdAt: number;
  expired: boolean;
}

type Json = Record<string, unknown>;

function field<T>(item: Json, name: string, kind: "string" | "number", where: string, nullable = false): T {
  const value = item[name];
  if (nullable && (value === null || value === undefined)) return null as T;
  if (typeof value !== kind) throw new Error(`${where}: field ${name} is ${JSON.stringify(value)}, expected a ${kind}`);
  return value as T;
}

function time(item: Json, name: string, where: string, nullable = false): number {
  const text = field<string | null>(item, name, "string", where, nullable);
  if (text === null) return null as unknown as number;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new Error(`${where}: field ${name} is not an ISO 8601 time: ${JSON.stringify(text)}`);
  return ms;
}

/** The items of one page: a bare array, or the array under `key` of an object. */
export function pageItems(body: string, key: string | undefined, where: string): Json[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new Error(`${where}: the response is not JSON: ${body.slice(0, 200)}`);
  }
  const items = key === undefined ? parsed : (parsed as Json | null)?.[key];
  if (!Array.isArray(items)) throw new Error(`${where}: expected ${key === undefined ? "an array" : `an object with a ${key} array`}, got ${body.slice(0, 200)}`);
  return items as Json[];
}

export function workflowRun(item: Json, where: string): WorkflowRun {
  const w = `${where}: run ${String(item.id)}`;
  return {
    id: field(item, "id", "number", w),
    name: field(item, "name", "string", w),
    path: field(item, "path", "string", w),
    headBranch: field(item, "head_branch", "string", w, true),
    event: field(item, "event", "string", w),
    status: field(item, "status", "string", w),
    conclusion: field(item, "conclusion", "string", w, true),
    runAttempt: (item.run_attempt as number | undefined) ?? 1,
    createdAt: time(item, "created_at", w),
    runStartedAt: time(item, "run_started_at", w),
    updatedAt: time(item, "updated_at", w),
    htmlUrl: field(item, "html_url", "string", w),
  };
}

export function workflowJob(item: Json, where: string): WorkflowJob {
  const w = `${where}: job ${String(item.id)}`;
  return {
    id: field(item, "id", "number", w),
    runId: field(item, "run_id", "number", w),
    name: field(item, "name", "string", w),
    status: field(item, "status", "string", w),
    conclusion: field(item, "conclusion", "string", w, true),
    createdAt: time(item, "created_at", w),
    startedAt: time(item, "started_at", w),
    completedAt: time(item, "completed_at", w, true),
  };
}

export function deployment(item: Json, where: string): Deployment {
  const w = `${where}: deployment ${String(item.id)}`;
  return {
    id: field(item, "id", "number", w),
    environment: field(item, "environment", "string", w),
    ref: field(item, "ref", "string", w),
    sha: field(item, "sha", "string", w),
    task: field(item, "task", "string", w),
    createdAt: time(item, "created_at", w),
  };
}

export function deploymentStatus(item: Json, where: string): DeploymentStatus {
  const w = `${where}: status ${String(item.id)}`;
  return {
    state: field(item, "state", "string", w),
    createdAt: time(item, "created_at", w),
    logUrl: (typeof item.log_url === "string" && item.log_url) || (typeof item.target_url === "string" ? item.target_url : ""),
  };
}

export function release(item: Json, where: string): Release {
  const w = `${where}: release ${String(item.id)}`;
  return {
    tagName: field(item, "tag_name", "string", w),
    draft: item.draft === true,
    prerelease: item.prerelease === true,
    createdAt: time(item, "created_at", w),
    publishedAt: time(item, "published_at", w, true),
  };
}

export function comparedCommit(item: Json, where: string): ComparedCommit {
  const sha = field<string>(item, "sha", "string", where);
  const commit = (item.commit ?? {}) as { committer?: Json | null };
  if (!commit.committer) throw new Error(`${where}: commit ${sha} has no commit.committer`);
  return { sha, committedAt: time(commit.committer, "date", `${where}: commit ${sha} committer`) };
}

export function artifact(item: Json, where: string): Artifact {
  const w = `${where}: artifact ${String(item.id)}`;
  return {
    name: field(item, "name", "string", w),
    sizeInBytes: field(item, "size_in_bytes", "number", w),
    createdAt: time(item, "created_at", w),
    expired: item.expired === true,
  };
}

/** The run id in an Actions job or run URL (`.../actions/runs/<id>[/job/<id>]`). */
export function runIdOf(url: string): number | undefined {
  const match = /\/actions\/runs\/(\d+)/.exec(url);
  return match ? Number(match[1]) : undefined;
}

/**
 * curl's answer with `--write-out '%{http_code}\n%{header_json}'` (curl 8.11.0 docs/cmdline-opts/write-out.md:
 * header_json, added in 7.83.0, is an object of lower-case header names to arrays of values) and the body file.
 */
export function parseCurlResponse(writeOut: string, body: string, url: string): ApiResponse {
  const cut = writeOut.indexOf("\n");
  const status = Number(writeOut.slice(0, cut < 0 ? undefined : cut).trim());
  if (!Number.isInteger(status) || status < 100) throw new Error(`metrics: no HTTP status from curl for ${url}: ${writeOut.slice(0, 200)}`);
  let headers: ResponseHeaders = {};
  try {
    const parsed = JSON.parse(cut < 0 ? "{}" : writeOut.slice(cut + 1)) as Record<string, unknown>;
    headers = Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.map(String) : [String(v)]]));
  } catch {
    throw new Error(`metrics: curl's header JSON for ${url} is not JSON: ${writeOut.slice(cut + 1, cut + 200)}`);
  }
  return { status, headers, body };
}
