/**
 * The `argo-rollouts` strategy's side of the canary rules: the AnalysisTemplate the controller runs, generated from
 * canaryRules (the same queries and limits the pipeline strategy's analysis loop uses), and the Rollout's canary
 * steps. Field semantics are those of Argo Rollouts v1.9.1:
 * - metricproviders/prometheus/prometheus.go processResponse: a vector answer reaches the condition as `result`, a
 *   list of floats (empty when no series matched);
 * - utils/evaluate/evaluate.go EvaluateResult: with only a successCondition, a measurement that does not meet it
 *   is Failed;
 * - analysis/analysis.go assessMetricStatus: a metric fails when its failed measurements exceed failureLimit, and
 *   errors when its consecutive errors exceed consecutiveErrorLimit (default 4, utils/defaults/defaults.go);
 * - utils/ingress/ingress.go GetCanaryIngressName: the controller's canary Ingress is `<rollout>-<stableIngress>-canary`.
 */
import { DEFAULT_HEALTH_FAILURES_QUERY } from "../config/environments";
import { canaryRules, type CanaryQueryValues, type CanaryRuleConfig, type CanaryRules } from "./canary-rules";

export const ARGO_ROLLOUTS_API_VERSION = "argoproj.io/v1alpha1";

export interface ArgoProductionConfig extends CanaryRuleConfig {
  namespace: string;
  deployment: string;
  service: string;
  ingress: string;
  prometheus: CanaryRuleConfig["prometheus"] & { url?: string; service: string; namespace: string; port: number };
}

/** The Rollout is named like the pipeline strategy's Deployment base name; its canary Service gets `-canary`. */
export function argoNames(cfg: Pick<ArgoProductionConfig, "deployment" | "service" | "ingress">) {
  return {
    rollout: cfg.deployment,
    stableService: cfg.service,
    canaryService: `${cfg.service}-canary`,
    canaryIngress: `${cfg.deployment}-${cfg.ingress}-canary`,
    analysisTemplate: `${cfg.deployment}-canary`,
  };
}

/**
 * The query placeholders under the controller: the canary backend is the Rollout's canary Service on the Ingress'
 * port, and `{{canaryDeployment}}` is the Rollout (kube-state-metrics has no Deployment series for it).
 */
export function argoQueryValues(cfg: ArgoProductionConfig, ingressPort: string): CanaryQueryValues {
  const names = argoNames(cfg);
  return {
    namespace: cfg.namespace,
    ingress: names.canaryIngress,
    service: names.stableService,
    canaryService: names.canaryService,
    canaryServicePort: ingressPort,
    canaryDeployment: names.rollout,
    interval: `${cfg.canary.intervalSeconds}s`,
  };
}

/**
 * The one default that differs between strategies: the built-in health query reads kube-state-metrics' Deployment
 * series, and a Rollout has none. Under the controller the default reads its own metrics (controller/metrics/
 * prommetrics.go: rollout_info_replicas_unavailable and _desired, labels namespace and name), the Rollout's ratio of
 * unavailable replicas. A configured query is used as it is by both strategies.
 */
export const ARGO_HEALTH_FAILURES_QUERY =
  'sum(rollout_info_replicas_unavailable{namespace="{{namespace}}",name="{{canaryDeployment}}"})' +
  " / " +
  'sum(rollout_info_replicas_desired{namespace="{{namespace}}",name="{{canaryDeployment}}"})';

/** The config's rules with the controller's health query when the config keeps the built-in one. */
export function argoRuleConfig(cfg: ArgoProductionConfig): CanaryRuleConfig {
  const { queries } = cfg.prometheus;
  return queries.healthFailures === DEFAULT_HEALTH_FAILURES_QUERY
    ? { canary: cfg.canary, prometheus: { queries: { ...queries, healthFailures: ARGO_HEALTH_FAILURES_QUERY } } }
    : cfg;
}

/** The Prometheus address the controller queries from inside the cluster. */
export function inClusterPrometheus(prometheus: ArgoProductionConfig["prometheus"]): string {
  return prometheus.url ?? `http://${prometheus.service}.${prometheus.namespace}.svc:${prometheus.port}`;
}

const HAS_ONE_VALUE = "len(result) == 1 && !isNaN(result[0])";

/**
 * Five metrics for the three rules: each query's "has data" metric fails at the first interval without exactly one
 * number (no data fails the canary at once, as in the pipeline's analysis), the limit metrics pass on missing data
 * (their "has data" twin judges it) and fail after `consecutive` breaches. Argo counts failures in total, not in a
 * row: a streak the pipeline would forgive when broken still counts here, so this side is the stricter one.
 */
