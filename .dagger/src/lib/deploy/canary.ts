/**
 * Canary analysis: one sample per interval, judged against the rollback rules.
 *
 * Missing data fails closed. With zero traffic to the canary, the error-rate query divides 0 by 0
 * (NaN) or matches no series at all (empty result); both become `null` here and roll back: a canary
 * nobody exercised has not proven anything, and a broken metrics pipeline must not wave a release
 * through. Send enough traffic (or raise the weight) for the canary to be measured.
 */

export interface CanarySample {
  at: Date | number;
  /** Ratio of 5xx responses (0..1); null = no data. */
  errorRate: number | null;
  latencyP95Seconds: number | null;
  /** Ratio of the canary's replicas failing health checks (0..1); null = no data. */
  healthFailureRate: number | null;
}

export interface CanaryThresholds {
  intervalSeconds: number;
  windowSeconds: number;
  errorRate: { threshold: number; consecutive: number };
  latencyP95: { thresholdSeconds: number; consecutive: number };
  healthFailures: { threshold: number };
}

export type CanaryMetric = "errorRate" | "latencyP95Seconds" | "healthFailureRate";

export interface CanaryBreach {
  metric: CanaryMetric;
  /** 1-based position of the interval in the analysis. */
  interval: number;
  at: Date;
  /** The observed value; null when the breach is missing data. */
  value: number | null;
  threshold: number;
}

export interface CanaryVerdict {
  decision: "continue" | "promote" | "rollback";
  reason?: string;
  /** Every interval that was over a threshold or had no data, including streaks too short to roll back. */
  breaches: CanaryBreach[];
  /** Intervals analysed and intervals needed to promote. */
  intervalsAnalysed: number;
  intervalsRequired: number;
}

const METRIC_NAMES: Record<CanaryMetric, string> = {
  errorRate: "5xx error rate",
  latencyP95Seconds: "P95 latency",
  healthFailureRate: "health-check failure rate",
};

function formatValue(metric: CanaryMetric, value: number | null): string {
  if (value === null || Number.isNaN(value)) return "no data";
  if (!Number.isFinite(value)) return value > 0 ? "+Inf" : "-Inf";
  if (metric === "latencyP95Seconds") return `${Number(value.toFixed(3))}s`;
  return `${Number((value * 100).toFixed(2))}%`;
}

function formatThreshold(metric: CanaryMetric, threshold: number): string {
  return metric === "latencyP95Seconds" ? `${threshold}s` : `${Number((threshold * 100).toFixed(2))}%`;
}

function describeBreaches(breaches: CanaryBreach[]): string {
  return breaches
    .map((breach) => `${formatValue(breach.metric, breach.value)} at interval ${breach.interval} (${breach.at.toISOString()})`)
    .join(", ");
}

export function intervalsRequired(thresholds: CanaryThresholds): number {
  return Math.max(1, Math.ceil(thresholds.windowSeconds / thresholds.intervalSeconds));
}

/**
 * Decides on the samples collected so far (any order; sorted by time here).
 * - any metric without data (null/NaN) in an interval: rollback;
 * - health failure rate above its threshold in any interval: rollback;
 * - error rate / P95 above threshold for `consecutive` intervals in a row: rollback;
 * - `windowSeconds / intervalSeconds` intervals analysed without rollback: promote, unless the last
 *   interval is part of a breach streak still short of `consecutive` (then one more interval decides:
 *   the streak either reaches the limit or is broken, so this waits at most `consecutive - 1` extra intervals);
 * - otherwise: continue.
 */
