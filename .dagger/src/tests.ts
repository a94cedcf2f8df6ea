/**
 * Test gates against real services: unit tests with coverage (cargo-tarpaulin, llvm engine,
 * Cobertura XML) and integration tests, each with its own TimescaleDB and Redis.
 */
import { randomBytes } from "node:crypto";
import { dag, type Container, type Directory, type File, type Secret, type Service } from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import { cargoTarpaulin, rustWorkspace, sqlxCli, SOURCE_DIR } from "./rust";
import type { Pipeline } from "./pipeline";
import { coverageGate, parseCobertura } from "./lib/coverage";
import { errorMessage, GateFailure, tail } from "./lib/errors";
import type { GateReport } from "./lib/summary";

export const COVERAGE_REPORT = "/reports/cobertura.xml";
const MIGRATED_MARKER = "observatory-ci: migrations applied";

/**
 * TimescaleDB and Redis for one test lane. The engine de-duplicates identical service
 * definitions, so the lane's name is a label: unit and integration tests running at once never
 * share a database. The database is throwaway and reachable only from the bound container, so it
 * trusts connections instead of carrying a password (no credential to leak or to put in a URL).
 */
export function testServices(pipeline: Pipeline, lane: string): { db: Service; redis: Service } {
  const { images, tests } = pipeline.config;
  const db = dag
    .container()
    .from(images.timescaledb)
    .withLabel("io.observatory-ci.lane", lane)
    .withEnvVariable("POSTGRES_HOST_AUTH_METHOD", "trust")
    .withEnvVariable("POSTGRES_DB", tests.database)
    .withExposedPort(5432)
    // TCP on 127.0.0.1: the entrypoint's temporary init server listens on the socket only, so
    // this is not ready before the real server is.
    .withDockerHealthcheck(["pg_isready", "-h", "127.0.0.1", "-U", "postgres", "-d", tests.database], {
      interval: "2s",
      timeout: "3s",
      startPeriod: "60s",
      startInterval: "1s",
      retries: 30,
    })
    .asService({ useEntrypoint: true });
  const redis = dag
    .container()
    .from(images.redis)
    .withLabel("io.observatory-ci.lane", lane)
    .withExposedPort(6379)
    .withDockerHealthcheck(["redis-cli", "ping"], { interval: "2s", timeout: "3s", retries: 30 })
    .asService({ useEntrypoint: true });
  return { db, redis };
}

/** A JWT signing secret for one test run, generated when the caller gives none. Only ever a Secret. */
export function testJwtSecret(given?: Secret): Secret {
  return given ?? dag.setSecret(`observatory-ci-jwt-${randomBytes(8).toString("hex")}`, randomBytes(48).toString("base64url"));
}

function withTestServices(pipeline: Pipeline, ctr: Container, lane: string): Container {
  const { db, redis } = testServices(pipeline, lane);
  let out = ctr
    .withServiceBinding("db", db)
    .withServiceBinding("redis", redis)
    .withEnvVariable("DATABASE_URL", `postgres://postgres@db:5432/${pipeline.config.tests.database}`)
    .withEnvVariable("REDIS_URL", "redis://redis:6379")
    .withEnvVariable("MIGRATIONS_DIR", `${SOURCE_DIR}/${pipeline.config.paths.migrations}`);
  for (const [name, value] of Object.entries(pipeline.config.tests.env)) out = out.withEnvVariable(name, value);
  return out;
}

/**
 * Migrations and tests in ONE exec: a cached migration layer over a freshly started database
 * would leave the tests an empty schema, so they are cached (or re-run) together.
 */
function migrateThenCargo(args: string[]): string[] {
  const script = [
    "find . -type f -exec touch -c {} +",
    'sqlx migrate run --source "$MIGRATIONS_DIR"',
    `echo "${MIGRATED_MARKER}" >&2`,
    'exec cargo "$@"',
  ].join("\n");
  return ["sh", "-euc", script, "cargo", ...args];
}

function migrationFailure(gate: string, exitCode: number, stderr: string): GateFailure | undefined {
  if (stderr.includes(MIGRATED_MARKER)) return undefined;
  return new GateFailure(gate, `sqlx migrations failed before any test ran (exit ${exitCode}):\n${tail(stderr)}`, "migrations failed");
}

/** The tarpaulin run: unit tests (lib + bins) with coverage, against this lane's services. */
export function coverageRun(pipeline: Pipeline): Container {
  const { coverage } = pipeline.config;
  const ctr = withTestServices(
    pipeline,
    rustWorkspace(pipeline, {
      targetLane: "coverage",
      tools: { sqlx: sqlxCli(pipeline.config), "cargo-tarpaulin": cargoTarpaulin(pipeline.config) },
    }),
    "unit-test",
  );
  const args = [
    "tarpaulin",
    "--engine", "llvm", // the default ptrace engine needs privileges an unprivileged container lacks
    "--workspace",
    "--all-features",
    "--locked",
    "--lib",
    "--bins",
    "--skip-clean",
    "--timeout", String(coverage.timeoutSeconds),
    "--out", "Xml",
    "--output-dir", "/reports",
    ...coverage.exclude.flatMap((glob) => ["--exclude-files", glob]),
  ];
  return runAllowingFailure(ctr, migrateThenCargo(args));
}

