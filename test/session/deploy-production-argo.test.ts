/**
 * deployProduction and rollback with environments.production.strategy "argo-rollouts", against the fake cluster
 * and a scripted Argo Rollouts controller: a healthy release, an analysis failure the controller aborts, and a job
 * cancelled mid-release then re-run (it observes; it never sets the image again).
 */
import { beforeEach, describe, expect, it } from "vitest";
import { dag } from "@dagger.io/dagger";
import { environmentsConfigSchema } from "../../.dagger/src/lib/config/environments";
import { Environment } from "../../.dagger/src/lib/deploy/environment";
import { analysisTemplate, rolloutSteps } from "../../.dagger/src/lib/deploy/argo-analysis";
import { canarySecret } from "../support/recording-session";
import { failureOf, healthyScript, sourceWithConfig, startPerTest, type ModuleRun } from "../support/module";
import { bootstrappedProduction, FakeClock, FakeCluster, OLD_DIGEST, PINNED, promVector, REPO, DIGEST, callDeployProduction as deployProduction, recordOf } from "./deploy-fake-cluster";
import { FakeArgoController, TIMELINE } from "./argo-fake-controller";

const startRun = startPerTest();
let clock: FakeClock;
beforeEach(() => {
  clock = new FakeClock();
});

const NS = "llm-observatory";
const LIVE = `${REPO}@${OLD_DIGEST}`;
const CONFIG = { environments: { production: { strategy: "argo-rollouts" } } };
const IMAGE_PATCH = `patch rollout analytics-api --type=json -p ${JSON.stringify([
  { op: "test", path: "/spec/template/spec/containers/0/name", value: "analytics-api" },
  { op: "replace", path: "/spec/template/spec/containers/0/image", value: PINNED },
])}`;

function controller(): FakeArgoController {
  const cluster = new FakeCluster({ namespace: NS });
  cluster.addIngress("analytics-api", "analytics.llm-observatory.example");
  const defaults = environmentsConfigSchema.parse(CONFIG.environments).production;
  const argo = new FakeArgoController(cluster, clock, LIVE, rolloutSteps(defaults));
  argo.analysisTemplate = { ...analysisTemplate(defaults, "80"), metadata: { name: "analytics-api-canary", namespace: NS, generation: 1 } };
  return argo;
}

async function start(argo: FakeArgoController): Promise<ModuleRun> {
  return startRun(argo.script(), sourceWithConfig(CONFIG), { clock });
}



