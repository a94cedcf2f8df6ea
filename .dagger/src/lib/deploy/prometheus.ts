/**
 * Prometheus HTTP API responses (`/api/v1/query`, `/api/v1/query_range`), see
 * https://prometheus.io/docs/prometheus/latest/querying/api/. Sample values travel as strings
 * so that "NaN", "+Inf" and "-Inf" survive JSON; they are converted to numbers here.
 */

export interface PrometheusSample {
  /** Unix time in seconds, with the API's millisecond fraction. */
  timestamp: number;
  value: number;
}

export interface PrometheusLabels {
  [label: string]: string;
}

export type PrometheusResult =
  | { resultType: "vector"; series: { metric: PrometheusLabels; sample: PrometheusSample }[]; warnings: string[] }
  | { resultType: "matrix"; series: { metric: PrometheusLabels; samples: PrometheusSample[] }[]; warnings: string[] }
  | { resultType: "scalar"; sample: PrometheusSample; warnings: string[] }
  | { resultType: "string"; timestamp: number; value: string; warnings: string[] };

/** A well-formed `"status": "error"` response: the query itself failed (bad PromQL, timeout, ...). */
export class PrometheusQueryError extends Error {
  constructor(
    readonly errorType: string,
    readonly error: string,
    source: string,
  ) {
    super(`Prometheus query failed${source ? ` (${source})` : ""}: ${errorType}: ${error}`);
    this.name = "PrometheusQueryError";
  }
}

