/**
 * Recording-session tests of the dev/staging deployment, smoke, load test, rollback, Slack and
 * release functions, against a scripted cluster (deploy-fake-cluster.ts) and a fake clock.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dag } from "@dagger.io/dagger";
import { IMAGES, TOOLS } from "../../.dagger/src/versions";
import { Environment } from "../../.dagger/src/lib/deploy/environment";
import { NotifyStatus } from "../../.dagger/src/lib/deploy/slack";
import { DECODED_KUBECONFIG_DIR, KUBECONFIG_ENTRYPOINT, KUBECONFIG_PATH } from "../../.dagger/src/deploy-support";
import { canarySecret } from "../support/recording-session";
import { failureOf, GOOD, startPerTest, sourceWith, type ModuleRun } from "../support/module";
import { cosignVerifications, DIGEST, FakeClock, FakeCluster, HEALTHY_BODY, k6Fixture, newFile, PINNED, publishIdentity, REPO } from "./deploy-fake-cluster";
import { GITHUB_ACTIONS_ISSUER } from "../support/cosign-output";

const startRun = startPerTest();
let clock: FakeClock;
beforeEach(() => {
  clock = new FakeClock();
});

const DEV_NS = "llm-observatory-dev";
const DEV_URL = "https://dev.api.llm-observatory.io";
const STAGING_URL = "https://staging.api.llm-observatory.io";
const OLD = `${REPO}:main-0a0b0c0`;
const NEW = `${REPO}:main-1a2b3c4`;
const RUN_URL = "https://github.com/acme/observatory/actions/runs/42";

function devCluster(): FakeCluster {
  const cluster = new FakeCluster({ namespace: DEV_NS });
  cluster.addDeployment("analytics-api", OLD, 1);
  return cluster;
}

async function start(cluster: FakeCluster, source = GOOD): Promise<ModuleRun> {
  return startRun(cluster.script(), source, { clock });
}

/** The secrets every call gets, each carrying a canary marker. */
function secrets() {
  return {
    kubeconfig: dag.setSecret("kubeconfig", canarySecret("kubeconfig")),
    slack: dag.setSecret("slack-webhook", `https://hooks.slack.com/services/T000/B000/${canarySecret("slack")}`),
  };
}

const GITHUB_REPOSITORY = "acme/observatory";
const MAIN_SIGNER = publishIdentity(GITHUB_REPOSITORY, "refs/heads/main");
const OTHER_DIGEST = `sha256:${"ef56".repeat(16)}`;

type Ci = Parameters<Parameters<ModuleRun["call"]>[0]>[0];

/** deploy with the workflow's arguments: the repository whose ci.yml signs, read access to the registry. */
function deployTo(ci: Ci, env: Environment, image: string | undefined, extra: { commit?: string; branch?: string; slack?: boolean } = {}) {
  const s = secrets();
  return ci.deploy(
    env,
    s.kubeconfig,
    image,
    extra.commit,
    extra.branch,
    GITHUB_REPOSITORY,
    extra.slack ? s.slack : undefined,
    RUN_URL,
    "ci-bot",
    dag.setSecret("registry-password", canarySecret("registry")),
  );
}


