/**
 * The canary rules of a production release, rendered once from the config: the three Prometheus queries and
 * their limits. Both strategies read them from here (the pipeline's own analysis loop and the Argo Rollouts
 * AnalysisTemplate), so they cannot drift apart.
 */
import { intervalsRequired, type CanaryThresholds } from "./canary";
import { renderQuery, type QueryPlaceholder } from "./prometheus";

export interface CanaryRuleConfig {
  canary: CanaryThresholds;
  prometheus: { queries: { errorRate: string; latencyP95: string; healthFailures: string } };
}

export interface CanaryRule {
  /** PromQL instant query returning one series. */
  query: string;
  /** The highest healthy value (a ratio for errorRate/healthFailures, seconds for latencyP95). */
  threshold: number;
  /** Intervals in a row above the threshold that fail the canary. */
  consecutive: number;
}

export interface CanaryRules {
  errorRate: CanaryRule;
  latencyP95: CanaryRule;
  healthFailures: CanaryRule;
  intervalSeconds: number;
  /** Healthy intervals that promote a step (windowSeconds / intervalSeconds). */
  intervals: number;
}

export type CanaryQueryValues = Record<QueryPlaceholder, string>;

export function canaryRules(production: CanaryRuleConfig, values: CanaryQueryValues): CanaryRules {
  const { canary } = production;
  const { queries } = production.prometheus;
  return {
    errorRate: { query: renderQuery(queries.errorRate, values), threshold: canary.errorRate.threshold, consecutive: canary.errorRate.consecutive },
    latencyP95: { query: renderQuery(queries.latencyP95, values), threshold: canary.latencyP95.thresholdSeconds, consecutive: canary.latencyP95.consecutive },
    healthFailures: { query: renderQuery(queries.healthFailures, values), threshold: canary.healthFailures.threshold, consecutive: 1 },
    intervalSeconds: canary.intervalSeconds,
    intervals: intervalsRequired(canary),
  };
}
