/**
 * Whole production flows against a scripted cluster and Prometheus: promote, automatic rollback on a
 * 5xx breach, on unreachable Prometheus and on a failed rollout, resumption after interruptions,
 * and the manual production rollback. Time is a fake clock: the 10-minute window takes no time.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { dag } from "@dagger.io/dagger";
import { IMAGES } from "../../.dagger/src/versions";
import { Environment } from "../../.dagger/src/lib/deploy/environment";
import { KUBECONFIG_PATH, MANIFEST_PATH } from "../../.dagger/src/deploy-support";
import { PREVIOUS_DIGEST_ANNOTATION, PREVIOUS_IMAGE_ANNOTATION } from "../../.dagger/src/lib/deploy/service-switch";
import { canarySecret } from "../support/recording-session";
import { failureOf, GOOD, startPerTest, type ModuleRun } from "../support/module";
import { canaryIngress } from "../../.dagger/src/lib/deploy/bluegreen";
import { bootstrappedProduction, cosignVerifications, craneFailure, DIGEST, FakeClock, FakeCluster, healthyValue, isLive, metricOf, newFile, OLD_DIGEST, PINNED, prometheusBy, promVector, publishIdentity, REPO, callDeployProduction as deployProduction, recordOf } from "./deploy-fake-cluster";
import { GITHUB_ACTIONS_ISSUER } from "../support/cosign-output";

const startRun = startPerTest();
let clock: FakeClock;
beforeEach(() => {
  clock = new FakeClock();
});

const NS = "llm-observatory";
/** 1.3.0 was deployed by tag, before deploys were by digest; its pods run OLD_DIGEST. */
const LIVE = `${REPO}:1.3.0`;
/** What publish pushed for v1.4.0: the tag the pre-check resolves, and the digest that is deployed. */
const TARGET = `${REPO}:1.4.0`;
const DEPLOYED = PINNED;
const TAG_SIGNER = publishIdentity("acme/observatory", "refs/tags/v1.4.0");
const RUN_URL = "https://github.com/acme/observatory/actions/runs/7";
const PROXY = "/api/v1/namespaces/monitoring/services/http:prometheus-server:80/proxy/api/v1/query?";
const MINUTE = 60_000;

/** Production as the kustomize overlay bootstraps it, after a 1.3.0 release on blue. */
function productionCluster(): FakeCluster {
  const cluster = bootstrappedProduction(NS);
  cluster.runningDigests.set(LIVE, OLD_DIGEST);
  return cluster;
}

const healthy = prometheusBy(healthyValue);

async function start(cluster: FakeCluster): Promise<ModuleRun> {
  return startRun(cluster.script(), GOOD, { clock });
}



function expectConsistentEnd(cluster: FakeCluster, live: "blue" | "green", liveImage: string) {
  expect(cluster.get("service", "analytics-api").spec.selector.color).toBe(live);
  expect(cluster.get("ingress", "analytics-api-canary")).toBeUndefined();
  expect(cluster.image(`analytics-api-${live}`)).toBe(liveImage);
  expect(cluster.get("deployment", `analytics-api-${live}`).spec.replicas).toBe(3);
  const idle = live === "blue" ? "green" : "blue";
  expect(cluster.get("deployment", `analytics-api-${idle}`).spec.replicas).toBe(0);
}

