// The two sample workspaces laid out like the Analytics API: `good` passes every code-quality
// gate, `broken` fails each one for exactly one planted reason. These tests run the real cargo
// gates on them (offline: the fixtures use the standard library only) so the pipeline's own
// tests can rely on what each fixture does.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IMAGES } from "../.dagger/src/versions";

const FIXTURES_DIR = fileURLToPath(new URL("./fixtures/", import.meta.url));
const CARGO_TIMEOUT_MS = 150_000;
const TEST_TIMEOUT_MS = 180_000;
const FIXTURE_NAMES = ["good", "broken"] as const;
type FixtureName = (typeof FIXTURE_NAMES)[number];

/** sqlx applies `<version>_<description>.sql`, the version being the digits before the first `_`. */
const SQLX_MIGRATION_NAME = /^\d+_[A-Za-z0-9_]+\.sql$/;

/** Variables that would change what cargo or the fixtures' tests do, whatever the caller's shell has. */
const ISOLATED_VARIABLES = [
  "DATABASE_URL",
  "REDIS_URL",
  "JWT_SECRET",
  "BIND_ADDR",
  "RUSTFLAGS",
  "RUSTDOCFLAGS",
  "CARGO_BUILD_RUSTFLAGS",
  "CARGO_TARGET_DIR",
  "CARGO_ENCODED_RUSTFLAGS",
  "LLVM_PROFILE_FILE",
];

interface CargoRun {
  status: number | null;
  /** stdout then stderr: cargo writes diagnostics to stderr and test results to stdout. */
  output: string;
}

function fixtureDir(fixture: FixtureName): string {
  return join(FIXTURES_DIR, fixture);
}

function runCargo(
  fixture: FixtureName,
  targetDir: string,
  args: string[],
  extraEnv: Record<string, string> = {},
): CargoRun {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ISOLATED_VARIABLES) delete env[name];
  Object.assign(env, {
    CARGO_TARGET_DIR: targetDir,
    CARGO_TERM_COLOR: "never",
    RUST_BACKTRACE: "0",
    ...extraEnv,
  });
  const result = spawnSync("cargo", args, {
    cwd: fixtureDir(fixture),
    env,
    encoding: "utf8",
    timeout: CARGO_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) {
    throw new Error(`\`cargo ${args.join(" ")}\` in fixtures/${fixture} did not complete: ${result.error.message}`);
  }
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function findTargetDirs(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const path = join(dir, entry.name);
    if (entry.name === "target") found.push(path);
    else found.push(...findTargetDirs(path));
  }
  return found;
}

/** A per-fixture CARGO_TARGET_DIR under the OS temp dir, shared by clippy and test, removed afterwards. */
function useTemporaryTargetDir(fixture: FixtureName): () => string {
  let targetDir = "";
  beforeAll(() => {
    targetDir = mkdtempSync(join(tmpdir(), `observatory-ci-${fixture}-target-`));
  });
  afterAll(() => {
    if (targetDir) rmSync(targetDir, { recursive: true, force: true });
  });
  return () => targetDir;
}

const FMT = ["fmt", "--all", "--", "--check"];
const CLIPPY = ["clippy", "--offline", "--all-targets", "--all-features", "--", "-D", "warnings"];
const TEST = ["test", "--offline", "--locked", "--workspace"];
const DOC = ["doc", "--offline", "--no-deps", "--all-features"];
/** rustc prints a code (`error[E0308]`) for compile errors; clippy lints and rustfmt diffs have none. */
const COMPILE_ERROR = /error\[E\d{4}\]/;

describe("fixture layout", () => {
  for (const fixture of FIXTURE_NAMES) {
    it(`${fixture}: commits a Cargo.lock listing both workspace members`, () => {
      const lockfile = join(fixtureDir(fixture), "Cargo.lock");
      expect(existsSync(lockfile), `${lockfile} is missing`).toBe(true);
      const lock = readFileSync(lockfile, "utf8");
      expect(lock).toContain('name = "analytics-api"');
      expect(lock).toContain('name = "storage"');
    });

    it(`${fixture}: names every migration the way sqlx reads it`, () => {
      const migrationsDir = join(fixtureDir(fixture), "crates/storage/migrations");
      const names = readdirSync(migrationsDir).sort();
      expect(names).toEqual(["20240101000000_create_events.sql", "20240102000000_add_event_indexes.sql"]);
      for (const name of names) expect(name).toMatch(SQLX_MIGRATION_NAME);
      const first = readFileSync(join(migrationsDir, names[0]), "utf8");
      expect(first).toContain("CREATE EXTENSION IF NOT EXISTS timescaledb;");
      expect(first).toMatch(/occurred_at\s+TIMESTAMPTZ NOT NULL/);
      expect(first).toContain("SELECT create_hypertable('events'");
    });

    it(`${fixture}: leaves the toolchain to the pipeline`, () => {
      expect(existsSync(join(fixtureDir(fixture), "rust-toolchain.toml"))).toBe(false);
      expect(existsSync(join(fixtureDir(fixture), "rust-toolchain"))).toBe(false);
    });
  }

  it("good: the Dockerfile builds with the pipeline's Rust image and probes /health with the binary", () => {
    const dockerfile = readFileSync(join(fixtureDir("good"), "services/analytics-api/Dockerfile"), "utf8");
    const stages = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((match) => match[1]);
    expect(stages).toEqual([IMAGES.rust, "debian:bookworm-20241111-slim"]);
    expect(dockerfile).toContain("COPY Cargo.toml Cargo.lock ./");
    expect(dockerfile).toContain("cargo build --release --locked -p analytics-api");
    expect(dockerfile).toMatch(/^USER 10001:10001$/m);
    expect(dockerfile).toMatch(/^EXPOSE 8080$/m);
    expect(dockerfile).toContain('CMD ["/usr/local/bin/analytics-api", "--healthcheck"]');
    const dockerignore = readFileSync(join(fixtureDir("good"), ".dockerignore"), "utf8").split("\n");
    expect(dockerignore).toEqual(expect.arrayContaining(["target/", ".git/"]));
  });
});

