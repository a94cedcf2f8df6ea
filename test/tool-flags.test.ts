/**
 * Every command-line flag the module sends, per tool, with the tool's pinned version and the source
 * file (at that version's tag) that defines the flags. The test records the plans of every function
 * that runs a tool (SCENARIOS below), extracts the flags actually sent, and fails on a flag the table
 * does not list and on a table flag no recorded plan sends: a new flag, or a version bump (the version
 * column follows versions.ts), names the rows to re-check against the tool's source.
 */
import { describe, expect, it } from "vitest";
import { dag } from "@dagger.io/dagger";
import { IMAGES, TOOLS } from "../.dagger/src/versions";
import { NotifyStatus } from "../.dagger/src/lib/deploy/slack";
import { Environment } from "../.dagger/src/lib/deploy/environment";
import { VERIFY_ATTESTATION, VERIFY_SIGNATURE } from "../.dagger/src/verify";
import type { ObservatoryCi } from "../.dagger/src/index";
import type { ExecView, Script } from "./support/recording-session";
import { failureOf, GOOD, healthyScript, sourceWith, sourceWithConfig, startPerTest } from "./support/module";
import { toolArgs } from "./support/scan-wrapper";
import { TRIVY_FINDINGS } from "./support/security-reports";
import { ociLayout } from "./support/image-reports";
import { ahash, baselineOnDisk, benchScript, clusterAndGitHub } from "./support/scheduled";
import { attestationStdout, keyVerifyStdout, VERIFY_DIGEST, VERIFY_REPO, verifyStdout } from "./support/cosign-output";
import { bootstrappedProduction, FakeClock, FakeCluster, healthyValue, isLive, k6Fixture, metricOf, PINNED, promVector, REPO } from "./session/deploy-fake-cluster";
import { recordedFlags, type RecordedFlag } from "./support/recorded-flags";

interface FlagRow {
  tool: string;
  version: string;
  flags: string[];
  source: string;
}

const RUST = IMAGES.rust.split(":")[1]!.split("-")[0]!; // 1.95.0, whose cargo is 0.96.0
const tag = (image: string) => image.slice(image.lastIndexOf(":") + 1);

const KUBECTL = tag(IMAGES.kubectl); // alpine/k8s tags are the kubectl release they ship
const kubectlSource = (files: string) => `kubernetes/kubectl kubernetes-${KUBECTL} ${files}; -n: kubernetes/cli-runtime kubernetes-${KUBECTL} pkg/genericclioptions/config_flags.go`;
const COSIGN = tag(IMAGES.cosign);
const CURL = tag(IMAGES.curl);
const GH_SNAPSHOT = "read at v2.60.0 and at trunk 44ee177 (2024-10-24): the v2.62.0 tag was not in the local snapshot, re-check at the tag";
/** alpine:3.20.3's busybox, also the shell utilities of the alpine-based scanner images. */
const BUSYBOX = "busybox 1.36.1";