describe("deploy (dev, staging)", () => {
  it("resolves the commit tag to its digest, verifies it, sets the image by digest, waits for the rollout, smoke-tests and returns the record", async () => {
    const cluster = devCluster();
    const { session, call } = await start(cluster);
    const out = await call((ci) => deployTo(ci, Environment.Dev, NEW, { slack: true }));
    expect(cluster.mutations()).toEqual([`set image deployment/analytics-api analytics-api=${PINNED}`]);
    expect(cluster.commands).toContainEqual(["rollout", "status", "deployment/analytics-api", "--timeout=5m"]);
    expect(cluster.image("analytics-api")).toBe(PINNED);
    expect(cluster.curls).toEqual([`${DEV_URL}/health`, `${DEV_URL}/metrics`]);

    // crane digest resolves the tag (read-only, registry credentials as a secret), cosign verifies the digest
    const crane = session.exec("image-exists");
    expect(crane.image).toBe(IMAGES.crane);
    expect(crane.args.at(-1)).toBe(NEW);
    expect(crane.secretEnv.REGISTRY_PASSWORD).toBe("registry-password");
    const [signature, attestation] = cosignVerifications(session);
    expect(signature!.args.slice(4)).toEqual(["verify", "--certificate-identity", MAIN_SIGNER, "--certificate-oidc-issuer", GITHUB_ACTIONS_ISSUER, PINNED]);
    expect(attestation!.args.slice(4, 7)).toEqual(["verify-attestation", "--type", "spdxjson"]);
    // both before the first kubectl: a refusal could not have changed anything
    const firstKubectl = session.execs.findIndex((e) => e.args[0] === "kubectl");
    expect(session.execs.indexOf(attestation!)).toBeLessThan(firstKubectl);

    const record = JSON.parse(out);
    expect(record).toMatchObject({ environment: "dev", namespace: DEV_NS, image: PINNED, digest: DIGEST, previousImage: OLD, result: "success", operation: "deploy" });
    expect(record.details).toMatchObject({ requested: NEW, verification: `verified ${PINNED}: signed by ${MAIN_SIGNER} (issuer ${GITHUB_ACTIONS_ISSUER}), 1 signed spdxjson SBOM attestation(s)` });
    expect(Date.parse(record.finishedAt)).toBeGreaterThanOrEqual(Date.parse(record.startedAt));
    expect(record.notification).toMatch(/^sent success/);

    // kubectl: pinned image, kubeconfig only as a mounted secret file, every call re-runs (nonce)
    const kubectls = session.execs.filter((e) => e.args[0] === "kubectl");
    expect(kubectls.length).toBeGreaterThanOrEqual(5);
    for (const e of kubectls) {
      expect(e.image).toBe(IMAGES.kubectl);
      expect(e.secretFiles[KUBECONFIG_PATH]).toBe("kubeconfig");
      expect(e.env.KUBECONFIG).toBe(KUBECONFIG_PATH);
      expect(e.env.OBSERVATORY_CI_RUN).toMatch(/\d+-\w+/);
      expect(e.args.slice(1, 3)).toEqual(["-n", DEV_NS]);
      // raw YAML or base64 in the same Secret: kubectl runs behind the decoding entrypoint, with a per-exec tmpfs
      expect(e.opts.useEntrypoint).toBe(true);
      expect(e.chain.filter((step) => step.field === "withEntrypoint").at(-1)!.args.args).toEqual(["sh", "-euc", KUBECONFIG_ENTRYPOINT, "kubeconfig"]);
      expect(e.chain.some((step) => step.field === "withMountedTemp" && step.args.path === DECODED_KUBECONFIG_DIR)).toBe(true);
    }
    for (const e of session.execsMatching("curl", DEV_URL)) expect(e.image).toBe(IMAGES.curl);
    expect(cluster.slack).toHaveLength(1);
    expect(cluster.slack[0].payload.text).toContain("main-1a2b3c4 deployed to dev");
    expect(session.secretLeaks([out])).toEqual([]);
  });

  it("staging: resolves --commit/--branch to the <branch>-<sha7> tag's digest, signed by ci.yml on that release branch", async () => {
    const cluster = devCluster();
    cluster.tags.set("release-1.4-1a2b3c4", OTHER_DIGEST);
    const { session, call } = await start(cluster);
    const sha = "1a2b3c4d5e6f70811223344556677889900aabbc";
    const out = await call((ci) => deployTo(ci, Environment.Staging, undefined, { commit: sha, branch: "release/1.4", slack: true }));
    expect(session.exec("image-exists").args.at(-1)).toBe(`${REPO}:release-1.4-1a2b3c4`);
    // the message names what the deploy knows: the environment's configured URL, the commit linked to its page
    const message = JSON.stringify(cluster.slack[0]!.payload);
    expect(message).toContain(`<https://github.com/${GITHUB_REPOSITORY}/commit/${sha}|1a2b3c4>`);
    expect(message).toContain(`<${STAGING_URL}/>`);
    expect(message).toContain(`<${RUN_URL}|View the pipeline run>`);
    expect(cosignVerifications(session)[0]!.args.slice(5, 7)).toEqual(["--certificate-identity", publishIdentity(GITHUB_REPOSITORY, "refs/heads/release/1.4")]);
    // --commit names the build: the certificate must come from the run that built exactly that commit
    for (const e of cosignVerifications(session)) expect(e.args.join(" ")).toContain(`--certificate-github-workflow-sha ${sha}`);
    expect(cluster.mutations()).toEqual([`set image deployment/analytics-api analytics-api=${REPO}@${OTHER_DIGEST}`]);
    expect(JSON.parse(out)).toMatchObject({ image: `${REPO}@${OTHER_DIGEST}`, digest: OTHER_DIGEST, commit: sha, environment: "staging" });
    expect(cluster.commands).toContainEqual(["rollout", "status", "deployment/analytics-api", "--timeout=10m"]);
    expect(cluster.curls).toEqual([`${STAGING_URL}/health`, `${STAGING_URL}/metrics`]);
  });

  it("--commit: an older build re-tagged with the commit's tag is refused before the cluster changes", async () => {
    const cluster = devCluster();
    cluster.tags.set("main-1a2b3c4", OTHER_DIGEST);
    cluster.builtFrom.set(OTHER_DIGEST, "0".repeat(40));
    const before = cluster.snapshot();
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => deployTo(ci, Environment.Dev, undefined, { commit: "1a2b3c4d5e6f70811223344556677889900aabbc", branch: "main" })));
    expect(err.message).toContain("expected GitHub Workflow SHA not found in certificate");
    expect(err.message).toContain("refused");
    expect(cluster.mutations()).toEqual([]);
    expect(cluster.snapshot()).toEqual(before);
  });

  it("a digest reference (or publish's repo:tag@digest line) is verified as is, without asking the registry; staging without --branch accepts any release/* branch", async () => {
    const cluster = devCluster();
    const { session, call } = await start(cluster);
    const out = await call((ci) => deployTo(ci, Environment.Staging, `${REPO}:release-1.4-1a2b3c4@${DIGEST}`));
    expect(session.execs.some((e) => e.args.includes("image-exists"))).toBe(false);
    expect(cosignVerifications(session)[0]!.args.slice(5, 7)).toEqual([
      "--certificate-identity-regexp",
      "^https://github\\.com/acme/observatory/\\.github/workflows/ci\\.yml@refs/heads/release/.+$",
    ]);
    expect(cluster.mutations()).toEqual([`set image deployment/analytics-api analytics-api=${PINNED}`]);
    expect(JSON.parse(out)).toMatchObject({ digest: DIGEST, result: "success" });
  });

  it.each([
    [`${REPO}:latest`, "is not a commit tag"],
    [`${REPO}:main`, "is not a commit tag"],
    [`${REPO}:1.4.0`, "is not a commit tag"],
    ["1.4.0", "is not a commit tag"],
    [REPO, "neither a tag nor a digest"],
    [`docker.io/acme/analytics-api@${DIGEST}`, `is not from the configured repository ${REPO}`],
    [`ghcr.io/evil/observatory/analytics-api:main-1a2b3c4`, `is not from the configured repository ${REPO}`],
    [`registry.example/acme/observatory/analytics-api@${DIGEST}`, "is not from the configured repository"],
  ])("refuses %s before any container starts", async (image, message) => {
    const cluster = devCluster();
    const before = cluster.snapshot();
    const { session, call } = await start(cluster);
    const err = await failureOf(call((ci) => deployTo(ci, Environment.Dev, image)));
    expect(err.message).toMatch(/^deploy --image: /);
    expect(err.message).toContain(message);
    expect(session.execs).toEqual([]);
    expect(cluster.snapshot()).toBe(before);
  });

  it("refuses a --branch the environment's images are not signed on, half registry credentials, and production, before any container", async () => {
    const cluster = devCluster();
    const { session, call } = await start(cluster);
    const sha = "1a2b3c4d5e6f70811223344556677889900aabbc";
    const dev = await failureOf(call((ci) => deployTo(ci, Environment.Dev, undefined, { commit: sha, branch: "feature/x" })));
    expect(dev.message).toBe('deploy --branch: dev deploys images that the publish job of main signed (found "feature/x"; expected main (or no --branch with --image))');
    const staging = await failureOf(call((ci) => deployTo(ci, Environment.Staging, undefined, { commit: sha, branch: "main" })));
    expect(staging.message).toContain('deploy --branch: is not a release/* branch: staging images are signed by the publish job of one (found "main"');
    const half = await failureOf(call((ci) => ci.deploy(Environment.Dev, secrets().kubeconfig, NEW, undefined, undefined, GITHUB_REPOSITORY, undefined, undefined, "ci-bot")));
    expect(half.message).toContain("deploy --registry-password: is missing");
    const unsigned = await failureOf(call((ci) => ci.deploy(Environment.Dev, secrets().kubeconfig, NEW)));
    expect(unsigned.message).toContain("deploy --github-repository: is required when image.repository does not name the image repository");
    const production = await failureOf(call((ci) => deployTo(ci, Environment.Production, PINNED)));
    expect(production.message).toContain("deployProduction");
    expect(session.execs).toEqual([]);
  });

  it("undoes a timed-out rollout and fails with its conditions and recent events", async () => {
    const cluster = devCluster();
    cluster.failingImages.add(PINNED);
    const { session, call } = await start(cluster);
    const err = await failureOf(call((ci) => deployTo(ci, Environment.Dev, NEW, { slack: true })));
    expect(cluster.mutations()).toEqual([`set image deployment/analytics-api analytics-api=${PINNED}`, "rollout undo deployment/analytics-api"]);
    expect(cluster.image("analytics-api")).toBe(OLD);
    expect(err.message).toContain("deploy to dev (namespace llm-observatory-dev) failed");
    expect(err.message).toContain("ProgressDeadlineExceeded");
    expect(err.message).toContain("Progressing=False (ProgressDeadlineExceeded)");
    expect(err.message).toContain(`Warning Failed Pod/analytics-api-7c9d-x2b4q: Failed to pull image "${PINNED}"`);
    expect(err.message).toContain(`rolled back with kubectl rollout undo to ${OLD}`);
    expect(cluster.curls).toEqual([]); // no smoke test of a rollout that did not complete
    expect(cluster.slack[0].payload.text).toContain("rolled back in dev");
    expect(session.secretLeaks([err.message])).toEqual([]);
  });

  it("undoes the rollout when the smoke test fails", async () => {
    const cluster = devCluster();
    cluster.http = (url) => (url.endsWith("/health") ? { status: 503, body: '{"status":"unhealthy"}' } : { status: 200, body: "x 1" });
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => deployTo(ci, Environment.Dev, NEW)));
    expect(err.message).toContain("/health: HTTP 503");
    expect(cluster.mutations()).toContain("rollout undo deployment/analytics-api");
    expect(cluster.image("analytics-api")).toBe(OLD);
  });

  it("does not undo to an older release when the deployment already ran the digest (a re-run of the same build)", async () => {
    const cluster = devCluster();
    cluster.get("deployment", "analytics-api").spec.template.spec.containers[0].image = PINNED;
    cluster.history.set("analytics-api", [OLD, PINNED]);
    cluster.http = (url) => (url.endsWith("/health") ? { status: 503, body: '{"status":"unhealthy"}' } : { status: 200, body: "x 1" });
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => deployTo(ci, Environment.Dev, NEW)));
    expect(err.message).toContain("/health: HTTP 503");
    expect(err.message).toContain(`already ran ${PINNED} before this deploy, so nothing was rolled back`);
    expect(cluster.mutations()).not.toContain("rollout undo deployment/analytics-api");
    expect(cluster.image("analytics-api")).toBe(PINNED);
  });
});

