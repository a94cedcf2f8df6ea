/**
 * Test gates against real services: unit tests with coverage (cargo-tarpaulin, llvm engine,
 * Cobertura XML) and integration tests, each with its own TimescaleDB and Redis.
 */
import { dag, type Container, type Directory, type File, type Secret, type Service } from "@dagger.io/dagger";
import { withRunNonce, type ExecOutcome } from "./exec";
import { cargoGateOutcome, rustWorkspace, sqlxCli, SOURCE_DIR } from "./rust";
import { tarpaulinBuildArgs } from "./lib/dependency-layer";
import type { Pipeline } from "./pipeline";
import { requireLockfile } from "./doctor";
import { laneScopes } from "./lib/scope";
import { resolveTestEnv } from "./lib/test-env";
import { cacheVolume } from "./cache";
import { coverageGate, parseCobertura } from "./lib/coverage";
import { errorMessage, GateFailure, tail } from "./lib/errors";
import type { GateReport } from "./lib/summary";
import { finishedExitCode, testCounts, testRunCommand, VERDICT_PATTERNS, type TestRunOptions } from "./lib/test-run";
import type { UploadCoverageRequest } from "./lib/function-args";

export const COVERAGE_REPORT = "/reports/cobertura.xml";

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

/** The plan's test environment, for unit and integration tests alike: services, JWT_SECRET, RUST_BACKTRACE=1. */
function withTestServices(pipeline: Pipeline, ctr: Container, lane: string, jwtSecret?: Secret): Container {
  const { db, redis } = testServices(pipeline, lane);
  const services = { DATABASE_URL: `postgres://postgres@db:5432/${pipeline.config.tests.database}`, REDIS_URL: "redis://redis:6379" };
  let out = ctr
    .withServiceBinding("db", db)
    .withServiceBinding("redis", redis)
    .withEnvVariable("DATABASE_URL", services.DATABASE_URL)
    .withEnvVariable("REDIS_URL", services.REDIS_URL)
    .withEnvVariable("MIGRATIONS_DIR", `${SOURCE_DIR}/${pipeline.config.paths.migrations}`)
    .withEnvVariable("RUST_BACKTRACE", "1");
  // The caller's JWT_SECRET when given; otherwise the test script makes a random one for each run inside the
  // container (lib/test-run.ts), so no key is fixed in the module and the exec stays cacheable.
  if (jwtSecret) out = out.withSecretVariable("JWT_SECRET", jwtSecret);
  for (const [name, value] of Object.entries(resolveTestEnv(pipeline.config.tests.env, services))) out = out.withEnvVariable(name, value);
  return out;
}

/**
 * Migrations and tests run in ONE exec (a cached migration layer over a freshly started database would
 * leave the tests an empty schema). The exec succeeds only for a verdict and fails for a crash, so a
 * crash is never cached (lib/test-run.ts). Its outcome, as the gate reads it.
 */
async function testRunOutcome(gate: string, ran: Container): Promise<ExecOutcome> {
  return cargoGateOutcome(gate, ran, "test");
}

function compileFailure(gate: string, code: number, output: string): GateFailure | undefined {
  if (!output.includes(VERDICT_PATTERNS.compileError) && !output.includes(VERDICT_PATTERNS.tarpaulinCompileError)) return undefined;
  return new GateFailure(gate, `the workspace's tests do not compile (exit ${code}):\n${tail(output, 60)}`, "does not compile");
}

/** The tarpaulin run: unit tests (lib + bins) with coverage, against this lane's services. */
export function coverageRun(pipeline: Pipeline): Container {
  const { coverage } = pipeline.config;
  const ctr = withTestServices(
    pipeline,
    // The coverage dependency layer brings cargo-tarpaulin, which builds it.
    rustWorkspace(pipeline, { dependencies: "coverage", tools: { sqlx: sqlxCli(pipeline) } }),
    "unit-test",
  );
  const args = [
    ...tarpaulinBuildArgs(laneScopes(pipeline.config).unitTest),
    "--out", "Xml",
    "--output-dir", "/reports",
    ...coverage.exclude.flatMap((glob) => ["--exclude-files", glob]),
  ];
  // tarpaulin's own --timeout is never enforced under --engine llvm (tarpaulin 0.31.2
  // src/statemachine/instrumented.rs `wait` blocks in `Child::wait`, so the `test_timeout` check of
  // src/statemachine/mod.rs `step` is never reached): coreutils `timeout` bounds the whole run instead.
  const options: TestRunOptions = { timeoutSeconds: coverage.timeoutSeconds };
  return ctr.withExec(testRunCommand(args, options));
}

