import { describe, expect, it } from "vitest";
import { environmentsConfigSchema } from "../../.dagger/src/lib/config/environments";
import { ARGO_HEALTH_FAILURES_QUERY, analysisTemplate, argoNames, argoQueryValues, argoRuleConfig, rolloutSteps } from "../../.dagger/src/lib/deploy/argo-analysis";
import { canaryVerdict } from "../../.dagger/src/lib/deploy/canary";
import { canaryRules, type CanaryQueryValues } from "../../.dagger/src/lib/deploy/canary-rules";

type Metric = { name: string; interval: string; initialDelay: string; count: number; failureLimit: number; consecutiveErrorLimit: number; successCondition: string; provider: { prometheus: { address: string; query: string } } };

/** One config with every rule changed from its default, so nothing can pass by coincidence. */
const production = environmentsConfigSchema.parse({
  production: {
    strategy: "argo-rollouts",
    canary: {
      steps: [5, 25],
      intervalSeconds: 30,
      windowSeconds: 300,
      errorRate: { threshold: 0.02, consecutive: 3 },
      latencyP95: { thresholdSeconds: 1.5, consecutive: 4 },
      healthFailures: { threshold: 0.25 },
    },
    prometheus: {
      service: "kps-prometheus",
      namespace: "observability",
      port: 9090,
      queries: {
        errorRate: 'sum(rate(http_errors{svc="{{canaryService}}",ns="{{namespace}}"}[{{interval}}])) / sum(rate(http_total{svc="{{canaryService}}"}[{{interval}}]))',
        latencyP95: 'histogram_quantile(0.95, sum by (le) (rate(http_seconds_bucket{svc="{{canaryService}}"}[{{interval}}])))',
        healthFailures: 'max(rollout_unhealthy_ratio{rollout="{{canaryDeployment}}"})',
      },
    },
  },
}).production;

const metrics = (analysisTemplate(production, "80") as { spec: { metrics: Metric[] } }).spec.metrics;
const byName = (name: string) => metrics.find((metric) => metric.name === name)!;

/**
 * The subset of the expr language (github.com/antonmedv/expr, used by utils/evaluate/evaluate.go at v1.9.1) these
 * conditions use (len, isNaN, comparisons, &&, ||, !) means the same in JavaScript.
 */
function meets(condition: string, result: number[]): boolean {
  return new Function("result", "len", "isNaN", `return (${condition});`)(result, (list: unknown[]) => list.length, Number.isNaN) as boolean;
}

