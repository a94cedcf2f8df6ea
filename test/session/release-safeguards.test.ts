/**
 * The release safeguards of deployProduction on the scripted cluster and Prometheus: the pre-check's review of
 * the live colour's recent errors (and its recorded override), the hotfix path, and the post-switch watch that
 * switches back to the old colour. Each safeguard's failure case changes what it must and nothing else.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { MANIFEST_PATH } from "../../.dagger/src/deploy-support";
import { failureOf, GOOD, startPerTest, type ModuleRun } from "../support/module";
import { bootstrappedProduction, FakeClock, healthyValue, isLive, metricOf, OLD_DIGEST, PINNED, prometheusBy, promVector, REPO, type FakeCluster, callDeployProduction as deployProduction, recordOf } from "./deploy-fake-cluster";

const startRun = startPerTest();
let clock: FakeClock;
beforeEach(() => {
  clock = new FakeClock();
});

const LIVE = `${REPO}:1.3.0`;
const MINUTE = 60_000;
const REASON = "fix for INC-42: 5xx on /v1/traces";

function productionCluster(): FakeCluster {
  const cluster = bootstrappedProduction("llm-observatory");
  cluster.runningDigests.set(LIVE, OLD_DIGEST);
  return cluster;
}

async function start(cluster: FakeCluster): Promise<ModuleRun> {
  return startRun(cluster.script(), GOOD, { clock });
}



/** Blue has served 4.3 % 5xx over the last 15 minutes; the canary's own queries would be healthy. */
const failingLive = prometheusBy(healthyValue, (metric) => (metric === "errorRate" ? "0.043" : healthyValue(metric)));

/** The Slack fields of a payload, as `label: text`. */
function slackFields(payload: any): string[] {
  return payload.blocks.flatMap((b: any) => b.fields ?? []).map((f: any) => f.text.replace("*\n", ": ").replace(/^\*/, ""));
}

describe("pre-check: review recent errors", () => {
  it("refuses to release on top of a live colour whose 5xx rate breaks the canary rule, with the figures; nothing changes", async () => {
    const cluster = productionCluster();
    cluster.prometheus = failingLive;
    const before = cluster.snapshot();
    const { session, call } = await start(cluster);
    const err = await failureOf(call((ci) => deployProduction(ci)));

    expect(err.message).toContain("pre-check: the live colour blue breaks the canary rules, refusing to release on top of it:\n  - 5xx error rate 4.3% is above 1% over the last 900s\n");
    expect(err.message).toContain("Figures: 5xx error rate 4.3% (max 1%), P95 latency 0.21s (max 2s) over the last 900s.");
    expect(err.message).toContain('re-run with --accept-recent-errors --reason "..."');
    expect(err.message).toContain("Failed before changing anything (check: recent errors)");
    expect(cluster.mutations()).toEqual([]);
    expect(cluster.snapshot()).toBe(before);
    expect(clock.sleeps).toEqual([]); // no canary, no watch
    const record = recordOf(err);
    expect(record).toMatchObject({ result: "failure", details: { phase: "pre-check", failedCheck: "recent errors", errorReview: { colour: "blue", withinRules: false } } });
    expect(cluster.slack.map((s) => s.payload.text)).toEqual([expect.stringContaining(`pre-check "recent errors" failed, production unchanged`)]);
    expect(session.secretLeaks([err.message])).toEqual([]);
  });

  it("fails closed when Prometheus has no figures for the live colour (no traffic or a broken metrics pipeline)", async () => {
    const cluster = productionCluster();
    cluster.prometheus = prometheusBy(healthyValue, () => null);
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => deployProduction(ci)));
    expect(err.message).toContain("  - no data for the 5xx error rate over the last 900s");
    expect(cluster.mutations()).toEqual([]);
  });

  it("--accept-recent-errors --reason releases anyway; the breach and the reason are in the record, its release notes and Slack", async () => {
    const cluster = productionCluster();
    cluster.prometheus = failingLive;
    const { call } = await start(cluster);
    // the release fixes the errors: once green is live, the live traffic is healthy again
    let switched = false;
    cluster.prometheus = prometheusBy(healthyValue, (metric) => {
      switched ||= cluster.get("service", "analytics-api").spec.selector.color === "green";
      return metric === "errorRate" && !switched ? "0.043" : healthyValue(metric);
    });
    const record = JSON.parse(await call((ci) => deployProduction(ci, { acceptRecentErrors: true, reason: REASON })));

    expect(record.result).toBe("success");
    expect(record.details.errorReview).toEqual({
      colour: "blue",
      figures: "5xx error rate 4.3% (max 1%), P95 latency 0.21s (max 2s) over the last 900s",
      withinRules: false,
      breaches: ["5xx error rate 4.3% is above 1% over the last 900s"],
      accepted: REASON,
    });
    expect(record.details.releaseNotes).toEqual([
      "### Release safeguards waived",
      "",
      `- **Recent errors accepted**: ${REASON} (5xx error rate 4.3% is above 1% over the last 900s)`,
    ]);
    expect(record.details.log).toContain(`recent errors of blue ACCEPTED (--accept-recent-errors: ${REASON}): 5xx error rate 4.3% is above 1% over the last 900s`);
    expect(slackFields(cluster.slack[0]!.payload)).toContain(`Recent errors accepted: ${REASON} (5xx error rate 4.3% is above 1% over the last 900s)`);
    expect(cluster.get("service", "analytics-api").spec.selector.color).toBe("green");
  });
});