// ------------------------------------------------------------------ a refused image changes nothing

interface RefusalCase {
  /** Makes the image the deploy asks for refusable. */
  arrange(cluster: FakeCluster, environment: "dev" | "staging"): void;
  image: string;
  says: string[];
}

const REFUSALS: Record<string, RefusalCase> = {
  "an unsigned digest": {
    arrange: (c) => c.unsigned.add(DIGEST),
    image: PINNED,
    says: ["cosign verify: no signature found: Error: no signatures found"],
  },
  "a commit tag whose digest is unsigned (someone pushed it by hand)": {
    arrange: (c) => c.unsigned.add(DIGEST),
    image: NEW,
    says: ["cosign verify: no signature found"],
  },
  "a digest signed by another workflow of the repository": {
    arrange: (c, env) => c.signers.set(DIGEST, `https://github.com/${GITHUB_REPOSITORY}/.github/workflows/evil.yml@${env === "dev" ? "refs/heads/main" : "refs/heads/release/1.4"}`),
    image: PINNED,
    says: ["no signature from the expected signer", "/.github/workflows/evil.yml@"],
  },
  "a digest signed by ci.yml on another ref": {
    arrange: (c) => c.signers.set(DIGEST, publishIdentity(GITHUB_REPOSITORY, "refs/heads/feature/x")),
    image: PINNED,
    says: ["no signature from the expected signer", "ci.yml@refs/heads/feature/x"],
  },
  "a digest signed by another repository's ci.yml": {
    arrange: (c) => c.signers.set(DIGEST, publishIdentity("evil/observatory", "refs/heads/main")),
    image: PINNED,
    says: ["no signature from the expected signer", "https://github.com/evil/observatory/"],
  },
  "a signed digest without its SBOM attestation": {
    arrange: (c) => c.unattested.add(DIGEST),
    image: PINNED,
    says: ["cosign verify-attestation --type spdxjson (the SBOM)"],
  },
  "a commit tag the registry does not have": {
    arrange: (c) => (c.imageExists = false),
    image: NEW,
    says: [`${NEW} is not in the registry`, "MANIFEST_UNKNOWN"],
  },
};