const TOOL_FLAGS: FlagRow[] = [
  { tool: "cargo clippy", version: RUST, flags: ["--locked", "--workspace", "--package", "--all-targets", "--all-features"], source: "rust-lang/cargo 0.96.0 src/cargo/util/command_prelude.rs (cargo-clippy forwards them to `cargo check`)" },
  { tool: "cargo clippy --", version: RUST, flags: ["-D"], source: "rustc lint levels (`-D warnings`), rust-lang/rust 1.95.0 compiler/rustc_session/src/config.rs" },
  { tool: "cargo doc", version: RUST, flags: ["--locked", "--workspace", "--package", "--no-deps", "--all-features"], source: "rust-lang/cargo 0.96.0 src/bin/cargo/commands/doc.rs, src/cargo/util/command_prelude.rs" },
  { tool: "cargo fmt", version: RUST, flags: ["--all", "--package"], source: "rust-lang/rustfmt (toolchain 1.95.0) src/cargo-fmt/main.rs" },
  { tool: "cargo fmt --", version: RUST, flags: ["--check"], source: "rust-lang/rustfmt (toolchain 1.95.0) src/bin/main.rs" },
  { tool: "cargo install", version: RUST, flags: ["--locked", "--root", "--no-default-features", "--features"], source: "rust-lang/cargo 0.96.0 src/bin/cargo/commands/install.rs" },
  { tool: "cargo bench", version: RUST, flags: ["--locked", "--workspace", "-p", "--benches", "--no-run"], source: "rust-lang/cargo 0.96.0 src/bin/cargo/commands/bench.rs, src/cargo/util/command_prelude.rs" },
  { tool: "cargo test", version: RUST, flags: ["--locked", "--workspace", "--package", "--all-features", "--test", "--no-run"], source: "rust-lang/cargo 0.96.0 src/bin/cargo/commands/test.rs, src/cargo/util/command_prelude.rs" },
  { tool: "cargo check", version: RUST, flags: ["--locked", "--workspace", "--package", "--all-features", "--all-targets", "--lib", "--bins"], source: "rust-lang/cargo 0.96.0 src/bin/cargo/commands/check.rs, src/cargo/util/command_prelude.rs" },
  { tool: "cargo test --", version: RUST, flags: ["--test-threads", "--include-ignored"], source: "rust-lang/rust 1.95.0 library/test/src/cli.rs" },
  { tool: "cargo tarpaulin", version: TOOLS.cargoTarpaulin, flags: ["--engine", "--workspace", "--packages", "--all-features", "--locked", "--lib", "--bins", "--skip-clean", "--out", "--output-dir", "--exclude-files", "--no-run"], source: "xd009642/tarpaulin 0.31.2 src/args.rs" },
  { tool: "cargo audit", version: TOOLS.cargoAudit, flags: ["--db", "--file", "--json", "--ignore"], source: "rustsec/rustsec cargo-audit/v0.22.0 cargo-audit/src/commands/audit.rs" },
  { tool: "cargo deny", version: TOOLS.cargoDeny, flags: ["--manifest-path", "--color", "--format", "--locked", "--config"], source: "EmbarkStudios/cargo-deny 0.18.9 src/cargo-deny/main.rs (GraphContext --manifest-path), src/cargo-deny/check.rs" },
  { tool: "sqlx", version: TOOLS.sqlxCli, flags: ["--source"], source: "launchbadge/sqlx v0.8.2 sqlx-cli/src/opt.rs" },
  { tool: "trivy", version: tag(IMAGES.trivy), flags: ["--cache-dir", "--exit-code", "--format", "--input", "--output", "--scanners", "--severity", "--skip-dirs", "--timeout", "--db-repository", "--java-db-repository", "--image-src"], source: "aquasecurity/trivy v0.57.1 pkg/flag/{global,scan,report,db,image}_flags.go" },
  { tool: "semgrep", version: tag(IMAGES.semgrep), flags: ["--config", "--error", "--json-output", "--metrics", "--sarif-output"], source: "semgrep/semgrep 1.95.0 src/osemgrep/cli_scan/Scan_CLI.ml (tag not in the local mirror: re-check on a bump)" },
  { tool: "gitleaks", version: tag(IMAGES.gitleaks), flags: ["--exit-code", "--no-banner", "--redact", "--report-format", "--report-path", "--config"], source: "gitleaks/gitleaks v8.21.2 cmd/root.go" },
  { tool: "syft", version: tag(IMAGES.syft), flags: ["--output", "--source-name", "--platform"], source: "anchore/syft v1.16.0 cmd/syft/internal/options/{output,catalog}.go" },
  { tool: "cosign sign", version: COSIGN, flags: ["--yes", "--key"], source: `sigstore/cosign ${COSIGN} cmd/cosign/cli/options/sign.go` },
  { tool: "cosign attest", version: COSIGN, flags: ["--yes", "--key", "--type", "--predicate"], source: `sigstore/cosign ${COSIGN} cmd/cosign/cli/options/attest.go, predicate.go (PredicateLocalOptions)` },
  { tool: "cosign verify", version: COSIGN, flags: ["--certificate-identity", "--certificate-identity-regexp", "--certificate-oidc-issuer", "--certificate-github-workflow-sha", "--key"], source: `sigstore/cosign ${COSIGN} cmd/cosign/cli/options/certificate.go (CertVerifyOptions), verify.go (VerifyOptions)` },
  { tool: "cosign verify-attestation", version: COSIGN, flags: ["--certificate-identity", "--certificate-identity-regexp", "--certificate-oidc-issuer", "--certificate-github-workflow-sha", "--key", "--type"], source: `sigstore/cosign ${COSIGN} cmd/cosign/cli/options/certificate.go, verify.go (VerifyAttestationOptions), predicate.go (PredicateRemoteOptions)` },
  { tool: "codecovcli", version: TOOLS.codecovCli, flags: ["--verbose", "--fail-on-error", "--disable-search", "--git-service", "--slug", "--commit-sha", "--file", "--network-root-folder", "--branch", "--pr", "--flag", "--name"], source: "codecov/codecov-cli v11.2.4 codecov-cli/codecov_cli/{main.py,commands/upload.py,helpers/options.py}" },
  { tool: "pip", version: tag(IMAGES.python), flags: ["--no-input", "--only-binary"], source: "pypa/pip (bundled with the python image) src/pip/_internal/cli/cmdoptions.py" },
  // deployment: kubectl (every flag of a command line counts for its verb, `-n` included), curl, k6, gh
  { tool: "kubectl get", version: KUBECTL, flags: ["-n", "-o", "--raw", "-l", "--ignore-not-found"], source: kubectlSource("pkg/cmd/get/get.go (--raw, --ignore-not-found), get_flags.go (-o), pkg/cmd/util/helpers.go AddLabelSelectorFlagVar (-l)") },
  { tool: "kubectl apply", version: KUBECTL, flags: ["-n", "-f"], source: kubectlSource("pkg/cmd/apply/apply.go (DeleteFlags: cli-runtime pkg/genericclioptions/filename_flags.go -f)") },
  { tool: "kubectl delete", version: KUBECTL, flags: ["-n", "--ignore-not-found"], source: kubectlSource("pkg/cmd/delete/delete_flags.go") },
  { tool: "kubectl patch", version: KUBECTL, flags: ["-n", "--type", "-p"], source: kubectlSource("pkg/cmd/patch/patch.go") },
  { tool: "kubectl rollout", version: KUBECTL, flags: ["-n", "--timeout"], source: kubectlSource("pkg/cmd/rollout/rollout_status.go (--timeout), rollout_undo.go") },
  { tool: "kubectl scale", version: KUBECTL, flags: ["-n", "--replicas"], source: kubectlSource("pkg/cmd/scale/scale.go") },
  { tool: "kubectl set", version: KUBECTL, flags: ["-n"], source: kubectlSource("pkg/cmd/set/set_image.go") },
  {
    tool: "curl",
    version: CURL,
    flags: [
      "-sS", "--silent", "--show-error", "--fail-with-body", "--max-time", "--write-out", "--output", "--retry", "--retry-all-errors", "-H", "--data", "--data-binary", "-X",
      "--variable", "--expand-url", "--expand-header", "--expand-data",
    ],
    source: `curl/curl curl-${CURL.replace(/\./g, "_")} docs/cmdline-opts/{silent,show-error,fail-with-body,max-time,write-out,output,retry,retry-all-errors,header,data,data-binary,request,variable}.md; --expand-<option>: variable.md and src/tool_getparam.c ("expand-" prefix)`,
  },
  {
    tool: "curl",
    version: "7.88.1 (Debian bookworm, in the rust image)",
    flags: ["--fail", "--location", "--output"],
    source: "curl/curl curl-7_88_1 docs/cmdline-opts/{fail,location,output}.d",
  },
  { tool: "k6 run", version: tag(IMAGES.k6), flags: ["--summary-export"], source: `grafana/k6 v${tag(IMAGES.k6)} cmd/runtime_options.go` },
  { tool: "gh", version: TOOLS.gh, flags: ["--version"], source: `cli/cli v${TOOLS.gh} pkg/cmd/root/root.go (${GH_SNAPSHOT})` },
  { tool: "gh release create", version: TOOLS.gh, flags: ["--repo", "--verify-tag", "--title", "--prerelease", "--notes-file", "--generate-notes"], source: `cli/cli v${TOOLS.gh} pkg/cmd/release/create/create.go; --repo: pkg/cmdutil/repo_override.go, enabled in pkg/cmd/release/release.go (${GH_SNAPSHOT})` },
  { tool: "gh release edit", version: TOOLS.gh, flags: ["--repo", "--notes-file"], source: `cli/cli v${TOOLS.gh} pkg/cmd/release/edit/edit.go; --repo: pkg/cmdutil/repo_override.go (${GH_SNAPSHOT})` },
  { tool: "gh release view", version: TOOLS.gh, flags: ["--repo", "--json", "--jq"], source: `cli/cli v${TOOLS.gh} pkg/cmd/release/view/view.go, pkg/cmdutil/json_flags.go; --repo: pkg/cmdutil/repo_override.go (${GH_SNAPSHOT})` },
  // shell utilities: Debian bookworm (the rust image) and busybox (alpine, and the alpine-based scanner images)
  { tool: "timeout", version: "coreutils 9.1 (Debian bookworm)", flags: ["--kill-after"], source: "coreutils 9.1 src/timeout.c" },
  { tool: "sh", version: `dash 0.5.12 / ${BUSYBOX} ash`, flags: ["-c", "-euc"], source: "POSIX sh: -e, -u, -c" },
  { tool: "find", version: "findutils 4.9 (bookworm)", flags: ["-type", "-exec", "-name", "-path", "-not"], source: "POSIX find; -not: GNU findutils 4.9 find/parser.c (an alias of !)" },
  { tool: "read", version: "dash 0.5.12", flags: ["-r"], source: "POSIX read" },
  { tool: "sed", version: "sed 4.9 (bookworm)", flags: ["-n"], source: "POSIX sed; the script's \\| alternation is GNU BRE (sed 4.9 doc/sed.texi, Regular Expressions)" },
  { tool: "cut", version: "coreutils 9.1 (bookworm)", flags: ["-d", "-f"], source: "POSIX cut" },
  { tool: "touch", version: "coreutils 9.1", flags: ["-c"], source: "POSIX touch" },
  { tool: "grep", version: `grep 3.8 (bookworm) / ${BUSYBOX}`, flags: ["-q", "-F", "-e", "-qF", "-qE"], source: `POSIX grep; mirror/busybox ${BUSYBOX.split(" ")[1]!.replace(/\./g, "_")} findutils/grep.c OPTSTR_GREP` },
  { tool: "mktemp", version: `coreutils 9.1 / ${BUSYBOX}`, flags: ["-d"], source: "coreutils 9.1 src/mktemp.c; busybox coreutils/mktemp.c" },
  { tool: "test", version: "POSIX", flags: ["-s", "-n", "-z", "-eq", "-ne", "-d"], source: "POSIX test; busybox coreutils/test.c" },
  { tool: "tail", version: `coreutils 9.1 / ${BUSYBOX}`, flags: ["-c"], source: "POSIX tail; busybox 1_36_1 coreutils/tail.c" },
  { tool: "tar", version: `${tag(IMAGES.alpine)} (${BUSYBOX}); GNU tar 1.34 (bookworm)`, flags: ["-xf", "-tvf", "-xzf", "-C"], source: "mirror/busybox 1_36_1 archival/tar.c; GNU tar 1.34 -C (--directory)" },
  { tool: "mkdir", version: "POSIX", flags: ["-p"], source: "POSIX mkdir" },
  { tool: "tr", version: "POSIX", flags: ["-d"], source: "POSIX tr; busybox 1_36_1 coreutils/tr.c" },
  { tool: "head", version: "coreutils 9.1 (bookworm)", flags: ["-c"], source: "coreutils 9.1 src/head.c (-c, --bytes)" },
  { tool: "od", version: "coreutils 9.1 (bookworm)", flags: ["-An", "-tx1"], source: "POSIX od: -A n (no offsets), -t x1 (hex bytes); coreutils 9.1 src/od.c" },
  { tool: "wget", version: `${tag(IMAGES.alpine)} (${BUSYBOX})`, flags: ["-q"], source: "mirror/busybox 1_36_1 networking/wget.c" },
  { tool: "sha256sum", version: `${tag(IMAGES.alpine)} (${BUSYBOX})`, flags: ["-c"], source: "mirror/busybox 1_36_1 coreutils/md5_sha1_sum.c" },
  { tool: "install", version: `${tag(IMAGES.alpine)} (${BUSYBOX})`, flags: ["-m"], source: "mirror/busybox 1_36_1 coreutils/install.c" },
  { tool: "rm", version: `${tag(IMAGES.alpine)} (${BUSYBOX})`, flags: ["-rf"], source: "mirror/busybox 1_36_1 coreutils/rm.c" },
  { tool: "uname", version: `${tag(IMAGES.alpine)} (${BUSYBOX})`, flags: ["-m"], source: "mirror/busybox 1_36_1 coreutils/uname.c" },
  { tool: "base64", version: `${IMAGES.kubectl} (alpine's busybox)`, flags: ["-d"], source: "mirror/busybox 1_36_1 coreutils/uudecode.c (base64 applet, -d; skips characters outside the alphabet)" },
  { tool: "git", version: tag(IMAGES.gitleaks), flags: ["--global", "--add"], source: "git-config(1): `git config --global --add`" },
];

