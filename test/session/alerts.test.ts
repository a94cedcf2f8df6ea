/**
 * Recording-session tests of metrics (the GitHub API through curl, answered from recorded-shape responses),
 * PagerDuty paging from deployProduction and rollback, and the failed-pipeline Slack message.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { dag } from "@dagger.io/dagger";
import { IMAGES } from "../../.dagger/src/versions";
import { Environment } from "../../.dagger/src/lib/deploy/environment";
import { MetricsFormat } from "../../.dagger/src/lib/metrics/args";
import { PAGERDUTY_ENQUEUE_URL } from "../../.dagger/src/alerts";
import { canarySecret, type ExecView, type Script } from "../support/recording-session";
import { failureOf, GOOD, startPerTest } from "../support/module";
import { bootstrappedProduction, FakeClock, FakeCluster, OLD_DIGEST, promVector, REPO, callDeployProduction as deployProduction } from "./deploy-fake-cluster";

const startRun = startPerTest();
const RUN_URL = "https://github.com/acme/observatory/actions/runs/7";

// ---- PagerDuty ----

interface Paged {
  body: Record<string, unknown>;
  view: ExecView;
}

/**
 * The session asks for an exec's exit code, stdout and stderr separately: an exec's answer is computed once per
 * run (its nonce), as the engine runs it once.
 */
function once(answer: (view: ExecView) => ReturnType<NonNullable<Script["exec"]>>): NonNullable<Script["exec"]> {
  const memo = new Map<string, ReturnType<NonNullable<Script["exec"]>>>();
  return (view) => {
    const key = JSON.stringify([view.env.OBSERVATORY_CI_RUN, view.image, view.args]);
    if (!memo.has(key)) memo.set(key, answer(view));
    return memo.get(key);
  };
}

/** The cluster's script, with PagerDuty's endpoint answering 202 and recording each event. */
function withPagerDuty(script: Script, paged: Paged[]): Script {
  return {
    ...script,
    exec: once((view) => {
      if (view.args[0] === "curl" && view.args.at(-1) === PAGERDUTY_ENQUEUE_URL) {
        const template = view.args[view.args.indexOf("--expand-data") + 1]!;
        paged.push({ body: JSON.parse(template.replace("{{pagerduty_routing_key:trim:json}}", "ROUTING-KEY")), view });
        return { stdout: '{"status":"success","message":"Event processed","dedup_key":"x"}' };
      }
      return script.exec?.(view);
    }),
  };
}

let clock: FakeClock;
beforeEach(() => {
  clock = new FakeClock();
});

function productionCluster(): FakeCluster {
  const cluster = bootstrappedProduction("llm-observatory");
  cluster.runningDigests.set(`${REPO}:1.3.0`, OLD_DIGEST);
  return cluster;
}


