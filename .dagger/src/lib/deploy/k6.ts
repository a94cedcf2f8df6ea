import { isDuration } from "./duration";

/**
 * k6 end-of-test summaries, in both shapes k6 writes:
 * - `handleSummary(data)` / JSON.stringify(data): `metrics.<name>.{type, values: {...}, thresholds: {"<expr>": {ok}}}`;
 * - legacy `--summary-export`: `metrics.<name>.{<stat>: n, thresholds: {"<expr>": <bool>}}` where the
 *   boolean is TRUE WHEN THE THRESHOLD FAILED (grafana/k6#1498, kept for compatibility), and rate
 *   metrics carry `value` instead of `rate`.
 */

export interface K6Threshold {
  metric: string;
  expression: string;
  ok: boolean;
}

export interface K6Summary {
  format: "handleSummary" | "summary-export";
  p95Ms: number;
  /** Ratio of failed requests (http_req_failed), 0..1. */
  errorRate: number;
  requestsPerSecond: number;
  requests: number | null;
  testRunDurationMs: number | null;
  thresholds: K6Threshold[];
  failedThresholds: K6Threshold[];
}

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function metricValues(metric: Json, format: K6Summary["format"]): Json {
  if (format === "handleSummary") return isRecord(metric.values) ? metric.values : {};
  return metric;
}

function requireNumber(metrics: Json, format: K6Summary["format"], name: string, stats: string[], hint: string): number {
  const metric = metrics[name];
  if (!isRecord(metric)) {
    const present = Object.keys(metrics).sort().join(", ") || "none";
    throw new Error(`k6 summary has no "${name}" metric (${hint}); metrics present: ${present}`);
  }
  const values = metricValues(metric, format);
  for (const stat of stats) {
    const value = values[stat];
    if (typeof value === "number" && Number.isFinite(value)) return value;
  }
  throw new Error(
    `k6 summary metric "${name}" has no numeric ${stats.map((stat) => `"${stat}"`).join("/")} (found: ${Object.keys(values).join(", ") || "nothing"})${stats.includes("p(95)") ? "; add p(95) to summaryTrendStats" : ""}`,
  );
}

/** Parses a summary (text or decoded JSON). Missing HTTP metrics are an error: a load test that measured nothing is a failure. */
export function parseK6Summary(input: string | unknown): K6Summary {
  let summary: unknown = input;
  if (typeof input === "string") {
    if (input.trim() === "") throw new Error("k6 summary is empty (did the test run and write its summary?)");
    try {
      summary = JSON.parse(input);
    } catch (error) {
      throw new Error(`k6 summary is not valid JSON (${(error as Error).message})`);
    }
  }
  if (!isRecord(summary) || !isRecord(summary.metrics)) {
    throw new Error("k6 summary has no `metrics` object: expected handleSummary data or a --summary-export file");
  }
  const metrics = summary.metrics;
  const entries = Object.entries(metrics).filter((entry): entry is [string, Json] => isRecord(entry[1]));
  const format: K6Summary["format"] = entries.some(([, metric]) => isRecord(metric.values) && typeof metric.type === "string")
    ? "handleSummary"
    : "summary-export";

  const p95Ms = requireNumber(metrics, format, "http_req_duration", ["p(95)"], "no HTTP request completed, or the script made none");
  const errorRate = requireNumber(metrics, format, "http_req_failed", format === "handleSummary" ? ["rate"] : ["value", "rate"], "k6 < 0.31 or no HTTP request");
  const requestsPerSecond = requireNumber(metrics, format, "http_reqs", ["rate"], "no HTTP request");
  const httpReqs = metricValues(metrics.http_reqs as Json, format);

  const thresholds: K6Threshold[] = [];
  for (const [name, metric] of entries) {
    if (metric.thresholds === undefined) continue;
    if (!isRecord(metric.thresholds)) throw new Error(`k6 summary metric "${name}": thresholds is not an object`);
    for (const [expression, result] of Object.entries(metric.thresholds)) {
      let ok: boolean;
      if (format === "handleSummary" && isRecord(result) && typeof result.ok === "boolean") ok = result.ok;
      else if (format === "summary-export" && typeof result === "boolean") ok = !result;
      else throw new Error(`k6 summary metric "${name}" threshold "${expression}": unexpected result ${JSON.stringify(result)}`);
      thresholds.push({ metric: name, expression, ok });
    }
  }
  const state = isRecord(summary.state) ? summary.state : {};
  return {
    format,
    p95Ms,
    errorRate,
    requestsPerSecond,
    requests: typeof httpReqs.count === "number" ? httpReqs.count : null,
    testRunDurationMs: typeof state.testRunDurationMs === "number" ? state.testRunDurationMs : null,
    thresholds,
    failedThresholds: thresholds.filter((threshold) => !threshold.ok),
  };
}

/**
 * The configured thresholds the run did not evaluate, as `metric expression`. A repository script that ignores
 * K6_OPTIONS (its own `options` without these thresholds) makes k6 exit 0 whatever the latency: the result
 * must not pass for a load test that never checked what the configuration asks.
 */
