import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { environmentsConfigSchema } from "../../.dagger/src/lib/config/environments";
import { type CanarySample, canaryVerdict, reviewRecentErrors } from "../../.dagger/src/lib/deploy/canary";
import { parsePrometheusResponse, singleValue } from "../../.dagger/src/lib/deploy/prometheus";

const thresholds = environmentsConfigSchema.parse({}).production.canary;
const start = Date.UTC(2024, 4, 1, 12, 0, 0);
const healthy = { errorRate: 0.001, latencyP95Seconds: 0.2, healthFailureRate: 0 };

/** One sample per minute; overrides by 1-based interval. */
function series(count: number, overrides: Record<number, Partial<Omit<CanarySample, "at">>> = {}): CanarySample[] {
  return Array.from({ length: count }, (_, index) => ({ at: start + index * 60_000, ...healthy, ...overrides[index + 1] }));
}

const vector = (value: string) => ({ status: "success", data: { resultType: "vector", result: [{ metric: {}, value: [start / 1000, value] }] } });
const empty = { status: "success", data: { resultType: "vector", result: [] } };

describe("canaryVerdict", () => {
  it("continues while the window is not complete", () => {
    const verdict = canaryVerdict(series(3), thresholds);
    expect(verdict).toEqual({ decision: "continue", breaches: [], intervalsAnalysed: 3, intervalsRequired: 10 });
    expect(canaryVerdict([], thresholds).decision).toBe("continue");
  });

  it("promotes after windowSeconds / intervalSeconds healthy intervals", () => {
    const verdict = canaryVerdict(series(10), thresholds);
    expect(verdict.decision).toBe("promote");
    expect(verdict.reason).toBe("10 interval(s) analysed without breaching a rollback rule");
    expect(canaryVerdict(series(9), thresholds).decision).toBe("continue");
  });

  it("tolerates an error-rate breach shorter than the consecutive count", () => {
    const verdict = canaryVerdict(series(10, { 4: { errorRate: 0.05 } }), thresholds);
    expect(verdict.decision).toBe("promote");
    expect(verdict.breaches).toEqual([{ metric: "errorRate", interval: 4, at: new Date(start + 3 * 60_000), value: 0.05, threshold: 0.01 }]);
  });

  it("rolls back on exactly `consecutive` error-rate breaches, naming values and intervals", () => {
    const verdict = canaryVerdict(series(10, { 4: { errorRate: 0.032 }, 5: { errorRate: 0.05 } }), thresholds);
    expect(verdict.decision).toBe("rollback");
    expect(verdict.intervalsAnalysed).toBe(5);
    expect(verdict.reason).toBe(
      "5xx error rate above 1% for 2 consecutive interval(s): 3.2% at interval 4 (2024-05-01T12:03:00.000Z), 5% at interval 5 (2024-05-01T12:04:00.000Z)",
    );
  });

  it("does not count an error rate equal to the threshold as a breach", () => {
    expect(canaryVerdict(series(10, { 1: { errorRate: 0.01 }, 2: { errorRate: 0.01 } }), thresholds).decision).toBe("promote");
  });

  it("resets the streak when the error rate recovers", () => {
    const verdict = canaryVerdict(
      series(10, { 2: { errorRate: 0.02 }, 3: { errorRate: 0.001 }, 4: { errorRate: 0.02 }, 6: { errorRate: 0.03 } }),
      thresholds,
    );
    expect(verdict.decision).toBe("promote");
    expect(verdict.breaches.map((breach) => breach.interval)).toEqual([2, 4, 6]);
  });

  it("needs 5 consecutive P95 breaches", () => {
    const slow = { latencyP95Seconds: 2.5 };
    const four = canaryVerdict(series(10, { 3: slow, 4: slow, 5: slow, 6: slow }), thresholds);
    expect(four.decision).toBe("promote");
    const five = canaryVerdict(series(10, { 3: slow, 4: slow, 5: slow, 6: slow, 7: slow }), thresholds);
    expect(five.decision).toBe("rollback");
    expect(five.reason).toMatch(/^P95 latency above 2s for 5 consecutive interval\(s\): 2\.5s at interval 3 .* 2\.5s at interval 7 /);
  });

  it("rolls back on a single health-check failure interval above 50 %", () => {
    const verdict = canaryVerdict(series(10, { 2: { healthFailureRate: 0.67 } }), thresholds);
    expect(verdict.decision).toBe("rollback");
    expect(verdict.reason).toBe("health-check failure rate above 50%: 67% at interval 2 (2024-05-01T12:01:00.000Z)");
    expect(canaryVerdict(series(10, { 2: { healthFailureRate: 0.5 } }), thresholds).decision).toBe("promote");
  });

  it.each([
    ["null", null],
    ["NaN", Number.NaN],
  ])("fails closed on %s data", (_, missing) => {
    const verdict = canaryVerdict(series(10, { 6: { errorRate: missing } }), thresholds);
    expect(verdict.decision).toBe("rollback");
    expect(verdict.reason).toMatch(/^no data for 5xx error rate at interval 6 \(2024-05-01T12:05:00\.000Z\)/);
    expect(verdict.breaches).toEqual([{ metric: "errorRate", interval: 6, at: new Date(start + 5 * 60_000), value: null, threshold: 0.01 }]);
  });

  it("names every metric without data", () => {
    const verdict = canaryVerdict(series(1, { 1: { latencyP95Seconds: null, healthFailureRate: null } }), thresholds);
    expect(verdict.reason).toMatch(/^no data for P95 latency and health-check failure rate at interval 1/);
  });

  it("waits for one more interval when the window ends inside a breach streak", () => {
    const pending = canaryVerdict(series(10, { 10: { errorRate: 0.02 } }), thresholds);
    expect(pending.decision).toBe("continue");
    expect(pending.reason).toBe("window complete but 5xx error rate is above threshold for 1/2 intervals: one more interval decides");
    expect(canaryVerdict(series(11, { 10: { errorRate: 0.02 }, 11: { errorRate: 0.02 } }), thresholds).decision).toBe("rollback");
    expect(canaryVerdict(series(11, { 10: { errorRate: 0.02 } }), thresholds).decision).toBe("promote");
  });

  it("orders samples by time and accepts Dates", () => {
    const shuffled = series(3, { 1: { errorRate: 0.05 }, 3: { errorRate: 0.05 } }).reverse();
    expect(canaryVerdict(shuffled, thresholds).decision).toBe("continue");
    const dated = series(2, { 1: { errorRate: 0.05 }, 2: { errorRate: 0.05 } }).map((sample) => ({ ...sample, at: new Date(sample.at) }));
    expect(canaryVerdict(dated, thresholds).decision).toBe("rollback");
  });

  it("treats +Inf latency (all requests in the last bucket) as a breach", () => {
    const slow = { latencyP95Seconds: Number.POSITIVE_INFINITY };
    const verdict = canaryVerdict(series(5, { 1: slow, 2: slow, 3: slow, 4: slow, 5: slow }), thresholds);
    expect(verdict.decision).toBe("rollback");
    expect(verdict.reason).toContain("+Inf at interval 1");
  });
});