describe("PagerDuty from deployProduction and rollback", () => {
  it("an automatic rollback pages once, keyed by the release, with the routing key only in a mounted secret file", async () => {
    const cluster = productionCluster();
    let errorRateQueries = 0;
    cluster.prometheus = (query) =>
      promVector(query.includes("histogram_quantile") ? "0.3" : query.includes("kube_deployment") ? "0" : ++errorRateQueries >= 3 ? "0.087" : "0.003");
    const paged: Paged[] = [];
    const { session, call } = await startRun(withPagerDuty(cluster.script(), paged), GOOD, { clock });
    const err = await failureOf(call((ci) => deployProduction(ci, { slack: false, pagerduty: true })));
    expect(err.message).toContain("canary analysis failed, rolled back this run's changes automatically.");

    expect(paged).toHaveLength(1);
    const { body, view } = paged[0]!;
    expect(body).toMatchObject({
      routing_key: "ROUTING-KEY",
      event_action: "trigger",
      dedup_key: "observatory-ci/production/release/v1.4.0",
      client: "observatory-ci",
      client_url: RUN_URL,
      payload: { severity: "warning", source: "llm-observatory/analytics-api", component: "analytics-api", group: "production", class: "auto-rollback" },
    });
    expect((body.payload as { summary: string }).summary).toMatch(/^analytics-api v1\.4\.0: automatic rollback in production: canary analysis failed: canary at 5 % failed its analysis/);
    expect(view.image).toBe(IMAGES.curl);
    expect(view.secretFiles["/run/secrets/pagerduty-routing-key"]).toBe("pagerduty-routing-key");
    expect(view.secretEnv).toEqual({});
    expect(view.args.slice(0, 12)).toEqual([
      "curl", "-sS", "--fail-with-body", "--max-time", "20", "--retry", "3", "-H", "Content-Type: application/json",
      "--variable", "pagerduty_routing_key@/run/secrets/pagerduty-routing-key", "--expand-data",
    ]);
    const record = JSON.parse(err.message.split("\n").find((l) => l.startsWith("Record: "))!.slice("Record: ".length));
    expect(record.details.pagerduty).toBe("PagerDuty trigger observatory-ci/production/release/v1.4.0");
    expect(session.secretLeaks([err.message])).toEqual([]);
  });

  it("a successful release resolves its alert", async () => {
    const cluster = productionCluster();
    cluster.prometheus = (query) => promVector(query.includes("histogram_quantile") ? "0.21" : query.includes("kube_deployment") ? "0" : "0.002");
    const paged: Paged[] = [];
    const { session, call } = await startRun(withPagerDuty(cluster.script(), paged), GOOD, { clock });
    const record = JSON.parse(await call((ci) => deployProduction(ci, { slack: false, pagerduty: true })));
    expect(paged.map((p) => p.body)).toEqual([{ routing_key: "ROUTING-KEY", event_action: "resolve", dedup_key: "observatory-ci/production/release/v1.4.0" }]);
    expect(record.details.pagerduty).toBe("PagerDuty resolve observatory-ci/production/release/v1.4.0");
    expect(session.secretLeaks()).toEqual([]);
  });

  it("a failed rollback pages with the rollback's error and keeps failing", async () => {
    const cluster = new FakeCluster({ namespace: "llm-observatory-staging" });
    cluster.down = true;
    const paged: Paged[] = [];
    const { call } = await startRun(withPagerDuty(cluster.script(), paged), GOOD, { clock });
    const err = await failureOf(
      call((ci) => ci.rollback(Environment.Staging, dag.setSecret("kubeconfig", canarySecret("kubeconfig")), "bad build", undefined, RUN_URL, dag.setSecret("pagerduty-routing-key", canarySecret("pagerduty")))),
    );
    expect(err.message).toContain("PagerDuty: PagerDuty trigger observatory-ci/staging/rollback");
    expect(paged).toHaveLength(1);
    expect(paged[0]!.body).toMatchObject({ event_action: "trigger", dedup_key: "observatory-ci/staging/rollback", payload: { severity: "error", class: "rollback-failed", group: "staging" } });
    expect((paged[0]!.body.payload as { summary: string }).summary).toMatch(/^analytics-api: rollback of staging failed: bad build: /);
  });
});

// ---- failed pipelines ----

describe("notifyPipelineFailure", () => {
  it("posts a failed run of a release branch, and nothing for a feature branch", async () => {
    const cluster = new FakeCluster({ namespace: "llm-observatory-dev" });
    const { session, call } = await startRun(cluster.script(), GOOD, { clock });
    const webhook = () => dag.setSecret("slack-webhook", `https://hooks.slack.com/services/T0/B0/${canarySecret("slack")}`);
    const skipped = await call((ci) => ci.notifyPipelineFailure(webhook(), "ci", "feature/x", RUN_URL));
    expect(skipped).toBe("not sent: feature/x is neither main nor a release/* branch");
    expect(session.execs).toEqual([]);
    await call((ci) => ci.notifyPipelineFailure(webhook(), "ci", "release/1.4", RUN_URL, "c".repeat(40), ["tests"]));
    expect(cluster.slack).toHaveLength(1);
    expect(cluster.slack[0]!.payload).toEqual({
      text: ":x: ci failed on release/1.4",
      blocks: [
        { type: "section", text: { type: "mrkdwn", text: ":x: *ci failed on release/1.4*" } },
        {
          type: "section",
          fields: [
            { type: "mrkdwn", text: "*Workflow*\nci" },
            { type: "mrkdwn", text: "*Branch*\nrelease/1.4" },
            { type: "mrkdwn", text: "*Commit*\ncccccccccccc" },
            { type: "mrkdwn", text: "*Failed jobs*\ntests" },
          ],
        },
        { type: "context", elements: [{ type: "mrkdwn", text: `<${RUN_URL}|View the pipeline run>` }] },
      ],
    });
    expect(session.secretLeaks()).toEqual([]);
  });
});

// ---- metrics ----

const API = "https://api.github.com/repos/acme/observatory";
const FIXTURES = new URL("../fixtures/github-api/", import.meta.url);
const raw = (name: string) => readFileSync(new URL(name, FIXTURES), "utf8");
const RUNS_PAGE_2 = "https://api.github.com/repositories/1296269/actions/runs?per_page=100&created=%3E%3D2026-11-01&page=2";