describe("good fixture passes every code-quality gate", () => {
  const targetDir = useTemporaryTargetDir("good");

  it("is formatted", () => {
    const run = runCargo("good", targetDir(), FMT);
    expect(run.status, run.output).toBe(0);
    expect(run.output).not.toContain("Diff in");
  });

  it(
    "has no clippy warnings",
    () => {
      const run = runCargo("good", targetDir(), CLIPPY);
      expect(run.status, run.output).toBe(0);
      expect(run.output).not.toMatch(/^(warning|error)/m);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "passes its unit and integration tests with the committed lockfile",
    () => {
      const run = runCargo("good", targetDir(), TEST);
      expect(run.status, run.output).toBe(0);
      expect(run.output).not.toContain("FAILED");
      expect(run.output).toContain("Running tests/http.rs");
      expect(run.output).toContain("Running tests/binary.rs");
      for (const testName of [
        "tests::health_answers_healthy_json",
        "health_reports_healthy_as_json",
        "metrics_expose_prometheus_text_counting_every_request",
        "healthcheck_flag_exits_zero_against_the_running_binary_and_one_once_it_stops",
        "service_environment_is_usable_when_provided",
        "tests::migrations_are_well_named_with_increasing_versions",
      ]) {
        expect(run.output).toContain(`test ${testName} ... ok`);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "builds its docs with warnings denied",
    () => {
      const run = runCargo("good", targetDir(), DOC, { RUSTDOCFLAGS: "-D warnings" });
      expect(run.status, run.output).toBe(0);
      expect(run.output).not.toMatch(/^(warning|error)/m);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("broken fixture fails each gate for its planted defect only", () => {
  const targetDir = useTemporaryTargetDir("broken");

  it("fails the format check on the storage crate only", () => {
    const run = runCargo("broken", targetDir(), FMT);
    expect(run.status, run.output).toBe(1);
    const diffs = run.output.split("\n").filter((line) => line.startsWith("Diff in "));
    expect(diffs).toHaveLength(1);
    expect(diffs[0]).toMatch(/^Diff in .*\/fixtures\/broken\/crates\/storage\/src\/lib\.rs:\d+:$/);
    expect(run.output).toContain("+pub fn is_migration_file(file_name: &str) -> bool {");
    expect(run.output).not.toMatch(/^error/m);
  });

  it(
    "fails clippy on needless_return and nothing else",
    () => {
      const run = runCargo("broken", targetDir(), CLIPPY);
      expect(run.status, run.output).toBe(101);
      expect(run.output).not.toMatch(COMPILE_ERROR);
      const errors = new Set(
        run.output
          .split("\n")
          .filter((line) => line.startsWith("error") && !line.startsWith("error: could not compile")),
      );
      expect([...errors]).toEqual(["error: unneeded `return` statement"]);
      expect(run.output).toContain("--> services/analytics-api/src/lib.rs:");
      expect(run.output).toContain("#needless_return");
      expect(run.output).toContain("`-D clippy::needless-return` implied by `-D warnings`");
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "fails the unit test that expects the wrong health body, and only that one",
    () => {
      const run = runCargo("broken", targetDir(), TEST);
      expect(run.status, run.output).toBe(101);
      expect(run.output).not.toMatch(COMPILE_ERROR);
      expect(run.output).toContain("---- tests::health_body_reports_ok stdout ----");
      expect(run.output).toContain("assertion `left == right` failed");
      expect(run.output).toMatch(/failures:\n {4}tests::health_body_reports_ok\n\ntest result: FAILED\. \d+ passed; 1 failed;/);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("fixture trees stay clean", () => {
  it("hold no target/ directory after the cargo runs", () => {
    for (const fixture of FIXTURE_NAMES) expect(findTargetDirs(fixtureDir(fixture))).toEqual([]);
  });
});