/** A sample as deployProduction reads it: one instant query per metric, through parsePrometheusResponse and singleValue. */
function sampleFromPrometheus(at: number, responses: { errorRate: unknown; latencyP95: unknown; healthFailures: unknown }): CanarySample {
  const read = (response: unknown, source: string) => singleValue(parsePrometheusResponse(response, source), source);
  return {
    at,
    errorRate: read(responses.errorRate, "canary error rate"),
    latencyP95Seconds: read(responses.latencyP95, "canary P95 latency"),
    healthFailureRate: read(responses.healthFailures, "canary health failures"),
  };
}

describe("canary samples from Prometheus answers", () => {
  it("builds a sample from three instant-query responses", () => {
    const sample = sampleFromPrometheus(start, {
      errorRate: JSON.stringify(vector("0.004")),
      latencyP95: vector("0.35"),
      healthFailures: { status: "success", data: { resultType: "scalar", result: [start / 1000, "0"] } },
    });
    expect(sample).toEqual({ at: start, errorRate: 0.004, latencyP95Seconds: 0.35, healthFailureRate: 0 });
  });

  it("maps an empty result (no traffic) and NaN to no data, which rolls back", () => {
    const sample = sampleFromPrometheus(start, { errorRate: empty, latencyP95: vector("NaN"), healthFailures: vector("0") });
    expect(sample.errorRate).toBeNull();
    expect(sample.latencyP95Seconds).toBeNaN();
    expect(canaryVerdict([sample], thresholds).decision).toBe("rollback");
  });

  it("rejects the documented multi-series vector and matrix samples", () => {
    const documentedVector = readFileSync(new URL("../fixtures/reports/prometheus/docs-api-v1-query-vector-example.json", import.meta.url), "utf8");
    const documentedMatrix = readFileSync(new URL("../fixtures/reports/prometheus/docs-api-v1-query_range-matrix-example.json", import.meta.url), "utf8");
    expect(() => sampleFromPrometheus(start, { errorRate: documentedVector, latencyP95: vector("1"), healthFailures: vector("0") })).toThrow(
      "(canary error rate) returned 2 series",
    );
    expect(() => sampleFromPrometheus(start, { errorRate: vector("0"), latencyP95: documentedMatrix, healthFailures: vector("0") })).toThrow(
      "(canary P95 latency) returned a matrix",
    );
  });

  it("propagates a query error naming the query", () => {
    expect(() =>
      sampleFromPrometheus(start, {
        errorRate: vector("0"),
        latencyP95: vector("0.1"),
        healthFailures: { status: "error", errorType: "execution", error: "query timed out" },
      }),
    ).toThrow("Prometheus query failed (canary health failures): execution: query timed out");
  });
});