describe("deploy refuses an image that is not this repository's signed digest before the cluster changes", () => {
  for (const environment of ["dev", "staging"] as const) {
    for (const [name, refusal] of Object.entries(REFUSALS)) {
      it(`${environment}: ${name}`, async () => {
        const cluster = devCluster();
        refusal.arrange(cluster, environment);
        const before = cluster.snapshot();
        const { session, call } = await start(cluster);
        const err = await failureOf(call((ci) => deployTo(ci, environment as Environment, refusal.image, { slack: true })));

        expect(cluster.snapshot()).toBe(before);
        expect(cluster.mutations()).toEqual([]);
        expect(cluster.commands, "not one kubectl call: the image is checked first").toEqual([]);
        expect(err.message).toMatch(new RegExp(`^deploy to ${environment} refused `));
        for (const text of refusal.says) expect(err.message).toContain(text);
        expect(err.message).toContain(`Nothing was changed in ${environment}`);
        expect(err.message).toContain("there is nothing to roll back");
        expect(err.message).not.toMatch(/rolled back with|rollout undo/);
        expect(cluster.slack.map((post) => post.payload.text)).toEqual([expect.stringContaining(`failed to deploy to ${environment}: image refused, ${environment} unchanged: `)]);
        expect(session.secretLeaks([err.message])).toEqual([]);
      });
    }
  }
});