export function analysisMetrics(rules: CanaryRules, address: string): Record<string, unknown>[] {
  const common = {
    interval: `${rules.intervalSeconds}s`,
    initialDelay: `${rules.intervalSeconds}s`,
    count: rules.intervals,
    consecutiveErrorLimit: 0,
  };
  const provider = (query: string) => ({ prometheus: { address, query } });
  const metric = (name: string, query: string, successCondition: string, failureLimit: number) => ({
    name,
    ...common,
    successCondition,
    failureLimit,
    provider: provider(query),
  });
  const limit = (threshold: number) => `len(result) != 1 || isNaN(result[0]) || result[0] <= ${threshold}`;
  return [
    metric("error-rate-data", rules.errorRate.query, HAS_ONE_VALUE, 0),
    metric("error-rate", rules.errorRate.query, limit(rules.errorRate.threshold), rules.errorRate.consecutive - 1),
    metric("latency-p95-data", rules.latencyP95.query, HAS_ONE_VALUE, 0),
    metric("latency-p95", rules.latencyP95.query, limit(rules.latencyP95.threshold), rules.latencyP95.consecutive - 1),
    metric("health-failures", rules.healthFailures.query, `${HAS_ONE_VALUE} && result[0] <= ${rules.healthFailures.threshold}`, 0),
  ];
}

/** The AnalysisTemplate of ci/k8s/overlays/argo-rollouts, for this config. */
export function analysisTemplate(cfg: ArgoProductionConfig, ingressPort: string): Record<string, unknown> {
  const rules = canaryRules(argoRuleConfig(cfg), argoQueryValues(cfg, ingressPort));
  return {
    apiVersion: ARGO_ROLLOUTS_API_VERSION,
    kind: "AnalysisTemplate",
    metadata: { name: argoNames(cfg).analysisTemplate, labels: { app: "analytics-api" } },
    spec: { metrics: analysisMetrics(rules, inClusterPrometheus(cfg.prometheus)) },
  };
}

/** The Rollout's canary steps: each configured weight, then its analysis; after the last step the controller goes to 100 %. */
export function rolloutSteps(cfg: Pick<ArgoProductionConfig, "deployment" | "service" | "ingress"> & { canary: { steps: number[] } }): Record<string, unknown>[] {
  const templateName = argoNames(cfg).analysisTemplate;
  return cfg.canary.steps.flatMap((weight) => [{ setWeight: weight }, { analysis: { templates: [{ templateName }] } }]);
}

/**
 * What in the cluster differs from the config's rules: the Rollout's canary steps and each generated metric field of
 * the AnalysisTemplate (fields the controller or an operator added are left alone). Empty when they agree.
 */
export function rulesDrift(cfg: ArgoProductionConfig & { canary: { steps: number[] } }, ingressPort: string, rollout: Record<string, unknown>, template: Record<string, unknown> | null): string[] {
  const names = argoNames(cfg);
  const problems: string[] = [];
  const steps = (rollout as { spec?: { strategy?: { canary?: { steps?: unknown } } } }).spec?.strategy?.canary?.steps;
  if (JSON.stringify(steps) !== JSON.stringify(rolloutSteps(cfg))) {
    problems.push(`Rollout ${names.rollout} spec.strategy.canary.steps is ${JSON.stringify(steps)}, the config gives ${JSON.stringify(rolloutSteps(cfg))}`);
  }
  if (!template) return [...problems, `AnalysisTemplate ${names.analysisTemplate} does not exist`];
  const live = ((template as { spec?: { metrics?: Record<string, unknown>[] } }).spec?.metrics ?? []).filter((metric) => typeof metric === "object" && metric !== null);
  for (const metric of (analysisTemplate(cfg, ingressPort) as { spec: { metrics: Record<string, unknown>[] } }).spec.metrics) {
    const found = live.find((candidate) => candidate.name === metric.name);
    if (!found) {
      problems.push(`AnalysisTemplate ${names.analysisTemplate} has no metric ${String(metric.name)}`);
      continue;
    }
    for (const [field, value] of Object.entries(metric)) {
      if (JSON.stringify(found[field]) !== JSON.stringify(value)) {
        problems.push(`AnalysisTemplate ${names.analysisTemplate} metric ${String(metric.name)} ${field} is ${JSON.stringify(found[field])}, the config gives ${JSON.stringify(value)}`);
      }
    }
  }
  return problems;
}
