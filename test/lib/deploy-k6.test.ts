import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_K6_SCRIPT, K6_SUMMARY_PATH, k6Options, missingThresholds, parseK6Summary } from "../../.dagger/src/lib/deploy/k6";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/reports/k6/${name}`, import.meta.url), "utf8");

describe("parseK6Summary on handleSummary data", () => {
  it("reads the HTTP sample", () => {
    const summary = parseK6Summary(fixture("handlesummary-data-http-simple.json"));
    expect(summary).toEqual({
      format: "handleSummary",
      p95Ms: 30.0256841,
      errorRate: 0.39749430523917995,
      requestsPerSecond: 35.94634922417172,
      requests: 878,
      testRunDurationMs: 24425.289882,
      thresholds: [
        { metric: "http_req_duration", expression: "p(95)<1000", ok: true },
        { metric: "iteration_duration", expression: "max<4000", ok: true },
      ],
      failedThresholds: [],
    });
  });

  it("says which metric is missing in the gRPC sample (no HTTP traffic measured)", () => {
    expect(() => parseK6Summary(fixture("handlesummary-data-grpc-failed-threshold.json"))).toThrow(
      /^k6 summary has no "http_req_duration" metric \(no HTTP request completed, or the script made none\); metrics present: checks, data_received, .*grpc_req_duration/,
    );
  });

  it("reports failed thresholds (gRPC sample with HTTP metrics added)", () => {
    const data = JSON.parse(fixture("handlesummary-data-grpc-failed-threshold.json"));
    const http = JSON.parse(fixture("handlesummary-data-http-simple.json"));
    for (const name of ["http_req_duration", "http_req_failed", "http_reqs"]) data.metrics[name] = http.metrics[name];
    const summary = parseK6Summary(data);
    expect(summary.failedThresholds).toEqual([{ metric: "fake_rate", expression: "rate >= 0.8", ok: false }]);
    expect(summary.thresholds).toContainEqual({ metric: "grpc_req_duration", expression: "med <= 2", ok: true });
    expect(summary.thresholds).toHaveLength(3);
  });

  it("asks for p(95) when summaryTrendStats dropped it", () => {
    const data = JSON.parse(fixture("handlesummary-data-http-simple.json"));
    delete data.metrics.http_req_duration.values["p(95)"];
    expect(() => parseK6Summary(data)).toThrow('k6 summary metric "http_req_duration" has no numeric "p(95)" (found: med, p(90), p(99), avg, min, max); add p(95) to summaryTrendStats');
  });
});

describe("parseK6Summary on --summary-export files", () => {
  // The legacy export flattens values and marks a threshold `true` when it FAILED (grafana/k6#1498).
  const exported = {
    root_group: { name: "", path: "", id: "d41d8cd98f00b204e9800998ecf8427e", groups: {}, checks: {} },
    metrics: {
      http_req_duration: { avg: 120.5, min: 10.1, med: 100.2, max: 900.3, "p(90)": 300.4, "p(95)": 612.7, thresholds: { "p(95)<500": true } },
      http_req_failed: { passes: 3, fails: 997, value: 0.003, thresholds: { "rate<0.01": false } },
      http_reqs: { count: 1000, rate: 16.6 },
    },
  };

  it("reads values and inverts the threshold booleans", () => {
    const summary = parseK6Summary(JSON.stringify(exported));
    expect(summary).toMatchObject({ format: "summary-export", p95Ms: 612.7, errorRate: 0.003, requestsPerSecond: 16.6, requests: 1000, testRunDurationMs: null });
    expect(summary.failedThresholds).toEqual([{ metric: "http_req_duration", expression: "p(95)<500", ok: false }]);
    expect(summary.thresholds).toContainEqual({ metric: "http_req_failed", expression: "rate<0.01", ok: true });
  });
});

describe("parseK6Summary on malformed input", () => {
  it.each([
    ["", "k6 summary is empty"],
    ['{"metrics": {"http_req_duration"', "k6 summary is not valid JSON"],
    ["[]", "k6 summary has no `metrics` object"],
    ['{"metrics": {}}', 'k6 summary has no "http_req_duration" metric'],
    [
      '{"metrics": {"http_req_duration": {"type":"trend","values":{"p(95)":"12"}}}}',
      'k6 summary metric "http_req_duration" has no numeric "p(95)"',
    ],
    [
      '{"metrics": {"http_req_duration": {"type":"trend","values":{"p(95)":12}}, "http_req_failed": {"type":"rate","values":{"rate":0}}, "http_reqs": {"type":"counter","values":{"rate":1}, "thresholds": {"count>1": true}}}}',
      'k6 summary metric "http_reqs" threshold "count>1": unexpected result true',
    ],
  ])("rejects %j", (input, message) => {
    expect(() => parseK6Summary(input)).toThrow(message);
  });
});

describe("k6Options", () => {
  it("builds the options object with p(95) in the summary stats", () => {
    expect(
      k6Options(
        [
          { duration: "1m", target: 50 },
          { duration: "3m", target: 100 },
          { duration: "1m", target: 0 },
        ],
        { http_req_duration: ["p(95)<500"], http_req_failed: ["rate<0.01"] },
      ),
    ).toEqual({
      stages: [
        { duration: "1m", target: 50 },
        { duration: "3m", target: 100 },
        { duration: "1m", target: 0 },
      ],
      thresholds: { http_req_duration: ["p(95)<500"], http_req_failed: ["rate<0.01"] },
      summaryTrendStats: ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"],
    });
  });

  it("rejects bad stages and thresholds", () => {
    expect(() => k6Options([], {})).toThrow("at least one stage");
    expect(() => k6Options([{ duration: "1 min", target: 5 }], {})).toThrow('k6 stage 1: invalid duration "1 min"');
    expect(() => k6Options([{ duration: "1m", target: 1.5 }], {})).toThrow("k6 stage 1: target must be a non-negative integer, got 1.5");
    expect(() => k6Options([{ duration: "1m", target: 1 }], { http_req_failed: [] })).toThrow('threshold for "http_req_failed"');
  });
});

/**
 * Runs the built-in script with stand-ins for k6's modules: its init code, one iteration and
 * handleSummary on a genuine summary. The script is module code; imports are swapped for parameters.
 */
function loadScript(env: Record<string, string>) {
  const requests: { url: string; params: any }[] = [];
  const checks: string[] = [];
  const http = {
    get: (url: string, params: any) => {
      requests.push({ url, params });
      return { status: 200 };
    },
  };
  const check = (response: unknown, assertions: Record<string, (r: unknown) => boolean>) => {
    for (const [name, assertion] of Object.entries(assertions)) if (assertion(response)) checks.push(name);
    return true;
  };
  const body = DEFAULT_K6_SCRIPT.replace('import http from "k6/http";', "")
    .replace('import { check, sleep } from "k6";', "")
    .replace(/export const options =/, "const options =")
    .replace(/export default function \(\)/, "function iteration()")
    .replace(/export function handleSummary/, "function handleSummary");
  expect(body).not.toMatch(/\bimport\b|\bexport\b/);
  const factory = new Function("__ENV", "http", "check", "sleep", `${body}\nreturn { options, iteration, handleSummary };`);
  const script = factory(env, http, check, () => undefined) as { options: unknown; iteration: () => void; handleSummary: (data: unknown) => Record<string, string> };
  return { script, requests, checks };
}

describe("DEFAULT_K6_SCRIPT", () => {
  it("is valid ES module syntax", () => {
    const file = join(mkdtempSync(join(tmpdir(), "k6-script-")), "load.mjs");
    writeFileSync(file, DEFAULT_K6_SCRIPT);
    const result = spawnSync(process.execPath, ["--check", file], { encoding: "utf8" });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  const options = k6Options([{ duration: "1m", target: 50 }], { http_req_failed: ["rate<0.01"] });

  it("reads its options from K6_OPTIONS and hits /health and the API path", () => {
    const { script, requests, checks } = loadScript({
      BASE_URL: "https://staging.api.llm-observatory.io/",
      K6_OPTIONS: JSON.stringify(options),
      API_PATH: "/api/v1/models",
      API_TOKEN: "token-value",
    });
    expect(script.options).toEqual(options);
    script.iteration();
    expect(requests.map((request) => request.url)).toEqual([
      "https://staging.api.llm-observatory.io/health",
      "https://staging.api.llm-observatory.io/api/v1/models",
    ]);
    expect(requests[0].params.headers).toBeUndefined();
    expect(requests[1].params.headers).toEqual({ Authorization: "Bearer token-value" });
    expect(checks).toEqual(["GET /health is 200", "GET /api/v1/models is 200"]);
  });

  it("refuses to run without BASE_URL or K6_OPTIONS", () => {
    expect(() => loadScript({ K6_OPTIONS: "{}" })).toThrow("BASE_URL is not set");
    expect(() => loadScript({ BASE_URL: "http://x" })).toThrow("K6_OPTIONS is not set");
  });

  it("writes a summary parseK6Summary reads, and a text summary to stdout", () => {
    const { script } = loadScript({ BASE_URL: "http://x", K6_OPTIONS: JSON.stringify(options) });
    const data = JSON.parse(fixture("handlesummary-data-http-simple.json"));
    const outputs = script.handleSummary(data);
    expect(Object.keys(outputs).sort()).toEqual([K6_SUMMARY_PATH, "stdout"].sort());
    expect(K6_SUMMARY_PATH).toBe("/out/summary.json");
    expect(parseK6Summary(outputs[K6_SUMMARY_PATH]).p95Ms).toBe(30.0256841);
    expect(outputs.stdout).toContain("requests:        878 (35.95/s)");
    expect(outputs.stdout).toContain("failed requests: 39.75%");
    expect(outputs.stdout).toContain("duration p95:    30.03 ms");
    expect(outputs.stdout).toContain("  PASS http_req_duration: p(95)<1000");
    const failing = script.handleSummary(JSON.parse(fixture("handlesummary-data-grpc-failed-threshold.json")));
    expect(failing.stdout).toContain("  FAIL fake_rate: rate >= 0.8");
    expect(failing.stdout).toContain("requests:        n/a");
  });
});

describe("missingThresholds", () => {
  const configured = { http_req_duration: ["p(95)<500"], http_req_failed: ["rate<0.01"] };
  const evaluated = (...pairs: [string, string][]) => ({ thresholds: pairs.map(([metric, expression]) => ({ metric, expression, ok: true })) });

  it("is empty when every configured threshold was evaluated (whitespace inside an expression does not matter)", () => {
    expect(missingThresholds(evaluated(["http_req_duration", "p(95) < 500"], ["http_req_failed", "rate<0.01"], ["checks", "rate>0.9"]), configured)).toEqual([]);
  });

  it("names each configured threshold the run did not evaluate, per metric", () => {
    expect(missingThresholds(evaluated(["http_req_failed", "rate<0.01"]), configured)).toEqual(["http_req_duration p(95)<500"]);
    expect(missingThresholds(evaluated(["http_req_duration", "p(95)<800"], ["http_req_duration", "rate<0.01"]), configured)).toEqual([
      "http_req_duration p(95)<500",
      "http_req_failed rate<0.01",
    ]);
    expect(missingThresholds(evaluated(), configured)).toHaveLength(2);
  });
});