function missingFromTable(found: RecordedFlag[]): string[] {
  return found
    .filter(({ tool, flag }) => !TOOL_FLAGS.some((row) => row.tool === tool && row.flags.includes(flag)))
    .map(({ tool, flag }) => `${tool} ${flag}`);
}

/** Table flags no recorded plan sends: a stale row (the module stopped sending it, or the row names the wrong tool). */
function staleInTable(found: RecordedFlag[], table: FlagRow[] = TOOL_FLAGS): string[] {
  return table.flatMap((row) => row.flags.filter((flag) => !found.some((f) => f.tool === row.tool && f.flag === flag)).map((flag) => `${row.tool} ${flag}`));
}

// ------------------------------------------------------------------ the recorded plans

type Call = <T>(fn: (ci: ObservatoryCi) => Promise<T>) => Promise<T>;

interface Scenario {
  plan: string;
  /** The session's script and source directory (the good fixture by default). */
  script: () => Script | { script: Script; source: string };
  run: (call: Call) => Promise<unknown>;
  /** The call is expected to fail (a failed rollout, a breached canary): its plan is recorded all the same. */
  fails?: true;
}

const secret = (name: string) => dag.setSecret(name, `${name}-value`);
const SHA = "0123456789abcdef0123456789abcdef01234567";
const RUN_URL = "https://github.com/acme/observatory/actions/runs/42";
const DEV_OLD = `${REPO}:main-0a0b0c0`;
const DEV_NEW = `${REPO}:main-1a2b3c4`;
const VERIFY_IMAGE = `${VERIFY_REPO}@${VERIFY_DIGEST}`;
const IDENTITY_V140 = "https://github.com/Acme/observatory/.github/workflows/ci.yml@refs/tags/v1.4.0";
const IDENTITY_RELEASE = "https://github.com/Acme/observatory/.github/workflows/ci.yml@refs/heads/release/1.4";

