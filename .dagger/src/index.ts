/**
 * observatory-ci: the CI/CD pipeline of LLM Observatory's Analytics API.
 *
 * `dagger call ci` runs every gate at once and prints a summary table; each gate is also a check
 * (`dagger check`) and a function of its own. Configuration: `ci/pipeline.json` in the source
 * (schema: ci/pipeline.schema.json), or `--config`.
 */
import {
  argument,
  check,
  func,
  object,
  type Container,
  type Directory,
  type File,
  type Secret,
  type Service,
} from "@dagger.io/dagger";
import { loadPipeline, type Pipeline } from "./pipeline";
import * as quality from "./quality";
import * as tests from "./tests";
import { failureReport, runGates, summaryTable, type GateReport } from "./lib/summary";

/** Paths of the caller's repository the pipeline never needs (`.gitignore` is not applied to it). */
const SOURCE_IGNORE = [
  "**/target",
  "**/node_modules",
  ".dagger/sdk",
  "**/.env",
  "**/*.profraw",
  "coverage",
  "reports",
  ".git",
];

/** Parsed configuration per module object, for the duration of one function call. */
const pipelines = new WeakMap<ObservatoryCi, Promise<Pipeline>>();

@object()
export class ObservatoryCi {
  source: Directory;
  config?: File;

  /**
   * @param source The service's repository (defaults to the repository this module sits in).
   * @param config Pipeline configuration; defaults to ci/pipeline.json in the source when present.
   */
  constructor(
    @argument({ defaultPath: "/", ignore: SOURCE_IGNORE }) source: Directory,
    config?: File,
  ) {
    this.source = source;
    this.config = config;
  }

  private pipeline(): Promise<Pipeline> {
    let loaded = pipelines.get(this);
    if (!loaded) {
      loaded = loadPipeline(this.source, this.config);
      pipelines.set(this, loaded);
    }
    return loaded;
  }

  private async gate(run: (p: Pipeline) => Promise<GateReport>): Promise<void> {
    await run(await this.pipeline());
  }

  /** rustfmt: `cargo fmt --all -- --check`. */
  @func()
  @check()
  async fmt(): Promise<void> {
    await this.gate(quality.fmt);
  }

  /** clippy: `cargo clippy --all-targets --all-features -- -D warnings`. */
  @func()
  @check()
  async clippy(): Promise<void> {
    await this.gate(quality.clippy);
  }

  /** rustdoc: `cargo doc --no-deps --all-features` with RUSTDOCFLAGS=-D warnings. */
  @func()
  @check()
  async doc(): Promise<void> {
    await this.gate(quality.doc);
  }

  /**
   * Unit tests with coverage (cargo-tarpaulin, llvm engine) against TimescaleDB and Redis, after
   * the sqlx migrations; fails below the coverage threshold (default 90 %).
   */
  @func()
  @check()
  async unitTest(): Promise<void> {
    await this.gate(tests.unitTest);
  }

  /**
   * Integration tests (`cargo test --test '*' -- --test-threads=1`) against their own TimescaleDB
   * and Redis, with DATABASE_URL, REDIS_URL, JWT_SECRET (a secret) and RUST_LOG.
   * @param jwtSecret JWT signing secret for the tests; a random one is generated when absent.
   */
  @func()
  @check()
  async integrationTest(jwtSecret?: Secret): Promise<void> {
    await this.gate((p) => tests.integrationTest(p, jwtSecret));
  }

  /**
   * Every gate at once. Returns the Markdown summary table (gate, result, duration, key figure);
   * when a gate fails, fails with that table and each failure's message.
   */
  @func()
  async ci(): Promise<string> {
    const pipeline = await this.pipeline();
    const outcomes = await runGates(this.gates(pipeline));
    if (outcomes.some((o) => !o.passed)) throw new Error(failureReport(outcomes));
    return summaryTable(outcomes);
  }

  /** The gates `ci` runs, by name. */
  private gates(p: Pipeline): Record<string, () => Promise<GateReport>> {
    return {
      fmt: () => quality.fmt(p),
      clippy: () => quality.clippy(p),
      doc: () => quality.doc(p),
      unitTest: () => tests.unitTest(p),
      integrationTest: () => tests.integrationTest(p),
      // ---- ci gates of the security stage (issue 3) ----
      // ---- ci gates of the image stage (issue 4) ----
    };
  }

  /** Test reports: coverage/cobertura.xml. `dagger call reports export --path=reports`. */
  @func()
  async reports(): Promise<Directory> {
    return tests.coverageReports(await this.pipeline());
  }

  /**
   * Uploads the Cobertura report to Codecov with the Codecov CLI (any CI system).
   * @param token Codecov upload token.
   * @param commit Full commit SHA the report belongs to.
   * @param slug Repository as owner/name.
   * @param branch Branch name.
   * @param pullRequest Pull request number.
   */
  @func({ cache: "never" })
  async uploadCoverage(token: Secret, commit: string, slug: string, branch?: string, pullRequest?: string): Promise<string> {
    return tests.uploadCoverage(await this.pipeline(), { token, commit, slug, branch, pullRequest });
  }

  // ---- security stage (issue 3): functions below ----
  // ---- end of security stage ----

  // ---- image stage (issue 4): functions below ----
  // ---- end of image stage ----

  // ---- deploy stage (issue 5): functions below ----
  // ---- end of deploy stage ----
}