describe("hotfix path", () => {
  it("--hotfix still refuses to switch when the new colour fails its smoke test: the Service keeps blue", async () => {
    const cluster = productionCluster();
    cluster.prometheus = prometheusBy(healthyValue);
    cluster.colourHealthy = false;
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => deployProduction(ci, { hotfix: true, reason: REASON })));
    expect(cluster.get("service", "analytics-api").spec.selector.color).toBe("blue");
    expect(cluster.mutations().map((m) => m.split(" -p ")[0])).not.toContain("patch service analytics-api --type=strategic");
    expect(recordOf(err).details.failedStep).toBe("smoke-idle(green)");
  });

  it("--hotfix skips the canary but keeps the smoke test and the post-switch watch; recorded in the notes and in Slack", async () => {
    const cluster = productionCluster();
    cluster.prometheus = prometheusBy(healthyValue);
    const { call } = await start(cluster);
    const record = JSON.parse(await call((ci) => deployProduction(ci, { hotfix: true, reason: REASON })));

    expect(cluster.mutations().map((m) => m.split(" -p ")[0])).toEqual([
      `apply -f ${MANIFEST_PATH}`, // green Deployment; no canary Ingress
      "patch service analytics-api --type=strategic",
      "delete ingress analytics-api-canary --ignore-not-found",
      "scale deployment/analytics-api-blue --replicas=0",
    ]);
    expect(record.details.plan).toEqual([
      `create-idle(green, ${PINNED})`,
      "wait-rollout(green)",
      "smoke-idle(green)",
      "switch(green)",
      "remove-canary",
      "scale-down-old(blue, after 300s)",
      "done",
    ]);
    expect(cluster.curls).toContain("proxy:/api/v1/namespaces/llm-observatory/services/analytics-api-green:http/proxy/health");
    expect(record.details.canary).toEqual([]);
    expect(record.details.postSwitchWatch).toMatchObject({ colour: "green", intervals: 5 });
    expect(clock.sleeps).toEqual(Array(5).fill(MINUTE));
    expect(record.details.hotfix).toEqual({ reason: REASON });
    expect(record.details.releaseNotes).toEqual(["### Release safeguards waived", "", `- **Hotfix**: canary steps skipped: ${REASON}`]);
    expect(slackFields(cluster.slack[0]!.payload)).toContain(`Hotfix: canary steps skipped: ${REASON}`);
  });

  it("a hotfix that breaks the rules after the switch is switched back automatically", async () => {
    const cluster = productionCluster();
    cluster.prometheus = prometheusBy(healthyValue, (metric, n) => (metric === "errorRate" && n >= 3 ? "0.2" : healthyValue(metric)));
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => deployProduction(ci, { hotfix: true, reason: REASON })));
    expect(err.message).toContain("went live on green, then broke the canary rules in the post-switch watch, switched back automatically.");
    expect(cluster.get("service", "analytics-api").spec.selector.color).toBe("blue");
    expect(cluster.get("deployment", "analytics-api-green").spec.replicas).toBe(0);
    expect(recordOf(err)).toMatchObject({ result: "rolled-back", details: { hotfix: { reason: REASON } } });
    expect(slackFields(cluster.slack[0]!.payload)).toContain(`Hotfix: canary steps skipped: ${REASON}`);
  });
});