/** dev/staging: one Deployment (deploy.test.ts's cluster); `failing` never completes its rollout. */
function devCluster(failing?: string): FakeCluster {
  const cluster = new FakeCluster({ namespace: "llm-observatory-dev" });
  cluster.addDeployment("analytics-api", DEV_OLD, 1);
  if (failing) cluster.failingImages.add(failing);
  cluster.k6 = { exitCode: 0, summary: k6Summary() };
  return cluster;
}

function k6Summary() {
  const data = k6Fixture();
  data.metrics.http_req_duration.thresholds = { "p(95)<500": { ok: true } };
  data.metrics.http_req_failed.thresholds = { "rate<0.01": { ok: true } };
  return data;
}

/** Production as deploy-production.test.ts bootstraps it: 1.3.0 live on blue. */
function productionCluster(errorRate = "0.002"): FakeCluster {
  const cluster = bootstrappedProduction();
  // the live traffic (pre-check review, post-switch watch) stays healthy; errorRate is the canary's
  cluster.prometheus = (query) => promVector(isLive(query) ? healthyValue(metricOf(query)) : metricOf(query) === "errorRate" ? errorRate : healthyValue(metricOf(query)));
  return cluster;
}

const deployProduction = (call: Call, prometheus: { url?: string; token?: boolean } = {}) =>
  call((ci) =>
    ci.deployProduction(
      "v1.4.0", secret("kubeconfig"), "ci-bot", secret("registry-password"), "acme/observatory",
      prometheus.url, prometheus.token ? secret("prometheus-token") : undefined, secret("slack-webhook"), RUN_URL,
    ),
  );