describe("deployProduction", () => {
  it("healthy canary: green from blue, rollout, smoke through its Service, canary analysed for the window, switch, grace, scale down", async () => {
    const cluster = productionCluster();
    cluster.prometheus = healthy;
    const { session, call } = await start(cluster);
    const out = await call((ci) => deployProduction(ci));

    expect(cluster.mutations()).toEqual([
      `apply -f ${MANIFEST_PATH}`, // green Deployment
      `apply -f ${MANIFEST_PATH}`, // canary Ingress at 5 %
      `patch service analytics-api --type=strategic -p ${JSON.stringify({
        spec: { selector: { color: "green" } },
        metadata: { annotations: { "observatory-ci.dev/previous-colour": "blue", [PREVIOUS_IMAGE_ANNOTATION]: LIVE, [PREVIOUS_DIGEST_ANNOTATION]: OLD_DIGEST } },
      })}`,
      "delete ingress analytics-api-canary --ignore-not-found",
      "scale deployment/analytics-api-blue --replicas=0",
    ]);
    expectConsistentEnd(cluster, "green", DEPLOYED);
    expect(cluster.get("deployment", "analytics-api-green").spec.template.metadata.labels.color).toBe("green");

    // the manifests went in as files, not arguments
    const applies = session.execs.filter((e) => e.args.includes("apply"));
    const manifests = applies.map((e) => JSON.parse(newFile(e.chain, MANIFEST_PATH)!));
    expect(manifests[0]).toMatchObject({ kind: "Deployment", metadata: { name: "analytics-api-green" }, spec: { replicas: 3 } });
    expect(manifests[0].spec.template.spec.containers[0].image, "the idle colour gets the verified digest, never the tag").toBe(DEPLOYED);
    expect(manifests[0].metadata.uid).toBeUndefined();
    expect(manifests[1].metadata.annotations).toMatchObject({ "nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "5" });
    expect(manifests[1].spec.rules[0].http.paths[0].backend.service.name).toBe("analytics-api-green");

    // smoke through the green Service via the API server proxy
    expect(cluster.curls).toContain(`proxy:/api/v1/namespaces/${NS}/services/analytics-api-green:http/proxy/health`);
    expect(cluster.curls).toContain(`proxy:/api/v1/namespaces/${NS}/services/analytics-api-green:http/proxy/metrics`);
    // staging pre-check and image existence
    expect(cluster.curls).toContain("https://staging.api.llm-observatory.io/health");
    const crane = session.exec("image-exists");
    expect(crane.image).toBe(IMAGES.crane);
    expect(crane.args.at(-1)).toBe(TARGET);
    expect(crane.secretEnv.REGISTRY_PASSWORD).toBe("registry-password");
    // the resolved digest verified against ci.yml on refs/tags/v1.4.0, before the first kubectl
    const cosign = cosignVerifications(session);
    expect(cosign.map((e) => e.args.slice(4, 5).concat(e.args.slice(-5)))).toEqual([
      ["verify", "--certificate-identity", TAG_SIGNER, "--certificate-oidc-issuer", GITHUB_ACTIONS_ISSUER, DEPLOYED],
      ["verify-attestation", "--certificate-identity", TAG_SIGNER, "--certificate-oidc-issuer", GITHUB_ACTIONS_ISSUER, DEPLOYED],
    ]);
    expect(session.execs.indexOf(cosign[1]!)).toBeLessThan(session.execs.findIndex((e) => e.args[0] === "kubectl"));

    // the review of blue's last 15 minutes; ten one-minute canary intervals, three queries each, through the API
    // server proxy; then the grace period as five one-minute intervals of the post-switch watch on green
    const queries = cluster.commands.filter((c) => c[1] === "--raw" && c[2].startsWith(PROXY)).map((c) => new URLSearchParams(c[2].slice(PROXY.length)).get("query")!);
    expect(queries).toHaveLength(2 + 30 + 15);
    expect(queries[0]).toContain('service="analytics-api",canary="",status=~"5.."}[900s]');
    expect(queries[1]).toContain('histogram_quantile(0.95, sum by (le) (rate(nginx_ingress_controller_request_duration_seconds_bucket{namespace="llm-observatory",service="analytics-api",canary=""}[900s])))');
    expect(queries.slice(2, 32).every((q) => q.includes('canary="llm-observatory-analytics-api-green-80"') || q.includes('deployment="analytics-api-green"'))).toBe(true);
    expect(queries.slice(32).filter(isLive)).toHaveLength(10);
    expect(queries.slice(32).filter((q) => q.includes('deployment="analytics-api-green"'))).toHaveLength(5);
    expect(clock.sleeps).toEqual(Array(15).fill(MINUTE));

    const record = JSON.parse(out);
    expect(record).toMatchObject({ environment: "production", operation: "deploy-production", image: DEPLOYED, digest: DIGEST, previousImage: LIVE, result: "success" });
    expect(record.details).toMatchObject({ tagReference: TARGET, verification: expect.stringMatching(new RegExp(`^verified ${DEPLOYED.replace(/[.]/g, "\\.")}: signed by ${TAG_SIGNER.replace(/[.]/g, "\\.")}`)) });
    expect(record.details.canary).toEqual([{ weight: 5, intervals: 10, reason: "10 interval(s) analysed without breaching a rollback rule" }]);
    expect(record.details.errorReview).toEqual({
      colour: "blue",
      figures: "5xx error rate 0.2% (max 1%), P95 latency 0.21s (max 2s) over the last 900s",
      withinRules: true,
      breaches: [],
    });
    expect(record.details.postSwitchWatch).toEqual({ colour: "green", intervals: 5, reason: "5 interval(s) analysed without breaching a rollback rule" });
    expect(record.details).not.toHaveProperty("hotfix");
    expect(record.details).not.toHaveProperty("releaseNotes");
    expect(cluster.slack.map((s) => s.payload.text)).toEqual([expect.stringContaining("v1.4.0 deployed to production")]);

    for (const e of session.execs.filter((x) => x.args[0] === "kubectl")) {
      expect(e.image).toBe(IMAGES.kubectl);
      expect(e.secretFiles[KUBECONFIG_PATH]).toBe("kubeconfig");
      expect(e.env.OBSERVATORY_CI_RUN).toBeDefined();
    }
    expect(session.secretLeaks([out])).toEqual([]);
  });

  it("5xx breach from minute 3: removes the canary, parks green, leaves blue live, fails naming the threshold", async () => {
    const cluster = productionCluster();
    cluster.prometheus = prometheusBy((metric, interval) =>
      metric === "errorRate" ? (interval >= 3 ? "0.087" : "0.003") : metric === "latency" ? "0.3" : "0",
    );
    const { session, call } = await start(cluster);
    const err = await failureOf(call((ci) => deployProduction(ci)));

    const mutations = cluster.mutations();
    expect(mutations.slice(-2)).toEqual(["delete ingress analytics-api-canary --ignore-not-found", "scale deployment/analytics-api-green --replicas=0"]);
    expect(mutations.some((m) => m.startsWith("patch service"))).toBe(false);
    expect(mutations.some((m) => m.includes("analytics-api-blue"))).toBe(false);
    expectConsistentEnd(cluster, "blue", LIVE);
    expect(err.message).toContain("canary analysis failed, rolled back this run's changes automatically.");
    expect(err.message).toContain("The Service was not switched by this run and still selects blue (ghcr.io/acme/observatory/analytics-api:1.3.0).");
    expect(err.message).toContain("5xx error rate above 1% for 2 consecutive interval(s): 8.7% at interval 3");
    expect(err.message).toContain("interval 4 (2025-06-02T10:04:00.000Z): 5xx 8.7%");
    expect(err.message).toContain(
      "automatic rollback done: deleted ingress/analytics-api-canary (rollback), scaled deployment/analytics-api-green (to 0)",
    );
    const record = recordOf(err);
    expect(record).toMatchObject({ result: "rolled-back", details: { phase: "canary", failedStep: "analyse(5)", liveBefore: "blue" } });
    expect(record.details.changes.map((c: any) => `${c.change} ${c.object}`)).toEqual(["applied deployment/analytics-api-green", "applied ingress/analytics-api-canary"]);
    expect(clock.sleeps).toEqual([MINUTE, MINUTE, MINUTE, MINUTE]);
    expect(cluster.slack[0].payload.text).toContain("rolled back in production");
    expect(session.secretLeaks([err.message])).toEqual([]);
  });

  it("Prometheus unreachable (given URL with a bearer token): no data means rollback", async () => {
    const cluster = productionCluster();
    // reachable for the pre-check's review of blue, then gone
    cluster.prometheus = (query) =>
      isLive(query) ? promVector(healthyValue(metricOf(query))) : { exitCode: 7, stderr: "curl: (7) Failed to connect to prometheus.example port 443" };
    const { session, call } = await start(cluster);
    const err = await failureOf(call((ci) => deployProduction(ci, { prometheusUrl: "https://prometheus.example", prometheusToken: true })));

    expect(err.message).toContain("no data for 5xx error rate and P95 latency and health-check failure rate at interval 1");
    expect(err.message).toContain("Prometheus unreachable (curl exit 7)");
    expect(cluster.mutations().slice(-2)).toEqual(["delete ingress analytics-api-canary --ignore-not-found", "scale deployment/analytics-api-green --replicas=0"]);
    expectConsistentEnd(cluster, "blue", LIVE);

    const query = session.execsMatching("curl", "/api/v1/query?")[0];
    expect(query.image).toBe(IMAGES.curl);
    expect(query.secretFiles["/run/secrets/prometheus-token"]).toBe("prometheus-token");
    expect(query.secretEnv).toEqual({});
    expect(query.args).toContain("Authorization: Bearer {{prometheus_token:trim}}");
    expect(query.args[query.args.length - 1]).toMatch(/^https:\/\/prometheus\.example\/api\/v1\/query\?query=/);
    expect(session.secretLeaks([err.message])).toEqual([]);
  });

  it("a failed rollout of the idle colour rolls back with the events in the error, before any traffic", async () => {
    const cluster = productionCluster();
    cluster.failingImages.add(DEPLOYED);
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => deployProduction(ci)));
    expect(err.message).toContain("the rollout failed at wait-rollout(green) before the switch, rolled back this run's changes automatically");
    expect(err.message).toContain(`rollout of analytics-api-green (${DEPLOYED}) did not complete within 10m`);
    expect(err.message).toContain("Progressing=False (ProgressDeadlineExceeded)");
    expect(err.message).toContain("Warning BackOff Pod/analytics-api-green-7c9d-x2b4q");
    expect(cluster.mutations()).toEqual([`apply -f ${MANIFEST_PATH}`, "scale deployment/analytics-api-green --replicas=0"]);
    expectConsistentEnd(cluster, "blue", LIVE);
    // the record and Slack name the phase that failed: the rollout, rolled back
    expect(recordOf(err)).toMatchObject({ result: "rolled-back", details: { phase: "rollout", failedStep: "wait-rollout(green)" } });
    expect(cluster.slack.map((m) => m.payload.text)).toEqual([expect.stringContaining("the rollout failed at wait-rollout(green) before the switch")]);
  });

  it("interrupted mid-canary (cluster unreachable, rollback impossible): the re-run resumes the analysis and ends consistent", async () => {
    const cluster = productionCluster();
    cluster.prometheus = healthy;
    clock.onSleep = () => {
      if (clock.sleeps.length === 4) cluster.down = true;
    };
    const { call } = await start(cluster);
    const first = await failureOf(call((ci) => deployProduction(ci)));
    expect(first.message).toContain("AUTOMATIC ROLLBACK FAILED");
    expect(first.message).toContain("re-run deployProduction");
    // left over: the canary at 5 % to a ready green on the target; the Service still on blue
    expect(cluster.get("ingress", "analytics-api-canary")).toBeDefined();
    expect(cluster.get("service", "analytics-api").spec.selector.color).toBe("blue");

    cluster.down = false;
    clock.onSleep = undefined;
    const before = cluster.mutations().length;
    const out = await call((ci) => deployProduction(ci));
    const resumed = cluster.mutations().slice(before);
    expect(resumed.some((m) => m.startsWith("apply"))).toBe(false); // neither green nor the canary recreated
    expect(resumed.map((m) => m.split(" -p ")[0])).toEqual([
      "patch service analytics-api --type=strategic",
      "delete ingress analytics-api-canary --ignore-not-found",
      "scale deployment/analytics-api-blue --replicas=0",
    ]);
    expect(JSON.parse(out).details.plan).toEqual([
      "smoke-idle(green)",
      "analyse(5)",
      "switch(green)",
      "remove-canary",
      "scale-down-old(blue, after 300s)",
      "done",
    ]);
    expectConsistentEnd(cluster, "green", DEPLOYED);
  });

  it("interrupted during the grace period after the switch: the re-run only scales the old colour down", async () => {
    const cluster = productionCluster();
    cluster.prometheus = healthy;
    clock.onSleep = () => {
      if (cluster.get("service", "analytics-api").spec.selector.color === "green") throw new Error("the runner was cancelled");
    };
    const { call } = await start(cluster);
    const first = await failureOf(call((ci) => deployProduction(ci)));
    expect(first.message).toContain("is live, but finishing failed at scale-down-old(blue, after 300s): the runner was cancelled");
    expect(first.message).toContain("No rollback was made.");
    // nothing was rolled back, so neither the record nor Slack says so: they name the phase that failed
    expect(recordOf(first)).toMatchObject({ result: "failure", details: { phase: "finish", failedStep: "scale-down-old(blue, after 300s)" } });
    expect(cluster.slack).toHaveLength(1);
    expect(cluster.slack[0].payload.text).toContain("finishing failed at scale-down-old(blue, after 300s), the release is live, no rollback: the runner was cancelled");
    expect(JSON.stringify(cluster.slack[0].payload)).not.toMatch(/rolled back/i);
    expect(cluster.get("service", "analytics-api").spec.selector.color).toBe("green");
    expect(cluster.get("deployment", "analytics-api-blue").spec.replicas).toBe(3); // both up, one live: instant rollback still possible

    clock.onSleep = undefined;
    const before = cluster.mutations().length;
    const out = await call((ci) => deployProduction(ci));
    expect(cluster.mutations().slice(before)).toEqual(["scale deployment/analytics-api-blue --replicas=0"]);
    const record = JSON.parse(out);
    expect(record.details.plan).toEqual(["scale-down-old(blue, after 300s)", "done"]);
    // the re-run watches green again for the whole grace period; the release is live, so there is nothing to review
    expect(record.details.postSwitchWatch).toMatchObject({ colour: "green", intervals: 5 });
    expect(record.details).not.toHaveProperty("errorReview");
    expectConsistentEnd(cluster, "green", DEPLOYED);
  });

  it("pre-checks: a tag whose image was never pushed changes nothing", async () => {
    const cluster = productionCluster();
    cluster.imageExists = false;
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => deployProduction(ci)));
    expect(err.message).toContain(`image ${TARGET} does not exist in the registry`);
    expect(cluster.mutations()).toEqual([]);
  });

  it("pre-checks: staging must answer healthy", async () => {
    const cluster = productionCluster();
    cluster.http = (url) => (url.includes("staging") ? { status: 503, body: "down" } : { status: 200, body: "ok" });
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => deployProduction(ci)));
    expect(err.message).toContain("staging does not answer healthy");
    expect(cluster.mutations()).toEqual([]);
  });

  it("validates the tag before any exec", async () => {
    const cluster = productionCluster();
    const { session, call } = await start(cluster);
    const err = await failureOf(call((ci) => ci.deployProduction("1.4", dag.setSecret("kubeconfig", canarySecret("k")), undefined, undefined, "acme/observatory")));
    expect(err.message).toContain('deployProduction --tag: is not a release tag (found "1.4"; expected vX.Y.Z');
    expect(session.execs).toEqual([]);
  });

  it("refuses to send the Prometheus bearer token over plain http, before any exec", async () => {
    const cluster = productionCluster();
    const { session, call } = await start(cluster);
    const err = await failureOf(call((ci) => deployProduction(ci, { prometheusUrl: "http://prometheus.example:9090/prom", prometheusToken: true })));
    expect(err.message).toBe(
      'deployProduction --prometheus-url: sends the --prometheus-token bearer token over plain http, refused (found "http://prometheus.example:9090/prom"; expected an https URL, or no token)',
    );
    expect(session.execs).toEqual([]);
    // without a token, plain http stays allowed (a Prometheus inside a trusted network)
    const { session: plain, call: callPlain } = await start(productionCluster());
    await callPlain((ci) => deployProduction(ci, { prometheusUrl: "http://prometheus.example:9090" }));
    expect(plain.execs.some((e) => e.args[0] === "curl" && String(e.args.at(-1)).startsWith("http://prometheus.example:9090/"))).toBe(true);
  });
});

