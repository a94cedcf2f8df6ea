import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { collectPages, requestWithRetry, type SendRequest } from "../../.dagger/src/lib/metrics/collect";
import {
  artifact,
  comparedCommit,
  deployment,
  deploymentStatus,
  pageItems,
  parseLinkHeader,
  release,
  retryDecision,
  workflowJob,
  workflowRun,
  type ApiResponse,
  type ComparedCommit,
} from "../../.dagger/src/lib/metrics/github-api";
import { eventFromRecord, eventsFromGitHub, mergeEvents, percentile, previousRelease, productionReleases, type DeliveryEvent } from "../../.dagger/src/lib/metrics/delivery";
import { renderMetricsMarkdown, metricsReport, prometheusText, type MetricsInput } from "../../.dagger/src/lib/metrics/report";
import type { DeploymentRecord } from "../../.dagger/src/lib/deploy/record";
import type { Clock } from "../../.dagger/src/lib/clock";

const FIXTURES = new URL("../fixtures/github-api/", import.meta.url);
const raw = (name: string) => readFileSync(new URL(name, FIXTURES), "utf8");
const WINDOW = { start: Date.parse("2026-11-01T00:00:00Z"), end: Date.parse("2026-12-01T00:00:00Z") };
const RUNS_URL = "https://api.github.com/repos/acme/observatory/actions/runs?per_page=100&created=%3E%3D2026-11-01";
const RUNS_PAGE_2 = "https://api.github.com/repositories/1296269/actions/runs?per_page=100&created=%3E%3D2026-11-01&page=2";

function fakeClock(start = Date.parse("2026-12-01T00:00:00Z")): Clock & { slept: number[] } {
  let now = start;
  const slept: number[] = [];
  return { slept, now: () => now, sleep: async (ms) => { slept.push(ms); now += ms; } };
}

function ok(body: string, link?: string): ApiResponse {
  return { status: 200, headers: link ? { link: [link] } : {}, body };
}

/** Serves the recorded pages: page 1 links to page 2, as GitHub's Link header does. */
const servePages: SendRequest = async (url) => {
  if (url === RUNS_URL) return ok(raw("runs-page-1.json"), `<${RUNS_PAGE_2}>; rel="next", <${RUNS_PAGE_2}>; rel="last"`);
  if (url === RUNS_PAGE_2) return ok(raw("runs-page-2.json"), `<${RUNS_URL}&page=1>; rel="prev", <${RUNS_URL}&page=1>; rel="first"`);
  throw new Error(`unexpected ${url}`);
};

async function allRuns() {
  return (await collectPages(servePages, RUNS_URL, fakeClock(), { key: "workflow_runs", parse: workflowRun, maxPages: 10, what: "workflow runs" })).items;
}

function githubEvents(runs: Awaited<ReturnType<typeof allRuns>>): DeliveryEvent[] {
  const statuses = JSON.parse(raw("deployment-statuses.json")) as Record<string, Record<string, unknown>[]>;
  const deployments = pageItems(raw("deployments.json"), undefined, "deployments").map((d) => deployment(d, "deployments"));
  return eventsFromGitHub(
    deployments.map((d) => ({ deployment: d, statuses: statuses[String(d.id)]!.map((s) => deploymentStatus(s, "statuses")) })),
    runs,
    ".github/workflows/rollback.yml",
  );
}

function releaseCommits(): Map<string, ComparedCommit[]> {
  const compare = (name: string) => pageItems(raw(name), "commits", name).map((c) => comparedCommit(c, name));
  return new Map([
    ["v1.2.0", compare("compare-v1.1.0...v1.2.0.json")],
    ["v1.3.0", compare("compare-v1.2.0...v1.3.0.json")],
  ]);
}

async function input(overrides: Partial<MetricsInput> = {}): Promise<MetricsInput> {
  const runs = await allRuns();
  return {
    repository: "acme/observatory",
    window: WINDOW,
    runs,
    jobs: pageItems(raw("jobs-run-8003.json"), "jobs", "jobs").map((j) => workflowJob(j, "jobs")),
    artifacts: pageItems(raw("artifacts.json"), "artifacts", "artifacts").map((a) => artifact(a, "artifacts")),
    githubEvents: githubEvents(runs),
    recordEvents: [],
    releaseCommits: releaseCommits(),
    notes: [],
    ...overrides,
  };
}