describe("deployProduction with strategy argo-rollouts", () => {
  it("healthy release: sets the verified digest on the Rollout once, follows the controller to Healthy, same record and Slack", async () => {
    const argo = controller();
    const { call } = await start(argo);
    const record = JSON.parse(await call((ci) => deployProduction(ci), { config: undefined }));

    expect(argo.mutations()).toEqual([IMAGE_PATCH]);
    expect(argo.cluster.mutations(), "no Deployment, Service or Ingress is touched").toEqual([]);
    expect(record).toMatchObject({
      environment: "production",
      namespace: NS,
      deployment: "analytics-api",
      operation: "deploy-production",
      image: PINNED,
      digest: DIGEST,
      previousImage: LIVE,
      result: "success",
      details: { tag: "v1.4.0", strategy: "argo-rollouts", rollout: { phase: "Healthy", fullyPromoted: true } },
    });
    expect(Object.keys(record).sort()).toEqual(
      ["environment", "namespace", "deployment", "operation", "image", "digest", "previousImage", "startedAt", "finishedAt", "durationSeconds", "result", "notification", "details"].sort(),
    );
    expect(record.details.log.some((line: string) => line.includes("Progressing at step 1/2"))).toBe(true);
    expect(record.details.analysis).toBe(
      "analysis run analytics-api-hash2-2-1: Successful\n  error-rate Successful (0 failed, 0 errors of 2): last [0.003] Successful at 2025-06-02T10:03:01Z",
    );
    expect(clock.now() - Date.parse("2025-06-02T10:00:00Z")).toBeGreaterThanOrEqual(TIMELINE.done * 1000);
    expect(argo.cluster.slack.map((s) => s.payload.attachments?.[0]?.color ?? s.payload.text)).toHaveLength(1);
    expect(JSON.stringify(argo.cluster.slack[0].payload)).toContain("v1.4.0");
  });

  it("analysis failure: the controller aborts; the run reports rolled-back with the analysis run's measurements and changes nothing itself", async () => {
    const argo = controller();
    argo.outcome = "analysis-fails";
    const { call } = await start(argo);
    const err = await failureOf(call((ci) => deployProduction(ci)));

    expect(err.message).toMatch(/^deployProduction v1\.4\.0: canary analysis failed, the controller aborted the release and sent all traffic back to the stable ReplicaSet\./);
    expect(err.message).toContain('RolloutAborted: Rollout aborted update to revision 2: Metric "error-rate" assessed Failed due to failed (2) > failureLimit (1)');
    expect(err.message).toContain("error-rate Failed (2 failed, 0 errors of 2): last [0.034] Failed");
    const record = recordOf(err);
    expect(record).toMatchObject({ result: "rolled-back", image: PINNED, previousImage: LIVE, details: { strategy: "argo-rollouts", rollout: { phase: "Degraded", aborted: true } } });
    expect(argo.mutations(), "the abort is the controller's; the run only set the image").toEqual([IMAGE_PATCH]);
    expect(JSON.stringify(argo.cluster.slack.at(-1)!.payload)).toContain("canary analysis failed");
  });

  it("job cancelled mid-release then re-run: the controller finishes alone; the re-run observes the same outcome and never re-applies", async () => {
    const argo = controller();
    argo.outcome = "analysis-fails";
    clock.onSleep = (_ms, c) => {
      if (c.sleeps.length === 3) throw new Error("the operation was canceled");
    };
    const first = await start(argo);
    const cancelled = await failureOf(first.call((ci) => deployProduction(ci)));
    expect(cancelled.message).toContain("the operation was canceled");
    expect(argo.mutations()).toEqual([IMAGE_PATCH]);

    clock.onSleep = undefined;
    clock.time += 30 * 60_000; // the controller went on without a watcher
    const second = await start(argo);
    const err = await failureOf(second.call((ci) => deployProduction(ci)));
    expect(recordOf(err)).toMatchObject({ result: "rolled-back", details: { rollout: { aborted: true } } });
    expect(recordOf(err).details.log).toContain(`rollout/analytics-api already runs ${PINNED}: following the controller (no change made)`);
    expect(argo.mutations(), "one image change in total").toEqual([IMAGE_PATCH]);

    // and a third run still reports the same outcome
    const third = await start(argo);
    expect(recordOf(await failureOf(third.call((ci) => deployProduction(ci)))).result).toBe("rolled-back");
    expect(argo.mutations()).toEqual([IMAGE_PATCH]);
  });

  it("refuses to start while another release is in flight, before changing anything", async () => {
    const argo = controller();
    argo.rollout.status = { ...argo.rollout.status, phase: "Progressing", message: "waiting for all steps to complete", currentPodHash: "hash9" };
    argo.rollout.spec.template.spec.containers[0].image = `${REPO}:1.3.9`;
    const { call } = await start(argo);
    const err = await failureOf(call((ci) => deployProduction(ci)));
    expect(err.message).toContain(`Rollout analytics-api is releasing ${REPO}:1.3.9 (Progressing: waiting for all steps to complete)`);
    expect(err.message).toContain("Failed before changing anything (check: production state)");
    expect(argo.mutations()).toEqual([]);
  });

  it("a refused image patch fails without claiming production is unchanged, and says a re-run follows or sets it", async () => {
    const argo = controller();
    argo.refusePatch = 'Error from server (Forbidden): rollouts.argoproj.io "analytics-api" is forbidden: User "system:serviceaccount:llm-observatory:observatory-ci-deployer" cannot patch resource "rollouts"';
    const { call } = await start(argo);
    const err = await failureOf(call((ci) => deployProduction(ci)));
    expect(err.message).toContain("cannot patch resource \"rollouts\"");
    expect(err.message).toContain("Setting the image on rollout/analytics-api failed; it may still have been applied.");
    expect(err.message).not.toContain("Failed before changing anything");
    expect(recordOf(err)).toMatchObject({ result: "failure", details: { failedStep: "set image" } });
  });

  it("refuses when the cluster's AnalysisTemplate or steps no longer match the config's canary rules", async () => {
    const argo = controller();
    argo.analysisTemplate.spec.metrics[1].failureLimit = 5;
    argo.rollout.spec.strategy.canary.steps = [{ setWeight: 20 }];
    const { call } = await start(argo);
    const err = await failureOf(call((ci) => deployProduction(ci)));
    expect(err.message).toContain("the cluster does not run the config's canary rules");
    expect(err.message).toContain('spec.strategy.canary.steps is [{"setWeight":20}]');
    expect(err.message).toContain("metric error-rate failureLimit is 5, the config gives 1");
    expect(err.message).toContain("Failed before changing anything (check: canary rules in the cluster)");
    expect(argo.mutations()).toEqual([]);
  });
});

describe("rollback --environment production with strategy argo-rollouts", () => {
  it("mid-release: aborts through the status subresource (the plugin's abort patch)", async () => {
    const argo = controller();
    const { call } = await start(argo);
    // a release in flight, as a cancelled deployProduction leaves it
    argo.rollout.spec.template.spec.containers[0].image = PINNED;
    argo.rollout.status = { ...argo.rollout.status, phase: "Progressing", currentPodHash: "hash2" };
    const record = JSON.parse(await call((ci) => ci.rollback(Environment.Production, dag.setSecret("kubeconfig", canarySecret("kubeconfig")), "canary looks wrong")));
    expect(argo.mutations()).toEqual([`patch rollout analytics-api --subresource=status --type=merge -p {"status":{"abort":true}}`]);
    expect(record).toMatchObject({ operation: "rollback", result: "success", previousImage: PINNED, reason: "canary looks wrong", details: { strategy: "argo-rollouts" } });
  });

  it("after a release: restores the previous revision's pod template without its hash label (the plugin's undo patch)", async () => {
    const argo = controller();
    const { call } = await start(argo);
    await call((ci) => deployProduction(ci));
    const record = JSON.parse(await call((ci) => ci.rollback(Environment.Production, dag.setSecret("kubeconfig", canarySecret("kubeconfig")), "bad release")));
    const undo = argo.mutations()[1];
    expect(undo).toBe(
      `patch rollout analytics-api --type=json -p ${JSON.stringify([
        { op: "replace", path: "/spec/template", value: { metadata: { labels: { app: "analytics-api" } }, spec: { containers: [{ name: "analytics-api", image: LIVE }] } } },
      ])}`,
    );
    expect(record).toMatchObject({ operation: "rollback", image: LIVE, previousImage: PINNED });
  });
});