/** scanDeployed: each environment's Deployment (production's through the blue-green Service), a CRITICAL finding, no open issue. */
function scanDeployedScript(): Script {
  const cluster = new FakeCluster({ namespace: "llm-observatory" });
  cluster.addDeployment("analytics-api", DEV_NEW, 1);
  cluster.addDeployment("analytics-api-green", `${REPO}:1.4.0`, 3, { color: "green" });
  cluster.addService("analytics-api", { color: "green" });
  const kubectl = cluster.script().exec!;
  return healthyScript({
    exec: (e: ExecView) => {
      const line = e.args.join(" ");
      if (e.args[0] === "kubectl") return kubectl(e);
      if (toolArgs(e).join(" ").includes("trivy image")) return { exitCode: 42 };
      if (e.args[0] === "curl" && line.includes("/issues?labels=")) return { stdout: "[]" };
      if (e.args[0] === "curl" && line.includes("-X POST")) return { stdout: JSON.stringify({ number: 123, html_url: "https://github.com/o/r/issues/123" }) };
      return undefined;
    },
    file: (path) => (/^\/reports\/trivy-image-[a-z]+\.json$/.test(path) ? TRIVY_FINDINGS : undefined),
  });
}

/** GitHub's REST API with nothing in it: every listing empty (metrics reads status and headers from --write-out, the body from --output). */
function emptyGitHubScript(): Script {
  return healthyScript({
    exec: (e: ExecView) => (e.args[0] === "curl" && e.args.includes("--write-out") ? { stdout: "200\n{}" } : undefined),
    file: (path, e) => {
      if (path !== "/tmp/github-response.json") return undefined;
      const url = e?.args.at(-1) ?? "";
      return /\/(deployments|releases)\?/.test(url) ? "[]" : JSON.stringify({ total_count: 0, workflow_runs: [], jobs: [], artifacts: [] });
    },
  });
}

function cosignVerifyScript(signature: string): Script {
  return healthyScript({
    exec: (e: ExecView) => {
      if (e.args[3] === VERIFY_SIGNATURE) return { stdout: signature };
      if (e.args[3] === VERIFY_ATTESTATION) return { stdout: attestationStdout() };
      return undefined;
    },
  });
}

/** Every configuration that adds a flag to a gate's command line. */
const EVERY_OPTION = {
  coverage: { exclude: ["benches/*"] },
  security: {
    audit: { ignore: ["RUSTSEC-2021-0078"] },
    trivy: { dbRepository: "registry.example/mirror/trivy-db:2", javaDbRepository: "registry.example/mirror/trivy-java-db:1" },
    gitleaks: { configPath: ".gitleaks.toml" },
  },
};
const TWO_PLATFORMS = ociLayout([
  { platform: "linux/amd64", layers: [90_000_000] },
  { platform: "linux/arm64", layers: [90_000_000] },
]);

const KEY_SIGNING = { image: { repository: "acme/observatory/analytics-api", sign: { keyless: false } } };