describe("smoke", () => {
  it("retries with backoff until the endpoints answer, without fixed sleeps", async () => {
    const cluster = devCluster();
    let healthCalls = 0;
    cluster.http = (url) => {
      if (url.endsWith("/health")) return ++healthCalls < 3 ? { exitCode: 7, stderr: "curl: (7) Failed to connect" } : { status: 200, body: HEALTHY_BODY };
      return { status: 200, body: "# TYPE up gauge\nup 1\n" };
    };
    const { call } = await start(cluster);
    const out = await call((ci) => ci.smoke(STAGING_URL));
    expect(out).toContain("passed: /health, /metrics (3 attempt(s)");
    expect(clock.sleeps).toEqual([1000, 2000]);
    expect(cluster.curls.filter((u) => u.endsWith("/metrics"))).toHaveLength(1); // a passed path is not asked again
  });

  it.each([
    ["an unhealthy body", { status: 200, body: '{"status":"degraded"}' }, "HTTP 200 but the body does not say healthy"],
    ["a 500", { status: 500, body: "boom" }, "HTTP 500"],
  ])("fails at the deadline on %s, naming the path", async (_, health, message) => {
    const cluster = devCluster();
    cluster.http = (url) => (url.endsWith("/health") ? health : { status: 200, body: "up 1" });
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => ci.smoke(DEV_URL, Environment.Dev)));
    expect(err.message).toContain(`smoke test of ${DEV_URL} failed`);
    expect(err.message).toContain(`/health: ${message}`);
    expect(clock.sleeps.reduce((a, b) => a + b, 0)).toBe(120_000); // the configured deadline, no more
  });

  it("requires Prometheus text format on /metrics", async () => {
    const cluster = devCluster();
    cluster.http = (url) => (url.endsWith("/health") ? { status: 200, body: "ok" } : { status: 200, body: "<html>metrics</html>" });
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => ci.smoke(DEV_URL)));
    expect(err.message).toContain("/metrics: HTTP 200 but not Prometheus text format");
  });

  it("rejects a URL that is not http(s) before any exec", async () => {
    const cluster = devCluster();
    const { session, call } = await start(cluster);
    const err = await failureOf(call((ci) => ci.smoke("ftp://example.com")));
    expect(err.message).toContain("must be http(s)");
    expect(session.execs).toEqual([]);
  });
});

describe("loadTest", () => {
  function summary(failed: boolean) {
    const data = k6Fixture();
    data.metrics.http_req_failed.values.rate = failed ? 0.042 : 0.001;
    data.metrics.http_req_duration.thresholds = { "p(95)<500": { ok: true } };
    data.metrics.http_req_failed.thresholds = { "rate<0.01": { ok: !failed } };
    return data;
  }

  it("runs the built-in script in the pinned k6 image with the plan's stages and thresholds and reports P95, errors and rate", async () => {
    const cluster = devCluster();
    cluster.k6 = { exitCode: 0, summary: summary(false) };
    const { session, call } = await start(cluster);
    const out = JSON.parse(await call((ci) => ci.loadTest()));
    expect(out).toMatchObject({ url: STAGING_URL, script: "built-in script", errorRate: 0.001, requests: 878 });
    expect(out.p95Ms).toBeCloseTo(30.0256841);
    expect(out.requestsPerSecond).toBeCloseTo(35.946, 2);
    const e = session.exec("k6", "run");
    expect(e.image).toBe(IMAGES.k6);
    expect(e.args).toEqual(["k6", "run", "--summary-export", "/out/summary-export.json", "/scripts/load.js"]);
    const options = JSON.parse(e.env.K6_OPTIONS);
    expect(options.stages).toEqual([
      { duration: "1m", target: 50 },
      { duration: "3m", target: 100 },
      { duration: "1m", target: 0 },
    ]);
    expect(options.thresholds).toEqual({ http_req_duration: ["p(95)<500"], http_req_failed: ["rate<0.01"] });
    expect(e.env.BASE_URL).toBe(STAGING_URL);
    expect(e.opts.expect).toBe("ANY");
    expect(newFile(e.chain, "/scripts/load.js")).toContain("handleSummary");
  });

  it("fails on k6 exit 99 naming the threshold that broke", async () => {
    const cluster = devCluster();
    cluster.k6 = { exitCode: 99, summary: summary(true), stderr: 'level=error msg="thresholds on metrics \'http_req_failed\' have been crossed"' };
    const { call } = await start(cluster);
    const err = await failureOf(call((ci) => ci.loadTest(STAGING_URL)));
    expect(err.message).toContain("loadTest: k6 thresholds failed");
    expect(err.message).toContain("http_req_failed rate<0.01 (error rate 4.20 %)");
    expect(err.message).not.toContain("http_req_duration");
  });

  it("fails on k6 exit 99 even when no summary was written, and on any other k6 error", async () => {
    const cluster = devCluster();
    cluster.k6 = { exitCode: 99 };
    const { call } = await start(cluster);
    expect((await failureOf(call((ci) => ci.loadTest()))).message).toContain("k6 thresholds failed");
    cluster.k6 = { exitCode: 107, stderr: "GoError: script exception" };
    expect((await failureOf(call((ci) => ci.loadTest("https://other.example")))).message).toContain("k6 failed (exit 107)");
  });

  it("runs the repository's own script from ci/load/", async () => {
    const dir = sourceWith({ "ci/load/staging.js": "export default function () {}\n" }, null);
    const cluster = devCluster();
    cluster.k6 = { exitCode: 0, summary: summary(false) };
    const { session, call } = await start(cluster, dir);
    const out = JSON.parse(await call((ci) => ci.loadTest(undefined, "ci/load/staging.js")));
    expect(out.script).toBe("ci/load/staging.js");
    expect(session.exec("k6", "run").mounts["/scripts/load.js"]).toContain("ci/load/staging.js");
    const err = await failureOf(call((ci) => ci.loadTest(undefined, "ci/load/missing.js")));
    expect(err.message).toContain('loadTest --script: names no file in the source directory (found "ci/load/missing.js"');
  });

  it("fails when the script did not evaluate the configured thresholds (k6 exit 0 proves nothing then)", async () => {
    const dir = sourceWith({ "ci/load/staging.js": "export const options = { vus: 1 };\nexport default function () {}\n" }, null);
    const cluster = devCluster();
    const ignored = summary(false);
    delete (ignored.metrics.http_req_duration as { thresholds?: unknown }).thresholds;
    cluster.k6 = { exitCode: 0, summary: ignored };
    const { call } = await start(cluster, dir);
    const err = await failureOf(call((ci) => ci.loadTest(undefined, "ci/load/staging.js")));
    expect(err.message).toContain("loadTest: ci/load/staging.js did not evaluate the configured threshold(s) http_req_duration p(95)<500");
    expect(err.message).not.toContain("http_req_failed rate<0.01");
  });
});

