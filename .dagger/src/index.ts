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
} from "@dagger.io/dagger";
import { loadPipeline, withCurrentAllowlist, type Pipeline } from "./pipeline";
import * as quality from "./quality";
import * as tests from "./tests";
import * as deploy from "./deploy";
import * as production from "./deploy-production";
import * as traffic from "./load-test";
import * as announce from "./announce";
import * as security from "./security";
import { scanDeployed } from "./scan-deployed";
import { codeQualityReport } from "./code-quality";
import * as delivery from "./metrics";
import { pagedRollback } from "./alerts";
import { MetricsFormat, parseMetricsArgs, parsePipelineFailureArgs } from "./lib/metrics/args";
import * as image from "./image";
import * as imagePublish from "./publish";
import * as imageRegistry from "./registry";
import * as verify from "./verify";
import * as scheduled from "./benchmark";
import { cleanup as runCleanup } from "./cleanup";
import * as scheduledArgs from "./lib/scheduled-args";
import { runGates, type GateReport } from "./lib/summary";
import { renderMarkdown } from "./lib/messages";
import { doctor, doctorReport, lockfileConfirmed } from "./doctor";
import { CHECKOUT_GIT_ONLY } from "./lib/gitleaks-input";
import { Environment } from "./lib/deploy/environment";
import { NotifyStatus } from "./lib/deploy/slack";
import { SbomFormat } from "./lib/sbom";
import * as args from "./lib/function-args";
import * as deployArgs from "./lib/deploy-args";
import { Trust } from "./lib/trust";
import { GateFailure } from "./lib/errors";
import { scopeSummary } from "./lib/scope";
import { REAL_CLOCK, type Clock } from "./lib/clock";
import { parseEventPlanArgs, planEvent, renderPlan } from "./lib/event-rules";

