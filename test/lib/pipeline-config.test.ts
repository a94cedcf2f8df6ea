import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { parseConfig } from "../../.dagger/src/lib/pipeline-config";
import { IMAGES, TOOLS } from "../../.dagger/src/versions";
import { pipelineJsonSchema, SCHEMA_PATH } from "../support/pipeline-schema";

const errorOf = (text: string | undefined, source = "ci/pipeline.json"): string => {
  try {
    parseConfig(text, source);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected the config to be rejected");
};

describe("pipeline configuration", () => {
  it("defaults to the plan's values when there is no file", () => {
    const config = parseConfig(undefined);
    expect(config.paths).toEqual({ workspace: ".", service: "services/analytics-api", package: "analytics-api", migrations: "crates/storage/migrations" });
    expect(config.coverage.threshold).toBe(90);
    expect(config.tests.env).toEqual({ RUST_LOG: "info" });
    expect(config.tests.integrationThreads).toBe(1);
    expect(config.images).toEqual(IMAGES);
    expect(config.tools).toEqual(TOOLS);
    expect(config.image.maxSizeMb).toBe(500);
    expect(config.image.dockerfile).toBe("services/analytics-api/Dockerfile");
    expect(config.security.failOn).toEqual(["critical", "high"]);
    expect(config.environments.dev.namespace).toBe("llm-observatory-dev");
    expect(config.environments.production.canary.steps).toEqual([5]);
  });

  it("an empty object means the same as no file", () => {
    expect(parseConfig("{}")).toEqual(parseConfig(undefined));
  });

  it("keeps defaults for the fields a file leaves out", () => {
    const config = parseConfig(JSON.stringify({ coverage: { threshold: 80 }, images: { redis: "redis:7.4.2-alpine" } }));
    expect(config.coverage).toEqual({ threshold: 80, timeoutSeconds: 1800, exclude: [] });
    expect(config.images.redis).toBe("redis:7.4.2-alpine");
    expect(config.images.rust).toBe(IMAGES.rust);
  });

  it("names the file, each bad field, what was found and what was expected", () => {
    const message = errorOf(
      JSON.stringify({ coverage: { threshold: 150 }, images: { rust: "rust:latest", redis: "redis" }, tools: { sqlxCli: "^0.8" }, paths: { migrations: "/abs" } }),
    );
    expect(message.split("\n")).toEqual([
      "ci/pipeline.json is invalid:",
      '  - paths.migrations: expected a path relative to the source directory, inside it; found "/abs"',
      '  - images.rust: expected an exact version, not the moving tag "latest"; found "rust:latest"',
      '  - images.redis: expected an image reference with an exact tag or digest (e.g. rust:1.95.0-bookworm); found "redis"',
      "  - tools.sqlxCli: expected an exact version x.y.z (no ranges, no 'latest'); found \"^0.8\"",
      "  - coverage.threshold: Too big: expected number to be <=100; found 150",
    ]);
  });

  it("refuses a released tool's version that has no pinned digest, before any container starts", () => {
    expect(errorOf(JSON.stringify({ tools: { cargoDeny: "0.19.0" } })).split("\n")).toEqual([
      "ci/pipeline.json is invalid:",
      '  - tools.cargoDeny: only 0.18.9 has a pinned SHA-256 for its release binary (versions.ts TOOL_RELEASES.cargoDeny); move the version and its digests there; found "0.19.0"',
    ]);
  });

  it("rejects unknown fields (typos) by name", () => {
    expect(errorOf(JSON.stringify({ coverge: {} }))).toContain('(root): unknown field(s) "coverge"');
    expect(errorOf(JSON.stringify({ coverage: { treshold: 80 } }))).toContain('coverage: unknown field(s) "treshold"');
  });

  it("rejects a wrong type and a non-object document", () => {
    expect(errorOf(JSON.stringify({ tests: { env: { RUST_LOG: 1 } } }))).toContain("tests.env.RUST_LOG: Invalid input: expected string, received number; found 1");
    expect(errorOf("[]")).toContain("(root): Invalid input: expected object, received array");
  });

  it("reports invalid JSON with the file name", () => {
    expect(errorOf("{ nope", "--config my.json")).toMatch(/^--config my.json is not valid JSON at line 1, column 3: /);
  });

  it("refuses image tags that look pinned but move, and accepts exact versions and digests", () => {
    const moving = { rust: "rust:stable", redis: "redis:7", timescaledb: "timescale/timescaledb:latest-pg15", python: "python:lts", trivy: "aquasec/trivy:1-bookworm", k6: "grafana/k6:7-alpine" };
    const lines = errorOf(JSON.stringify({ images: moving })).split("\n").slice(1);
    expect(lines).toHaveLength(6);
    for (const [name, ref] of Object.entries(moving)) {
      expect(lines).toContain(
        `  - images.${name}: expected an exact version tag major.minor.patch (a suffix such as -bookworm is fine) or a digest @sha256:...: this tag moves with new releases; found "${ref}"`,
      );
    }
    const exact = { curl: "localhost:5000/curl:8.11.0", alpine: `alpine@sha256:${"a".repeat(64)}`, rust: `rust:1.95.0-bookworm@sha256:${"b".repeat(64)}`, gitleaks: "zricethezav/gitleaks:v8.21.2" };
    expect(parseConfig(JSON.stringify({ images: exact })).images).toMatchObject(exact);
  });

  it("a coverage threshold in (0, 1] is a fraction: refused with the percentage it probably meant", () => {
    expect(errorOf(JSON.stringify({ coverage: { threshold: 0.9 } }))).toContain("coverage.threshold: is a percentage, not a fraction: did you mean 90?; found 0.9");
    expect(errorOf(JSON.stringify({ coverage: { threshold: 1 } }))).toContain("did you mean 100?");
    expect(parseConfig(JSON.stringify({ coverage: { threshold: 0 } })).coverage.threshold).toBe(0);
    expect(parseConfig(JSON.stringify({ coverage: { threshold: 1.5 } })).coverage.threshold).toBe(1.5);
  });

  it("paths.workspace stays inside the source", () => {
    expect(errorOf(JSON.stringify({ paths: { workspace: "../other" } }))).toContain('paths.workspace: expected a path relative to the source directory, inside it; found "../other"');
    expect(errorOf(JSON.stringify({ paths: { workspace: "/abs" } }))).toContain("paths.workspace:");
  });

  it("gives the line and column of a JSON syntax error, and accepts a UTF-8 BOM", () => {
    expect(errorOf('{\n  "coverage": {},\n  nope')).toMatch(/^ci\/pipeline.json is not valid JSON at line 3, column 3: /);
    expect(errorOf('{"coverage":')).toMatch(/^ci\/pipeline.json is not valid JSON at line 1, column 13: /);
    expect(parseConfig('\uFEFF{"coverage": {"threshold": 80}}').coverage.threshold).toBe(80);
  });

  it("accepts the example configuration", () => {
    const config = parseConfig(readFileSync(new URL("../../ci/pipeline.example.json", import.meta.url), "utf8"), "ci/pipeline.example.json");
    expect(config.environments.production.canary.steps).toEqual([5, 25, 50]);
    expect(config.security.allowlist).toHaveLength(1);
    expect(config.scope.integrationTest).toEqual(["analytics-api", "storage"]);
    expect(config.tests.env).toMatchObject({ TEST_DATABASE_URL: "${DATABASE_URL}", RUST_LOG: "info" });
    expect(config.environments.dev.e2e).toEqual({ k6Script: "ci/e2e/api.js" });
    expect(config.benchmarks.package).toBe("analytics-api");
    expect(config.cleanup.keepTagsPerStream).toBe(10);
  });

  it("publishes a JSON schema that is up to date with the zod schema (run `npm run schema`)", () => {
    expect(readFileSync(SCHEMA_PATH, "utf8")).toBe(pipelineJsonSchema());
  });
});