/** Every plan whose flags the table is checked against. A new function that runs a tool gets a row here. */
const SCENARIOS: Scenario[] = [
  // gates, coverage, image
  { plan: "ci (every gate)", script: () => healthyScript(), run: (call) => call((ci) => ci.ci()) },
  {
    plan: "ci (every optional flag configured: coverage excludes, audit ignores, Trivy mirrors, gitleaks config)",
    script: () => ({ script: healthyScript(), source: sourceWith({ "ci/pipeline.json": JSON.stringify(EVERY_OPTION), ".gitleaks.toml": "" }) }),
    run: (call) => call((ci) => ci.ci()),
  },
  {
    plan: "ci (every Rust gate's scope flipped from the plan's default)",
    script: () => ({ script: healthyScript(), source: sourceWithConfig({ scope: { fmt: ["analytics-api"], clippy: "workspace", doc: "workspace", unitTest: ["analytics-api"], integrationTest: "workspace" }, tests: { includeIgnored: true } }) }),
    run: (call) => call((ci) => ci.ci()),
  },
  { plan: "uploadCoverage", script: () => healthyScript(), run: (call) => call((ci) => ci.uploadCoverage(secret("codecov"), "a".repeat(40), "acme/obs", "main", "7")) },
  { plan: "build", script: () => healthyScript(), run: (call) => call(async (ci) => (await ci.build()).sync()) },
  { plan: "imageTarball", script: () => healthyScript(), run: (call) => call(async (ci) => (await ci.imageTarball()).id()) },
  { plan: "sbom", script: () => healthyScript(), run: (call) => call(async (ci) => (await ci.sbom()).contents()) },
  { plan: "publish", script: () => healthyScript(), run: (call) => call((ci) => ci.publish("octocat", secret("ghcr"), "refs/tags/v1.2.3", "push", SHA, undefined, "Acme/Observatory")) },
  { plan: "sign (keyless)", script: () => healthyScript(), run: (call) => call((ci) => ci.sign(`ghcr.io/acme/obs/analytics-api@sha256:${"d".repeat(64)}`, "octocat", secret("ghcr"), secret("oidc"))) },
  {
    plan: "sign (key)",
    script: () => ({ script: healthyScript(), source: sourceWithConfig(KEY_SIGNING) }),
    run: (call) => call((ci) => ci.sign(`${REPO}@sha256:${"d".repeat(64)}`, "octocat", secret("ghcr"), undefined, secret("cosign-key"), secret("cosign-password"))),
  },
  { plan: "releaseImage", script: () => healthyScript(), run: (call) => call(async (ci) => (await ci.releaseImage("octocat", secret("ghcr"), "refs/heads/main", "push", SHA, "acme/obs", secret("oidc"))).id()) },
  {
    plan: "releaseImage (two platforms: Syft picks one from the pushed index)",
    script: () => ({ script: healthyScript({ file: (path) => (path.startsWith("/layout/") ? TWO_PLATFORMS.get(path.slice("/layout/".length)) : undefined) }), source: sourceWithConfig({ image: { platforms: ["linux/amd64", "linux/arm64"] } }) }),
    run: (call) => call(async (ci) => (await ci.releaseImage("octocat", secret("ghcr"), "refs/heads/main", "push", SHA, "acme/obs", secret("oidc"))).id()),
  },
  { plan: "imageExists", script: () => healthyScript({ exec: (e) => (e.args.includes("image-exists") ? { stdout: `${VERIFY_DIGEST}\n` } : undefined) }), run: (call) => call((ci) => ci.imageExists("ghcr.io/acme/obs/analytics-api:1.2.3", "octocat", secret("ghcr"))) },
  {
    plan: "verifyImage (keyless, production tag)",
    script: () => cosignVerifyScript(verifyStdout(IDENTITY_V140)),
    run: (call) => call((ci) => ci.verifyImage(VERIFY_IMAGE, Environment.Production, "Acme/observatory", "v1.4.0", undefined, "octocat", secret("ghcr"))),
  },
  {
    plan: "verifyImage (keyless, any release branch: identity regexp)",
    script: () => cosignVerifyScript(verifyStdout(IDENTITY_RELEASE)),
    run: (call) => call((ci) => ci.verifyImage(VERIFY_IMAGE, Environment.Staging, "Acme/observatory")),
  },
  {
    plan: "verifyImage (key)",
    script: () => ({ script: cosignVerifyScript(keyVerifyStdout()), source: sourceWithConfig(KEY_SIGNING) }),
    run: (call) => call((ci) => ci.verifyImage(VERIFY_IMAGE, Environment.Dev, undefined, undefined, undefined, undefined, undefined, secret("cosign-pub"))),
  },
  // deployment
  {
    plan: "deploy dev (healthy, Slack)",
    script: () => devCluster().script(),
    run: (call) => call((ci) => ci.deploy(Environment.Dev, secret("kubeconfig"), DEV_NEW, undefined, undefined, "acme/observatory", secret("slack-webhook"), RUN_URL, "ci-bot", secret("registry-password"))),
  },
  {
    plan: "deploy staging (--commit/--branch)",
    script: () => devCluster().script(),
    run: (call) => call((ci) => ci.deploy(Environment.Staging, secret("kubeconfig"), undefined, "1a2b3c4d5e6f70811223344556677889900aabbc", "release/1.4", "Acme/Observatory", undefined, undefined, "ci-bot", secret("registry-password"))),
  },
  {
    plan: "deploy dev (rollout times out: rollout undo, events)",
    script: () => devCluster(PINNED).script(),
    run: (call) => call((ci) => ci.deploy(Environment.Dev, secret("kubeconfig"), DEV_NEW, undefined, undefined, "acme/observatory", secret("slack-webhook"), RUN_URL, "ci-bot", secret("registry-password"))),
    fails: true,
  },
  { plan: "deployProduction (healthy canary)", script: () => productionCluster().script(), run: (call) => deployProduction(call) },
  {
    plan: "deployProduction (canary breaches, Prometheus at a URL with a token)",
    script: () => productionCluster("0.087").script(),
    run: (call) => deployProduction(call, { url: "https://prometheus.example", token: true }),
    fails: true,
  },
  {
    plan: "rollback dev",
    script: () => {
      const cluster = devCluster();
      cluster.history.set("analytics-api", [DEV_OLD, DEV_NEW]);
      cluster.get("deployment", "analytics-api").spec.template.spec.containers[0].image = DEV_NEW;
      return cluster.script();
    },
    run: (call) => call((ci) => ci.rollback(Environment.Dev, secret("kubeconfig"), "5xx spike", secret("slack-webhook"), RUN_URL)),
  },
  {
    plan: "rollback production (after a promotion)",
    script: () => productionCluster().script(),
    run: async (call) => {
      await deployProduction(call);
      return call((ci) => ci.rollback(Environment.Production, secret("kubeconfig"), "error budget burn", secret("slack-webhook"), RUN_URL));
    },
  },
  { plan: "smoke", script: () => devCluster().script(), run: (call) => call((ci) => ci.smoke("https://staging.api.llm-observatory.io")) },
  { plan: "loadTest", script: () => devCluster().script(), run: (call) => call((ci) => ci.loadTest()) },
  { plan: "notify", script: () => devCluster().script(), run: (call) => call((ci) => ci.notify(secret("slack-webhook"), NotifyStatus.Failure, "staging", "v1.4.0", RUN_URL, "k6 p95")) },
  {
    plan: "release (CHANGELOG section as the notes file)",
    script: () => ({ script: devCluster().script(), source: sourceWith({ "CHANGELOG.md": "## [1.4.0]\n\n### Added\n- canary releases\n" }, null) }),
    run: (call) => call((ci) => ci.release("v1.4.0", secret("github-token"), "acme/observatory")),
  },
  {
    plan: "release (pre-release, generated notes)",
    script: () => ({ script: devCluster().script(), source: sourceWith({}, null) }),
    run: (call) => call((ci) => ci.release("v1.5.0-rc.1", secret("github-token"), "acme/observatory")),
  },
  {
    plan: "scanDeployed (findings: opens a GitHub issue)",
    script: scanDeployedScript,
    run: (call) => call((ci) => ci.scanDeployed(secret("kubeconfig"), secret("github-token"), "acme/observatory")),
    fails: true, // the findings fail the scan once the issue is written
  },
  {
    plan: "scanDeployed (findings to Slack, PagerDuty)",
    script: scanDeployedScript,
    fails: true, // the scan fails on its blocking findings, after reporting them
    run: (call) => call((ci) => ci.scanDeployed(secret("kubeconfig"), undefined, undefined, ["dev"], undefined, undefined, secret("slack-webhook"), secret("pagerduty-routing-key"))),
  },
  {
    plan: "metrics (GitHub API, Pushgateway, Slack)",
    script: emptyGitHubScript,
    run: (call) => call((ci) => ci.metrics(secret("github-token"), "acme/observatory", 7, undefined, undefined, "https://pushgateway.example", secret("slack-webhook"))),
  },
  {
    plan: "notifyPipelineFailure",
    script: () => devCluster().script(),
    run: (call) => call((ci) => ci.notifyPipelineFailure(secret("slack-webhook"), "ci", "main", RUN_URL)),
  },
  {
    plan: "scanDeployed (private registry credentials for Trivy)",
    script: scanDeployedScript,
    run: (call) => call((ci) => ci.scanDeployed(secret("kubeconfig"), undefined, undefined, ["production"], "bot", secret("registry-password"))),
    fails: true,
  },
  {
    plan: "benchmark (a baseline, one package, a filter)",
    script: () => ({ script: benchScript(ahash()), source: sourceWithConfig({ benchmarks: { package: "analytics-api", filter: "^ingest/" } }) }),
    run: (call) => call((ci) => ci.benchmark(dag.host().directory(baselineOnDisk(ahash()))).then((d) => d.file("benchmark.json").contents())),
  },
  {
    plan: "benchmark (the workspace)",
    script: () => benchScript(ahash()),
    run: (call) => call((ci) => ci.benchmark().then((d) => d.file("benchmark.json").contents())),
  },
  {
    plan: "cleanup (--apply)",
    script: () => clusterAndGitHub(),
    run: (call) => call((ci) => ci.cleanup(secret("kubeconfig"), secret("github-token"), "acme/observatory", undefined, true, "bot", secret("registry-password"))),
  },
];