describe("GitHub API pagination and rate limits", () => {
  it("parses the Link header of GitHub's pagination docs", () => {
    // docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api, the example link header
    const header =
      '<https://api.github.com/repositories/1300192/issues?page=2>; rel="prev", <https://api.github.com/repositories/1300192/issues?page=4>; rel="next", <https://api.github.com/repositories/1300192/issues?page=515>; rel="last", <https://api.github.com/repositories/1300192/issues?page=1>; rel="first"';
    expect(parseLinkHeader(header)).toEqual({
      prev: "https://api.github.com/repositories/1300192/issues?page=2",
      next: "https://api.github.com/repositories/1300192/issues?page=4",
      last: "https://api.github.com/repositories/1300192/issues?page=515",
      first: "https://api.github.com/repositories/1300192/issues?page=1",
    });
    expect(parseLinkHeader(undefined)).toEqual({});
  });

  it("follows rel=next over both recorded pages", async () => {
    const runs = await allRuns();
    expect(runs.map((r) => r.id)).toEqual([9003, 9002, 8005, 8004, 9001, 8003, 8002, 8001]);
  });

  it("stops after the page where the caller saw enough, and says when maxPages cut the listing", async () => {
    const sent: string[] = [];
    const send: SendRequest = (url) => (sent.push(url), servePages(url));
    const early = await collectPages(send, RUNS_URL, fakeClock(), { key: "workflow_runs", parse: workflowRun, stopAfter: (r) => r.id === 8004, maxPages: 10, what: "runs" });
    expect(early).toMatchObject({ pages: 1, truncated: false });
    expect(sent).toEqual([RUNS_URL]);
    const capped = await collectPages(servePages, RUNS_URL, fakeClock(), { key: "workflow_runs", parse: workflowRun, maxPages: 1, what: "runs" });
    expect(capped).toMatchObject({ pages: 1, truncated: true });
  });

  it("waits retry-after seconds, then until x-ratelimit-reset, then at least a minute, growing", () => {
    const now = Date.parse("2026-12-01T00:00:00Z");
    expect(retryDecision({ status: 403, headers: { "retry-after": ["30"] }, body: "" }, now, 0, 5)).toMatchObject({ retry: true, waitMs: 30_000 });
    const reset = String(now / 1000 + 120);
    expect(retryDecision({ status: 403, headers: { "x-ratelimit-remaining": ["0"], "x-ratelimit-reset": [reset] }, body: "{}" }, now, 0, 5)).toMatchObject({ retry: true, waitMs: 121_000 });
    const secondary = { status: 403, headers: {}, body: '{"message":"You have exceeded a secondary rate limit."}' };
    expect(retryDecision(secondary, now, 0, 5)).toMatchObject({ retry: true, waitMs: 60_000 });
    expect(retryDecision(secondary, now, 2, 5)).toMatchObject({ retry: true, waitMs: 240_000 });
    expect(retryDecision(secondary, now, 4, 5)).toMatchObject({ retry: false });
    // a 403 that is not a rate limit (no permission) and a 404 are not retried
    expect(retryDecision({ status: 403, headers: { "x-ratelimit-remaining": ["4999"] }, body: '{"message":"Resource not accessible by integration"}' }, now, 0, 5)).toMatchObject({ retry: false });
    expect(retryDecision({ status: 404, headers: {}, body: "" }, now, 0, 5)).toMatchObject({ retry: false, reason: "HTTP 404" });
  });

  it("retries a rate-limited request on the clock and fails with GitHub's answer when it cannot", async () => {
    const clock = fakeClock();
    const answers: ApiResponse[] = [{ status: 429, headers: { "retry-after": ["7"] }, body: "" }, ok("[]")];
    const response = await requestWithRetry(async () => answers.shift()!, "https://api.github.com/x", clock, "x");
    expect(response.status).toBe(200);
    expect(clock.slept).toEqual([7000]);
    await expect(requestWithRetry(async () => ({ status: 401, headers: {}, body: '{"message":"Bad credentials"}' }), "https://api.github.com/x", clock, "releases")).rejects.toThrow(
      'metrics: GitHub API releases failed (HTTP 401) for https://api.github.com/x: {"message":"Bad credentials"}',
    );
  });

  it("names the page and field of a malformed item", () => {
    const body = JSON.stringify({ workflow_runs: [{ id: 1, name: "ci", path: "p", head_branch: "main", event: "push", status: "completed", conclusion: "success", created_at: "yesterday" }] });
    expect(() => pageItems(body, "workflow_runs", "runs, page 3").map((i) => workflowRun(i, "runs, page 3"))).toThrow("runs, page 3: run 1: field created_at is not an ISO 8601 time");
    expect(() => pageItems('{"message":"Not Found"}', "workflow_runs", "runs, page 1")).toThrow("runs, page 1: expected an object with a workflow_runs array");
  });
});