describe("rollback --environment production", () => {
  async function promoted(): Promise<{ cluster: FakeCluster; call: ModuleRun["call"]; session: ModuleRun["session"] }> {
    const cluster = productionCluster();
    cluster.prometheus = healthy;
    const { call, session } = await start(cluster);
    await call((ci) => deployProduction(ci));
    return { cluster, call, session };
  }

  it("scales the previous colour back up, then switches the Service to it, under two minutes; a colour still named by tag is first pinned to the digest it ran", async () => {
    const { cluster, call, session } = await promoted();
    expect(cluster.get("service", "analytics-api").metadata.annotations[PREVIOUS_DIGEST_ANNOTATION]).toBe(OLD_DIGEST);
    const before = cluster.mutations().length;
    const t0 = clock.now();
    const out = await call((ci) =>
      ci.rollback(
        Environment.Production,
        dag.setSecret("kubeconfig", canarySecret("kubeconfig")),
        "error budget burn after v1.4.0",
        dag.setSecret("slack-webhook", `https://hooks.slack.com/services/${canarySecret("slack")}`),
        RUN_URL,
      ),
    );
    expect(cluster.mutations().slice(before).map((m) => m.split(" -p ")[0])).toEqual([
      `set image deployment/analytics-api-blue analytics-api=${REPO}@${OLD_DIGEST}`,
      "scale deployment/analytics-api-blue --replicas=3",
      "patch service analytics-api --type=strategic",
    ]);
    expect(cluster.commands).toContainEqual(["rollout", "status", "deployment/analytics-api-blue", "--timeout=10m"]);
    expect(cluster.get("service", "analytics-api").spec.selector.color).toBe("blue");
    expect(cluster.image("analytics-api-blue")).toBe(`${REPO}@${OLD_DIGEST}`);
    expect(clock.now() - t0).toBeLessThan(120_000);
    expect(JSON.parse(out)).toMatchObject({ operation: "rollback", image: `${REPO}@${OLD_DIGEST}`, digest: OLD_DIGEST, previousImage: DEPLOYED, reason: "error budget burn after v1.4.0" });
    expect(cluster.slack.at(-1)!.payload.text).toContain("error budget burn after v1.4.0");
    expect(session.secretLeaks([out])).toEqual([]);
  });

  it("a colour pinned by digest is scaled up as it is; switching back records the digest the rolled-back colour ran", async () => {
    const { cluster, call } = await promoted();
    cluster.get("deployment", "analytics-api-blue").spec.template.spec.containers[0].image = `${REPO}@${OLD_DIGEST}`;
    cluster.get("service", "analytics-api").metadata.annotations[PREVIOUS_IMAGE_ANNOTATION] = `${REPO}@${OLD_DIGEST}`;
    const before = cluster.mutations().length;
    await call((ci) => ci.rollback(Environment.Production, dag.setSecret("kubeconfig", canarySecret("k")), "slow"));
    const after = cluster.mutations().slice(before);
    expect(after.map((m) => m.split(" -p ")[0])).toEqual(["scale deployment/analytics-api-blue --replicas=3", "patch service analytics-api --type=strategic"]);
    expect(JSON.parse(after[1]!.split(" -p ")[1]!).metadata.annotations).toMatchObject({ [PREVIOUS_IMAGE_ANNOTATION]: DEPLOYED, [PREVIOUS_DIGEST_ANNOTATION]: DIGEST });
  });

  it("refuses to scale up a colour named by tag with no digest recorded for it: nothing changes, the live colour stays", async () => {
    const { cluster, call } = await promoted();
    delete cluster.get("service", "analytics-api").metadata.annotations[PREVIOUS_DIGEST_ANNOTATION];
    const before = cluster.snapshot();
    const mutations = cluster.mutations().length;
    const err = await failureOf(call((ci) => ci.rollback(Environment.Production, dag.setSecret("kubeconfig", canarySecret("k")), "slow")));
    expect(err.message).toContain(`rollback: refusing to scale blue back up: its Deployment names ${LIVE}, a tag, not a digest`);
    expect(err.message).toContain("Nothing was changed; the Service still selects green");
    expect(err.message).toContain("deployProduction --tag");
    expect(cluster.mutations().slice(mutations)).toEqual([]);
    expect(cluster.snapshot()).toBe(before);
  });

  it("switches at once to a colour still scaled up in the grace period, whatever its spec names (no pod is started, nothing is pulled)", async () => {
    const cluster = productionCluster();
    cluster.addDeployment("analytics-api-green", DEPLOYED, 3, { color: "green" });
    switchedToGreen(cluster);
    const { call } = await start(cluster);
    await call((ci) => ci.rollback(Environment.Production, dag.setSecret("kubeconfig", canarySecret("k")), "slow"));
    expect(cluster.mutations().map((m) => m.split(" -p ")[0])).toEqual(["patch service analytics-api --type=strategic"]);
    expect(cluster.get("service", "analytics-api").spec.selector.color).toBe("blue");
  });

  it("during a canary, removes the canary and parks the candidate; the live colour is untouched", async () => {
    const cluster = productionCluster();
    cluster.addDeployment("analytics-api-green", DEPLOYED, 3, { color: "green" });
    cluster.put({
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { name: "analytics-api-canary", annotations: { "nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "5" } },
      spec: { rules: [{ host: "a", http: { paths: [{ path: "/", backend: { service: { name: "analytics-api-green", port: { number: 80 } } } }] } }] },
    });
    const { call } = await start(cluster);
    const out = await call((ci) => ci.rollback(Environment.Production, dag.setSecret("kubeconfig", canarySecret("k")), "canary looks wrong"));
    expect(cluster.mutations()).toEqual(["delete ingress analytics-api-canary --ignore-not-found", "scale deployment/analytics-api-green --replicas=0"]);
    expectConsistentEnd(cluster, "blue", LIVE);
    expect(JSON.parse(out)).toMatchObject({ image: LIVE, previousImage: DEPLOYED, reason: "canary looks wrong" });
  });

  it("refuses to switch to a colour that no longer runs the previous release", async () => {
    const { cluster, call } = await promoted();
    cluster.get("deployment", "analytics-api-blue").spec.template.spec.containers[0].image = `${REPO}:1.3.9`;
    const err = await failureOf(call((ci) => ci.rollback(Environment.Production, dag.setSecret("kubeconfig", canarySecret("k")))));
    expect(err.message).toContain(`not ${LIVE} (the release that was live before green)`);
    expect(cluster.get("service", "analytics-api").spec.selector.color).toBe("green");
  });
});

// ------------------------------------------------------------------ a failed pre-check changes nothing

/** Production as a re-run finds it after an earlier run of v1.4.0 was interrupted. */
const STATES: Record<string, () => FakeCluster> = {
  "fresh release": productionCluster,
  "re-run mid-canary": () => {
    const cluster = productionCluster();
    cluster.addDeployment("analytics-api-green", DEPLOYED, 3, { color: "green" });
    cluster.put(canaryIngress(cluster.get("ingress", "analytics-api"), 5, "analytics-api-green"));
    return cluster;
  },
  "re-run after the switch": () => {
    const cluster = productionCluster();
    cluster.addDeployment("analytics-api-green", DEPLOYED, 3, { color: "green" });
    cluster.put(canaryIngress(cluster.get("ingress", "analytics-api"), 5, "analytics-api-green"));
    switchedToGreen(cluster);
    return cluster;
  },
  "re-run in the grace period": () => {
    const cluster = productionCluster();
    cluster.addDeployment("analytics-api-green", DEPLOYED, 3, { color: "green" });
    switchedToGreen(cluster);
    return cluster;
  },
};

function switchedToGreen(cluster: FakeCluster): void {
  const service = cluster.get("service", "analytics-api");
  service.spec.selector.color = "green";
  service.metadata.annotations = { "observatory-ci.dev/previous-colour": "blue", [PREVIOUS_IMAGE_ANNOTATION]: LIVE, [PREVIOUS_DIGEST_ANNOTATION]: OLD_DIGEST };
}

interface PreCheckCase {
  /** Breaks one pre-check on the cluster's fakes. */
  arrange(cluster: FakeCluster): void;
  check: string;
  says: string[];
  /** The record's image: the tag until the registry resolved it, then the verified digest. */
  image?: string;
}

const PRE_CHECKS: Record<string, PreCheckCase> = {
  "registry 401 on the existence check (after crane's logged HEAD 404)": {
    arrange: (c) => (c.registryAnswer = craneFailure("1.4.0", "UNAUTHORIZED: authentication required")),
    check: "image exists",
    says: [`cannot tell whether ${TARGET} exists, the registry answered: crane exit 1: GET https://ghcr.io/v2/acme/observatory/analytics-api/manifests/1.4.0: UNAUTHORIZED: authentication required`],
  },
  "registry 403": {
    arrange: (c) => (c.registryAnswer = craneFailure("1.4.0", "DENIED: permission_denied: read_package")),
    check: "image exists",
    says: ["cannot tell whether", "DENIED: permission_denied: read_package"],
  },
  "registry 503 (unknown)": {
    arrange: (c) => (c.registryAnswer = craneFailure("1.4.0", "unexpected status code 503 Service Unavailable")),
    check: "image exists",
    says: ["cannot tell whether", "unexpected status code 503 Service Unavailable"],
  },
  "registry unreachable (unknown)": {
    arrange: (c) => (c.registryAnswer = { exitCode: 1, stderr: 'Error: Get "https://ghcr.io/v2/": dial tcp: lookup ghcr.io on 10.0.0.10:53: no such host\n' }),
    check: "image exists",
    says: ["cannot tell whether", "no such host"],
  },
  "absent image": {
    arrange: (c) => (c.imageExists = false),
    check: "image exists",
    says: [`image ${TARGET} does not exist in the registry (GET https://ghcr.io/v2/acme/observatory/analytics-api/manifests/1.4.0: MANIFEST_UNKNOWN`],
  },
  "an unsigned digest behind the tag": {
    arrange: (c) => c.unsigned.add(DIGEST),
    check: "image signature",
    says: [`pre-check: ${TARGET} resolves to ${DIGEST}, whose signature refused`, "cosign verify: no signature found"],
  },
  "the tag moved to a digest signed by ci.yml on a branch named v1.4.0": {
    arrange: (c) => c.signers.set(DIGEST, publishIdentity("acme/observatory", "refs/heads/v1.4.0")),
    check: "image signature",
    says: ["no signature from the expected signer", "ci.yml@refs/heads/v1.4.0", `expected a signature by ${TAG_SIGNER}`],
  },
  "a digest signed by another workflow on the tag": {
    arrange: (c) => c.signers.set(DIGEST, "https://github.com/acme/observatory/.github/workflows/evil.yml@refs/tags/v1.4.0"),
    check: "image signature",
    says: ["no signature from the expected signer", "evil.yml@refs/tags/v1.4.0"],
  },
  "a digest signed on another release tag": {
    arrange: (c) => c.signers.set(DIGEST, publishIdentity("acme/observatory", "refs/tags/v1.3.9")),
    check: "image signature",
    says: ["no signature from the expected signer", "ci.yml@refs/tags/v1.3.9"],
  },
  "a signed digest without its SBOM attestation": {
    arrange: (c) => c.unattested.add(DIGEST),
    check: "image signature",
    says: ["cosign verify-attestation --type spdxjson (the SBOM)"],
  },
  "staging unhealthy": {
    arrange: (c) => (c.http = (url) => (url.includes("staging") ? { status: 503, body: "down" } : { status: 200, body: "ok" })),
    check: "staging healthy",
    says: ["staging does not answer healthy", "/health: HTTP 503: down"],
    image: DEPLOYED,
  },
  "production unreadable (API server unreachable)": {
    arrange: (c) => (c.down = true),
    check: "observe production",
    says: ["The connection to the server 10.0.0.1:6443 was refused"],
    image: DEPLOYED,
  },
};

describe("a failed pre-check changes nothing and says so", () => {
  for (const [state, build] of Object.entries(STATES)) {
    for (const [name, failure] of Object.entries(PRE_CHECKS)) {
      it(`${state}: ${name}`, async () => {
        const cluster = build();
        failure.arrange(cluster);
        const before = cluster.snapshot();
        const { session, call } = await start(cluster);
        const err = await failureOf(call((ci) => deployProduction(ci)));

        expect(cluster.snapshot()).toBe(before);
        expect(cluster.mutations()).toEqual([]);
        for (const text of failure.says) expect(err.message).toContain(text);
        expect(err.message).toContain(`Failed before changing anything (check: ${failure.check}): production is as this run found it, so there was nothing to undo.`);
        expect(err.message).not.toMatch(/rolled back|rollback done|left untouched/i);
        const record = recordOf(err);
        expect(record).toMatchObject({ operation: "deploy-production", image: failure.image ?? TARGET, result: "failure", details: { phase: "pre-check", failedCheck: failure.check, changes: [] } });
        expect(cluster.slack).toHaveLength(1);
        expect(cluster.slack[0].payload.text).toContain(`v1.4.0 failed to deploy to production: pre-check "${failure.check}" failed, production unchanged: `);
        expect(JSON.stringify(cluster.slack[0].payload)).not.toMatch(/rolled back/i);
        expect(record.notification).toBe("sent failure for production v1.4.0");
        expect(session.secretLeaks([err.message])).toEqual([]);
        expect(clock.sleeps.filter((ms) => ms >= MINUTE)).toEqual([]); // no analysis, no grace period
      });
    }

    it(`${state}: a registry user name with a space fails before any container, naming deployProduction --registry-username`, async () => {
      const cluster = build();
      const before = cluster.snapshot();
      const { session, call } = await start(cluster);
      const err = await failureOf(call((ci) => deployProduction(ci, { registryUsername: "ci bot" })));
      expect(err.message).toBe(
        'deployProduction --registry-username: is not a valid registry user name (found "ci bot"; expected a registry user name without spaces, control characters or ":")',
      );
      expect(session.execs).toEqual([]);
      expect(cluster.snapshot()).toBe(before);
      expect(cluster.slack).toEqual([]);
    });
  }

  it("the planner refusing a broken live colour is a pre-check too: nothing changes", async () => {
    const cluster = productionCluster();
    cluster.addDeployment("analytics-api-blue", DEPLOYED, 3, { color: "blue" }, false);
    const before = cluster.snapshot();
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => deployProduction(ci)));
    expect(cluster.snapshot()).toBe(before);
    expect(err.message).toContain(`the live colour blue already runs ${DEPLOYED} but is not ready`);
    expect(recordOf(err).details).toMatchObject({ failedCheck: "production state", liveBefore: "blue", changes: [] });
    expect(cluster.slack[0].payload.text).not.toMatch(/rolled back/);
  });

  it("reproduced: v1.4.0 live on green, the run interrupted in the grace period, the re-run gets a registry 401: production untouched, nothing says rolled back", async () => {
    const cluster = productionCluster();
    cluster.prometheus = healthy;
    clock.onSleep = () => {
      if (cluster.get("service", "analytics-api").spec.selector.color === "green") throw new Error("the runner was cancelled");
    };
    const { session, call } = await start(cluster);
    await failureOf(call((ci) => deployProduction(ci)));
    clock.onSleep = undefined;
    expect(cluster.get("service", "analytics-api").spec.selector.color).toBe("green");
    expect(cluster.get("deployment", "analytics-api-blue").spec.replicas).toBe(3);

    cluster.registryAnswer = craneFailure("1.4.0", "UNAUTHORIZED: authentication required");
    const before = cluster.snapshot();
    const mutationsBefore = cluster.mutations().length;
    const slackBefore = cluster.slack.length;
    const err = await failureOf(call((ci) => deployProduction(ci)));

    expect(cluster.snapshot()).toBe(before);
    expect(cluster.mutations().slice(mutationsBefore)).toEqual([]);
    expect(cluster.get("service", "analytics-api").spec.selector.color).toBe("green");
    expect(cluster.image("analytics-api-green")).toBe(DEPLOYED);
    expect(cluster.get("deployment", "analytics-api-green").spec.replicas).toBe(3);
    expect(cluster.get("deployment", "analytics-api-blue").spec.replicas).toBe(3);
    expect(err.message).toContain("UNAUTHORIZED: authentication required");
    expect(err.message).not.toMatch(/rolled back|left untouched/i);
    const posts = cluster.slack.slice(slackBefore).map((post) => post.payload.text);
    expect(posts).toEqual([expect.stringContaining('v1.4.0 failed to deploy to production: pre-check "image exists" failed, production unchanged: pre-check: cannot tell whether')]);
    expect(posts[0]).not.toMatch(/rolled back/);
    expect(session.secretLeaks([err.message])).toEqual([]);

    // the same re-run with a typo in the user name: refused before any container
    const execsBefore = session.execs.length;
    const typo = await failureOf(call((ci) => deployProduction(ci, { registryUsername: "ci bot" })));
    expect(typo.message).toMatch(/^deployProduction --registry-username: /);
    expect(session.execs.length).toBe(execsBefore);
    expect(cluster.snapshot()).toBe(before);
  });
});

