/**
 * The canary analysis of a production rollout and the two safeguards that apply its rules to the live traffic:
 * the pre-check's review of recent errors and the watch after the switch. One sample per interval from Prometheus
 * (directly with curl, or through the API server's proxy with kubectl), judged by lib/deploy/canary.ts.
 */
import { dag, type Secret } from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import type { Pipeline } from "./pipeline";
import { curlSecretArgs, kubectl, withCurlSecret, type KubeTarget } from "./deploy-support";
import { isoTime, type Clock } from "./lib/clock";
import { errorMessage, tail } from "./lib/errors";
import type { ProductionRequest } from "./lib/deploy-args";
import { canaryIngressName, colouredName, ingressBackendPort, type Colour } from "./lib/deploy/bluegreen";
import { canaryVerdict, formatMetric, intervalsRequired, reviewRecentErrors, type CanarySample, type CanaryThresholds, type CanaryVerdict, type ErrorReview } from "./lib/deploy/canary";
import { canaryRules, type CanaryQueryValues as QueryValues } from "./lib/deploy/canary-rules";
import { parsePrometheusResponse, prometheusQueryRequest, renderQuery, singleValue } from "./lib/deploy/prometheus";

/** What the analysis runs on. */
export interface CanaryContext {
  p: Pipeline;
  target: KubeTarget;
  request: ProductionRequest<Secret>;
  clock: Clock;
}

/** A promoted canary step, for the record. */
export interface CanaryReport {
  weight: number;
  intervals: number;
  reason: string;
}

/** A post-switch watch that found no breach, for the record. */
export interface WatchReport {
  colour: Colour;
  intervals: number;
  reason: string;
}

const PROMETHEUS_TOKEN_SECRET = "prometheus-token";

export /** A failure the canary analysis decided: carries the verdict and the samples as evidence. */
class CanaryRollback extends Error {
  constructor(
    readonly verdict: CanaryVerdict,
    readonly weight: number,
    evidence: string,
  ) {
    super(`canary at ${weight} % failed its analysis: ${verdict.reason}\n${evidence}`);
    this.name = "CanaryRollback";
  }
}

/** The new live colour broke a canary rule during the watch after the switch: carries the verdict and the samples. */
export class PostSwitchBreach extends Error {
  constructor(
    readonly verdict: CanaryVerdict,
    readonly colour: Colour,
    evidence: string,
  ) {
    super(`the post-switch watch of ${colour} failed: ${verdict.reason}\n${evidence}`);
    this.name = "PostSwitchBreach";
  }
}

async function query(ctx: CanaryContext, name: string, template: string, values: QueryValues): Promise<{ value: number | null; error?: string }> {
  const request = prometheusQueryRequest(ctx.request.prometheus, renderQuery(template, values));
  let text: string;
  if (request.kind === "api-proxy") {
    const out = await kubectl(ctx.p, ctx.target, ["get", "--raw", request.path], { namespaced: false });
    if (out.exitCode !== 0) return { value: null, error: `${name}: query through the API server proxy failed (exit ${out.exitCode}): ${tail(out.stderr, 3)}` };
    text = out.stdout;
  } else {
    let ctr = withRunNonce(dag.container().from(ctx.p.config.images.curl));
    const token = ctx.request.prometheusToken ? curlSecretArgs(PROMETHEUS_TOKEN_SECRET, "header", "Authorization: Bearer {{secret}}") : [];
    if (ctx.request.prometheusToken) ctr = withCurlSecret(ctr, PROMETHEUS_TOKEN_SECRET, ctx.request.prometheusToken);
    const out = await outcomeOf(runAllowingFailure(ctr, ["curl", "-sS", "--fail-with-body", "--max-time", "20", ...token, request.url]));
    if (out.exitCode !== 0) return { value: null, error: `${name}: Prometheus unreachable (curl exit ${out.exitCode}): ${tail(out.stderr || out.stdout, 3)}` };
    text = out.stdout;
  }
  try {
    return { value: singleValue(parsePrometheusResponse(text, name), name) };
  } catch (e) {
    return { value: null, error: errorMessage(e) };
  }
}

/** The placeholders' values for queries about one colour (the canary, the live colour, the new live colour). */
function colourValues(ctx: CanaryContext, mainIngress: Record<string, unknown>, colour: Colour, intervalSeconds: number): QueryValues {
  const cfg = ctx.p.config.environments.production;
  return {
    namespace: cfg.namespace,
    ingress: canaryIngressName(cfg.ingress),
    service: cfg.service,
    canaryService: colouredName(cfg.service, colour),
    canaryServicePort: ingressBackendPort(mainIngress, cfg.service),
    canaryDeployment: colouredName(cfg.deployment, colour),
    interval: `${intervalSeconds}s`,
  };
}

function prometheusName(ctx: CanaryContext): string {
  return ctx.request.prometheus.url ? ctx.request.prometheus.url : "Prometheus through the API server proxy";
}

/** What a sampling loop measures: the three queries (error rate, P95, health failures) and the rules that judge them. */
interface Measured {
  what: string;
  queries: { errorRate: string; latencyP95: string; healthFailures: string };
  values: QueryValues;
  thresholds: CanaryThresholds;
}