export { Trust } from "./lib/trust";

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
  trust: Trust;

  /**
   * @param source The service's repository (defaults to the repository this module sits in).
   * @param config Pipeline configuration; defaults to ci/pipeline.json in the source when present.
   * @param trust Trust level of this run, set by the CI system from its event (never from the source): trusted only for reviewed revisions (main, release/*, version tags); names the cache volumes the run uses.
   */
  constructor(
    @argument({ defaultPath: "/", ignore: SOURCE_IGNORE }) source: Directory,
    config?: File,
    trust: Trust = Trust.Untrusted,
  ) {
    this.source = source;
    this.config = config;
    this.trust = trust;
  }

  private pipeline(): Promise<Pipeline> {
    let loaded = pipelines.get(this);
    if (!loaded) {
      loaded = loadPipeline(this.source, this.config, this.trust);
      pipelines.set(this, loaded);
    }
    return loaded;
  }

  /** What deployments read the time from and wait on: the real clock (a test's subclass gives a fake one). */
  protected clock(): Clock {
    return REAL_CLOCK;
  }

  private async gate(run: (p: Pipeline) => Promise<GateReport>): Promise<void> {
    await run(await this.pipeline());
  }

  /** The pipeline of a function that runs scanners: refused before any scanner starts when the allowlist is out of date. */
  private async scanningPipeline(): Promise<Pipeline> {
    return withCurrentAllowlist(await this.pipeline(), new Date(this.clock().now()));
  }

  private async scannerGate(run: (p: Pipeline) => Promise<GateReport>): Promise<void> {
    await run(await this.scanningPipeline());
  }

  /**
   * Adoption check, in seconds and before any build: reads the source (no container) and prints a table of
   * checks (config and resolved paths, lockfile, sqlx migrations, deny.toml keys the pinned cargo-deny removed,
   * Dockerfile sources after .dockerignore, integration tests, git dependencies) with each verdict and fix.
   * Fails when there is a blocker; warnings do not fail. `ci` runs it first.
   */
  @func()
  async doctor(): Promise<string> {
    return doctor(this.source, this.config, this.trust);
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
   * @param jwtSecret JWT signing secret for the tests; when absent, a fixed test-only secret (stable, so an unchanged run stays cached).
   */
  @func()
  @check()
  async integrationTest(jwtSecret?: Secret): Promise<void> {
    const request = args.parseIntegrationTestArgs({ jwtSecret });
    await this.gate((p) => tests.integrationTest(p, request.jwtSecret));
  }

  /**
   * doctor first (a blocker fails the run before any container starts), then every gate at once. Returns the
   * Markdown summary table (gate, result, duration, key figure); when a gate fails, fails with that table and
   * each failure's message.
   * @param gitDir A .git directory whose history gitleaks scans (e.g. --git-dir=.git); overrides --checkout.
   * @param checkout The caller's checkout, of which only .git is read (defaults to the repository the module sits in). No .git: gitleaks scans the working tree.
   */
  // Not the default 7-day cache: a cached passing table would replay yesterday's security verdicts
  // (the scanners re-run daily, see SCAN_DAY_ENV) for a source that has not changed.
  @func({ cache: "24h" })
  async ci(
    gitDir?: Directory,
    @argument({ defaultPath: "/", ignore: CHECKOUT_GIT_ONLY }) checkout?: Directory,
  ): Promise<string> {
    const history = args.parseGitHistoryArgs("ci", { gitDir, checkout });
    const pipeline = await this.scanningPipeline();
    const checked = await doctorReport(this.source, this.config, this.trust);
    if (checked.blockers) {
      throw new GateFailure("ci", `doctor found ${checked.blockers} blocker(s), so no gate was started (each would fail for these reasons):\n\n${checked.table}`, "doctor");
    }
    lockfileConfirmed(pipeline);
    const outcomes = await runGates(this.gates(pipeline, history));
    const summary = `${renderMarkdown({ kind: "ci-summary", outcomes })}\n\nScope: ${scopeSummary(pipeline.config)}.`;
    if (outcomes.some((o) => !o.passed)) throw new Error(summary);
    return summary;
  }

  /** The gates `ci` runs, by name. */
  private gates(p: Pipeline, history: security.GitHistoryInputs): Record<string, () => Promise<GateReport>> {
    return {
      fmt: () => quality.fmt(p),
      clippy: () => quality.clippy(p),
      doc: () => quality.doc(p),
      unitTest: () => tests.unitTest(p),
      integrationTest: () => tests.integrationTest(p),
      // security
      audit: () => security.audit(p),
      deny: () => security.deny(p),
      trivyFs: () => security.trivyFs(p),
      semgrep: () => security.semgrep(p),
      gitleaks: () => security.gitleaks(p, history),
      // container image
      imageSize: () => image.imageSize(p),
      trivyImage: () => image.trivyImage(p),
    };
  }

  /**
   * What the pipeline does for one CI event, on any CI system: the gates, the trust level, whether and with which
   * tags it publishes, which environment it deploys to with which image, the scheduled jobs, and why anything is
   * refused. CI files call it first and act on its answer, so no branch or tag rule is written twice.
   * @param kind push, pull_request, tag, schedule or manual.
   * @param system The CI system: github, gitlab, jenkins, circleci, azure or tekton.
   * @param ref push: the branch (main or refs/heads/main); tag and a manual production deploy: the tag (v1.4.0).
   * @param commit Full commit SHA of the event.
   * @param pullRequest Pull/merge request number (kind pull_request).
   * @param fork true when the pull request comes from a fork (it gets no secrets: no coverage upload).
   * @param schedule kind schedule: daily (scanDeployed) or weekly (benchmark, cleanup, metrics).
   * @param action kind manual: deploy, rollback or scan.
   * @param environment manual deploy or rollback: dev, staging or production.
   * @param image manual staging deploy: the image by digest, or its <branch>-<sha7> tag.
   * @param format json (default), summary (readable) or env (KEY=VALUE lines for CI variables).
   */
  @func()
  eventPlan(
    kind: string,
    system: string,
    ref?: string,
    commit?: string,
    pullRequest?: string,
    fork?: string,
    schedule?: string,
    action?: string,
    environment?: string,
    image?: string,
    format?: string,
  ): string {
    const request = parseEventPlanArgs({ kind, system, ref, commit, pullRequest, fork, schedule, action, environment, image, format });
    return renderPlan(planEvent(request.event), request.format);
  }

  /** Test reports: coverage/cobertura.xml. `dagger call reports export --path=reports`. */
  @func()
  async reports(): Promise<Directory> {
    return tests.coverageReports(await this.pipeline());
  }

  /**
   * Uploads the Cobertura report to Codecov with the Codecov CLI (any CI system).
   * @param codecovToken Codecov upload token.
   * @param commit Full commit SHA the report belongs to.
   * @param slug The GitHub repository as owner/name.
   * @param branch Branch name.
   * @param pullRequest Pull request number.
   * @param gitService Where the repository is hosted, as the CI system knows it: github (default), gitlab, bitbucket,
   * github_enterprise, gitlab_enterprise, bitbucket_server.
   * @param report A Cobertura XML made earlier (e.g. `reports` in the ci job), uploaded as is: the unit tests do not run again.
   */
  @func({ cache: "never" })
  async uploadCoverage(
    codecovToken: Secret,
    commit: string,
    slug: string,
    branch?: string,
    pullRequest?: string,
    gitService?: string,
    report?: File,
  ): Promise<string> {
    const request = args.parseUploadCoverageArgs({ codecovToken, commit, slug, branch, pullRequest, gitService, report });
    return tests.uploadCoverage(await this.pipeline(), request);
  }

  // ---- security ----

  /**
   * cargo audit (pinned, RustSec database in a cache volume) on Cargo.lock; fails on any
   * vulnerability not accepted by the allowlist. Re-runs once a day for the same source.
   */
  @func({ cache: "24h" })
  @check()
  async audit(): Promise<void> {
    await this.scannerGate(security.audit);
  }

  /**
   * cargo deny check (advisories, bans, licenses, sources) with security.denyConfig
   * (default .cargo/deny.toml), or the module's default deny.toml when the repository has none.
   */
  @func({ cache: "24h" })
  @check()
  async deny(): Promise<void> {
    await this.scannerGate(security.deny);
  }

  /** Trivy filesystem scan of the source: --severity CRITICAL,HIGH --exit-code 42 for findings (every Trivy error exits 1), database in a cache volume. */
  @func({ cache: "24h" })
  @check()
  async trivyFs(): Promise<void> {
    await this.scannerGate(security.trivyFs);
  }

  /** Semgrep with p/security-audit and p/rust (security.semgrep.configs), --error, metrics off. */
  @func({ cache: "24h" })
  @check()
  async semgrep(): Promise<void> {
    await this.scannerGate(security.semgrep);
  }

  /**
   * Gitleaks, redacted: the full git history when there is one (--git-dir, else the checkout's
   * .git), else a scan of the working tree, said so in its summary. A shallow clone fails (clone
   * with fetch-depth: 0); a .git file (worktree, submodule) fails naming --git-dir.
   * @param gitDir A .git directory whose history gitleaks scans (e.g. --git-dir=.git); overrides --checkout.
   * @param checkout The caller's checkout, of which only .git is read (defaults to the repository the module sits in).
   */
  @func({ cache: "24h" })
  @check()
  async gitleaks(
    gitDir?: Directory,
    @argument({ defaultPath: "/", ignore: CHECKOUT_GIT_ONLY }) checkout?: Directory,
  ): Promise<void> {
    const history = args.parseGitHistoryArgs("gitleaks", { gitDir, checkout });
    await this.scannerGate((p) => security.gitleaks(p, history));
  }

  /**
   * Every SARIF report (trivy-fs.sarif, semgrep.sarif, gitleaks.sarif, trivy-image.sarif) for GitHub code scanning,
   * each run in its own category (runs[].automationDetails.id observatory-ci/<scanner>/):
   * `dagger call security-reports export --path=reports`. Findings do not fail it; a missing report does.
   * @param gitDir A .git directory whose history gitleaks scans (e.g. --git-dir=.git); overrides --checkout.
   * @param checkout The caller's checkout, of which only .git is read (defaults to the repository the module sits in).
   */
  @func({ cache: "24h" })
  async securityReports(
    gitDir?: Directory,
    @argument({ defaultPath: "/", ignore: CHECKOUT_GIT_ONLY }) checkout?: Directory,
  ): Promise<Directory> {
    const history = args.parseGitHistoryArgs("securityReports", { gitDir, checkout });
    return security.securityReports(await this.pipeline(), history);
  }

  /**
   * GitLab's Code Quality report (gl-code-quality-report.json) of every SARIF report securityReports writes:
   * `dagger call code-quality-report export --path=gl-code-quality-report.json`, then `artifacts: reports:
   * codequality:`. Findings do not fail it; a missing or untrustworthy report does.
   * @param gitDir A .git directory whose history gitleaks scans (e.g. --git-dir=.git); overrides --checkout.
   * @param checkout The caller's checkout, of which only .git is read (defaults to the repository the module sits in).
   */
  @func({ cache: "24h" })
  async codeQualityReport(
    gitDir?: Directory,
    @argument({ defaultPath: "/", ignore: CHECKOUT_GIT_ONLY }) checkout?: Directory,
  ): Promise<File> {
    const history = args.parseGitHistoryArgs("codeQualityReport", { gitDir, checkout });
    return codeQualityReport(await this.pipeline(), history);
  }

  /**
   * The daily scan: reads the image each environment's Deployment runs, scans it with Trivy, runs
   * cargo audit on the source, and returns a Markdown report. With --github-token and --github-repository,
   * findings open one issue labelled security and critical, or comment on the open one; then blocking
   * findings fail the call, the report in the error.
   * @param kubeconfig kubeconfig with read access to the environments' namespaces.
   * @param githubToken Token allowed to read and write issues of --github-repository.
   * @param githubRepository owner/name of the repository the issue goes to.
   * @param environments Environments to scan (dev, staging, production); all when absent.
   * @param registryUsername User for a private registry holding the images.
   * @param registryPassword Password or token for --registry-username.
   * @param slackWebhook Slack incoming-webhook URL: findings are posted there.
   * @param pagerdutyRoutingKey PagerDuty Events API v2 routing key: a critical finding pages (one alert per environment, resolved by a clean scan).
   * @param runUrl Link to the CI run, in the alerts.
   */
  @func({ cache: "never" })
  async scanDeployed(
    kubeconfig: Secret,
    githubToken?: Secret,
    githubRepository?: string,
    environments?: string[],
    registryUsername?: string,
    registryPassword?: Secret,
    slackWebhook?: Secret,
    pagerdutyRoutingKey?: Secret,
    runUrl?: string,
  ): Promise<string> {
    const request = args.parseScanDeployedArgs({
      kubeconfig, githubToken, githubRepository, environments, registryUsername, registryPassword, slackWebhook, pagerdutyRoutingKey, runUrl,
    });
    return scanDeployed(await this.scanningPipeline(), request);
  }

  // ---- scheduled operations ----

  /**
   * Criterion benchmarks (`cargo bench --benches`, scoped by benchmarks.package and benchmarks.filter) compared
   * with a baseline: fails when a benchmark's mean got slower by more than benchmarks.regressionPercent (default
   * 10 %) with a 95 % interval that excludes no change. Improvements, new and removed benchmarks are listed.
   * Returns criterion/ (the next run's baseline), benchmark.md and benchmark.json
   * (`export --path=bench`). Without a baseline the run records the first one and passes.
   * @param baseline The criterion/ directory a previous run returned (a target/criterion directory works too).
   * @param baselineFile Instead of --baseline: a previous run's benchmark.json, for a CI that keeps one file.
   */
  @func({ cache: "never" })
  async benchmark(baseline?: Directory, baselineFile?: File): Promise<Directory> {
    const request = scheduledArgs.parseBenchmarkArgs({ baseline, baselineFile });
    return scheduled.benchmark(await this.pipeline(), request);
  }

  /**
   * Retention: image versions in the GitHub package of the image repository (untagged ones older than
   * cleanup.untaggedDays, tags beyond the newest cleanup.keepTagsPerStream of their stream), never one an
   * environment runs (read from the clusters), a release tag, or a manifest a kept index lists; workflow
   * artifacts older than cleanup.artifactDays and caches unused for cleanup.cacheDays. A dry run unless --apply:
   * returns the report (Markdown) of what goes and why each kept version stays.
   * @param kubeconfig kubeconfig with read access to the environments' Deployments.
   * @param githubToken Token that can read and delete the package's versions, artifacts and caches.
   * @param githubRepository owner/name (GITHUB_REPOSITORY): the artifacts' repository and the default image repository.
   * @param environments Environments whose running images are protected; all when absent.
   * @param apply Delete; without it nothing is deleted.
   * @param registryUsername Registry user, to read the manifests of a private image.
   * @param registryPassword Registry password or token.
   */
  @func({ cache: "never" })
  async cleanup(
    kubeconfig: Secret,
    githubToken: Secret,
    githubRepository: string,
    environments?: string[],
    apply?: boolean,
    registryUsername?: string,
    registryPassword?: Secret,
  ): Promise<string> {
    const request = scheduledArgs.parseCleanupArgs({ kubeconfig, githubToken, githubRepository, environments, apply, registryUsername, registryPassword });
    return runCleanup(await this.pipeline(), request, this.clock());
  }

  // ---- image ----

  /**
   * The Analytics API image for one platform, built from image.dockerfile (default
   * services/analytics-api/Dockerfile, context the repository root) with image.buildArgs and image.target.
   * @param platform os/arch[/variant]; default the first of image.platforms (linux/amd64).
   */
  @func()
  async build(platform?: string): Promise<Container> {
    const request = args.parseBuildArgs({ platform });
    return image.build(await this.pipeline(), request);
  }

  /**
   * The image for every platform (the platform variants publish pushes as one multi-platform index).
   * @param platforms Platforms to build; default image.platforms (linux/amd64).
   */
  @func()
  async buildPlatforms(platforms?: string[]): Promise<Container[]> {
    const request = args.parsePlatformsArgs("buildPlatforms", { platforms });
    return image.buildPlatforms(await this.pipeline(), request.platforms).then((images) => images.map((i) => i.container));
  }

  /**
   * The image as an OCI tarball (multi-platform index when several platforms), e.g. for `docker load`.
   * @param platforms Platforms to include; default image.platforms.
   */
  @func()
  async imageTarball(platforms?: string[]): Promise<File> {
    const request = args.parsePlatformsArgs("imageTarball", { platforms });
    return image.imageTarball(await this.pipeline(), request.platforms);
  }

  /**
   * Image size gate: each platform's image (config + uncompressed layers, as `docker images` shows it) must be
   * smaller than image.maxSizeMb (default 500 MB; 1 MB = 1,000,000 bytes).
   */
  @func()
  @check()
  async imageSize(): Promise<void> {
    await this.gate(image.imageSize);
  }

  /**
   * Trivy on the built image's tarball (no registry round trip): fails on security.failOn severities (default
   * critical, high) not accepted by security.allowlist.
   */
  @func({ cache: "24h" })
  @check()
  async trivyImage(): Promise<void> {
    await this.scannerGate(image.trivyImage);
  }

  /** The Trivy image scan as SARIF 2.1.0 (for code scanning); findings do not fail it, a crashed scan does. */
  @func({ cache: "24h" })
  async trivyImageSarif(): Promise<File> {
    return image.trivyImageSarif(await this.pipeline());
  }

  /**
   * SBOM of the built image, written by the pinned Syft and checked before it is returned.
   * @param format spdx_json (SPDX JSON) or cyclonedx_json (CycloneDX JSON); default image.sbomFormat (spdx-json).
   * @param platform Platform whose image is described; default the first of image.platforms.
   */
  @func()
  async sbom(format?: SbomFormat, platform?: string): Promise<File> {
    const request = args.parseSbomArgs({ format, platform });
    return image.sbom(await this.pipeline(), request);
  }

  /**
   * Image tags as docker/metadata-action computes them for the plan's rules (branch, pr-N, semver
   * {{version}} and {{major}}.{{minor}}, <branch>-<short sha>, latest on releases).
   * @param ref Full git ref (GITHUB_REF): refs/heads/main, refs/tags/v1.2.3, refs/pull/42/merge.
   * @param event GitHub event name (GITHUB_EVENT_NAME): push, pull_request, pull_request_target...
   * @param commit Full commit SHA (GITHUB_SHA).
   * @param prNumber Pull-request number; required on pull_request_target (its ref is the base branch).
   */
  @func()
  tags(ref: string, event: string, commit: string, prNumber?: number): string[] {
    return imagePublish.tags(args.parseTagsArgs({ ref, event, commit, prNumber }));
  }

  /**
   * Pushes the image under every computed tag to image.registry / image.repository, after the imageSize and
   * trivyImage gates passed. Returns `<repository>:<tag>@<digest>`, one per line.
   * @param registryUsername Registry user name (on GitHub: github.actor).
   * @param registryPassword Registry password or token (on GitHub: GITHUB_TOKEN with packages: write).
   * @param ref Full git ref (GITHUB_REF).
   * @param event GitHub event name (GITHUB_EVENT_NAME).
   * @param commit Full commit SHA (GITHUB_SHA).
   * @param prNumber Pull-request number, for pull_request_target.
   * @param githubRepository owner/name (GITHUB_REPOSITORY): the default image repository is <owner>/<name>/analytics-api, lowercased.
   * @param registry Registry host; default image.registry (ghcr.io).
   * @param imageRepository Repository path inside the registry; default image.repository, else from --github-repository.
   * @param platforms Platforms to push; default image.platforms.
   */
  @func({ cache: "never" })
  async publish(
    registryUsername: string,
    registryPassword: Secret,
    ref: string,
    event: string,
    commit: string,
    prNumber?: number,
    githubRepository?: string,
    registry?: string,
    imageRepository?: string,
    platforms?: string[],
  ): Promise<string> {
    const request = args.parsePublishArgs({
      registryUsername, registryPassword, ref, event, commit, prNumber, githubRepository, registry, imageRepository, platforms,
    });
    return imagePublish.publish(await this.pipeline(), request);
  }

  /**
   * cosign signature of a pushed digest and the image's SBOM attached as an attestation. Keyless with
   * --oidc-token (read by cosign from SIGSTORE_ID_TOKEN), or with --key. No credential is ever an argument.
   * @param digestRef The pushed image by digest: <repository>@sha256:<64 hex> (a line of publish's output).
   * @param registryUsername Registry user name, to push the signature.
   * @param registryPassword Registry password or token.
   * @param oidcToken OIDC identity token for keyless signing (audience sigstore).
   * @param key cosign private key (PEM) for key-based signing.
   * @param keyPassword Password of the cosign key.
   * @param sbomFormat SBOM format to attest (spdx_json, cyclonedx_json); default image.sbomFormat.
   * @param oidcRequestUrl Keyless on GitHub Actions, instead of --oidc-token: ACTIONS_ID_TOKEN_REQUEST_URL (cosign fetches a fresh token).
   * @param oidcRequestToken With --oidc-request-url: ACTIONS_ID_TOKEN_REQUEST_TOKEN.
   */
  @func({ cache: "never" })
  async sign(
    digestRef: string,
    registryUsername?: string,
    registryPassword?: Secret,
    oidcToken?: Secret,
    key?: Secret,
    keyPassword?: Secret,
    sbomFormat?: SbomFormat,
    oidcRequestUrl?: Secret,
    oidcRequestToken?: Secret,
  ): Promise<string> {
    const request = args.parseSignArgs({
      digestRef, registryUsername, registryPassword, oidcToken, key, keyPassword, sbomFormat, oidcRequestUrl, oidcRequestToken,
    });
    return imagePublish.sign(await this.pipeline(), request);
  }

  /**
   * Whether an image reference exists in its registry (crane digest). False only when the registry says
   * the manifest or repository is missing; when it cannot tell (401, 403, 429, 5xx, network) an error
   * with the registry's answer.
   * @param reference Image reference, e.g. ghcr.io/acme/observatory/analytics-api:1.2.3.
   * @param registryUsername Registry user name, for a private registry.
   * @param registryPassword Registry password or token.
   */
  @func({ cache: "never" })
  async imageExists(reference: string, registryUsername?: string, registryPassword?: Secret): Promise<boolean> {
    const request = args.parseImageExistsArgs({ reference, registryUsername, registryPassword });
    return imageRegistry.imageExists(await this.pipeline(), request);
  }
  /**
   * The publish job in one call: publish (gates first, one push per tag), then sign the pushed digest
   * and attest its SBOM; returns references.txt, signature.txt and the SBOM as a directory
   * (`export --path=release`). Refuses before pushing when no signing credential is given.
   * @param registryUsername Registry user name (on GitHub: github.actor).
   * @param registryPassword Registry password or token (on GitHub: GITHUB_TOKEN with packages: write).
   * @param ref Full git ref (GITHUB_REF).
   * @param event GitHub event name (GITHUB_EVENT_NAME).
   * @param commit Full commit SHA (GITHUB_SHA).
   * @param githubRepository owner/name (GITHUB_REPOSITORY), for the default image repository and the source label.
   * @param oidcToken OIDC identity token for keyless signing (audience sigstore).
   * @param key cosign private key (PEM) for key-based signing.
   * @param keyPassword Password of the cosign key.
   * @param prNumber Pull-request number, for pull_request_target.
   * @param registry Registry host; default image.registry (ghcr.io).
   * @param imageRepository Repository path inside the registry; default image.repository, else from --github-repository.
   * @param platforms Platforms to push; default image.platforms.
   * @param oidcRequestUrl Keyless on GitHub Actions, instead of --oidc-token: ACTIONS_ID_TOKEN_REQUEST_URL. cosign fetches
   * the token when it signs; a token fetched before this call (5-minute lifetime) expires while the image is built.
   * @param oidcRequestToken With --oidc-request-url: ACTIONS_ID_TOKEN_REQUEST_TOKEN.
   */
  @func({ cache: "never" })
  async releaseImage(
    registryUsername: string,
    registryPassword: Secret,
    ref: string,
    event: string,
    commit: string,
    githubRepository?: string,
    oidcToken?: Secret,
    key?: Secret,
    keyPassword?: Secret,
    prNumber?: number,
    registry?: string,
    imageRepository?: string,
    platforms?: string[],
    oidcRequestUrl?: Secret,
    oidcRequestToken?: Secret,
  ): Promise<Directory> {
    const request = args.parseReleaseImageArgs({
      registryUsername, registryPassword, ref, event, commit, githubRepository, oidcToken, key, keyPassword, prNumber, registry, imageRepository,
      platforms, oidcRequestUrl, oidcRequestToken,
    });
    return imagePublish.releaseImage(await this.pipeline(), request);
  }

  /**
   * Verifies an image before it is deployed: the digest is from image.registry / image.repository, and cosign
   * finds a signature and a signed SBOM attestation (image.sbomFormat) by the expected signer: this repository's
   * .github/workflows/ci.yml on main (dev), a release/* branch (staging) or the release tag (production), issued by
   * image.sign.oidcIssuer (or matching image.sign.certificateIdentityRegexp); with image.sign.keyless false, the
   * public key. A tag, an unsigned digest or another signer is refused. Returns what was verified.
   * @param image The image by digest: <registry>/<repository>@sha256:<64 hex> (a line of publish's output is accepted).
   * @param environment Environment the image is for; it decides the git ref the signature must come from.
   * @param githubRepository owner/repo (GITHUB_REPOSITORY) whose publish workflow signs; also the default image repository.
   * @param tag production: the release tag (vX.Y.Z) the image was signed on.
   * @param branch staging: the release branch the image was signed on (default: any release/* branch).
   * @param registryUsername Registry user name, for a private registry.
   * @param registryPassword Registry password or token.
   * @param publicKey cosign public key (PEM), when image.sign.keyless is false.
   */
  @func({ cache: "never" })
  async verifyImage(
    image: string,
    environment: Environment,
    githubRepository?: string,
    tag?: string,
    branch?: string,
    registryUsername?: string,
    registryPassword?: Secret,
    publicKey?: Secret,
  ): Promise<string> {
    const p = await this.pipeline();
    const request = deployArgs.parseVerifyImageArgs(p, { image, environment, githubRepository, tag, branch, registryUsername, registryPassword, publicKey });
    const verified = await verify.verifyImage(p, request.image, request.verification);
    return verified.summary;
  }

  // ---- deploy ----

  /**
   * Deploys a published image to dev or staging by digest: a <branch>-<sha7> tag is resolved to its digest by
   * the registry (crane digest), the digest is verified like verifyImage (signed by ci.yml on main for dev, on
   * a release/* branch for staging), then kubectl set image <repository>@sha256:..., rollout status with the
   * environment's timeout and the smoke test. A refused image changes nothing in the cluster. A failed or
   * timed-out rollout (or smoke test) is undone with kubectl rollout undo and fails with the rollout's
   * conditions and recent events. Returns the deployment record (JSON: environment, image, digest, start/end, result).
   * @param environment dev or staging (production: deployProduction).
   * @param kubeconfig Kubeconfig of the cluster (mounted as a file, never echoed).
   * @param image What publish pushed for the commit: <repository>@sha256:... (a publish line <repository>:<tag>@sha256:... too), or its <branch>-<sha7> tag (a bare tag names the publish repository), resolved to its digest. Moving tags (latest, main, versions), other registries and repositories are refused.
   * @param commit Instead of --image: the full commit SHA whose <branch>-<sha7> tag publish pushed.
   * @param branch With --commit: the branch the commit was built on. dev: main only; staging: the release/* branch the image must be signed on (default with --image: any release/* branch).
   * @param githubRepository owner/repo whose ci.yml publish job signs (GITHUB_REPOSITORY), also the default image repository ghcr.io/<owner>/<repo>/analytics-api (unless image.repository is configured).
   * @param slackWebhook Slack incoming-webhook URL; a notification is sent when given.
   * @param runUrl Link to the CI run, shown in the notification.
   * @param registryUsername Registry user, to resolve the tag and read the signatures of a private image.
   * @param registryPassword Registry password or token (read access).
   * @param publicKey cosign public key (PEM), when image.sign.keyless is false.
   */
  @func({ cache: "never" })
  async deploy(
    environment: Environment,
    kubeconfig: Secret,
    image?: string,
    commit?: string,
    branch?: string,
    githubRepository?: string,
    slackWebhook?: Secret,
    runUrl?: string,
    registryUsername?: string,
    registryPassword?: Secret,
    publicKey?: Secret,
  ): Promise<string> {
    const p = await this.pipeline();
    const request = deployArgs.parseDeployArgs(p, {
      environment, kubeconfig, image, commit, branch, githubRepository, slackWebhook, runUrl, registryUsername, registryPassword, publicKey,
    });
    return deploy.deploy(p, request, this.clock());
  }

  /**
   * Smoke test: GET /health (HTTP 200 and a body that says healthy) and /metrics (Prometheus text
   * format), retried with backoff until the environment's smoke deadline.
   * @param url Base URL of the service; default the environment's configured URL.
   * @param environment Whose URL and smoke settings (paths, deadline) to use; default staging.
   */
  @func({ cache: "never" })
  async smoke(url?: string, environment?: Environment): Promise<string> {
    const request = deployArgs.parseSmokeArgs({ url, environment });
    return traffic.smoke(await this.pipeline(), request, this.clock());
  }

  /**
   * k6 load test (pinned image) with the configured stages and thresholds (default 1m->50,
   * 3m->100, 1m->0 VUs; p95 < 500 ms, errors < 1 %). A failed threshold fails the function.
   * Returns P95, error rate and requests/s (JSON) from k6's summary.
   * @param url Base URL to load; default the staging URL.
   * @param script k6 script path in the source (e.g. ci/load/staging.js); default the built-in script.
   */
  @func({ cache: "never" })
  async loadTest(url?: string, script?: string): Promise<string> {
    const request = args.parseLoadTestArgs({ url, script });
    return traffic.loadTest(await this.pipeline(), request);
  }

  /**
   * Production blue-green release of vX.Y.Z: pre-checks (the tag X.Y.Z resolved to its digest by the registry,
   * that digest signed by ci.yml on refs/tags/vX.Y.Z with its SBOM attestation, staging healthy), the idle
   * colour from the live one with <repository>@sha256:..., rollout, smoke through its own Service, nginx
   * canary steps analysed on Prometheus, then the Service switch and the old colour scaled down
   * after the grace period. A failed pre-check changes nothing; any later failure before the switch
   * undoes only what this run changed (a breached threshold or missing metrics also withdraw the
   * canary analysed). Re-running continues or repairs from the state the cluster is in. Returns the
   * record (JSON), which lists the run's changes.
   * @param tag Release tag vX.Y.Z; the image is the digest of <repository>:X.Y.Z as publish pushed it.
   * @param kubeconfig Kubeconfig of the production cluster.
   * @param registryUsername Registry user for the digest and signatures of a private image.
   * @param registryPassword Registry password or token.
   * @param githubRepository owner/repo, for the default image repository.
   * @param prometheusUrl Prometheus base URL; default: through the cluster's API server proxy.
   * @param prometheusToken Bearer token for --prometheus-url.
   * @param slackWebhook Slack incoming-webhook URL.
   * @param runUrl Link to the CI run.
   * @param publicKey cosign public key (PEM), when image.sign.keyless is false.
   * @param commit Full SHA of the tag's commit: the signature must come from the run that built exactly it.
   * @param pagerdutyRoutingKey PagerDuty Events API v2 routing key: a failure or an automatic rollback pages (one alert per release), a success resolves it.
   * @param hotfix Skip the canary steps (smoke test, post-switch watch and automatic rollback still run); needs --reason.
   * @param acceptRecentErrors Deploy although the live colour's recent 5xx rate or P95 breaks the canary rules (reported, not refused); needs --reason.
   * @param reason Why --hotfix or --accept-recent-errors: recorded in the record, the release notes and Slack.
   */
  @func({ cache: "never" })
  async deployProduction(
    tag: string,
    kubeconfig: Secret,
    registryUsername?: string,
    registryPassword?: Secret,
    githubRepository?: string,
    prometheusUrl?: string,
    prometheusToken?: Secret,
    slackWebhook?: Secret,
    runUrl?: string,
    publicKey?: Secret,
    commit?: string,
    pagerdutyRoutingKey?: Secret,
    hotfix?: boolean,
    acceptRecentErrors?: boolean,
    reason?: string,
  ): Promise<string> {
    const p = await this.pipeline();
    const request = deployArgs.parseDeployProductionArgs(p, {
      tag, kubeconfig, registryUsername, registryPassword, githubRepository, prometheusUrl, prometheusToken, slackWebhook, runUrl, publicKey, commit, pagerdutyRoutingKey,
      hotfix, acceptRecentErrors, reason,
    });
    return production.deployProduction(p, request, this.clock());
  }

  /**
   * Rollback: production switches the Service back to the previous colour (scaling it up first
   * when needed; during a canary it removes the canary instead); dev and staging kubectl rollout
   * undo. Returns the record (JSON) with the reason, also sent to Slack.
   * @param environment Environment to roll back.
   * @param kubeconfig Kubeconfig of the cluster.
   * @param reason Why (recorded and notified).
   * @param slackWebhook Slack incoming-webhook URL.
   * @param runUrl Link to the CI run.
   * @param pagerdutyRoutingKey PagerDuty Events API v2 routing key: a failed rollback pages, the next successful one resolves it.
   */
  @func({ cache: "never" })
  async rollback(environment: Environment, kubeconfig: Secret, reason?: string, slackWebhook?: Secret, runUrl?: string, pagerdutyRoutingKey?: Secret): Promise<string> {
    const request = deployArgs.parseRollbackArgs({ environment, kubeconfig, reason, slackWebhook, runUrl, pagerdutyRoutingKey });
    const p = await this.pipeline();
    return pagedRollback(p, request, () => deploy.rollback(p, request, this.clock()));
  }

  /**
   * Slack notification through an incoming webhook: status, environment (with its configured URL when it names
   * dev, staging or production), version, run link, author and commit.
   * @param slackWebhook Slack incoming-webhook URL.
   * @param status started, success, failure or rollback.
   * @param environment Environment name.
   * @param version Version or image deployed.
   * @param runUrl Link to the CI run.
   * @param reason Why (failures, rollbacks).
   * @param author Who made the change (e.g. the commit's author).
   * @param commit Commit SHA (40 lower-case hex).
   * @param githubRepository owner/name: the commit is linked to its page there.
   */
  @func({ cache: "never" })
  async notify(
    slackWebhook: Secret,
    status: NotifyStatus,
    environment: string,
    version: string,
    runUrl?: string,
    reason?: string,
    author?: string,
    commit?: string,
    githubRepository?: string,
  ): Promise<string> {
    const request = args.parseNotifyArgs({ slackWebhook, status, environment, version, runUrl, reason, author, commit, githubRepository });
    return announce.notify(await this.pipeline(), request);
  }

  /**
   * GitHub release for a tag (gh CLI, pinned): the notes start with the image by digest, the date (UTC) and the
   * commit, then the tag's CHANGELOG.md section when present, notes generated by GitHub otherwise. Re-running
   * updates the existing release.
   * @param tag Release tag vX.Y.Z (must exist in the repository).
   * @param githubToken GitHub token with contents: write.
   * @param githubRepository owner/name.
   * @param image The released image by digest (<repository>@sha256:...).
   * @param commit The tag's commit SHA (40 lower-case hex).
   */
  @func({ cache: "never" })
  async release(tag: string, githubToken: Secret, githubRepository: string, image?: string, commit?: string): Promise<string> {
    const request = args.parseReleaseArgs({ tag, githubToken, githubRepository, image, commit });
    return announce.release(await this.pipeline(), request, this.clock());
  }

  // ---- metrics and alerts ----

  /**
   * DORA and pipeline metrics over the last --days (default 30): deployments per day per environment, lead time
   * (commit to production), change failure rate, time to restore; per workflow and job success rate, P50/P95
   * duration and queue time; artifact sizes. From the GitHub API and, with --records, deployment records (the
   * JSON deploy, deployProduction and rollback return). Prints Markdown (plan's targets and DORA Elite side by
   * side), JSON or Prometheus text.
   * @param githubToken Token that can read actions, deployments and contents of --github-repository.
   * @param githubRepository owner/name.
   * @param days Window length in days, ending now.
   * @param format markdown, json or prometheus.
   * @param records Directory of deployment records (*.json, one record or an array per file).
   * @param pushgatewayUrl Prometheus Pushgateway base URL: the figures are pushed there (job observatory_ci).
   * @param slackWebhook Slack incoming-webhook URL: the delivery summary is posted there.
   * @param rollbackWorkflow Path of the rollback workflow: its deployments count as rollbacks.
   * @param maxJobRuns Read the jobs of at most this many of the newest runs (API budget).
   */
  @func({ cache: "never" })
  async metrics(
    githubToken: Secret,
    githubRepository: string,
    days?: number,
    format?: MetricsFormat,
    records?: Directory,
    pushgatewayUrl?: string,
    slackWebhook?: Secret,
    rollbackWorkflow?: string,
    maxJobRuns?: number,
  ): Promise<string> {
    const request = parseMetricsArgs({ githubToken, githubRepository, days, format, records, pushgatewayUrl, slackWebhook, rollbackWorkflow, maxJobRuns });
    return delivery.metrics(await this.pipeline(), request, this.clock());
  }

  /**
   * Slack message for a failed pipeline run on main or a release/* branch (other branches: nothing is sent).
   * @param slackWebhook Slack incoming-webhook URL.
   * @param workflow Workflow name.
   * @param branch Branch the run was on.
   * @param runUrl Link to the failed run.
   * @param commit Commit SHA of the run.
   * @param failedJobs Names of the jobs that failed.
   */
  @func({ cache: "never" })
  async notifyPipelineFailure(slackWebhook: Secret, workflow: string, branch: string, runUrl: string, commit?: string, failedJobs?: string[]): Promise<string> {
    const request = parsePipelineFailureArgs({ slackWebhook, workflow, branch, runUrl, commit, failedJobs });
    return delivery.notifyPipelineFailure(await this.pipeline(), request);
  }
}