describe("after a change, only this run's changes are rolled back", () => {
  it("re-run mid-canary whose analysis fails: withdraws the canary it analysed and parks green; blue stays live and scaled", async () => {
    const cluster = STATES["re-run mid-canary"]!();
    cluster.prometheus = prometheusBy((metric) => (metric === "errorRate" ? "0.087" : metric === "latency" ? "0.3" : "0"));
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => deployProduction(ci)));
    expect(cluster.mutations()).toEqual(["delete ingress analytics-api-canary --ignore-not-found", "scale deployment/analytics-api-green --replicas=0"]);
    expectConsistentEnd(cluster, "blue", LIVE);
    expect(err.message).toContain("canary analysis failed, withdrew the canary it analysed (an earlier run had set it up).");
    expect(err.message).toContain("This run had changed nothing before the analysis failed.");
    expect(err.message).toContain("The Service was not switched by this run and still selects blue");
    expect(recordOf(err)).toMatchObject({ result: "rolled-back", details: { phase: "canary", failedStep: "analyse(5)", changes: [] } });
    expect(cluster.slack.map((p) => p.payload.text)).toEqual([expect.stringContaining("v1.4.0 rolled back in production: canary analysis failed")]);
  });

  it("re-run with green already rolled out by an earlier run, its smoke fails: green is not this run's change, nothing is undone", async () => {
    const cluster = productionCluster();
    cluster.addDeployment("analytics-api-green", DEPLOYED, 3, { color: "green" });
    cluster.colourHealthy = false;
    const before = cluster.snapshot();
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => deployProduction(ci)));
    expect(cluster.snapshot()).toBe(before);
    expect(err.message).toContain("Failed before changing anything (check: smoke-idle(green))");
    expect(err.message).not.toMatch(/rolled back/);
    expect(recordOf(err).details).toMatchObject({ failedCheck: "smoke-idle(green)", changes: [] });
  });

  it("fresh release whose green fails its smoke: parks the green this run applied, never touches blue or the Service", async () => {
    const cluster = productionCluster();
    cluster.colourHealthy = false;
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => deployProduction(ci)));
    expect(cluster.mutations()).toEqual([`apply -f ${MANIFEST_PATH}`, "scale deployment/analytics-api-green --replicas=0"]);
    expectConsistentEnd(cluster, "blue", LIVE);
    expect(err.message).toContain("the rollout failed at smoke-idle(green) before the switch, rolled back this run's changes automatically.");
    expect(err.message).toContain(`This run changed: applied deployment/analytics-api-green (image ${DEPLOYED}).`);
    expect(err.message).toContain("automatic rollback done: scaled deployment/analytics-api-green (to 0).");
    const record = recordOf(err);
    expect(record.details.changes).toEqual([{ change: "applied", object: "deployment/analytics-api-green", detail: `image ${DEPLOYED}` }]);
    expect(record.details.undone).toEqual([{ change: "scaled", object: "deployment/analytics-api-green", detail: "to 0" }]);
  });

  it("the success record lists every change the run made", async () => {
    const cluster = productionCluster();
    cluster.prometheus = healthy;
    const { call } = await start(cluster);
    const record = JSON.parse(await call((ci) => deployProduction(ci)));
    expect(record.details.changes.map((c: any) => `${c.change} ${c.object}`)).toEqual([
      "applied deployment/analytics-api-green",
      "applied ingress/analytics-api-canary",
      "switched service/analytics-api",
      "deleted ingress/analytics-api-canary",
      "scaled deployment/analytics-api-blue",
    ]);
  });
});

describe("deployProduction --commit", () => {
  const TAG_COMMIT = "1a2b3c4d5e6f70811223344556677889900aabbc";

  it("pins the tag's commit in the signature check, and refuses a digest built from another commit before any change", async () => {
    const ok = productionCluster();
    const { session, call } = await start(ok);
    await call((ci) => deployProduction(ci, { commit: TAG_COMMIT }));
    const cosign = cosignVerifications(session);
    expect(cosign.length).toBeGreaterThan(0);
    for (const e of cosign) expect(e.args.join(" ")).toContain(`--certificate-github-workflow-sha ${TAG_COMMIT}`);

    const cluster = productionCluster();
    cluster.builtFrom.set(DIGEST, "0".repeat(40));
    const before = cluster.snapshot();
    const { call: callOld } = await start(cluster);
    const err = await failureOf(callOld((ci) => deployProduction(ci, { commit: TAG_COMMIT })));
    expect(err.message).toContain("expected GitHub Workflow SHA not found in certificate");
    expect(err.message).not.toMatch(/rolled back/i);
    expect(cluster.mutations()).toEqual([]);
    expect(cluster.snapshot()).toEqual(before);
  });
});