describe("post-switch watch", () => {
  it("a 5xx breach on the new colour during the grace period switches the Service back to the still scaled-up old colour", async () => {
    const cluster = productionCluster();
    // the review (1st live query) and the first watch interval are healthy; green fails from the 2nd watch interval on
    cluster.prometheus = prometheusBy(healthyValue, (metric, n) => (metric === "errorRate" && n >= 3 ? "0.087" : healthyValue(metric)));
    const { session, call } = await start(cluster);
    const err = await failureOf(call((ci) => deployProduction(ci)));

    const after = cluster.mutations().slice(cluster.mutations().findIndex((m) => m.startsWith("delete ingress")) + 1);
    expect(after.map((m) => m.split(" -p ")[0])).toEqual(["patch service analytics-api --type=strategic", "scale deployment/analytics-api-green --replicas=0"]);
    expect(cluster.mutations().some((m) => m.includes("analytics-api-blue --replicas=0"))).toBe(false);
    expect(cluster.get("service", "analytics-api").spec.selector.color).toBe("blue");
    expect(cluster.image("analytics-api-blue")).toBe(LIVE);
    expect(cluster.get("deployment", "analytics-api-blue").spec.replicas).toBe(3);
    expect(cluster.get("deployment", "analytics-api-green").spec.replicas).toBe(0);

    expect(err.message).toContain("the post-switch watch of green failed: 5xx error rate above 1% for 2 consecutive interval(s): 8.7% at interval 2");
    expect(err.message).toContain("automatic rollback done: switched service/analytics-api (from green to blue), scaled deployment/analytics-api-green (to 0)");
    expect(err.message).toContain(`The Service now selects blue (${LIVE}).`);
    const record = recordOf(err);
    expect(record).toMatchObject({ result: "rolled-back", previousImage: LIVE, details: { failedStep: "scale-down-old(blue, after 300s)", liveBefore: "blue" } });
    expect(cluster.slack.map((s) => s.payload.text)).toEqual([expect.stringContaining("rolled back in production: post-switch watch of green failed")]);
    // the watch ran on the public Service's traffic, not the (removed) canary's
    const watched = cluster.commands.filter((c) => c[1] === "--raw" && c[2].includes("/proxy/api/v1/query")).map((c) => decodeURIComponent(c[2])).slice(32);
    expect(watched.length).toBeGreaterThan(0);
    expect(watched.filter((q) => !(isLive(q) || q.includes('deployment="analytics-api-green"')))).toEqual([]);
    expect(session.secretLeaks([err.message])).toEqual([]);
  });

  it("the new colour's failing health checks during the watch also switch back", async () => {
    const cluster = productionCluster();
    cluster.prometheus = (query) => {
      const watching = cluster.get("service", "analytics-api").spec.selector.color === "green";
      return promVector(watching && metricOf(query) === "health" ? "0.67" : healthyValue(metricOf(query)));
    };
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => deployProduction(ci)));
    expect(err.message).toContain("health-check failure rate above 50%: 67% at interval 1");
    expect(cluster.get("service", "analytics-api").spec.selector.color).toBe("blue");
  });
});
