/**
 * The service's end-to-end suite (environments.<env>.e2e) on the scripted cluster: after a dev deploy against the
 * environment's URL (a failure undoes the rollout), and against staging as a production pre-check.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { dag } from "@dagger.io/dagger";
import { IMAGES } from "../../.dagger/src/versions";
import { Environment } from "../../.dagger/src/lib/deploy/environment";
import { canarySecret } from "../support/recording-session";
import { failureOf, sourceWith, startPerTest, testVerdict, type ModuleRun } from "../support/module";
import { bootstrappedProduction, FakeClock, FakeCluster, prometheusBy, healthyValue, REPO } from "./deploy-fake-cluster";

const startRun = startPerTest();
let clock: FakeClock;
beforeEach(() => {
  clock = new FakeClock();
});

const DEV_URL = "https://dev.api.llm-observatory.io";
const STAGING_URL = "https://staging.api.llm-observatory.io";
const OLD = `${REPO}:main-0a0b0c0`;
const NEW = `${REPO}:main-1a2b3c4`;
const K6_E2E = "import http from 'k6/http';\nexport const options = { thresholds: { checks: ['rate==1'] } };\nexport default function () { http.get(`${__ENV.BASE_URL}/health`); }\n";

type Ci = Parameters<Parameters<ModuleRun["call"]>[0]>[0];

function sourceWithE2e(environments: unknown): string {
  return sourceWith({ "ci/pipeline.json": JSON.stringify({ environments }), "ci/e2e/api.js": K6_E2E });
}

function devCluster(): FakeCluster {
  const cluster = new FakeCluster({ namespace: "llm-observatory-dev" });
  cluster.addDeployment("analytics-api", OLD, 1);
  return cluster;
}

const deployDev = (ci: Ci) =>
  ci.deploy(Environment.Dev, dag.setSecret("kubeconfig", canarySecret("kubeconfig")), NEW, undefined, undefined, "acme/observatory", undefined, undefined, "ci-bot", dag.setSecret("registry-password", canarySecret("registry")));

describe("end-to-end suite after the dev deploy", () => {
  it("a k6 suite whose checks fail undoes the rollout and fails the deploy with k6's output", async () => {
    const cluster = devCluster();
    cluster.k6 = { exitCode: 99, stderr: "time=... level=error msg=\"thresholds on metrics 'checks' have been crossed\"" };
    const { session, call } = await startRun(cluster.script(), sourceWithE2e({ dev: { e2e: { k6Script: "ci/e2e/api.js" } } }), { clock });
    const err = await failureOf(call(deployDev));

    expect(err.message).toContain(`the end-to-end suite (environments.dev.e2e) failed: k6 ci/e2e/api.js against ${DEV_URL}: thresholds failed:`);
    expect(err.message).toContain("thresholds on metrics 'checks' have been crossed");
    expect(cluster.mutations()).toContain("rollout undo deployment/analytics-api");
    expect(cluster.image("analytics-api")).toBe(OLD);
    const k6 = session.execs.find((e) => e.args[0] === "k6")!;
    expect(k6.image).toBe(IMAGES.k6);
    expect(k6.args).toEqual(["k6", "run", "/scripts/e2e.js"]);
    expect(k6.env.BASE_URL).toBe(DEV_URL);
    expect(k6.env.OBSERVATORY_CI_RUN).toBeDefined();
    // after the smoke test: the suite only runs against a rolled-out, healthy environment
    const smoke = session.execs.findIndex((e) => e.args[0] === "curl" && e.args.at(-1) === `${DEV_URL}/health`);
    expect(smoke).toBeGreaterThan(-1);
    expect(session.execs.indexOf(k6)).toBeGreaterThan(smoke);
  });

  it("a cargo test target runs with E2E_BASE_URL and is recorded; a run that tested nothing fails", async () => {
    const cluster = devCluster();
    let verdict = testVerdict(0, "running 4 tests\ntest result: ok. 4 passed; 0 failed; 0 ignored\n");
    const kubectl = cluster.script();
    const script = { ...kubectl, exec: (e: Parameters<NonNullable<typeof kubectl.exec>>[0]) => (e.args[0] === "sh" && e.args[3] === "cargo" ? verdict : kubectl.exec!(e)) };
    const { session, call } = await startRun(script, sourceWithE2e({ dev: { e2e: { cargoTest: "e2e" } } }), { clock });
    const record = JSON.parse(await call(deployDev));

    expect(record.details.e2e).toEqual({ url: DEV_URL, suite: "cargo test --test e2e", summary: "4 passed" });
    const cargo = session.execs.find((e) => e.args[3] === "cargo")!;
    expect(cargo.image).toBe(IMAGES.rust);
    expect(cargo.args.slice(4)).toEqual(["test", "--locked", "--test", "e2e", "--", "--test-threads=1"]);
    expect(cargo.env.E2E_BASE_URL).toBe(DEV_URL);
    expect(cargo.env.OBSERVATORY_CI_RUN).toBeDefined();

    verdict = testVerdict(0, "running 0 tests\ntest result: ok. 0 passed; 0 failed; 2 ignored\n");
    const err = await failureOf(call(deployDev));
    expect(err.message).toContain(`cargo test --test e2e against ${DEV_URL} ran no test (exit 0, 0 passed)`);
  });

  it("refuses an e2e block naming both or neither suite", async () => {
    const { call } = await startRun(devCluster().script(), sourceWithE2e({ dev: { e2e: { cargoTest: "e2e", k6Script: "ci/e2e/api.js" } } }), { clock });
    const err = await failureOf(call(deployDev));
    expect(err.message).toContain("environments.dev.e2e");
    expect(err.message).toContain("set exactly one of cargoTest and k6Script");
  });
});

describe("end-to-end check against staging before production", () => {
  it("a failing staging suite refuses the release before anything changes in production", async () => {
    const cluster = bootstrappedProduction("llm-observatory");
    cluster.prometheus = prometheusBy(healthyValue);
    cluster.k6 = { exitCode: 99, stderr: "thresholds on metrics 'checks' have been crossed" };
    const before = cluster.snapshot();
    const { session, call } = await startRun(cluster.script(), sourceWithE2e({ staging: { e2e: { k6Script: "ci/e2e/api.js" } } }), { clock });
    const err = await failureOf(
      call((ci) =>
        ci.deployProduction("v1.4.0", dag.setSecret("kubeconfig", canarySecret("kubeconfig")), "ci-bot", dag.setSecret("registry-password", canarySecret("registry")), "acme/observatory"),
      ),
    );
    expect(err.message).toContain("pre-check: staging's end-to-end suite (environments.staging.e2e) failed, refusing to promote:");
    expect(err.message).toContain(`k6 ci/e2e/api.js against ${STAGING_URL}: thresholds failed`);
    expect(err.message).toContain("Failed before changing anything (check: staging end-to-end)");
    expect(cluster.mutations()).toEqual([]);
    expect(cluster.snapshot()).toBe(before);
    expect(session.execs.find((e) => e.args[0] === "k6")!.env.BASE_URL).toBe(STAGING_URL);
  });
});