/** GitHub as the fixtures describe it: URL -> [status, headers, body]. */
function github(): { script: Script; requests: string[] } {
  const statuses = JSON.parse(raw("deployment-statuses.json")) as Record<string, unknown>;
  const pages: Record<string, [number, Record<string, string[]>, string]> = {
    [`${API}/actions/runs?per_page=100&created=%3E%3D2026-11-01`]: [200, { link: [`<${RUNS_PAGE_2}>; rel="next", <${RUNS_PAGE_2}>; rel="last"`] }, raw("runs-page-1.json")],
    [RUNS_PAGE_2]: [200, {}, raw("runs-page-2.json")],
    [`${API}/deployments?per_page=100`]: [200, {}, raw("deployments.json")],
    [`${API}/releases?per_page=100`]: [200, {}, raw("releases.json")],
    [`${API}/actions/artifacts?per_page=100`]: [200, {}, raw("artifacts.json")],
    [`${API}/actions/runs/8003/jobs?per_page=100`]: [200, {}, raw("jobs-run-8003.json")],
    [`${API}/compare/v1.1.0...v1.2.0?per_page=100`]: [200, {}, raw("compare-v1.1.0...v1.2.0.json")],
    [`${API}/compare/v1.2.0...v1.3.0?per_page=100`]: [200, {}, raw("compare-v1.2.0...v1.3.0.json")],
  };
  for (const [id, list] of Object.entries(statuses)) pages[`${API}/deployments/${id}/statuses?per_page=100`] = [200, {}, JSON.stringify(list)];
  const requests: string[] = [];
  let releasesLimited = false;
  const answer = (url: string): [number, Record<string, string[]>, string] => {
    if (url === `${API}/releases?per_page=100` && !releasesLimited) {
      releasesLimited = true;
      return [403, { "retry-after": ["30"], "x-ratelimit-remaining": ["12"] }, '{"message":"You have exceeded a secondary rate limit."}'];
    }
    if (/\/actions\/runs\/\d+\/jobs\?/.test(url) && !pages[url]) return [200, {}, '{"total_count":0,"jobs":[]}'];
    const page = pages[url];
    if (!page) throw new Error(`metrics asked GitHub for ${url}`);
    return page;
  };
  const bodies = new Map<string, string>();
  return {
    requests,
    script: {
      exec: once((view) => {
        if (view.args[0] !== "curl" || !view.args.includes("--write-out")) return undefined;
        const url = view.args.at(-1)!;
        requests.push(url);
        const [status, headers, body] = answer(url);
        bodies.set(view.env.OBSERVATORY_CI_RUN!, body);
        return { stdout: `${status}\n${JSON.stringify(headers)}` };
      }),
      file: (path, view) => (path === "/tmp/github-response.json" && view ? bodies.get(view.env.OBSERVATORY_CI_RUN!) : undefined),
    },
  };
}

describe("metrics", () => {
  it("reads every page through curl with the token as a secret file, waits out a rate limit, and prints the figures", async () => {
    const clock = new FakeClock();
    clock.time = Date.parse("2026-12-01T00:00:00Z");
    const { script, requests } = github();
    const { session, call } = await startRun(script, GOOD, { clock });
    const token = dag.setSecret("github-token", canarySecret("github"));
    const markdown = await call((ci) => ci.metrics(token, "acme/observatory"));

    expect(markdown).toContain("| Change failure rate | 50.0 % (1/2) | < 15 % | **no** | 5 % |");
    expect(markdown).toContain("| Lead time for changes (P50) | 76 min | < 1 hour | **no** | < 1 day |");
    expect(requests).toContain(RUNS_PAGE_2);
    // deployment 201 is older than the window: its statuses are not read
    expect(requests.filter((u) => u.includes("/statuses")).length).toBe(5);
    expect(requests.filter((u) => u.endsWith("/releases?per_page=100"))).toHaveLength(2);
    expect(clock.sleeps).toEqual([30_000]);

    const e = session.execsMatching("curl", "--write-out")[0]!;
    expect(e.image).toBe(IMAGES.curl);
    expect(e.secretFiles["/run/secrets/github-token"]).toBe("github-token");
    expect(e.secretEnv).toEqual({});
    expect(e.args).toContain("Authorization: Bearer {{github_token:trim}}");
    expect(e.args).not.toContain("--fail-with-body");
    expect(session.secretLeaks([markdown])).toEqual([]);
  });

  it("prints Prometheus text and refuses bad arguments before any request", async () => {
    const clock = new FakeClock();
    clock.time = Date.parse("2026-12-01T00:00:00Z");
    const { script } = github();
    const { session, call } = await startRun(script, GOOD, { clock });
    const token = () => dag.setSecret("github-token", canarySecret("github"));
    const text = await call((ci) => ci.metrics(token(), "acme/observatory", 30, MetricsFormat.Prometheus));
    expect(text).toContain('observatory_ci_deployments{repository="acme/observatory",environment="production"} 2');
    const before = session.execs.length;
    const err = await failureOf(call((ci) => ci.metrics(token(), "not a repo", 0, undefined, undefined, "ftp://push")));
    expect(err.message).toContain('metrics --github-repository: is not a GitHub repository (found "not a repo"');
    expect(err.message).toContain("metrics --days:");
    expect(err.message).toContain("metrics --pushgateway-url:");
    expect(session.execs.length).toBe(before);
  });
});