const startRun = startPerTest();
/** Every scenario on a fake clock: the canary window and the grace period take no time. */
const start = (script: Script, source: string) => startRun(script, source, { clock: new FakeClock() });

/** The argv the engine runs: with useEntrypoint, the container's entrypoint (its last withEntrypoint) before the args. */
function asRun(e: ExecView): ExecView {
  if (e.opts.useEntrypoint !== true) return e;
  const entrypoint = e.chain.slice(0, e.chain.lastIndexOf(e.chain.filter((s) => s.field === "withExec")[e.position]!)).filter((s) => s.field === "withEntrypoint").at(-1);
  return entrypoint ? { ...e, args: [...(entrypoint.args.args as string[]), ...e.args] } : e;
}

/** Records every scenario's plan; the flags, and per plan the tools it ran. */
async function recordAll(): Promise<{ found: RecordedFlag[]; toolsByPlan: Map<string, Set<string>> }> {
  const execs: ExecView[] = [];
  const toolsByPlan = new Map<string, Set<string>>();
  for (const scenario of SCENARIOS) {
    const setup = scenario.script();
    const { script, source } = "script" in setup && typeof setup.script === "object" ? setup : { script: setup as Script, source: GOOD };
    const { session, call } = await start(script, source);
    const run = scenario.run(call as Call);
    if (scenario.fails) await failureOf(run);
    else await run;
    const ran = session.execs.map(asRun);
    execs.push(...ran);
    toolsByPlan.set(scenario.plan, new Set(recordedFlags(ran).map((f) => f.tool)));
  }
  return { found: recordedFlags(execs), toolsByPlan };
}