export function missingThresholds(summary: Pick<K6Summary, "thresholds">, configured: Record<string, readonly string[]>): string[] {
  const normalise = (expression: string) => expression.replace(/\s+/g, "");
  const evaluated = new Set(summary.thresholds.map((threshold) => `${threshold.metric}\u0000${normalise(threshold.expression)}`));
  return Object.entries(configured).flatMap(([metric, expressions]) =>
    expressions.filter((expression) => !evaluated.has(`${metric}\u0000${normalise(expression)}`)).map((expression) => `${metric} ${expression}`),
  );
}

export interface K6Stage {
  duration: string;
  target: number;
}

export interface K6Options {
  stages: K6Stage[];
  thresholds: Record<string, string[]>;
  summaryTrendStats: string[];
}

/** The options object the built-in script reads from `K6_OPTIONS`; p(95) is always in the summary stats (parseK6Summary needs it). */
export function k6Options(stages: readonly K6Stage[], thresholds: Record<string, readonly string[]>): K6Options {
  if (stages.length === 0) throw new Error("k6 needs at least one stage");
  stages.forEach((stage, index) => {
    if (!isDuration(stage.duration)) throw new Error(`k6 stage ${index + 1}: invalid duration ${JSON.stringify(stage.duration)}`);
    if (!Number.isInteger(stage.target) || stage.target < 0) throw new Error(`k6 stage ${index + 1}: target must be a non-negative integer, got ${stage.target}`);
  });
  for (const [metric, expressions] of Object.entries(thresholds)) {
    if (expressions.length === 0 || expressions.some((expression) => expression.trim() === "")) {
      throw new Error(`k6 threshold for "${metric}" must list at least one non-empty expression`);
    }
  }
  return {
    stages: stages.map((stage) => ({ duration: stage.duration, target: stage.target })),
    thresholds: Object.fromEntries(Object.entries(thresholds).map(([metric, expressions]) => [metric, [...expressions]])),
    summaryTrendStats: ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"],
  };
}

/** Where the built-in script writes its JSON summary; the module mounts a directory there. */
export const K6_SUMMARY_PATH = "/out/summary.json";

/**
 * The built-in load test. Environment: BASE_URL (required), K6_OPTIONS (required, JSON from
 * k6Options), API_PATH (default /metrics), API_TOKEN (optional bearer token, pass it as a secret).
 * No remote imports: the text summary is written here rather than with jslib's textSummary.
 */
export const DEFAULT_K6_SCRIPT = `import http from "k6/http";
import { check, sleep } from "k6";

const BASE_URL = (__ENV.BASE_URL || "").replace(/\\/+$/, "");
if (!BASE_URL) {
  throw new Error("BASE_URL is not set: the load test needs the environment's base URL");
}
if (!__ENV.K6_OPTIONS) {
  throw new Error("K6_OPTIONS is not set: expected the JSON options (stages, thresholds)");
}
export const options = JSON.parse(__ENV.K6_OPTIONS);

const API_PATH = __ENV.API_PATH || "/metrics";
const API_PARAMS = { tags: { name: "api" }, headers: {} };
if (__ENV.API_TOKEN) {
  API_PARAMS.headers.Authorization = "Bearer " + __ENV.API_TOKEN;
}

export default function () {
  const health = http.get(BASE_URL + "/health", { tags: { name: "health" } });
  check(health, { "GET /health is 200": (response) => response.status === 200 });
  const api = http.get(BASE_URL + API_PATH, API_PARAMS);
  check(api, { ["GET " + API_PATH + " is 200"]: (response) => response.status === 200 });
  sleep(1);
}

function formatNumber(value, digits) {
  return typeof value === "number" ? value.toFixed(digits) : "n/a";
}

function textSummary(data) {
  const metrics = data.metrics || {};
  const values = (name) => (metrics[name] && metrics[name].values) || {};
  const lines = ["", "k6 load test summary", "===================="];
  lines.push("requests:        " + formatNumber(values("http_reqs").count, 0) + " (" + formatNumber(values("http_reqs").rate, 2) + "/s)");
  lines.push("failed requests: " + formatNumber((values("http_req_failed").rate || 0) * 100, 2) + "%");
  const duration = values("http_req_duration");
  lines.push("duration p95:    " + formatNumber(duration["p(95)"], 2) + " ms (avg " + formatNumber(duration.avg, 2) + " ms, max " + formatNumber(duration.max, 2) + " ms)");
  lines.push("checks passed:   " + formatNumber((values("checks").rate || 0) * 100, 2) + "%");
  lines.push("thresholds:");
  let any = false;
  for (const name of Object.keys(metrics).sort()) {
    const thresholds = metrics[name].thresholds || {};
    for (const expression of Object.keys(thresholds)) {
      any = true;
      lines.push("  " + (thresholds[expression].ok ? "PASS" : "FAIL") + " " + name + ": " + expression);
    }
  }
  if (!any) lines.push("  (none)");
  return lines.join("\\n") + "\\n";
}

export function handleSummary(data) {
  return {
    "${K6_SUMMARY_PATH}": JSON.stringify(data, null, 2),
    stdout: textSummary(data),
  };
}
`;
