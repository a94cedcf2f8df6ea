/**
 * The canary analysis of a production rollout: one sample per interval from Prometheus (directly with curl, or
 * through the API server's proxy with kubectl), judged by lib/deploy/canary.ts canaryVerdict.
 */
import { dag, type Secret } from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import type { Pipeline } from "./pipeline";
import { curlSecretArgs, kubectl, withCurlSecret, type KubeTarget } from "./deploy-support";
import { isoTime, type Clock } from "./lib/clock";
import { errorMessage, tail } from "./lib/errors";
import type { ProductionRequest } from "./lib/deploy-args";
import { canaryIngressName, colouredName, ingressBackendPort, type Colour } from "./lib/deploy/bluegreen";
import { canaryVerdict, formatMetric, intervalsRequired, type CanarySample, type CanaryVerdict } from "./lib/deploy/canary";
import { canaryRules } from "./lib/deploy/canary-rules";
import { parsePrometheusResponse, prometheusQueryRequest, singleValue } from "./lib/deploy/prometheus";

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

async function query(ctx: CanaryContext, name: string, promql: string): Promise<{ value: number | null; error?: string }> {
  const request = prometheusQueryRequest(ctx.request.prometheus, promql);
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

/**
 * One sample per interval, for the window; waits on the clock between the (nonce-carrying) queries. Resolves
 * with the promotion's report; rejects with CanaryRollback when the analysis says roll back or never decides.
 */
export async function analyseCanary(ctx: CanaryContext, mainIngress: Record<string, unknown>, colour: Colour, weight: number): Promise<CanaryReport> {
  const cfg = ctx.p.config.environments.production;
  const canary = cfg.canary;
  const port = ingressBackendPort(mainIngress, cfg.service);
  const values = {
    namespace: cfg.namespace,
    ingress: canaryIngressName(cfg.ingress),
    canaryService: colouredName(cfg.service, colour),
    canaryServicePort: port,
    canaryDeployment: colouredName(cfg.deployment, colour),
    interval: `${canary.intervalSeconds}s`,
  };
  const rules = canaryRules(cfg, values);
  const samples: CanarySample[] = [];
  const lines: string[] = [];
  const limit = intervalsRequired(canary) + Math.max(canary.errorRate.consecutive, canary.latencyP95.consecutive);
  for (let interval = 1; interval <= limit; interval++) {
    await ctx.clock.sleep(canary.intervalSeconds * 1000);
    const at = ctx.clock.now();
    const [errorRate, latency, health] = await Promise.all([
      query(ctx, "canary error rate", rules.errorRate.query),
      query(ctx, "canary P95 latency", rules.latencyP95.query),
      query(ctx, "canary health failures", rules.healthFailures.query),
    ]);
    samples.push({ at, errorRate: errorRate.value, latencyP95Seconds: latency.value, healthFailureRate: health.value });
    const errors = [errorRate.error, latency.error, health.error].filter(Boolean);
    lines.push(
      `  interval ${interval} (${isoTime(at)}): 5xx ${formatMetric(errorRate.value, "%")}, P95 ${formatMetric(latency.value, "s")}, health failures ${formatMetric(health.value, "%")}` +
        (errors.length ? ` [${errors.join("; ")}]` : ""),
    );
    const verdict = canaryVerdict(samples, canary);
    if (verdict.decision === "promote") {
      return { weight, intervals: verdict.intervalsAnalysed, reason: verdict.reason ?? "promoted" };
    }
    if (verdict.decision === "rollback") {
      throw new CanaryRollback(verdict, weight, `Samples (${ctx.request.prometheus.url ? ctx.request.prometheus.url : "Prometheus through the API server proxy"}):\n${lines.join("\n")}`);
    }
  }
  throw new CanaryRollback(
    { decision: "rollback", reason: `no verdict after ${limit} intervals`, breaches: [], intervalsAnalysed: samples.length, intervalsRequired: intervalsRequired(canary) },
    weight,
    lines.join("\n"),
  );
}