describe("DORA metrics", () => {
  it("computes deployments, lead time, change failure rate and time to restore on the recorded month", async () => {
    const report = metricsReport(await input());
    expect(report.dora.deployments).toEqual({
      dev: { count: 1, perDay: 0.033, failed: 1, canaryAborts: 0, rollbacks: 0 },
      production: { count: 2, perDay: 0.067, failed: 0, canaryAborts: 0, rollbacks: 1 },
    });
    // v1.2.0 live at 10:12:20: commits of 11-09 12:00 (22 h 12 m 20 s) and 11-10 09:00 (1 h 12 m 20 s);
    // v1.3.0 live at 09:15:30: commit of 08:00 (1 h 15 m 30 s)
    expect(report.dora.leadTime).toEqual({ count: 3, p50: 4530, p95: 79_940 });
    // v1.3.0 was rolled back by the rollback workflow (no deploy after it): 1 of 2 changes failed,
    // restored when the rollback finished (11:02:20), 1 h 46 m 50 s after v1.3.0 went live
    expect(report.dora).toMatchObject({ changes: 2, failedChanges: 1, changeFailureRate: 0.5, unrestored: 0, leadTimeUnmeasured: [] });
    expect(report.dora.timeToRestore).toEqual({ count: 1, p50: 6410, p95: 6410 });
  });

  it("has no production figure when nothing was deployed to production in the window", async () => {
    const quiet = await input({ window: { start: Date.parse("2026-11-21T00:00:00Z"), end: Date.parse("2026-12-01T00:00:00Z") } });
    const report = metricsReport(quiet);
    expect(report.dora).toMatchObject({ changes: 0, failedChanges: 0, changeFailureRate: null, leadTime: { count: 0, p50: null, p95: null }, timeToRestore: { count: 0, p50: null } });
    expect(report.dora.deployments).toEqual({});
    expect(renderMetricsMarkdown(report)).toContain("| Change failure rate | n/a (0/0) | < 15 % | n/a | 5 % |");
    expect(prometheusText(report)).not.toMatch(/change_failure_ratio|lead_time_seconds/);
  });

  it("reads records: an automatic rollback is a failed change, and the record replaces GitHub's view of its run", async () => {
    const record: DeploymentRecord = {
      environment: "production",
      namespace: "llm-observatory",
      deployment: "analytics-api",
      operation: "deploy-production",
      image: "ghcr.io/acme/observatory/analytics-api@sha256:" + "c".repeat(64),
      digest: "sha256:" + "c".repeat(64),
      startedAt: "2026-11-20T09:00:30.000Z",
      finishedAt: "2026-11-20T09:15:00.000Z",
      durationSeconds: 870,
      result: "rolled-back",
      details: { tag: "v1.3.0" },
      notification: "sent rollback for production v1.3.0",
    };
    const recordEvents = [eventFromRecord(record, "records/v1.3.0.json")];
    const runs = await allRuns();
    const merged = mergeEvents(githubEvents(runs), recordEvents);
    expect(merged.filter((e) => e.environment === "production" && e.ref === "v1.3.0")).toEqual([{ ...recordEvents[0], source: "record" }]);
    const report = metricsReport(await input({ recordEvents }));
    // v1.2.0 succeeded; v1.3.0 undid itself (870 s from start to end); the manual rollback afterwards changes no count of changes
    expect(report.dora).toMatchObject({ changes: 2, failedChanges: 1, timeToRestore: { count: 1, p50: 870 } });
    expect(report.dora.deployments.production).toEqual({ count: 1, perDay: 0.033, failed: 0, canaryAborts: 1, rollbacks: 1 });
    expect(productionReleases(merged, WINDOW)).toEqual(["v1.2.0"]);
  });

  it("counts a failed change as unrestored when its rollback failed and nothing healthy followed", () => {
    const at = (iso: string) => Date.parse(iso);
    const events: DeliveryEvent[] = [
      { environment: "production", kind: "deploy", outcome: "success", startedAt: at("2026-11-02T10:00:00Z"), finishedAt: at("2026-11-02T10:10:00Z"), ref: "v2.0.0", source: "record" },
      { environment: "production", kind: "rollback", outcome: "failure", startedAt: at("2026-11-02T11:00:00Z"), finishedAt: at("2026-11-02T11:05:00Z"), source: "record" },
    ];
    const report = metricsReport({ repository: "acme/observatory", window: WINDOW, runs: [], jobs: [], artifacts: [], githubEvents: [], recordEvents: events, releaseCommits: new Map(), notes: [] });
    expect(report.dora).toMatchObject({ changes: 1, failedChanges: 1, unrestored: 1, timeToRestore: { count: 0 }, leadTimeUnmeasured: ["v2.0.0"] });
  });

  it("refuses a file that is not a deployment record, naming it", () => {
    expect(() => eventFromRecord({ environment: "dev", operation: "build" } as unknown as DeploymentRecord, "records/x.json")).toThrow(
      'records/x.json: not a deployment record (environment "dev", operation "build")',
    );
  });

  it("finds the release before a tag and takes nearest-rank percentiles", () => {
    const releases = pageItems(raw("releases.json"), undefined, "releases").map((r) => release(r, "releases"));
    expect(previousRelease("v1.3.0", releases)).toBe("v1.2.0");
    expect(previousRelease("v1.1.0", releases)).toBeUndefined();
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([5, 1, 4, 2, 3], 95)).toBe(5);
    expect(percentile([], 50)).toBeNull();
  });
});