describe("canary rules shared by both strategies", () => {
  it("gives the AnalysisTemplate exactly the queries the pipeline's analysis renders from the same templates and values", () => {
    const values = argoQueryValues(production, "80");
    const rules = canaryRules(production, values);
    expect(byName("error-rate").provider.prometheus.query).toBe(rules.errorRate.query);
    expect(byName("error-rate-data").provider.prometheus.query).toBe(rules.errorRate.query);
    expect(byName("latency-p95").provider.prometheus.query).toBe(rules.latencyP95.query);
    expect(byName("latency-p95-data").provider.prometheus.query).toBe(rules.latencyP95.query);
    expect(byName("health-failures").provider.prometheus.query).toBe(rules.healthFailures.query);
    expect(rules.errorRate.query).toBe(
      'sum(rate(http_errors{svc="analytics-api-canary",ns="llm-observatory"}[30s])) / sum(rate(http_total{svc="analytics-api-canary"}[30s]))',
    );
    expect(rules.healthFailures.query).toBe('max(rollout_unhealthy_ratio{rollout="analytics-api"})');
  });

  it("renders the pipeline strategy's values through the same generator", () => {
    const pipeline: CanaryQueryValues = { ...argoQueryValues(production, "80"), canaryService: "analytics-api-green", canaryDeployment: "analytics-api-green" };
    expect(canaryRules(production, pipeline).latencyP95.query).toBe('histogram_quantile(0.95, sum by (le) (rate(http_seconds_bucket{svc="analytics-api-green"}[30s])))');
  });

  it("takes interval, window, failure limits and the Prometheus address from the config", () => {
    for (const metric of metrics) {
      expect(metric.interval).toBe("30s");
      expect(metric.initialDelay).toBe("30s");
      expect(metric.count).toBe(10);
      expect(metric.consecutiveErrorLimit).toBe(0);
      expect(metric.provider.prometheus.address).toBe("http://kps-prometheus.observability.svc:9090");
    }
    expect(byName("error-rate").failureLimit).toBe(2);
    expect(byName("latency-p95").failureLimit).toBe(3);
    for (const name of ["error-rate-data", "latency-p95-data", "health-failures"]) expect(byName(name).failureLimit).toBe(0);
  });

  it("judges each measurement as canaryVerdict judges the same sample: thresholds inclusive, no data and NaN fail", () => {
    const at = Date.parse("2025-06-02T10:00:00Z");
    const verdictOn = (sample: Partial<{ errorRate: number | null; latencyP95Seconds: number | null; healthFailureRate: number | null }>) =>
      canaryVerdict([{ at, errorRate: 0, latencyP95Seconds: 0.1, healthFailureRate: 0, ...sample }], { ...production.canary, errorRate: { ...production.canary.errorRate, consecutive: 1 }, latencyP95: { ...production.canary.latencyP95, consecutive: 1 } }).decision;
    const argoFails = (metric: "error-rate" | "latency-p95" | "health-failures", result: number[]) =>
      !meets(byName(metric).successCondition, result) || (metric !== "health-failures" && !meets(byName(`${metric}-data`).successCondition, result));
    const cases: [number[], "error-rate" | "latency-p95" | "health-failures", "errorRate" | "latencyP95Seconds" | "healthFailureRate"][] = [];
    for (const [metric, field, threshold] of [
      ["error-rate", "errorRate", 0.02],
      ["latency-p95", "latencyP95Seconds", 1.5],
      ["health-failures", "healthFailureRate", 0.25],
    ] as const) {
      for (const value of [0, threshold, threshold + 0.001, Number.NaN, Number.POSITIVE_INFINITY]) cases.push([[value], metric, field]);
      cases.push([[], metric, field]);
    }
    for (const [result, metric, field] of cases) {
      const pipelineFails = verdictOn({ [field]: result.length === 0 ? null : result[0] }) === "rollback";
      expect(argoFails(metric, result), `${metric} ${JSON.stringify(result)}`).toBe(pipelineFails);
    }
    // several series: the pipeline refuses a non-aggregated query (singleValue), Argo's data metric fails it
    expect(meets(byName("error-rate-data").successCondition, [0, 0])).toBe(false);
  });

  it("replaces only the built-in health query (Deployment series) by the controller's Rollout metrics, and only under argo-rollouts", () => {
    const defaults = environmentsConfigSchema.parse({ production: { strategy: "argo-rollouts" } }).production;
    const argo = argoRuleConfig(defaults).prometheus.queries;
    expect(argo.healthFailures).toBe(ARGO_HEALTH_FAILURES_QUERY);
    expect(argo.errorRate).toBe(defaults.prometheus.queries.errorRate);
    expect(argo.latencyP95).toBe(defaults.prometheus.queries.latencyP95);
    expect(defaults.prometheus.queries.healthFailures).toContain("kube_deployment_status_replicas_available");
    expect(argoRuleConfig(production)).toBe(production);
  });

  it("rejects an unknown strategy, naming the field", () => {
    const result = environmentsConfigSchema.safeParse({ production: { strategy: "flagger" } });
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues[0])).toContain('"path":["production","strategy"]');
    expect(environmentsConfigSchema.parse({}).production.strategy).toBe("pipeline");
  });

  it("gives the Rollout one analysis after each configured weight", () => {
    const name = argoNames(production).analysisTemplate;
    expect(rolloutSteps(production)).toEqual([
      { setWeight: 5 },
      { analysis: { templates: [{ templateName: name }] } },
      { setWeight: 25 },
      { analysis: { templates: [{ templateName: name }] } },
    ]);
  });
});