describe("one config, both strategies", () => {
  // placeholders both strategies fill alike, so the rendered PromQL must be byte-identical
  const queries = {
    errorRate: 'sum(rate(app_http_errors_total{namespace="{{namespace}}"}[{{interval}}])) / sum(rate(app_http_requests_total{namespace="{{namespace}}"}[{{interval}}]))',
    latencyP95: 'histogram_quantile(0.95, sum by (le) (rate(app_http_seconds_bucket{namespace="{{namespace}}"}[{{interval}}])))',
    healthFailures: 'max(app_unready_ratio{namespace="{{namespace}}"})',
  };
  const production = { canary: { intervalSeconds: 30, windowSeconds: 90, errorRate: { threshold: 0.02, consecutive: 2 }, latencyP95: { consecutive: 3 } }, prometheus: { queries } };

  it("the pipeline strategy queries Prometheus with exactly the AnalysisTemplate's queries and judges them on the same limits", async () => {
    const pipelineCluster = bootstrappedProduction(NS);
    const asked = new Set<string>();
    pipelineCluster.prometheus = (query) => {
      asked.add(query);
      return promVector("0");
    };
    const { call } = await startRun(pipelineCluster.script(), sourceWithConfig({ environments: { production } }), { clock });
    await call((ci) => deployProduction(ci));

    const argoConfig = environmentsConfigSchema.parse({ production: { ...production, strategy: "argo-rollouts" } }).production;
    const metrics = (analysisTemplate(argoConfig, "80") as any).spec.metrics as any[];
    const templateQueries = new Set(metrics.map((metric) => metric.provider.prometheus.query));
    // besides the canary analysis, the pipeline reviews the live colour's recent errors and watches it after the
    // switch with the live queries (the public Service's traffic the canary did not take: `canary=""`)
    const canaryAsked = new Set([...asked].filter((query) => !query.includes('canary=""')));
    expect(canaryAsked).toEqual(templateQueries);
    expect(canaryAsked.size).toBe(3);
    expect(metrics.find((metric) => metric.name === "error-rate")).toMatchObject({ interval: "30s", count: 3, failureLimit: 1, successCondition: "len(result) != 1 || isNaN(result[0]) || result[0] <= 0.02" });
  });
  it("just above the template's error-rate limit (0.021 > 0.02, which its successCondition fails) the pipeline rolls the canary back too", async () => {
    const pipelineCluster = bootstrappedProduction(NS);
    pipelineCluster.prometheus = (query) => promVector(query.includes("app_http_errors_total") && !query.includes('canary=""') ? "0.021" : "0");
    const { call } = await startRun(pipelineCluster.script(), sourceWithConfig({ environments: { production } }), { clock });
    const err = await failureOf(call((ci) => deployProduction(ci)));
    expect(recordOf(err)).toMatchObject({ result: "rolled-back", details: { phase: "canary" } });
    const argoConfig = environmentsConfigSchema.parse({ production: { ...production, strategy: "argo-rollouts" } }).production;
    const errorRate = ((analysisTemplate(argoConfig, "80") as any).spec.metrics as any[]).find((metric) => metric.name === "error-rate");
    expect(errorRate.successCondition).toBe("len(result) != 1 || isNaN(result[0]) || result[0] <= 0.02");
  });

});

describe("the daily scan under argo-rollouts", () => {
  it("scans the image of the Rollout's pod template, not blue/green Deployments", async () => {
    const kube = controller().script();
    // kubectl goes to the fake controller, the scanners get the healthy script's clean reports
    const { session, call } = await startRun(healthyScript({ exec: (e) => (e.args[0] === "kubectl" ? kube.exec!(e) : undefined) }), sourceWithConfig(CONFIG), { clock });
    const report = await call((ci) => ci.scanDeployed(dag.setSecret("kubeconfig", canarySecret("kubeconfig")), undefined, undefined, ["production"]));
    expect(report).toContain(LIVE);
    const kubectl = session.execs.filter((e) => e.args[0] === "kubectl").map((e) => e.args.join(" "));
    expect(kubectl).toEqual([`kubectl get rollout analytics-api -n ${NS} -o json`]);
    expect(session.execsMatching("trivy", "image").map((e) => e.args.at(-1))).toEqual([LIVE]);
  });
});