describe("pipeline metrics", () => {
  it("computes success rate, duration and queue time per workflow and job, and artifact sizes", async () => {
    const report = metricsReport(await input());
    const ci = report.workflows.find((w) => w.workflow === "ci")!;
    // 8001 success (attempt 2), 8002 cancelled (not counted), 8003 success, 8004 and 8005 failures
    expect(ci).toMatchObject({ counted: 4, succeeded: 2, successRate: 0.5, conclusions: { success: 2, failure: 2, cancelled: 1 }, failedOnProtectedBranches: 1 });
    expect(ci.duration).toEqual({ count: 5, p50: 420, p95: 540 });
    // the re-run (attempt 2) has no queue time of its own
    expect(ci.queue).toEqual({ count: 4, p50: 10, p95: 30 });
    expect(report.jobs).toEqual([
      { workflow: "ci", job: "publish", counted: 0, succeeded: 0, conclusions: { skipped: 1 }, successRate: null, duration: { count: 0, p50: null, p95: null }, queue: { count: 0, p50: null, p95: null } },
      { workflow: "ci", job: "quality", counted: 1, succeeded: 1, conclusions: { success: 1 }, successRate: 1, duration: { count: 1, p50: 180, p95: 180 }, queue: { count: 1, p50: 20, p95: 20 } },
      { workflow: "ci", job: "tests", counted: 1, succeeded: 1, conclusions: { success: 1 }, successRate: 1, duration: { count: 1, p50: 400, p95: 400 }, queue: { count: 1, p50: 60, p95: 60 } },
    ]);
    expect(report.artifacts).toEqual([{ artifact: "sbom", latestBytes: 556, series: [{ at: "2026-11-03T08:08:00.000Z", bytes: 512 }, { at: "2026-11-09T12:13:00.000Z", bytes: 556 }] }]);
  });
});