function fail(source: string, where: string, problem: string): never {
  throw new Error(`invalid Prometheus API response${source ? ` (${source})` : ""}: ${where}: ${problem}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Converts a sample value string: decimal numbers, "NaN", "+Inf", "-Inf" (Go's strconv.FormatFloat forms). */
export function parseSampleValue(text: unknown, where = "value"): number {
  if (typeof text !== "string") {
    throw new Error(`${where}: sample value must be a string, got ${JSON.stringify(text)}`);
  }
  switch (text) {
    case "NaN":
      return Number.NaN;
    case "+Inf":
    case "Inf":
      return Number.POSITIVE_INFINITY;
    case "-Inf":
      return Number.NEGATIVE_INFINITY;
  }
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
    throw new Error(`${where}: sample value ${JSON.stringify(text)} is not a number`);
  }
  return Number(text);
}

function parseSample(raw: unknown, source: string, where: string): PrometheusSample {
  if (!Array.isArray(raw) || raw.length !== 2 || typeof raw[0] !== "number") {
    fail(source, where, `expected [<unix time>, "<value>"], got ${JSON.stringify(raw)}`);
  }
  try {
    return { timestamp: raw[0], value: parseSampleValue(raw[1], where) };
  } catch (error) {
    fail(source, where, (error as Error).message.replace(`${where}: `, ""));
  }
}

function parseLabels(raw: unknown, source: string, where: string): PrometheusLabels {
  if (!isRecord(raw) || !Object.values(raw).every((value) => typeof value === "string")) {
    fail(source, where, `expected an object of string labels, got ${JSON.stringify(raw)}`);
  }
  return raw as PrometheusLabels;
}

/**
 * Parses one API response (text or already-decoded JSON). Throws PrometheusQueryError for an error
 * envelope and a plain Error naming the offending field for anything malformed.
 * `source` names the query in messages (e.g. "canary error rate").
 */
export function parsePrometheusResponse(input: string | unknown, source = ""): PrometheusResult {
  let body: unknown = input;
  if (typeof input === "string") {
    if (input.trim() === "") fail(source, "body", "empty response");
    try {
      body = JSON.parse(input);
    } catch (error) {
      fail(source, "body", `not JSON (${(error as Error).message}): ${JSON.stringify(input.slice(0, 200))}`);
    }
  }
  if (!isRecord(body)) fail(source, "body", `expected a JSON object, got ${JSON.stringify(body)?.slice(0, 200)}`);
  if (body.status === "error") {
    throw new PrometheusQueryError(
      typeof body.errorType === "string" ? body.errorType : "unknown",
      typeof body.error === "string" ? body.error : "(no error message)",
      source,
    );
  }
  if (body.status !== "success") fail(source, "status", `expected "success" or "error", got ${JSON.stringify(body.status)}`);
  const warnings = Array.isArray(body.warnings) ? body.warnings.filter((w): w is string => typeof w === "string") : [];
  const data = body.data;
  if (!isRecord(data)) fail(source, "data", `expected an object, got ${JSON.stringify(data)}`);
  const result = data.result;
  switch (data.resultType) {
    case "vector":
      if (!Array.isArray(result)) fail(source, "data.result", "expected an array for a vector");
      return {
        resultType: "vector",
        warnings,
        series: result.map((entry, index) => {
          const where = `data.result[${index}]`;
          if (!isRecord(entry)) fail(source, where, "expected an object");
          return { metric: parseLabels(entry.metric, source, `${where}.metric`), sample: parseSample(entry.value, source, `${where}.value`) };
        }),
      };
    case "matrix":
      if (!Array.isArray(result)) fail(source, "data.result", "expected an array for a matrix");
      return {
        resultType: "matrix",
        warnings,
        series: result.map((entry, index) => {
          const where = `data.result[${index}]`;
          if (!isRecord(entry)) fail(source, where, "expected an object");
          if (!Array.isArray(entry.values)) fail(source, `${where}.values`, "expected an array of samples");
          return {
            metric: parseLabels(entry.metric, source, `${where}.metric`),
            samples: entry.values.map((sample, sampleIndex) => parseSample(sample, source, `${where}.values[${sampleIndex}]`)),
          };
        }),
      };
    case "scalar":
      return { resultType: "scalar", warnings, sample: parseSample(result, source, "data.result") };
    case "string":
      if (!Array.isArray(result) || result.length !== 2 || typeof result[0] !== "number" || typeof result[1] !== "string") {
        fail(source, "data.result", `expected [<unix time>, "<string>"], got ${JSON.stringify(result)}`);
      }
      return { resultType: "string", warnings, timestamp: result[0], value: result[1] };
    default:
      fail(source, "data.resultType", `expected vector, matrix, scalar or string, got ${JSON.stringify(data.resultType)}`);
  }
}

/**
 * The single number an aggregated instant query answers: null when the result is empty (no series
 * matched, e.g. no traffic at all); NaN is passed through (0/0, e.g. a rate over zero requests).
 * More than one series means the query does not aggregate, which would silently pick an arbitrary
 * series: that is an error.
 */
export function singleValue(result: PrometheusResult, source = ""): number | null {
  const label = source ? ` (${source})` : "";
  switch (result.resultType) {
    case "scalar":
      return result.sample.value;
    case "vector":
      if (result.series.length === 0) return null;
      if (result.series.length > 1) {
        throw new Error(
          `Prometheus query${label} returned ${result.series.length} series, expected one: aggregate it (e.g. sum(...)); series: ${result.series
            .map((series) => JSON.stringify(series.metric))
            .join(", ")}`,
        );
      }
      return result.series[0].sample.value;
    default:
      throw new Error(`Prometheus query${label} returned a ${result.resultType}; an instant query returning a vector or scalar is expected`);
  }
}

/** Placeholders the canary and live-traffic query templates may use (see config/environments.ts). */
export const QUERY_PLACEHOLDERS = [
  "namespace",
  "ingress",
  "service",
  "canaryService",
  "canaryServicePort",
  "canaryDeployment",
  "interval",
] as const;
export type QueryPlaceholder = (typeof QUERY_PLACEHOLDERS)[number];

export function queryPlaceholders(template: string): string[] {
  return [...template.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)].map((match) => match[1]);
}

/** Fills `{{placeholder}}`s; an unknown placeholder or a value with a quote or backslash (which would break the PromQL string) is an error. */
export function renderQuery(template: string, values: Record<QueryPlaceholder, string>): string {
  for (const [name, value] of Object.entries(values)) {
    if (/["\\\n]/.test(value)) throw new Error(`query placeholder {{${name}}} value ${JSON.stringify(value)} contains a quote, backslash or newline`);
  }
  return template.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_, name: string) => {
    if (!(QUERY_PLACEHOLDERS as readonly string[]).includes(name)) {
      throw new Error(`unknown query placeholder {{${name}}}; available: ${QUERY_PLACEHOLDERS.join(", ")}`);
    }
    return values[name as QueryPlaceholder];
  });
}

export interface PrometheusEndpoint {
  url?: string;
  service: string;
  namespace: string;
  port: number;
}

export type PrometheusRequest =
  /** GET this URL (curl). */
  | { kind: "direct"; url: string }
  /** `kubectl get --raw <path>`: the API server proxies to the Prometheus Service with the deployer's credentials. */
  | { kind: "api-proxy"; path: string };

/** Where to send an instant query: the configured URL, else the cluster API server's service proxy. */
export function prometheusQueryRequest(endpoint: PrometheusEndpoint, query: string, time?: Date): PrometheusRequest {
  const parameters = new URLSearchParams({ query });
  if (time) parameters.set("time", (time.getTime() / 1000).toFixed(3));
  if (endpoint.url) {
    return { kind: "direct", url: `${endpoint.url.replace(/\/+$/, "")}/api/v1/query?${parameters}` };
  }
  const service = `http:${encodeURIComponent(endpoint.service)}:${endpoint.port}`;
  return {
    kind: "api-proxy",
    path: `/api/v1/namespaces/${encodeURIComponent(endpoint.namespace)}/services/${service}/proxy/api/v1/query?${parameters}`,
  };
}