/**
 * One sample per interval until canaryVerdict decides; waits on the clock between the (nonce-carrying) queries.
 * A window that never decides (a breach streak that neither completes nor ends) is a rollback.
 */
async function sampleUntilVerdict(ctx: CanaryContext, measured: Measured): Promise<{ verdict: CanaryVerdict; evidence: string }> {
  const { thresholds, queries, values, what } = measured;
  const samples: CanarySample[] = [];
  const lines: string[] = [];
  const limit = intervalsRequired(thresholds) + Math.max(thresholds.errorRate.consecutive, thresholds.latencyP95.consecutive);
  for (let interval = 1; interval <= limit; interval++) {
    await ctx.clock.sleep(thresholds.intervalSeconds * 1000);
    const at = ctx.clock.now();
    const [errorRate, latency, health] = await Promise.all([
      query(ctx, `${what} error rate`, queries.errorRate, values),
      query(ctx, `${what} P95 latency`, queries.latencyP95, values),
      query(ctx, `${what} health failures`, queries.healthFailures, values),
    ]);
    samples.push({ at, errorRate: errorRate.value, latencyP95Seconds: latency.value, healthFailureRate: health.value });
    const errors = [errorRate.error, latency.error, health.error].filter(Boolean);
    lines.push(
      `  interval ${interval} (${isoTime(at)}): 5xx ${formatMetric(errorRate.value, "%")}, P95 ${formatMetric(latency.value, "s")}, health failures ${formatMetric(health.value, "%")}` +
        (errors.length ? ` [${errors.join("; ")}]` : ""),
    );
    const verdict = canaryVerdict(samples, thresholds);
    if (verdict.decision !== "continue") return { verdict, evidence: `Samples (${prometheusName(ctx)}):\n${lines.join("\n")}` };
  }
  return {
    verdict: { decision: "rollback", reason: `no verdict after ${limit} intervals`, breaches: [], intervalsAnalysed: samples.length, intervalsRequired: intervalsRequired(thresholds) },
    evidence: lines.join("\n"),
  };
}

/**
 * The canary at one weight, for the window. Resolves with the promotion's report; rejects with CanaryRollback when
 * the analysis says roll back or never decides.
 */
export async function analyseCanary(ctx: CanaryContext, mainIngress: Record<string, unknown>, colour: Colour, weight: number): Promise<CanaryReport> {
  const cfg = ctx.p.config.environments.production;
  const values = colourValues(ctx, mainIngress, colour, cfg.canary.intervalSeconds);
  // the same rendered rules as the Argo Rollouts AnalysisTemplate (lib/deploy/canary-rules.ts)
  const rules = canaryRules(cfg, values);
  const { verdict, evidence } = await sampleUntilVerdict(ctx, {
    what: "canary",
    queries: { errorRate: rules.errorRate.query, latencyP95: rules.latencyP95.query, healthFailures: rules.healthFailures.query },
    values,
    thresholds: cfg.canary,
  });
  if (verdict.decision !== "promote") throw new CanaryRollback(verdict, weight, evidence);
  return { weight, intervals: verdict.intervalsAnalysed, reason: verdict.reason ?? "promoted" };
}

/**
 * The watch after the switch: for `seconds` (the grace period, while the old colour is still scaled up), the
 * canary's rules on the public Service's traffic (liveErrorRate, liveLatencyP95) and the new colour's health.
 * Rejects with PostSwitchBreach when they say roll back.
 */
export async function watchAfterSwitch(ctx: CanaryContext, mainIngress: Record<string, unknown>, colour: Colour, seconds: number): Promise<WatchReport> {
  const cfg = ctx.p.config.environments.production;
  const queries = cfg.prometheus.queries;
  const { verdict, evidence } = await sampleUntilVerdict(ctx, {
    what: `live ${colour}`,
    queries: { errorRate: queries.liveErrorRate, latencyP95: queries.liveLatencyP95, healthFailures: queries.healthFailures },
    values: colourValues(ctx, mainIngress, colour, cfg.canary.intervalSeconds),
    thresholds: { ...cfg.canary, windowSeconds: seconds },
  });
  if (verdict.decision !== "promote") throw new PostSwitchBreach(verdict, colour, evidence);
  return { colour, intervals: verdict.intervalsAnalysed, reason: verdict.reason ?? "no breach" };
}

/** The pre-check "review recent errors": the live colour's 5xx rate and P95 over errorReview.windowSeconds, judged by the canary's thresholds. */
export async function reviewLiveErrors(ctx: CanaryContext, mainIngress: Record<string, unknown>, live: Colour): Promise<ErrorReview & { errors: string[] }> {
  const cfg = ctx.p.config.environments.production;
  const seconds = cfg.errorReview.windowSeconds;
  const values = colourValues(ctx, mainIngress, live, seconds);
  const [errorRate, latency] = await Promise.all([
    query(ctx, `live ${live} error rate`, cfg.prometheus.queries.liveErrorRate, values),
    query(ctx, `live ${live} P95 latency`, cfg.prometheus.queries.liveLatencyP95, values),
  ]);
  const review = reviewRecentErrors({ errorRate: errorRate.value, latencyP95Seconds: latency.value }, cfg.canary, `the last ${seconds}s`);
  return { ...review, errors: [errorRate.error, latency.error].filter((e): e is string => e !== undefined) };
}
