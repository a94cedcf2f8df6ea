// doctor's checks on the fixture repositories: `good` and `workspace` (a ten-crate workspace with the
// service as one member) have no blocker, `messy` has every adoption problem the checks look for.
import { describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { doctorFindings, type DoctorInput } from "../../.dagger/src/lib/doctor/index";
import { checkDenyConfig } from "../../.dagger/src/lib/doctor/deny-config";
import { checkDockerfile } from "../../.dagger/src/lib/doctor/dockerfile";
import { checkMigrations } from "../../.dagger/src/lib/doctor/migrations";
import { checkGitDependencies, checkLockfile, checkPaths } from "../../.dagger/src/lib/doctor/cargo";
import { checkTests } from "../../.dagger/src/lib/doctor/tests-scan";
import { doctorTable, type DoctorFinding } from "../../.dagger/src/lib/doctor/model";
import { parseConfig } from "../../.dagger/src/lib/pipeline-config";
import { fixtureSnapshot } from "../support/fixture-snapshot";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
const MIGRATIONS = "crates/storage/migrations";
const DOCKERFILE = "services/analytics-api/Dockerfile";

function input(overrides: Partial<DoctorInput> = {}): DoctorInput {
  return { config: parseConfig(undefined, "defaults"), configOrigin: "defaults", ...overrides };
}

const verdicts = (findings: DoctorFinding[]) => findings.map((f) => `${f.check}: ${f.verdict}`);

describe("doctor on the fixtures", () => {
  it.each(["good", "broken", "workspace"])("%s: every check is ok", (name) => {
    const findings = doctorFindings(fixtureSnapshot(fixture(name)), input());
    expect(verdicts(findings)).toEqual([
      "config: ok", "paths: ok", "scope: ok", "lockfile: ok", "migrations: ok", "deny.toml: ok", "Dockerfile: ok", "tests: ok", "tests env: ok", "dependencies: ok", "smoke: ok",
    ]);
    expect(doctorTable(findings)).toContain("**No blocker.**");
  });

  it("messy: names every planted problem with its fix, in one pass", () => {
    const findings = doctorFindings(fixtureSnapshot(fixture("messy")), input());
    expect(verdicts(findings)).toEqual([
      "config: ok",
      "paths: ok",
      "scope: ok",
      "lockfile: blocker",
      "migrations: blocker", // continuous aggregate without -- no-transaction
      "migrations: blocker", // CREATE INDEX CONCURRENTLY
      "migrations: warning", // queries.sql, ignored by sqlx
      "migrations: blocker", // seed_data.sql
      "migrations: blocker", // duplicate version
      "deny.toml: blocker", // vulnerability
      "deny.toml: blocker", // unmaintained = "warn"
      "deny.toml: blocker", // notice
      "deny.toml: blocker", // unlicensed
      "deny.toml: blocker", // allow-osi-fsf-free
      "deny.toml: blocker", // copyleft
      "deny.toml: blocker", // default
      "Dockerfile: blocker", // Cargo.lock
      "Dockerfile: blocker", // config/default.toml
      "Dockerfile: blocker", // migrations excluded by .dockerignore
      "tests: blocker", // only ignored tests
      "tests env: warning", // TEST_DATABASE_URL
      "tests env: warning", // TEST_REDIS_URL
      "dependencies: warning", // branch = "main"
      "smoke: ok", // explains smoke.metrics
    ]);
    const text = doctorTable(findings);
    expect(text).toContain("16 blocker(s), 4 warning(s)");
    const lockfile = findings.find((f) => f.check === "lockfile")!;
    expect(lockfile.found).toContain('.gitignore ignores it ("Cargo.lock")');
    for (const gate of ["clippy", "doc", "unitTest", "integrationTest", "audit", "deny"]) expect(lockfile.found).toContain(`${gate} (--locked)`);
    expect(lockfile.found).toContain(`the image build (${DOCKERFILE} copies Cargo.lock)`);
    expect(lockfile.fix).toContain("remove Cargo.lock from .gitignore");
    expect(text).toContain("seed_data.sql: sqlx migrate run fails on it");
    expect(text).toContain('TEST_DATABASE_URL": "${DATABASE_URL}"');
    expect(text).toContain('TEST_REDIS_URL": "${REDIS_URL}"');
    expect(text).toContain('timescale-helpers follows the branch "main"');
    expect(text).toContain('pattern "**/*.sql"');
  });
});

describe("lockfile", () => {
  it("a lockfile that exists but is git-ignored still blocks: a fresh clone has none", () => {
    const source = fixtureSnapshot(fixture("good"), { ".gitignore": "/target\n/Cargo.lock\n" });
    const [finding] = checkLockfile(source, ".", DOCKERFILE);
    expect(finding!.verdict).toBe("blocker");
    expect(finding!.found).toContain('Cargo.lock is here but .gitignore ignores it ("/Cargo.lock")');
  });

  it("a later !Cargo.lock re-includes it", () => {
    const source = fixtureSnapshot(fixture("good"), { ".gitignore": "*.lock\n!Cargo.lock\n" });
    expect(checkLockfile(source, ".", DOCKERFILE)[0]!.verdict).toBe("ok");
  });
});

describe("migrations (sqlx-cli 0.8.2 rules)", () => {
  const withMigrations = (files: Record<string, string>) =>
    fixtureSnapshot(fixture("good"), Object.fromEntries(Object.entries(files).map(([name, sql]) => [`${MIGRATIONS}/${name}`, sql])));

  it("-- no-transaction as the first line lets a continuous aggregate through; anywhere else it does not", () => {
    const aggregate = "CREATE MATERIALIZED VIEW v WITH (timescaledb.continuous) AS SELECT 1;";
    expect(checkMigrations(withMigrations({ "3_v.sql": `-- no-transaction\n${aggregate}` }), MIGRATIONS)[0]!.verdict).toBe("ok");
    const late = checkMigrations(withMigrations({ "3_v.sql": `-- view\n-- no-transaction\n${aggregate}` }), MIGRATIONS);
    expect(verdicts(late)).toEqual(["migrations: blocker"]);
  });

  it("a commented-out CONCURRENTLY is not a statement", () => {
    expect(checkMigrations(withMigrations({ "3_i.sql": "-- CREATE INDEX CONCURRENTLY x ON events (name);\nSELECT 1;" }), MIGRATIONS)[0]!.verdict).toBe("ok");
  });

  it("reversible pairs: .up with its .down is fine, a lone .down never runs, a lone .up cannot be reverted", () => {
    const paired = checkMigrations(withMigrations({ "3_a.up.sql": "SELECT 1;", "3_a.down.sql": "SELECT 1;" }), MIGRATIONS);
    expect(verdicts(paired)).toEqual(["migrations: ok"]);
    const lone = checkMigrations(withMigrations({ "4_b.down.sql": "SELECT 1;", "5_c.up.sql": "SELECT 1;" }), MIGRATIONS);
    expect(lone.map((f) => f.found)).toEqual([
      expect.stringContaining("4_b.down.sql: a .down.sql without its .up.sql of version 4"),
      expect.stringContaining("5_c.up.sql: an .up.sql without its .down.sql"),
    ]);
    expect(verdicts(lone)).toEqual(["migrations: warning", "migrations: warning"]);
  });

  it("a simple and an .up migration of one version collide", () => {
    const found = checkMigrations(withMigrations({ "7_a.sql": "SELECT 1;", "7_b.up.sql": "SELECT 1;", "7_b.down.sql": "SELECT 1;" }), MIGRATIONS);
    expect(found[0]!.found).toContain("version 7 is used by 7_a.sql and 7_b.up.sql");
  });

  it("a missing migrations folder is a blocker naming paths.migrations", () => {
    const [finding] = checkMigrations(fixtureSnapshot(fixture("good")), "db/migrations");
    expect(finding!.found).toBe('paths.migrations = "db/migrations" does not exist in the source');
  });
});

describe("deny.toml (cargo-deny 0.18.9)", () => {
  it("top-level graph keys and feature-depth moved: warnings, not blockers", () => {
    const found = checkDenyConfig('targets = [{ triple = "x86_64-unknown-linux-gnu" }]\nfeature-depth = 1\n[bans]\nallow-build-scripts = []\n', "deny.toml");
    expect(verdicts(found)).toEqual(["deny.toml: warning", "deny.toml: warning", "deny.toml: warning"]);
    expect(found.map((f) => f.fix)).toEqual(["move it under [graph]", "move it under [output]", "move it to [bans.build] allow-build-scripts"]);
  });

  it("the current format passes, unmaintained as a scope included", () => {
    const found = checkDenyConfig('[graph]\nall-features = true\n[advisories]\nunmaintained = "workspace"\nyanked = "deny"\n[licenses]\nallow = ["MIT"]\n', "deny.toml");
    expect(verdicts(found)).toEqual(["deny.toml: ok"]);
  });

  it("a dotted key is read in its table", () => {
    expect(checkDenyConfig('advisories.notice = "warn"\n', "deny.toml")[0]!.found).toContain("[advisories] notice was removed");
  });

  it("an explicitly configured denyConfig that does not exist is a blocker, never the module's default", () => {
    const config = parseConfig(JSON.stringify({ security: { denyConfig: "deny.toml" } }));
    const findings = doctorFindings(fixtureSnapshot(fixture("good")), input({ config, configOrigin: "ci/pipeline.json" }));
    expect(findings.find((f) => f.check === "deny.toml")).toMatchObject({ verdict: "blocker", found: 'security.denyConfig = "deny.toml" (ci/pipeline.json) does not exist in the source' });
  });
});

describe("Dockerfile", () => {
  it("reads continuation lines, JSON form, flags; skips --from and URLs", () => {
    const dockerfile = [
      "FROM x AS b",
      'COPY --chown=1:1 ["Cargo.toml", "./"]',
      "COPY --from=b /out /out",
      "ADD https://example.com/file.tar.gz /tmp/",
      "COPY services/analytics-api/src \\",
      "     services/missing \\",
      "     /build/",
    ].join("\n");
    const found = checkDockerfile(fixtureSnapshot(fixture("good"), { [DOCKERFILE]: dockerfile }), DOCKERFILE, ".");
    expect(found.map((f) => f.found)).toEqual([`${DOCKERFILE}:5: services/missing is not in the build context (.): the image build fails on it`]);
  });

  it("a glob source matches files; an exception pattern brings an ignored file back", () => {
    const source = fixtureSnapshot(fixture("good"), {
      [DOCKERFILE]: "COPY crates/*/Cargo.toml /b/\nCOPY crates/storage/migrations /m/\n",
      ".dockerignore": "**/*.sql\n!crates/storage/migrations/*.sql\n",
    });
    expect(verdicts(checkDockerfile(source, DOCKERFILE, "."))).toEqual(["Dockerfile: ok"]);
  });

  it("a directory pattern excludes everything below it", () => {
    const source = fixtureSnapshot(fixture("good"), { [DOCKERFILE]: "COPY crates/storage/src /s/\n", ".dockerignore": "crates\n" });
    expect(checkDockerfile(source, DOCKERFILE, ".")[0]!.found).toContain('.dockerignore excludes it (pattern "crates")');
  });
});

describe("tests", () => {
  it("testcontainers in an integration test is a blocker; declared only, a warning", () => {
    const used = fixtureSnapshot(fixture("good"), { "services/analytics-api/tests/pg.rs": "use testcontainers::runners::AsyncRunner;\n#[test]\nfn t() {}\n" });
    const found = checkTests(used, { crates: ["services/analytics-api"], configuredEnv: [] });
    expect(found.find((f) => f.check === "testcontainers")).toMatchObject({ verdict: "blocker" });
    const declared = fixtureSnapshot(fixture("good"), { "crates/storage/Cargo.toml": '[package]\nname = "storage"\n[dev-dependencies]\ntestcontainers = "0.23"\n' });
    expect(checkTests(declared, { crates: ["services/analytics-api"], configuredEnv: [] }).find((f) => f.check === "testcontainers")).toMatchObject({ verdict: "warning" });
  });

  it("names tests.env sets are not reported, and includeIgnored counts ignored tests as run", () => {
    const source = fixtureSnapshot(fixture("messy"));
    const found = checkTests(source, { crates: ["services/analytics-api"], configuredEnv: ["TEST_DATABASE_URL", "TEST_REDIS_URL"], includeIgnored: true });
    expect(verdicts(found)).toEqual(["tests: ok", "tests env: ok"]);
  });

  it("no integration target at all is a blocker", () => {
    const found = checkTests(fixtureSnapshot(fixture("workspace")), { crates: ["crates/common"], configuredEnv: [] });
    expect(found[0]).toMatchObject({ verdict: "blocker", found: expect.stringContaining("no integration test target in crates/common") });
  });
});

describe("paths and dependencies", () => {
  it("a package name that differs from the service's manifest, with the resolved paths", () => {
    const [finding] = checkPaths(fixtureSnapshot(fixture("workspace")), { workspace: ".", service: "services/collector", package: "analytics-api", migrations: MIGRATIONS });
    expect(finding!.found).toContain('paths.package = "analytics-api" but services/collector/Cargo.toml names the package "collector"');
    expect(finding!.found).toContain("(resolved: workspace . (Cargo.toml found); service services/collector (exists)");
  });

  it("a service outside the workspace members", () => {
    const source = fixtureSnapshot(fixture("workspace"), { "tools/analytics-api/Cargo.toml": '[package]\nname = "analytics-api"\n' });
    const found = checkPaths(source, { workspace: ".", service: "tools/analytics-api", package: "analytics-api", migrations: MIGRATIONS });
    expect(found[0]!.found).toContain("tools/analytics-api is not a member of the workspace Cargo.toml");
  });

  it("git dependencies pinned by rev or tag are fine; a [dependencies.x] table on the default branch is not", () => {
    const source = fixtureSnapshot(fixture("good"), {
      "crates/storage/Cargo.toml": '[package]\nname = "storage"\n[dependencies]\na = { git = "https://x/a", rev = "0123456" }\nb = { git = "https://x/b", tag = "v1" }\n[dependencies.c]\ngit = "https://x/c"\n',
    });
    const found = checkGitDependencies(source);
    expect(found.map((f) => f.found)).toEqual([expect.stringContaining("c follows the repository's default branch")]);
  });
});