describe("rollback (dev, staging)", () => {
  it("runs kubectl rollout undo, waits for it and records the reason", async () => {
    const cluster = devCluster();
    cluster.history.set("analytics-api", [OLD, NEW]);
    cluster.get("deployment", "analytics-api").spec.template.spec.containers[0].image = NEW;
    const { session, call } = await start(cluster);
    const out = await call((ci) => {
      const s = secrets();
      return ci.rollback(Environment.Dev, s.kubeconfig, "5xx spike after main-1a2b3c4", s.slack, RUN_URL);
    });
    expect(cluster.mutations()).toEqual(["rollout undo deployment/analytics-api"]);
    expect(cluster.commands).toContainEqual(["rollout", "status", "deployment/analytics-api", "--timeout=5m"]);
    const record = JSON.parse(out);
    expect(record).toMatchObject({ operation: "rollback", image: OLD, previousImage: NEW, reason: "5xx spike after main-1a2b3c4", result: "success" });
    expect(cluster.slack[0].payload.text).toContain("5xx spike after main-1a2b3c4");
    expect(clock.now() - Date.parse("2025-06-02T10:00:00Z")).toBeLessThan(120_000);
    expect(session.secretLeaks([out])).toEqual([]);
    // the revision restored was deployed by tag (before deploys were by digest): said in the record and in Slack
    expect(record.digest).toBeNull();
    expect(record.details).toMatchObject({ pinnedByDigest: false, warning: expect.stringContaining(`the restored revision names ${OLD}, not a digest`) });
    expect(cluster.slack[0].payload.text).toContain("not a digest");
  });

  it("reports a restored revision pinned by digest as such", async () => {
    const cluster = devCluster();
    const previous = `${REPO}@${OTHER_DIGEST}`;
    cluster.history.set("analytics-api", [previous, PINNED]);
    cluster.get("deployment", "analytics-api").spec.template.spec.containers[0].image = PINNED;
    const { call } = await start(cluster);
    const record = JSON.parse(await call((ci) => ci.rollback(Environment.Staging, secrets().kubeconfig, "bad build")));
    expect(record).toMatchObject({ image: previous, digest: OTHER_DIGEST, previousImage: PINNED, details: { method: "kubectl rollout undo", pinnedByDigest: true } });
    expect(record.details.warning).toBeUndefined();
  });
});

describe("the kubeconfig entrypoint (run here with sh and base64, the script kubectl's exec runs first)", () => {
  const YAML = "apiVersion: v1\nkind: Config\nclusters: []\n";
  function run(given: string): { status: number | null; kubeconfig: string; stderr: string } {
    const dir = mkdtempSync(join(tmpdir(), "kubeconfig-"));
    writeFileSync(join(dir, "given"), given);
    const script = KUBECONFIG_ENTRYPOINT.split(DECODED_KUBECONFIG_DIR).join(dir);
    const out = spawnSync("sh", ["-euc", script, "kubeconfig", "sh", "-c", 'cat "$KUBECONFIG"'], { env: { PATH: process.env.PATH, KUBECONFIG: join(dir, "given") }, encoding: "utf8" });
    return { status: out.status, kubeconfig: out.stdout, stderr: out.stderr };
  }

  it("passes raw YAML through unchanged", () => {
    expect(run(YAML)).toMatchObject({ status: 0, kubeconfig: YAML });
  });

  it("decodes base64 (wrapped or not, as DEV_KUBECONFIG holds it)", () => {
    const encoded = Buffer.from(YAML).toString("base64");
    expect(run(`${encoded}\n`)).toMatchObject({ status: 0, kubeconfig: YAML });
    expect(run(`${encoded.slice(0, 20)}\n${encoded.slice(20)}\n`)).toMatchObject({ status: 0, kubeconfig: YAML });
  });

  it("refuses a secret that is neither, without printing it", () => {
    const given = "not a kubeconfig";
    const out = run(given);
    expect(out.status).toBe(2);
    expect(out.stderr).toContain("neither a kubeconfig nor its base64");
    expect(out.stderr).not.toContain(given);
  });
});