export function canaryVerdict(samples: readonly CanarySample[], thresholds: CanaryThresholds): CanaryVerdict {
  const required = intervalsRequired(thresholds);
  const ordered = samples
    .map((sample) => ({ ...sample, at: sample.at instanceof Date ? sample.at : new Date(sample.at) }))
    .sort((a, b) => a.at.getTime() - b.at.getTime());
  const breaches: CanaryBreach[] = [];
  const streaks: Record<"errorRate" | "latencyP95Seconds", CanaryBreach[]> = { errorRate: [], latencyP95Seconds: [] };
  const rules = {
    errorRate: thresholds.errorRate,
    latencyP95Seconds: { threshold: thresholds.latencyP95.thresholdSeconds, consecutive: thresholds.latencyP95.consecutive },
  };
  const verdict = (decision: CanaryVerdict["decision"], reason: string | undefined, analysed: number): CanaryVerdict => ({
    decision,
    ...(reason === undefined ? {} : { reason }),
    breaches,
    intervalsAnalysed: analysed,
    intervalsRequired: required,
  });

  for (const [index, sample] of ordered.entries()) {
    const interval = index + 1;
    if (Number.isNaN(sample.at.getTime())) throw new Error(`canary sample ${interval} has an invalid time`);

    const missing = (["errorRate", "latencyP95Seconds", "healthFailureRate"] as const).filter(
      (metric) => sample[metric] === null || Number.isNaN(sample[metric]),
    );
    if (missing.length > 0) {
      for (const metric of missing) {
        breaches.push({
          metric,
          interval,
          at: sample.at,
          value: null,
          threshold: metric === "healthFailureRate" ? thresholds.healthFailures.threshold : rules[metric].threshold,
        });
      }
      return verdict(
        "rollback",
        `no data for ${missing.map((metric) => METRIC_NAMES[metric]).join(" and ")} at interval ${interval} (${sample.at.toISOString()}): ` +
          "missing metrics fail the canary (no traffic reached it, or the query/metrics pipeline is broken)",
        interval,
      );
    }

    const healthFailureRate = sample.healthFailureRate as number;
    if (healthFailureRate > thresholds.healthFailures.threshold) {
      const breach: CanaryBreach = {
        metric: "healthFailureRate",
        interval,
        at: sample.at,
        value: healthFailureRate,
        threshold: thresholds.healthFailures.threshold,
      };
      breaches.push(breach);
      return verdict(
        "rollback",
        `${METRIC_NAMES.healthFailureRate} above ${formatThreshold("healthFailureRate", breach.threshold)}: ${describeBreaches([breach])}`,
        interval,
      );
    }

    for (const metric of ["errorRate", "latencyP95Seconds"] as const) {
      const value = sample[metric] as number;
      const rule = rules[metric];
      if (value > rule.threshold) {
        const breach: CanaryBreach = { metric, interval, at: sample.at, value, threshold: rule.threshold };
        breaches.push(breach);
        streaks[metric].push(breach);
      } else {
        streaks[metric] = [];
      }
    }
    for (const metric of ["errorRate", "latencyP95Seconds"] as const) {
      const rule = rules[metric];
      if (streaks[metric].length >= rule.consecutive) {
        return verdict(
          "rollback",
          `${METRIC_NAMES[metric]} above ${formatThreshold(metric, rule.threshold)} for ${rule.consecutive} consecutive interval(s): ${describeBreaches(streaks[metric])}`,
          interval,
        );
      }
    }
  }

  const analysed = ordered.length;
  if (analysed >= required) {
    const pending = (["errorRate", "latencyP95Seconds"] as const).filter((metric) => streaks[metric].length > 0);
    if (pending.length > 0) {
      return verdict(
        "continue",
        `window complete but ${pending
          .map((metric) => `${METRIC_NAMES[metric]} is above threshold for ${streaks[metric].length}/${rules[metric].consecutive} intervals`)
          .join(" and ")}: one more interval decides`,
        analysed,
      );
    }
    return verdict("promote", `${analysed} interval(s) analysed without breaching a rollback rule`, analysed);
  }
  return verdict("continue", undefined, analysed);
}

/** A sample's value as a report line shows it: a percentage or seconds, "no data" for a missing one. */
export function formatMetric(value: number | null, unit: "%" | "s"): string {
  if (value === null || Number.isNaN(value)) return "no data";
  return unit === "s" ? `${Number(value.toFixed(3))}s` : `${Number((value * 100).toFixed(2))}%`;
}

/** The live colour's figures over the pre-check's review window. */
export interface RecentErrors {
  errorRate: number | null;
  latencyP95Seconds: number | null;
}

export interface ErrorReview {
  withinRules: boolean;
  /** The figures and thresholds, e.g. `5xx error rate 0.2% (max 1%), P95 latency 0.31s (max 2s) over 15m`. */
  figures: string;
  /** One line per broken rule (a missing figure counts: a broken metrics pipeline reviews nothing). */
  breaches: string[];
}

/**
 * The pre-check "review recent errors": the live colour's 5xx rate and P95 over the window, against the canary's
 * thresholds. One window replaces the `consecutive` intervals: its average over the threshold already lasted.
 */
export function reviewRecentErrors(recent: RecentErrors, thresholds: Pick<CanaryThresholds, "errorRate" | "latencyP95">, window: string): ErrorReview {
  const rules = [
    { metric: "errorRate", value: recent.errorRate, threshold: thresholds.errorRate.threshold },
    { metric: "latencyP95Seconds", value: recent.latencyP95Seconds, threshold: thresholds.latencyP95.thresholdSeconds },
  ] as const;
  const breaches = rules.flatMap(({ metric, value, threshold }) => {
    if (value === null || Number.isNaN(value)) return [`no data for the ${METRIC_NAMES[metric]} over ${window} (no traffic, or the query/metrics pipeline is broken)`];
    return value > threshold ? [`${METRIC_NAMES[metric]} ${formatValue(metric, value)} is above ${formatThreshold(metric, threshold)} over ${window}`] : [];
  });
  const figures = rules.map(({ metric, value, threshold }) => `${METRIC_NAMES[metric]} ${formatValue(metric, value)} (max ${formatThreshold(metric, threshold)})`).join(", ");
  return { withinRules: breaches.length === 0, figures: `${figures} over ${window}`, breaches };
}