export async function unitTest(pipeline: Pipeline): Promise<GateReport> {
  const ran = coverageRun(pipeline);
  const { exitCode, stderr, stdout } = await outcomeOf(ran);
  if (exitCode !== 0) {
    throw (
      migrationFailure("unitTest", exitCode, stderr) ??
      new GateFailure("unitTest", `unit tests failed under cargo tarpaulin (exit ${exitCode}):\n${tail(stdout + "\n" + stderr, 60)}`, "tests failed")
    );
  }
  let xml: string;
  try {
    xml = await ran.file(COVERAGE_REPORT).contents();
  } catch (e) {
    throw new GateFailure("unitTest", `tests passed but tarpaulin wrote no coverage report at ${COVERAGE_REPORT}: ${errorMessage(e)}`, "no report");
  }
  let summary;
  try {
    summary = parseCobertura(xml, COVERAGE_REPORT);
  } catch (e) {
    throw new GateFailure("unitTest", errorMessage(e), "unparsable report");
  }
  const verdict = coverageGate(summary, pipeline.config.coverage.threshold);
  if (!verdict.passed) throw new GateFailure("unitTest", verdict.message, verdict.figure);
  return { figure: verdict.figure };
}

export async function integrationTest(pipeline: Pipeline, jwtSecret?: Secret): Promise<GateReport> {
  const ctr = withTestServices(
    pipeline,
    rustWorkspace(pipeline, { targetLane: "integration-test", tools: { sqlx: sqlxCli(pipeline.config) } }),
    "integration-test",
  ).withSecretVariable("JWT_SECRET", testJwtSecret(jwtSecret));
  const args = [
    "test", "--locked", "--workspace", "--all-features",
    "--test", "*", // cargo expands the glob itself: every integration test target
    "--", `--test-threads=${pipeline.config.tests.integrationThreads}`,
  ];
  const { exitCode, stdout, stderr } = await outcomeOf(runAllowingFailure(ctr, migrateThenCargo(args)));
  const passed = [...stdout.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)].reduce(
    (acc, m) => ({ passed: acc.passed + Number(m[1]), failed: acc.failed + Number(m[2]) }),
    { passed: 0, failed: 0 },
  );
  if (exitCode === 0) {
    // `--test '*'` matching no target, or targets holding no test, exits 0: nothing was verified.
    if (passed.passed === 0) {
      throw new GateFailure(
        "integrationTest",
        `no integration test ran (cargo test --test '*' exited 0 with 0 passed): add tests under the crates' tests/ directories\n${tail(stdout + "\n" + stderr, 20)}`,
        "0 tests ran",
      );
    }
    return { figure: `${passed.passed} passed` };
  }
  throw (
    migrationFailure("integrationTest", exitCode, stderr) ??
    new GateFailure(
      "integrationTest",
      `integration tests failed (exit ${exitCode}, ${passed.failed} failed):\n${tail(stdout + "\n" + stderr, 60)}`,
      `${passed.failed} failed`,
    )
  );
}

/** The reports directory: the Cobertura XML of the unit-test run. */
export async function coverageReports(pipeline: Pipeline): Promise<Directory> {
  const ran = coverageRun(pipeline);
  const entries = await ran.directory("/reports").entries().catch(() => [] as string[]);
  if (!entries.includes("cobertura.xml")) {
    const { exitCode, stderr } = await outcomeOf(ran);
    throw new Error(`no coverage report: cargo tarpaulin exited ${exitCode} without writing cobertura.xml:\n${tail(stderr)}`);
  }
  return dag.directory().withFile("coverage/cobertura.xml", ran.file(COVERAGE_REPORT));
}

export interface CodecovUpload {
  token: Secret;
  commit: string;
  slug: string;
  branch?: string;
  pullRequest?: string;
  flags?: string;
}

/** Sends the Cobertura XML to Codecov with the Codecov CLI: the same upload on every CI system. */
export async function uploadCoverage(pipeline: Pipeline, upload: CodecovUpload): Promise<string> {
  if (!/^[0-9a-f]{40}$/.test(upload.commit)) {
    throw new Error(`uploadCoverage: --commit must be a full 40-character commit SHA, got ${JSON.stringify(upload.commit)}`);
  }
  if (!/^[\w.-]+\/[\w.-]+$/.test(upload.slug)) {
    throw new Error(`uploadCoverage: --slug must be "owner/repository", got ${JSON.stringify(upload.slug)}`);
  }
  const report: File = (await coverageReports(pipeline)).file("coverage/cobertura.xml");
  const { images, tools } = pipeline.config;
  const args = [
    "codecovcli", "--verbose", "upload-process", "--fail-on-error", "--disable-search",
    "--git-service", "github", "--slug", upload.slug, "--commit-sha", upload.commit,
    "--file", "/reports/cobertura.xml",
    "--network-root-folder", SOURCE_DIR,
    ...(upload.branch ? ["--branch", upload.branch] : []),
    ...(upload.pullRequest ? ["--pr", upload.pullRequest] : []),
    ...(upload.flags ? ["--flag", upload.flags] : []),
  ];
  const ctr = dag
    .container()
    .from(images.python)
    .withMountedCache("/root/.cache/pip", dag.cacheVolume("observatory-ci-pip"))
    .withExec(["pip", "install", "--no-input", `codecov-cli==${tools.codecovCli}`])
    .withMountedFile("/reports/cobertura.xml", report)
    // Without a git checkout the CLI lists every file under the network root (default: the working
    // directory, "/" in this image) as the report's "network", which Codecov uses to map the report's
    // paths, and reads the covered sources from there for its line fixes: give it the source tree.
    .withMountedDirectory(SOURCE_DIR, pipeline.source)
    .withWorkdir(SOURCE_DIR)
    .withSecretVariable("CODECOV_TOKEN", upload.token);
  return withRunNonce(ctr).withExec(args).stdout();
}
