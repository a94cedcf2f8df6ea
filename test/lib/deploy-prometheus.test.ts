import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { environmentsConfigSchema } from "../../.dagger/src/lib/config/environments";
import {
  parsePrometheusResponse,
  parseSampleValue,
  PrometheusQueryError,
  prometheusQueryRequest,
  renderQuery,
  singleValue,
} from "../../.dagger/src/lib/deploy/prometheus";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/reports/prometheus/${name}`, import.meta.url), "utf8");

describe("parsePrometheusResponse on the documented samples", () => {
  it("reads the /api/v1/query vector", () => {
    const result = parsePrometheusResponse(fixture("docs-api-v1-query-vector-example.json"));
    expect(result.resultType).toBe("vector");
    if (result.resultType !== "vector") return;
    expect(result.series).toEqual([
      { metric: { __name__: "up", job: "prometheus", instance: "localhost:9090" }, sample: { timestamp: 1435781451.781, value: 1 } },
      { metric: { __name__: "up", job: "node", instance: "localhost:9100" }, sample: { timestamp: 1435781451.781, value: 0 } },
    ]);
    expect(result.warnings).toEqual([]);
  });

  it("reads the /api/v1/query_range matrix", () => {
    const result = parsePrometheusResponse(fixture("docs-api-v1-query_range-matrix-example.json"));
    expect(result.resultType).toBe("matrix");
    if (result.resultType !== "matrix") return;
    expect(result.series).toHaveLength(2);
    expect(result.series[1].metric.instance).toBe("localhost:9091");
    expect(result.series[1].samples.map((sample) => sample.value)).toEqual([0, 0, 1]);
    expect(result.series[0].samples[2].timestamp).toBe(1435781460.781);
  });

  it("refuses to pick one value out of several series", () => {
    const result = parsePrometheusResponse(fixture("docs-api-v1-query-vector-example.json"));
    expect(() => singleValue(result, "canary error rate")).toThrow(
      /canary error rate\) returned 2 series, expected one: aggregate it \(e\.g\. sum\(\.\.\.\)\); series: .*"job":"prometheus"/,
    );
    const matrix = parsePrometheusResponse(fixture("docs-api-v1-query_range-matrix-example.json"));
    expect(() => singleValue(matrix)).toThrow("returned a matrix");
  });
});

describe("parsePrometheusResponse on other documented shapes", () => {
  it("reads an empty vector as no value", () => {
    const result = parsePrometheusResponse('{"status":"success","data":{"resultType":"vector","result":[]}}');
    expect(result).toEqual({ resultType: "vector", series: [], warnings: [] });
    expect(singleValue(result)).toBeNull();
  });

  it("reads a scalar and special float values", () => {
    const scalar = parsePrometheusResponse({ status: "success", data: { resultType: "scalar", result: [1700000000, "+Inf"] } });
    expect(singleValue(scalar)).toBe(Number.POSITIVE_INFINITY);
    const nan = parsePrometheusResponse({
      status: "success",
      warnings: ["PromQL info: metric might not be a counter"],
      data: { resultType: "vector", result: [{ metric: {}, value: [1700000000.5, "NaN"] }] },
    });
    expect(singleValue(nan)).toBeNaN();
    expect(nan.warnings).toEqual(["PromQL info: metric might not be a counter"]);
    expect(parseSampleValue("-Inf")).toBe(Number.NEGATIVE_INFINITY);
    expect(parseSampleValue("1e-3")).toBe(0.001);
    expect(parseSampleValue("0.0123")).toBe(0.0123);
  });

  it("reads a string result", () => {
    expect(parsePrometheusResponse({ status: "success", data: { resultType: "string", result: [1, "hello"] } })).toEqual({
      resultType: "string",
      timestamp: 1,
      value: "hello",
      warnings: [],
    });
  });

  it("turns an error envelope into PrometheusQueryError", () => {
    const body = '{"status":"error","errorType":"bad_data","error":"1:9: parse error: unexpected \\"}\\""}';
    let caught: unknown;
    try {
      parsePrometheusResponse(body, "canary P95 latency");
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PrometheusQueryError);
    const error = caught as PrometheusQueryError;
    expect(error.errorType).toBe("bad_data");
    expect(error.error).toBe('1:9: parse error: unexpected "}"');
    expect(error.message).toBe('Prometheus query failed (canary P95 latency): bad_data: 1:9: parse error: unexpected "}"');
  });

  it.each([
    ["", "body: empty response"],
    ['{"status":"success","data":{"resultType":"vec', "body: not JSON"],
    ["<html>502 Bad Gateway</html>", "body: not JSON"],
    ["[]", "body: expected a JSON object"],
    ['{"status":"ok"}', 'status: expected "success" or "error", got "ok"'],
    ['{"status":"success"}', "data: expected an object"],
    ['{"status":"success","data":{"resultType":"histogram","result":[]}}', 'data.resultType: expected vector, matrix, scalar or string, got "histogram"'],
    ['{"status":"success","data":{"resultType":"vector","result":{}}}', "data.result: expected an array for a vector"],
    ['{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}}', "data.result[0].value: sample value must be a string, got 2"],
    ['{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"abc"]}]}}', 'data.result[0].value: sample value "abc" is not a number'],
    ['{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"1"]}]}}', "data.result[0].metric: expected an object of string labels"],
    ['{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1]]}]}}', "data.result[0].values[0]: expected [<unix time>"],
  ])("rejects %j", (body, message) => {
    expect(() => parsePrometheusResponse(body, "q")).toThrow(message);
    expect(() => parsePrometheusResponse(body, "q")).toThrow(/^invalid Prometheus API response \(q\)/);
  });
});

describe("renderQuery", () => {
  const values = {
    namespace: "llm-observatory",
    ingress: "analytics-api",
    service: "analytics-api",
    canaryService: "analytics-api-green",
    canaryServicePort: "80",
    canaryDeployment: "analytics-api-green",
    interval: "1m",
  };

  it("fills the default error-rate query with the ingress-nginx canary upstream name", () => {
    const { errorRate } = environmentsConfigSchema.parse({}).production.prometheus.queries;
    const query = renderQuery(errorRate, values);
    expect(query).toContain('canary="llm-observatory-analytics-api-green-80",status=~"5.."}[1m]');
    expect(query).not.toContain("{{");
  });

  it("fills the default live-traffic queries with the public Service's requests the canary did not take", () => {
    const { liveErrorRate, liveLatencyP95 } = environmentsConfigSchema.parse({}).production.prometheus.queries;
    expect(renderQuery(liveErrorRate, { ...values, interval: "900s" })).toBe(
      'sum(rate(nginx_ingress_controller_requests{namespace="llm-observatory",service="analytics-api",canary="",status=~"5.."}[900s]))' +
        ' / sum(rate(nginx_ingress_controller_requests{namespace="llm-observatory",service="analytics-api",canary=""}[900s]))',
    );
    expect(renderQuery(liveLatencyP95, values)).toContain('nginx_ingress_controller_request_duration_seconds_bucket{namespace="llm-observatory",service="analytics-api",canary=""}[1m]');
  });

  it("rejects unknown placeholders and values that would break out of a PromQL string", () => {
    expect(() => renderQuery('up{pod="{{pod}}"}', values)).toThrow("unknown query placeholder {{pod}}");
    expect(() => renderQuery("{{namespace}}", { ...values, namespace: 'a"} or vector(0) #' })).toThrow("contains a quote");
  });
});

describe("prometheusQueryRequest", () => {
  const query = 'sum(rate(x{status=~"5.."}[1m]))';
  const at = new Date(Date.UTC(2024, 4, 1, 12, 0, 0, 500));

  it("goes through the API server proxy by default", () => {
    const { prometheus } = environmentsConfigSchema.parse({}).production;
    expect(prometheusQueryRequest(prometheus, query, at)).toEqual({
      kind: "api-proxy",
      path: "/api/v1/namespaces/monitoring/services/http:prometheus-server:80/proxy/api/v1/query?query=sum%28rate%28x%7Bstatus%3D%7E%225..%22%7D%5B1m%5D%29%29&time=1714564800.500",
    });
  });

  it("uses the configured URL when there is one", () => {
    const request = prometheusQueryRequest({ url: "https://prometheus.example/", service: "s", namespace: "n", port: 9090 }, query);
    expect(request).toEqual({ kind: "direct", url: "https://prometheus.example/api/v1/query?query=sum%28rate%28x%7Bstatus%3D%7E%225..%22%7D%5B1m%5D%29%29" });
    expect(new URL((request as { url: string }).url).searchParams.get("query")).toBe(query);
  });
});