describe("rendering", () => {
  it("puts the plan's targets and DORA's Elite level beside each figure", async () => {
    const markdown = renderMetricsMarkdown(metricsReport(await input()));
    expect(markdown).toContain("## Delivery metrics: acme/observatory, 2026-11-01 to 2026-12-01 (30 days)");
    expect(markdown).toContain("| Metric | Value | Plan's target | Met | DORA Elite (2023) |");
    expect(markdown).toContain("| Deployment frequency (production) | 0.067/day (2) | daily | **no** | on demand (several a day) |");
    expect(markdown).toContain("| Lead time for changes (P50) | 76 min | < 1 hour | **no** | < 1 day |");
    expect(markdown).toContain("| Time to restore (P50) | 1.8 h | < 1 hour | **no** | < 1 hour |");
    expect(markdown).toContain("| Change failure rate | 50.0 % (1/2) | < 15 % | **no** | 5 % |");
    expect(markdown).toContain("| production | 2 | 0.067 | 0 | 0 | 1 |");
  });

  it("writes valid Prometheus text exposition", async () => {
    const text = prometheusText(metricsReport(await input()));
    expect(validateExposition(text)).toEqual([]);
    expect(text).toContain('observatory_ci_change_failure_ratio{repository="acme/observatory"} 0.5');
    expect(text).toContain('observatory_ci_lead_time_seconds{repository="acme/observatory",quantile="0.95"} 79940');
    expect(text).toContain('observatory_ci_workflow_runs{repository="acme/observatory",workflow="ci",conclusion="cancelled"} 1');
  });

  it("escapes label values and the validator catches a broken exposition", async () => {
    const report = metricsReport(await input());
    report.workflows[0]!.workflow = 'say "hi"\\now\nthen';
    const text = prometheusText(report);
    expect(text).toContain('workflow="say \\"hi\\"\\\\now\\nthen"');
    expect(validateExposition(text)).toEqual([]);
    expect(validateExposition('# TYPE a gauge\na{x="1} 2\n')).not.toEqual([]);
    expect(validateExposition("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n")).toEqual(["line 5: samples of a are not grouped together"]);
  });
});

/**
 * The text format's rules (prometheus/docs docs/instrumenting/exposition_formats.md at c105550a, "Text format
 * details"): metric and label names, quoted label values with \\, \" and \n escapes, a float value, at most one
 * TYPE line per metric before its samples, and all samples of a metric in one group; the last line ends in \n.
 */
function validateExposition(text: string): string[] {
  const problems: string[] = [];
  if (!text.endsWith("\n")) problems.push("no final line feed");
  const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
  const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
  const sample = new RegExp(`^(${NAME})(?:\\{(?:${LABEL}(?:,${LABEL})*,?)?\\})? (?:[-+]?(?:\\d+\\.?\\d*(?:[eE][-+]?\\d+)?|\\.\\d+)|NaN|[-+]Inf)(?: -?\\d+)?$`);
  const typed = new Set<string>();
  const seen = new Set<string>();
  let current: string | undefined;
  text.split("\n").slice(0, -1).forEach((line, i) => {
    const at = `line ${i + 1}`;
    const type = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
    if (type) {
      if (typed.has(type[1]!) || seen.has(type[1]!)) problems.push(`${at}: TYPE of ${type[1]} after its samples or twice`);
      typed.add(type[1]!);
      return;
    }
    if (new RegExp(`^# HELP ${NAME} `).test(line) || (line.startsWith("#") && !/^# (HELP|TYPE)/.test(line)) || line === "") return;
    const match = sample.exec(line);
    if (!match) return void problems.push(`${at}: not a sample: ${line}`);
    const name = match[1]!;
    if (name !== current && seen.has(name)) problems.push(`${at}: samples of ${name} are not grouped together`);
    seen.add(name);
    current = name;
  });
  return problems;
}