describe("notify", () => {
  it("posts the payload built in TypeScript to the webhook curl reads from a mounted secret file", async () => {
    const cluster = devCluster();
    const { session, call } = await start(cluster);
    const out = await call((ci) => ci.notify(secrets().slack, NotifyStatus.Failure, "staging", "v1.4.0", RUN_URL, 'k6 p95 > 500ms & "quotes"'));
    expect(out).toBe("sent failure for staging v1.4.0");
    const e = session.exec("curl", "slack_webhook@/run/secrets/slack-webhook");
    expect(e.image).toBe(IMAGES.curl);
    // curl reads the URL from the mounted secret file: no shell, nothing secret in argv or the environment
    expect(e.secretFiles["/run/secrets/slack-webhook"]).toBe("slack-webhook");
    expect(e.secretEnv).toEqual({});
    expect(e.args.slice(-5)).toEqual(["@/payload.json", "--variable", "slack_webhook@/run/secrets/slack-webhook", "--expand-url", "{{slack_webhook:trim}}"]);
    const payload = JSON.parse(newFile(e.chain, "/payload.json")!);
    expect(payload.text).toContain("analytics-api v1.4.0 failed to deploy to staging");
    expect(JSON.stringify(payload)).toContain(`<${RUN_URL}|View the pipeline run>`);
    expect(JSON.stringify(payload)).toContain("&amp;");
    expect(session.secretLeaks([out])).toEqual([]);
  });

  it("carries the author, the commit linked to its GitHub page and the environment's configured URL", async () => {
    const { session, call } = await start(devCluster());
    const sha = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
    await call((ci) => ci.notify(secrets().slack, NotifyStatus.Success, "staging", "v1.4.0", RUN_URL, undefined, "ada", sha, GITHUB_REPOSITORY));
    const payload = JSON.stringify(JSON.parse(newFile(session.exec("curl", "slack_webhook@/run/secrets/slack-webhook").chain, "/payload.json")!));
    expect(payload).toContain(`<https://github.com/${GITHUB_REPOSITORY}/commit/${sha}|1a2b3c4>`);
    expect(payload).toContain("*Author*\\nada");
    expect(payload).toContain(`*URL*\\n<${STAGING_URL}/>`);
    expect(payload).toContain(`<${RUN_URL}|View the pipeline run>`);
  });

  it("refuses a commit that is not 40 lower-case hex before any exec", async () => {
    const { session, call } = await start(devCluster());
    const err = await failureOf(call((ci) => ci.notify(secrets().slack, NotifyStatus.Success, "dev", "x", undefined, undefined, undefined, "1A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D")));
    expect(err.message).toContain("notify --commit: is in upper case");
    expect(session.execs).toEqual([]);
  });

  it("validates the status before any exec", async () => {
    const { session, call } = await start(devCluster());
    const err = await failureOf(call((ci) => ci.notify(secrets().slack, "great" as NotifyStatus, "dev", "x")));
    expect(err.message).toContain('notify --status: is not one of the choices (found "great"; expected one of started, success, failure, rollback)');
    expect(session.execs).toEqual([]);
  });
});