describe("reviewRecentErrors (the pre-check on the live colour)", () => {
  const rules = { errorRate: { threshold: 0.01, consecutive: 2 }, latencyP95: { thresholdSeconds: 2, consecutive: 5 } };

  it("passes figures within the canary's thresholds and states them", () => {
    expect(reviewRecentErrors({ errorRate: 0.002, latencyP95Seconds: 0.31 }, rules, "the last 900s")).toEqual({
      withinRules: true,
      figures: "5xx error rate 0.2% (max 1%), P95 latency 0.31s (max 2s) over the last 900s",
      breaches: [],
    });
  });

  it("refuses a 5xx rate or a P95 above the threshold, naming the figure", () => {
    const review = reviewRecentErrors({ errorRate: 0.043, latencyP95Seconds: 2.5 }, rules, "the last 900s");
    expect(review.withinRules).toBe(false);
    expect(review.breaches).toEqual(["5xx error rate 4.3% is above 1% over the last 900s", "P95 latency 2.5s is above 2s over the last 900s"]);
  });

  it("fails closed on missing data (empty result or 0/0)", () => {
    const review = reviewRecentErrors({ errorRate: Number.NaN, latencyP95Seconds: null }, rules, "the last 900s");
    expect(review.withinRules).toBe(false);
    expect(review.breaches[0]).toMatch(/^no data for the 5xx error rate over the last 900s/);
    expect(review.breaches[1]).toMatch(/^no data for the P95 latency/);
  });

  it("a value exactly at the threshold is within the rules (the canary rolls back above it)", () => {
    expect(reviewRecentErrors({ errorRate: 0.01, latencyP95Seconds: 2 }, rules, "w").withinRules).toBe(true);
  });
});