describe("tool flags", () => {
  it("the table lists exactly the flags the recorded plans send: none missing, none stale", async () => {
    const { found, toolsByPlan } = await recordAll();
    // the extraction sees the tools of each plan (a broken extractor or scenario must not pass vacuously)
    for (const [plan, tools] of Object.entries(EXPECTED_TOOLS)) {
      for (const tool of tools) expect(toolsByPlan.get(plan)?.has(tool), `${plan}: ${tool}`).toBe(true);
    }
    // missing: sent but not in the table; stale: in the table but no recorded plan sends it
    expect({ missing: missingFromTable(found), stale: staleInTable(found) }).toEqual({ missing: [], stale: [] });
  }, 120_000);

  it("names a flag the table lacks", () => {
    expect(missingFromTable([{ tool: "trivy", flag: "--ignore-unfixed" }])).toEqual(["trivy --ignore-unfixed"]);
  });

  it("attributes flags to the command that parses them, inside scripts too", () => {
    const exec = (...args: string[]) => ({ args }) as unknown as ExecView;
    const flags = (...args: string[]) => recordedFlags([exec(...args)]).map((f) => `${f.tool} ${f.flag}`);
    expect(flags("kubectl", "-n", "dev", "rollout", "status", "deployment/api", "--timeout=5m")).toEqual(["kubectl rollout --timeout", "kubectl rollout -n"]);
    expect(flags("curl", "-sS", "--variable", "t@/run/secrets/t", "--expand-header", "Authorization: Bearer {{t:trim}}", "https://x")).toEqual([
      "curl --expand-header", "curl --variable", "curl -sS",
    ]);
    const release = 'extra=""; if [ "$4" = yes ]; then extra="--prerelease"; fi\ngh release create "$1" --repo "$2" $extra --notes-file /n.md\ngh --version';
    expect(flags("sh", "-euc", release, "gh-release", "v1")).toEqual(["gh --version", "gh release create --notes-file", "gh release create --prerelease", "gh release create --repo", "sh -euc"]);
    expect(flags("sh", "-euc", 'exec cosign "$@"', "verify", "verify-attestation", "--type", "spdxjson", "img")).toEqual(["cosign verify-attestation --type", "sh -euc"]);
    expect(flags("sh", "-c", '[ -z "$(tail -c 1 "$f")" ] || echo', "x")).toEqual(["sh -c", "tail -c", "test -z"]);
  });

  it("names a table flag no plan sends", () => {
    const table: FlagRow[] = [{ tool: "kubectl rollout", version: "1.31", flags: ["--timeout", "--watch"], source: "x" }];
    expect(staleInTable([{ tool: "kubectl rollout", flag: "--timeout" }], table)).toEqual(["kubectl rollout --watch"]);
  });

  it("each row names its version as pinned and a source file at that version", () => {
    for (const row of TOOL_FLAGS) {
      expect(row.version, row.tool).not.toBe("");
      expect(row.source, row.tool).toMatch(/\S/);
      expect(row.flags.length, row.tool).toBeGreaterThan(0);
    }
    const source = (tool: string) => TOOL_FLAGS.find((r) => r.tool === tool)!.source;
    expect(source("codecovcli")).toContain(`v${TOOLS.codecovCli}`);
    expect(source("cargo tarpaulin")).toContain(TOOLS.cargoTarpaulin);
    expect(source("gitleaks")).toContain(tag(IMAGES.gitleaks));
    expect(source("syft")).toContain(tag(IMAGES.syft));
    expect(source("trivy")).toContain(`v${tag(IMAGES.trivy)}`);
    expect(source("cargo audit")).toContain(`v${TOOLS.cargoAudit}`);
    expect(source("cargo deny")).toContain(TOOLS.cargoDeny);
    expect(source("sqlx")).toContain(`v${TOOLS.sqlxCli}`);
    for (const row of TOOL_FLAGS.filter((r) => r.tool.startsWith("cosign "))) expect(row.source).toContain(`sigstore/cosign ${tag(IMAGES.cosign)} `);
    for (const row of TOOL_FLAGS.filter((r) => r.tool.startsWith("kubectl "))) expect(row.source).toContain(`kubernetes-${tag(IMAGES.kubectl)} `);
    for (const row of TOOL_FLAGS.filter((r) => r.tool === "gh" || r.tool.startsWith("gh "))) expect(row.source).toContain(`cli/cli v${TOOLS.gh} `);
    expect(source("curl")).toContain(`curl-${tag(IMAGES.curl).replace(/\./g, "_")} `);
    expect(source("k6 run")).toContain(`grafana/k6 v${tag(IMAGES.k6)} `);
  });
});

/** Per plan, tools whose flags the extraction must find in it (a broken extractor or scenario must not pass vacuously). */
const EXPECTED_TOOLS: Record<string, string[]> = {
  "ci (every gate)": ["cargo tarpaulin", "cargo test", "trivy", "semgrep", "gitleaks", "timeout", "grep"],
  "uploadCoverage": ["codecovcli", "pip"],
  "sbom": ["syft"],
  "sign (keyless)": ["cosign sign", "cosign attest"],
  "sign (key)": ["cosign sign", "cosign attest"],
  "releaseImage (two platforms: Syft picks one from the pushed index)": ["syft", "cosign sign"],
  "verifyImage (keyless, production tag)": ["cosign verify", "cosign verify-attestation"],
  "verifyImage (key)": ["cosign verify", "cosign verify-attestation"],
  "deploy dev (healthy, Slack)": ["kubectl set", "kubectl rollout", "kubectl get", "curl", "base64"],
  "deploy dev (rollout times out: rollout undo, events)": ["kubectl rollout", "kubectl get"],
  "deployProduction (healthy canary)": ["kubectl apply", "kubectl patch", "kubectl delete", "kubectl scale", "kubectl get", "curl"],
  "deployProduction (canary breaches, Prometheus at a URL with a token)": ["kubectl delete", "kubectl scale", "curl"],
  "rollback production (after a promotion)": ["kubectl scale", "kubectl patch"],
  "loadTest": ["k6 run"],
  "notify": ["curl"],
  "release (CHANGELOG section as the notes file)": ["gh release create", "gh release edit", "gh release view", "wget", "sha256sum"],
  "scanDeployed (findings: opens a GitHub issue)": ["kubectl get", "trivy", "curl"],
  "scanDeployed (private registry credentials for Trivy)": ["kubectl get", "trivy"],
  "benchmark (a baseline, one package, a filter)": ["cargo bench", "timeout", "find", "mkdir"],
  "cleanup (--apply)": ["kubectl get", "curl"],
  "scanDeployed (findings to Slack, PagerDuty)": ["kubectl get", "trivy", "curl"],
  "metrics (GitHub API, Pushgateway, Slack)": ["curl"],
  "notifyPipelineFailure": ["curl"],
};
