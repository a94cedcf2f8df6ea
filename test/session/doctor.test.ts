// doctor through the recording session, on the fixture repositories as the engine would hand them
// over: one glob and the files the checks read, and no container at all.
import { describe, expect, it } from "vitest";
import { BROKEN, FIXTURES, GOOD, failureOf, healthyScript, sourceWith, startPerTest } from "../support/module";

const start = startPerTest();
const MESSY = `${FIXTURES}messy`;
const WORKSPACE = `${FIXTURES}workspace`;

/** `check | verdict` pairs of doctor's table, in order. */
function rows(table: string): string[] {
  return [...table.matchAll(/^\| ([^|]+?) \| (✅ ok|⛔ blocker|⚠️ warning) \|/gm)].map((m) => `${m[1]}: ${m[2]!.split(" ")[1]}`);
}

const ALL_OK = ["config: ok", "paths: ok", "scope: ok", "lockfile: ok", "migrations: ok", "deny.toml: ok", "Dockerfile: ok", "tests: ok", "tests env: ok", "dependencies: ok", "smoke: ok"];

describe("doctor", () => {
  it.each([["good", GOOD], ["broken", BROKEN]])("%s: every check ok, read with one glob and no container", async (_name, dir) => {
    const { session, call } = await start(healthyScript(), dir);
    const table = await call((ci) => ci.doctor());
    expect(rows(table)).toEqual(ALL_OK);
    expect(table).toContain("**No blocker.**");
    expect(session.execs).toEqual([]);
    expect(session.queries.filter((q) => q.leaf === "glob")).toHaveLength(1);
    expect(session.queries.some((q) => q.chain.some((s) => s.field === "container"))).toBe(false);
  });

  it("workspace: a ten-crate workspace with the service as one member, read through its ci/pipeline.json", async () => {
    const { session, call } = await start(healthyScript(), WORKSPACE);
    const table = await call((ci) => ci.doctor());
    expect(rows(table)).toEqual(ALL_OK);
    expect(table).toContain("| config | ✅ ok | ci/pipeline.json is valid |");
    // the integration tests cover the service's package (the plan's scope), not crates/ingest's tests
    expect(table).toContain("| tests | ✅ ok | services/analytics-api/tests/api.rs: 2 test(s), 1 ignored |");
    expect(session.execs).toEqual([]);
  });

  it("messy: fails listing every blocker with its fix, before any container", async () => {
    const { session, call } = await start(healthyScript(), MESSY);
    const err = await failureOf(call((ci) => ci.doctor()));
    expect(err.message).toMatch(/^doctor: 16 blocker\(s\) found before any build:/);
    expect(rows(err.message)).toEqual([
      "config: ok", "paths: ok", "scope: ok", "lockfile: blocker",
      "migrations: blocker", "migrations: blocker", "migrations: warning", "migrations: blocker", "migrations: blocker",
      ...Array(7).fill("deny.toml: blocker"),
      "Dockerfile: blocker", "Dockerfile: blocker", "Dockerfile: blocker",
      "tests: blocker", "tests env: warning", "tests env: warning", "dependencies: warning", "smoke: ok",
    ]);
    for (const expected of [
      "Cargo.lock is missing, and .gitignore ignores it",
      "20240102000000_hourly_rollup.sql: a TimescaleDB continuous aggregate",
      "seed_data.sql: sqlx migrate run fails on it",
      "version 20240103000000 is used by 20240103000000_name_index.sql and 20240103000000_service_index.sql",
      ".cargo/deny.toml:4: [advisories] unmaintained = \"warn\"",
      "services/analytics-api/Dockerfile:7: config/default.toml is not in the build context",
      "every integration test is #[ignore]d",
      "TEST_DATABASE_URL is read by services/analytics-api/tests/db.rs",
      'timescale-helpers follows the branch "main"',
    ]) expect(err.message).toContain(expected);
    expect(session.execs).toEqual([]);
  });

  it("an invalid config is a blocker row naming the field, and the other checks still run on the defaults", async () => {
    const dir = sourceWith({ "ci/pipeline.json": JSON.stringify({ coverage: { threshold: "ninety" } }) });
    const { call } = await start(healthyScript(), dir);
    const err = await failureOf(call((ci) => ci.doctor()));
    expect(rows(err.message)).toEqual(["config: blocker", ...ALL_OK.slice(1)]);
    expect(err.message).toContain('ci/pipeline.json is invalid: - coverage.threshold: Invalid input: expected number, received string; found "ninety"');
  });

  it("a configured security.denyConfig that does not exist is a blocker, not the module's default policy", async () => {
    const dir = sourceWith({ "ci/pipeline.json": JSON.stringify({ security: { denyConfig: "deny.toml" } }) });
    const { call } = await start(healthyScript(), dir);
    const err = await failureOf(call((ci) => ci.doctor()));
    expect(err.message).toContain('security.denyConfig = "deny.toml" (ci/pipeline.json) does not exist in the source');
  });
});

describe("ci runs doctor first", () => {
  it("messy: ci fails with doctor's blockers and starts no container", async () => {
    const { session, call } = await start(healthyScript(), MESSY);
    const err = await failureOf(call((ci) => ci.ci()));
    expect(err.message).toMatch(/^ci: doctor found 16 blocker\(s\), so no gate was started/);
    expect(err.message).toContain("Cargo.lock is missing");
    expect(session.execs).toEqual([]);
  });
});

describe("a missing lockfile, gate by gate", () => {
  it.each(["clippy", "doc", "unitTest", "integrationTest", "audit", "deny"] as const)(
    "%s fails with doctor's lockfile message before any container, not with cargo's",
    async (gate) => {
      const { session, call } = await start(healthyScript(), MESSY);
      const err = await failureOf(call((ci) => ci[gate]()));
      expect(err.message).toMatch(new RegExp(`^${gate}: Cargo\\.lock is missing, and \\.gitignore ignores it \\("Cargo\\.lock"\\): cargo refuses to create it under --locked`));
      expect(err.message).toContain("the image build (services/analytics-api/Dockerfile copies Cargo.lock)");
      expect(err.message).toContain("Fix: run `cargo generate-lockfile`");
      expect(session.execs).toEqual([]);
    },
  );
});