export async function unitTest(pipeline: Pipeline): Promise<GateReport> {
  await requireLockfile(pipeline, "unitTest");
  const ran = coverageRun(pipeline);
  const { stderr, stdout } = await testRunOutcome("unitTest", ran);
  const code = finishedExitCode(stderr)!;
  if (code !== 0) {
    const output = stdout + "\n" + stderr;
    throw (
      compileFailure("unitTest", code, output) ??
      new GateFailure("unitTest", `unit tests failed under cargo tarpaulin (exit ${code}):\n${tail(output, 60)}`, "tests failed")
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
  await requireLockfile(pipeline, "integrationTest");
  const ctr = withTestServices(
    pipeline,
    rustWorkspace(pipeline, { dependencies: "dev", tools: { sqlx: sqlxCli(pipeline) } }),
    "integration-test",
    jwtSecret,
  );
  const args = [
    "test", "--locked", ...laneScopes(pipeline.config).integrationTest, "--all-features",
    "--test", "*", // cargo expands the glob itself: every integration test target
    "--", `--test-threads=${pipeline.config.tests.integrationThreads}`,
    ...(pipeline.config.tests.includeIgnored ? ["--include-ignored"] : []),
  ];
  const { stdout, stderr } = await testRunOutcome("integrationTest", ctr.withExec(testRunCommand(args)));
  const exitCode = finishedExitCode(stderr)!;
  const output = stdout + "\n" + stderr;
  if (exitCode !== 0 && output.includes(VERDICT_PATTERNS.noTestTarget)) {
    throw new GateFailure(
      "integrationTest",
      `no integration test ran: the workspace has no integration test target (cargo test --test '*' exited ${exitCode}, "${VERDICT_PATTERNS.noTestTarget}"); add tests under the crates' tests/ directories\n${tail(output, 20)}`,
      "0 tests ran",
    );
  }
  const passed = testCounts(stdout);
  const counts = `${passed.passed} passed, ${passed.failed} failed, ${passed.ignored} ignored`;
  if (exitCode === 0) {
    if (passed.passed === 0 && passed.ignored > 0) {
      throw new GateFailure(
        "integrationTest",
        `no integration test ran: all ${passed.ignored} are #[ignore]d, so nothing was tested (${counts}); remove #[ignore] from the tests that can run against the pipeline's DATABASE_URL and REDIS_URL, or set tests.includeIgnored to true in ci/pipeline.json\n${tail(stdout + "\n" + stderr, 20)}`,
        counts,
      );
    }
    // `--test '*'` matching no target, or targets holding no test, exits 0: nothing was verified.
    if (passed.passed === 0) {
      throw new GateFailure(
        "integrationTest",
        `no integration test ran (cargo test --test '*' exited 0 with 0 passed): add tests under the crates' tests/ directories\n${tail(stdout + "\n" + stderr, 20)}`,
        "0 tests ran",
      );
    }
    return { figure: counts };
  }
  throw (
    compileFailure("integrationTest", exitCode, output) ??
    new GateFailure("integrationTest", `integration tests failed (exit ${exitCode}, ${counts}):\n${tail(output, 60)}`, counts)
  );
}

/** The reports directory: the Cobertura XML of the unit-test run. */
export async function coverageReports(pipeline: Pipeline): Promise<Directory> {
  const ran = coverageRun(pipeline);
  const { stderr } = await testRunOutcome("coverage", ran);
  const entries = await ran.directory("/reports").entries().catch(() => [] as string[]);
  if (!entries.includes("cobertura.xml")) {
    throw new Error(`no coverage report: cargo tarpaulin exited ${finishedExitCode(stderr)} without writing cobertura.xml:\n${tail(stderr)}`);
  }
  return dag.directory().withFile("coverage/cobertura.xml", ran.file(COVERAGE_REPORT));
}

/** The plan's Codecov upload: flag and name of the unit tests' coverage. */
export const CODECOV_FLAG = "unittests";
export const CODECOV_UPLOAD_NAME = "unit-tests";

/** Sends the Cobertura XML to Codecov with the Codecov CLI: the same upload on every CI system. */
export async function uploadCoverage(pipeline: Pipeline, upload: UploadCoverageRequest<Secret, File>): Promise<string> {
  const report: File = upload.report ?? (await coverageReports(pipeline)).file("coverage/cobertura.xml");
  const { images, tools } = pipeline.config;
  const args = [
    "codecovcli", "--verbose", "upload-process", "--fail-on-error", "--disable-search",
    "--git-service", upload.gitService, "--slug", upload.slug, "--commit-sha", upload.commit,
    "--file", "/reports/cobertura.xml", "--flag", CODECOV_FLAG, "--name", CODECOV_UPLOAD_NAME,
    "--network-root-folder", SOURCE_DIR,
    ...(upload.branch ? ["--branch", upload.branch] : []),
    ...(upload.pullRequest ? ["--pr", upload.pullRequest] : []),
  ];
  const ctr = dag
    .container()
    .from(images.python)
    .withMountedCache("/root/.cache/pip", cacheVolume(pipeline, "pip"))
    // Wheels only: the slim image has no compiler, so a dependency without a wheel for this Python and
    // architecture fails here, naming the package, instead of half-compiling (see TOOLS.codecovCli).
    .withExec(["pip", "install", "--no-input", "--only-binary=:all:", `codecov-cli==${tools.codecovCli}`])
    .withMountedFile("/reports/cobertura.xml", report)
    // Without a git checkout the CLI lists every file under the network root (default: the working
    // directory, "/" in this image) as the report's "network", which Codecov uses to map the report's
    // paths, and reads the covered sources from there for its line fixes: give it the source tree.
    .withMountedDirectory(SOURCE_DIR, pipeline.source)
    .withWorkdir(SOURCE_DIR)
    .withSecretVariable("CODECOV_TOKEN", upload.codecovToken);
  return withRunNonce(ctr).withExec(args).stdout();
}
