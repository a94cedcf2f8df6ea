import { describe, expect, it } from "vitest";
import { z } from "zod";
import { Environment, environmentsConfigSchema } from "../../.dagger/src/lib/config/environments";
import { ENVIRONMENTS } from "../../.dagger/src/lib/deploy/environment";
import { parseDurationSeconds } from "../../.dagger/src/lib/deploy/duration";

function issues(input: unknown): string[] {
  const result = environmentsConfigSchema.safeParse(input);
  if (result.success) return [];
  return result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
}

describe("Environment", () => {
  it("is a string enum in promotion order", () => {
    expect(Environment.Dev).toBe("dev");
    expect(Environment.Staging).toBe("staging");
    expect(Environment.Production).toBe("production");
    expect(ENVIRONMENTS).toEqual(["dev", "staging", "production"]);
  });
});

describe("parseDurationSeconds", () => {
  it("reads kubectl and k6 durations", () => {
    expect(parseDurationSeconds("5m")).toBe(300);
    expect(parseDurationSeconds("1h30m")).toBe(5400);
    expect(parseDurationSeconds("1m30s")).toBe(90);
    expect(parseDurationSeconds("500ms")).toBe(0.5);
  });

  it.each(["", "5", "5 min", "m", "5m1h", "-5m", "1.5m"])("rejects %j", (text) => {
    expect(() => parseDurationSeconds(text)).toThrow(/invalid duration/);
  });
});

describe("environmentsConfigSchema defaults", () => {
  const config = environmentsConfigSchema.parse({});

  it("matches the plan for each environment", () => {
    expect(config.dev).toMatchObject({ namespace: "llm-observatory-dev", rolloutTimeout: "5m", deployment: "analytics-api" });
    expect(config.staging).toMatchObject({ namespace: "llm-observatory-staging", rolloutTimeout: "10m" });
    expect(config.production).toMatchObject({ namespace: "llm-observatory", rolloutTimeout: "10m", ingress: "analytics-api" });
    for (const environment of ENVIRONMENTS) {
      expect(config[environment]).toMatchObject({ service: "analytics-api", container: "analytics-api" });
      expect(config[environment].smoke).toEqual({ paths: ["/health", "/metrics"], deadlineSeconds: 120, metrics: "samples" });
    }
    // the plan's URLs
    expect(config.dev.url).toBe("https://dev.api.llm-observatory.io");
    expect(config.staging.url).toBe("https://staging.api.llm-observatory.io");
    expect(config.production.url).toBe("https://api.llm-observatory.io");
  });

  it("has the plan's k6 load test", () => {
    expect(config.staging.loadTest.stages).toEqual([
      { duration: "1m", target: 50 },
      { duration: "3m", target: 100 },
      { duration: "1m", target: 0 },
    ]);
    expect(config.staging.loadTest.thresholds).toEqual({ http_req_duration: ["p(95)<500"], http_req_failed: ["rate<0.01"] });
    expect(config.staging.loadTest.script).toBeUndefined();
  });

  it("has the plan's canary rules", () => {
    expect(config.production.canary).toEqual({
      steps: [5],
      intervalSeconds: 60,
      windowSeconds: 600,
      errorRate: { threshold: 0.01, consecutive: 2 },
      latencyP95: { thresholdSeconds: 2, consecutive: 5 },
      healthFailures: { threshold: 0.5 },
      graceSeconds: 300,
    });
    expect(config.production.prometheus).toMatchObject({ service: "prometheus-server", namespace: "monitoring", port: 80 });
    expect(config.production.prometheus.url).toBeUndefined();
    expect(config.production.prometheus.queries.errorRate).toContain('status=~"5.."');
    expect(config.production.prometheus.queries.errorRate).toContain('canary="{{namespace}}-{{canaryService}}-{{canaryServicePort}}"');
  });

  it("fills defaults inside a partially given object (prefault)", () => {
    const partial = environmentsConfigSchema.parse({ production: { canary: { errorRate: { threshold: 0.02 } } } });
    expect(partial.production.canary.errorRate).toEqual({ threshold: 0.02, consecutive: 2 });
    expect(partial.production.canary.windowSeconds).toBe(600);
    expect(partial.dev.namespace).toBe("llm-observatory-dev");
  });

  it("describes every field (the JSON schema is published)", () => {
    const schema = z.toJSONSchema(environmentsConfigSchema, { io: "input" }) as { properties: Record<string, { description?: string; properties: Record<string, { description?: string }> }> };
    for (const environment of ENVIRONMENTS) {
      expect(schema.properties[environment].description).toBeTruthy();
      for (const [field, property] of Object.entries(schema.properties[environment].properties)) {
        expect(property.description, `${environment}.${field}`).toBeTruthy();
      }
    }
  });
});

describe("environmentsConfigSchema rejects bad values", () => {
  it.each([
    [{ dev: { rolloutTimeout: "5 minutes" } }, "dev.rolloutTimeout: expected a duration"],
    [{ dev: { rolloutTimeout: "0s" } }, "dev.rolloutTimeout: duration must be positive"],
    [{ dev: { namespace: "LLM_Dev" } }, "dev.namespace: namespace must be a DNS label"],
    [{ staging: { url: "ftp://example.com" } }, "staging.url: expected an absolute http(s) URL"],
    [{ staging: { url: "analytics.example" } }, "staging.url: expected an absolute http(s) URL"],
    [{ dev: { smoke: { paths: ["health"] } } }, "dev.smoke.paths.0: smoke paths start with '/'"],
    [{ dev: { smoke: { paths: [] } } }, "dev.smoke.paths: at least one smoke path is needed"],
    [{ production: { canary: { steps: [10, 5] } } }, "production.canary.steps: canary steps must be strictly increasing"],
    [{ production: { canary: { steps: [100] } } }, "production.canary.steps.0: a canary weight is at most 99 (%); 100 is the switch"],
    [{ production: { canary: { steps: [0] } } }, "production.canary.steps.0: a canary weight is at least 1 (%)"],
    [{ production: { canary: { errorRate: { threshold: 1.5 } } } }, "production.canary.errorRate.threshold"],
    [{ production: { canary: { windowSeconds: 30 } } }, "production.canary.windowSeconds: windowSeconds must be at least intervalSeconds"],
    [
      { production: { canary: { windowSeconds: 180 } } },
      "production.canary.latencyP95.consecutive: 5 consecutive intervals can never happen in a window of 3 intervals (180s / 60s)",
    ],
    [{ production: { prometheus: { port: 0 } } }, "production.prometheus.port"],
    [{ production: { prometheus: { queries: { errorRate: 'rate(x{pod="{{pod}}"}[1m])' } } } }, "production.prometheus.queries.errorRate: unknown placeholder(s) {{pod}}"],
    [{ staging: { loadTest: { stages: [{ duration: "1 minute", target: 5 }] } } }, "staging.loadTest.stages.0.duration"],
    [{ staging: { loadTest: { stages: [{ duration: "1m", target: -1 }] } } }, "staging.loadTest.stages.0.target"],
    [{ staging: { loadTest: { thresholds: { http_req_failed: [] } } } }, "staging.loadTest.thresholds.http_req_failed"],
    [{ dev: { loadTest: {} } }, 'dev: Unrecognized key: "loadTest"'],
    [{ qa: {} }, ': Unrecognized key: "qa"'],
  ])("%j", (input, expected) => {
    expect(issues(input).join("\n")).toContain(expected);
  });
});