describe("release", () => {
  function source(changelog?: string): string {
    return sourceWith(changelog === undefined ? {} : { "CHANGELOG.md": changelog }, null);
  }

  it("creates the release with the tag's CHANGELOG section, gh pinned, token as a secret variable", async () => {
    const cluster = devCluster();
    const { session, call } = await start(cluster, source("# Changelog\n\n## [1.4.0] - 2025-06-01\n\n### Added\n- canary releases\n\n## [1.3.0]\n- old\n"));
    const token = canarySecret("gh");
    const out = await call((ci) => ci.release("v1.4.0", dag.setSecret("github-token", token), "acme/observatory"));
    expect(out).toContain("https://github.com/acme/observatory/releases/tag/v1.4.0");
    expect(out).toContain("CHANGELOG.md section");
    const install = session.exec("install-gh");
    expect(install.image).toBe(IMAGES.alpine);
    expect(install.args.at(-1)).toBe(TOOLS.gh);
    expect(install.args[2]).toContain("sha256sum -c -");
    const e = session.exec("gh-release");
    expect(e.args.slice(3)).toEqual(["gh-release", "v1.4.0", "acme/observatory", "file", "no"]);
    expect(e.secretEnv.GH_TOKEN).toBe("github-token");
    expect(newFile(e.chain, "/release/notes.md")).toBe("- **Date**: 2025-06-02 (UTC)\n\n### Added\n- canary releases\n");
    expect(session.secretLeaks([out])).toEqual([]);
  });

  it("names the image by digest, the date from the module clock and the linked commit in the notes", async () => {
    const cluster = devCluster();
    const { session, call } = await start(cluster, source("## [1.4.0]\n- canary releases\n"));
    const sha = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
    clock.time = Date.parse("2025-06-03T23:59:00Z");
    await call((ci) => ci.release("v1.4.0", dag.setSecret("github-token", canarySecret("gh")), "acme/observatory", `${REPO}@${DIGEST}`, sha));
    const e = session.exec("gh-release");
    expect(e.args.slice(6)).toEqual(["file", "no"]);
    expect(newFile(e.chain, "/release/notes.md")).toBe(
      `- **Image**: \`${REPO}@${DIGEST}\`\n- **Date**: 2025-06-03 (UTC)\n- **Commit**: [1a2b3c4](https://github.com/acme/observatory/commit/${sha})\n\n- canary releases\n`,
    );
  });

  it("refuses an image by tag and a short commit before any exec", async () => {
    const { session, call } = await start(devCluster(), source());
    const token = () => dag.setSecret("github-token", canarySecret("gh"));
    const byTag = await failureOf(call((ci) => ci.release("v1.4.0", token(), "acme/observatory", `${REPO}:1.4.0`)));
    expect(byTag.message).toContain("release --image: is not a digest reference");
    const short = await failureOf(call((ci) => ci.release("v1.4.0", token(), "acme/observatory", undefined, "1a2b3c4")));
    expect(short.message).toContain("release --commit: is not a full commit SHA");
    expect(session.execs).toEqual([]);
  });

  it("lets GitHub generate the notes after the provenance lines when CHANGELOG.md has no section for the tag", async () => {
    const cluster = devCluster();
    const { session, call } = await start(cluster, source("## [1.3.0]\n- old\n"));
    await call((ci) => ci.release("v1.4.0", dag.setSecret("github-token", canarySecret("gh")), "acme/observatory"));
    const e = session.exec("gh-release");
    expect(e.args.slice(6)).toEqual(["generate", "no"]);
    expect(e.args[2]).toContain("--notes-file /release/notes.md --generate-notes");
    expect(newFile(e.chain, "/release/notes.md")).toBe("- **Date**: 2025-06-02 (UTC)\n");
  });

  it("fails with gh's error, without the token", async () => {
    const cluster = devCluster();
    cluster.gh = { exitCode: 1, stderr: "tag v1.4.0 does not exist" };
    const { session, call } = await start(cluster, source());
    const err = await failureOf(call((ci) => ci.release("v1.4.0", dag.setSecret("github-token", canarySecret("gh")), "acme/observatory")));
    expect(err.message).toContain("tag v1.4.0 does not exist");
    expect(session.secretLeaks([err.message])).toEqual([]);
    const bad = await failureOf(call((ci) => ci.release("1.4", dag.setSecret("github-token", canarySecret("gh")), "acme/observatory")));
    expect(bad.message).toContain('release --tag: is not a release tag (found "1.4"');
  });
});

describe("what a smoke test and a deployment accept (pure rules, lib/deploy/smoke.ts)", () => {
  it("health bodies", async () => {
    const { isHealthyBody } = await import("../../.dagger/src/lib/deploy/smoke");
    for (const body of [HEALTHY_BODY, '{"status":"ok"}', '{"healthy":true}', "OK\n", '"UP"']) expect(isHealthyBody(body), body).toBe(true);
    for (const body of ['{"status":"unhealthy"}', '{"healthy":false,"status":"ok"}', "", "<html>ok</html>", '{"database":"ok"}']) expect(isHealthyBody(body), body).toBe(false);
  });

  it("Prometheus text format", async () => {
    const { prometheusTextProblem } = await import("../../.dagger/src/lib/deploy/smoke");
    expect(prometheusTextProblem('# HELP x y\n# TYPE x counter\nx_total{a="b c"} 1.5e3 1717322400000\nup NaN\n# EOF\n')).toBeNull();
    expect(prometheusTextProblem("# HELP only comments\n")).toBe('no metric samples (a service that records none yet: set smoke.metrics to "reachable")');
    // smoke.metrics "reachable": an empty page, or comments only, from a service that records no metric yet
    expect(prometheusTextProblem("", "reachable")).toBeNull();
    expect(prometheusTextProblem("# HELP only comments\n", "reachable")).toBeNull();
    expect(prometheusTextProblem('{"metrics": []}', "reachable")).toContain("line 1 is not a metric sample");
    expect(prometheusTextProblem('{"metrics": []}')).toContain("line 1 is not a metric sample");
  });
});
