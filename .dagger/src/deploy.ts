/**
 * The deployment stage: dev and staging (`kubectl set image`, rollout, smoke, undo on failure), the
 * smoke and k6 load tests, rollback, Slack notifications and GitHub releases. Production's
 * blue-green rollout lives in deploy-production.ts.
 *
 * Every function that changes a cluster or sends a message is `cache: "never"` in index.ts, and each
 * exec that must really run again carries a nonce (withRunNonce). Waiting happens in TypeScript
 * (the clock index.ts passes in). Secrets (kubeconfig, webhook, tokens) are Dagger Secrets, mounted or
 * set as secret variables, never in an argument or a message.
 */
import { dag, type Secret } from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import type { Pipeline } from "./pipeline";
import { registryImageExistence } from "./image";
import { verifyImage, type VerifiedImage } from "./verify";
import { ConfigError, UsageError, errorMessage, flagName, tail } from "./lib/errors";
import type {
  DeployRequest,
  LoadTestRequest,
  NotifyRequest,
  RegistryAuth,
  ReleaseRequest,
  RollbackRequest,
  SmokeRequest,
} from "./lib/function-args";
import { sourcePath } from "./lib/args";
import { pinnedDigest, type DigestReference, type RequestedImage } from "./lib/deploy-image";
import { Environment } from "./lib/deploy/environment";
import type { DeploymentRecord } from "./lib/deploy/record";
import { isoTime, type Clock } from "./lib/clock";
import { DEFAULT_K6_SCRIPT, K6_SUMMARY_PATH, k6Options, missingThresholds, parseK6Summary, type K6Summary } from "./lib/deploy/k6";
import { releaseNotesFromChangelog } from "./lib/deploy/changelog";
import {
  containerImage,
  curlProbe,
  getObject,
  kubectl,
  kubectlOk,
  notifyQuietly,
  rolloutEvidence,
  runningDigest,
  waitRollout,
  sendSlack,
  smokeTest,
  type KubeTarget,
  type SmokeResult,
} from "./deploy-support";
import { rollbackProduction } from "./deploy-production";


/** The registry's digest for a commit tag (crane digest, read-only); an absent or unreadable tag stops the deploy. */
async function digestOfTag(p: Pipeline, requested: Extract<RequestedImage, { kind: "commit-tag" }>, auth?: RegistryAuth<Secret>): Promise<DigestReference> {
  const found = await registryImageExistence(p, requested.reference, auth);
  if (found.outcome === "exists") return { reference: `${requested.repository}@${found.digest}`, repository: requested.repository, digest: found.digest };
  if (found.outcome === "absent") {
    throw new Error(`${requested.reference} is not in the registry (${found.answer}); was the commit published by the ci workflow's publish job?`);
  }
  throw new Error(`cannot resolve ${requested.reference} to its digest, the registry answered: ${found.answer}; check --registry-username/--registry-password`);
}

/** Deploys a parsed request to dev or staging: resolve and verify the digest, then set image, rollout, smoke. */
export async function deploy(p: Pipeline, options: DeployRequest<Secret>, clock: Clock): Promise<string> {
  const { environment, image: requested } = options;
  const cfg = p.config.environments[environment];
  const target: KubeTarget = { environment, namespace: cfg.namespace, kubeconfig: options.kubeconfig };
  const started = clock.now();
  const requestedText = requested.kind === "digest" ? requested.image.reference : requested.reference;
  const version = requested.tag ?? (requested.kind === "digest" ? requested.image.digest : requested.reference);

  // Resolve and verify before the first kubectl: a refusal leaves the cluster exactly as it was.
  let verified: VerifiedImage;
  try {
    const image = requested.kind === "digest" ? requested.image : await digestOfTag(p, requested, options.registry);
    verified = await verifyImage(p, image, options.verification);
  } catch (e) {
    const reason = errorMessage(e);
    const notification = await notifyQuietly(p, options.slackWebhook, {
      status: "failure",
      environment,
      version,
      ...(options.runUrl ? { runUrl: options.runUrl } : {}),
      reason: `image refused, ${environment} unchanged: ${reason.split("\n")[0]}`,
    });
    throw new Error(
      `deploy to ${environment} refused ${requestedText}: ${reason}\n\n` +
        `Nothing was changed in ${environment} (namespace ${cfg.namespace}): the image is checked before kubectl runs, so there is nothing to roll back.\nSlack: ${notification}`,
    );
  }
  const image = verified.reference;
  const record = (result: DeploymentRecord["result"], details: Record<string, unknown>, extra: Partial<DeploymentRecord> = {}): DeploymentRecord => ({
    environment,
    namespace: cfg.namespace,
    deployment: cfg.deployment,
    operation: "deploy",
    image,
    digest: verified.digest,
    ...(options.commit ? { commit: options.commit } : {}),
    startedAt: isoTime(started),
    finishedAt: isoTime(clock.now()),
    durationSeconds: Math.round((clock.now() - started) / 1000),
    result,
    details: { requested: requestedText, verification: verified.summary, ...details },
    notification: "",
    ...extra,
  });

  const before = await getObject(p, target, "deployment", cfg.deployment);
  if (!before) throw new Error(`deploy: deployment ${cfg.deployment} does not exist in ${environment} (namespace ${cfg.namespace}); bootstrap it with kubectl apply -k ci/k8s/overlays/${environment}`);
  const previousImage = containerImage(before, cfg.container) ?? null;

  await kubectlOk(p, target, ["set", "image", `deployment/${cfg.deployment}`, `${cfg.container}=${image}`]);
  const rolloutProblem = await waitRollout(p, target, cfg.deployment, cfg.rolloutTimeout);
  let failure: string | null = null;
  let smoke: SmokeResult | undefined;
  if (rolloutProblem) {
    const evidence = await rolloutEvidence(p, target, cfg.deployment);
    failure = `rollout of ${image} did not complete within ${cfg.rolloutTimeout} (${rolloutProblem})\n${evidence}`;
  } else {
    try {
      smoke = await smokeTest(clock, curlProbe(p, cfg.url), cfg.smoke.paths, cfg.smoke.deadlineSeconds, cfg.url);
    } catch (e) {
      failure = errorMessage(e);
    }
  }

  if (failure && previousImage === image) {
    // set image changed nothing (a re-run of the same build): `rollout undo` would go back to the revision
    // before it, an older release nobody asked to deploy. Nothing was changed, so nothing is undone.
    const notification = await notifyQuietly(p, options.slackWebhook, {
      status: "failure",
      environment,
      version,
      ...(options.runUrl ? { runUrl: options.runUrl } : {}),
      reason: failure.split("\n")[0],
    });
    throw new Error(
      `deploy to ${environment} (namespace ${cfg.namespace}) failed: ${failure}\n\n` +
        `${cfg.deployment} already ran ${image} before this deploy, so nothing was rolled back (rollout undo would go to an older release).\nSlack: ${notification}`,
    );
  }
  if (failure) {
    const undo = await kubectl(p, target, ["rollout", "undo", `deployment/${cfg.deployment}`]);
    const undone = undo.exitCode === 0 ? await waitRollout(p, target, cfg.deployment, cfg.rolloutTimeout) : `undo failed: ${tail(undo.stderr, 5)}`;
    const undoText = undone === null ? `rolled back with kubectl rollout undo to ${previousImage ?? "the previous revision"}` : `kubectl rollout undo did not complete (${undone}): check the cluster now`;
    const notification = await notifyQuietly(p, options.slackWebhook, {
      status: undone === null ? "rollback" : "failure",
      environment,
      version,
      ...(options.runUrl ? { runUrl: options.runUrl } : {}),
      reason: failure.split("\n")[0],
    });
    throw new Error(`deploy to ${environment} (namespace ${cfg.namespace}) failed: ${failure}\n\n${undoText}.\nSlack: ${notification}`);
  }

  const after = await getObject(p, target, "deployment", cfg.deployment);
  const digest = (await runningDigest(p, target, after, cfg.container)) ?? verified.digest;
  const notification = await notifyQuietly(p, options.slackWebhook, {
    status: "success",
    environment,
    version,
    ...(options.runUrl ? { runUrl: options.runUrl } : {}),
    details: { Image: image, ...(digest ? { Digest: digest } : {}), Verified: verified.signers.join(", ") || "public key" },
  });
  return JSON.stringify(record("success", { smoke, rolloutTimeout: cfg.rolloutTimeout }, { digest, previousImage, notification }), null, 2);
}

// ---------------------------------------------------------------------------------------------
// smoke

export async function smoke(p: Pipeline, request: SmokeRequest, clock: Clock): Promise<string> {
  const cfg = p.config.environments[request.environment];
  // environments.<name>.url is an http(s) URL by the config schema.
  const base = request.url ?? cfg.url.replace(/\/+$/, "");
  const result = await smokeTest(clock, curlProbe(p, base), cfg.smoke.paths, cfg.smoke.deadlineSeconds, base);
  return `smoke test of ${base} passed: ${result.checked.join(", ")} (${result.attempts} attempt(s), ${result.seconds}s)`;
}

// ---------------------------------------------------------------------------------------------
// loadTest

const K6_SCRIPT_PATH = "/scripts/load.js";
const K6_EXPORT_PATH = "/out/summary-export.json";

export interface LoadTestResult {
  url: string;
  script: string;
  p95Ms: number;
  errorRate: number;
  requestsPerSecond: number;
  requests: number | null;
  thresholds: { metric: string; expression: string; ok: boolean }[];
}

function describeThresholds(summary: K6Summary): string {
  const stat = (metric: string) =>
    metric === "http_req_duration" ? ` (p95 ${summary.p95Ms.toFixed(1)} ms)` : metric === "http_req_failed" ? ` (error rate ${(summary.errorRate * 100).toFixed(2)} %)` : "";
  return summary.failedThresholds.map((t) => `${t.metric} ${t.expression}${stat(t.metric)}`).join("; ");
}

export async function loadTest(p: Pipeline, request: LoadTestRequest): Promise<string> {
  const cfg = p.config.environments.staging;
  // environments.staging.url is an http(s) URL by the config schema.
  const base = request.url ?? cfg.url.replace(/\/+$/, "");
  const scriptPath = request.script ?? cfg.loadTest.script;
  if (request.script === undefined && scriptPath !== undefined && !sourcePath.safeParse(scriptPath).success) {
    throw new ConfigError(`environments.staging.loadTest.script ${JSON.stringify(scriptPath)} must be a path inside the source directory (e.g. ci/load/staging.js)`);
  }
  if (scriptPath !== undefined && !(await p.source.exists(scriptPath))) {
    throw new UsageError({
      fn: "loadTest",
      flag: flagName("script"),
      problem: `names no file in the source directory${request.script === undefined ? " (from environments.staging.loadTest.script)" : ""}`,
      found: scriptPath,
      expected: "a k6 script in the source, e.g. ci/load/staging.js",
    });
  }
  let options;
  try {
    options = k6Options(cfg.loadTest.stages, cfg.loadTest.thresholds);
  } catch (e) {
    throw new ConfigError(`environments.staging.loadTest: ${errorMessage(e)}`);
  }

  let ctr = dag
    .container()
    .from(p.config.images.k6)
    .withDirectory("/out", dag.directory(), { owner: "k6" })
    .withEnvVariable("BASE_URL", base)
    .withEnvVariable("K6_OPTIONS", JSON.stringify(options))
    .withEnvVariable("API_PATH", cfg.loadTest.apiPath)
    .withEnvVariable("K6_NO_USAGE_REPORT", "true");
  ctr = scriptPath === undefined ? ctr.withNewFile(K6_SCRIPT_PATH, DEFAULT_K6_SCRIPT) : ctr.withFile(K6_SCRIPT_PATH, p.source.file(scriptPath));
  const ran = runAllowingFailure(withRunNonce(ctr), ["k6", "run", "--summary-export", K6_EXPORT_PATH, K6_SCRIPT_PATH]);
  const { exitCode, stdout, stderr } = await outcomeOf(ran);
  const scriptName = scriptPath ?? "built-in script";

  let summary: K6Summary | undefined;
  let summaryProblem = "";
  for (const path of [K6_SUMMARY_PATH, K6_EXPORT_PATH]) {
    try {
      summary = parseK6Summary(await ran.file(path).contents());
      break;
    } catch (e) {
      summaryProblem += `${path}: ${errorMessage(e)}; `;
    }
  }
  // k6 exit codes: 99 = a threshold failed; anything else non-zero = the test itself broke.
  if (exitCode === 99) {
    const which = summary && summary.failedThresholds.length > 0 ? describeThresholds(summary) : `(summary unreadable: ${summaryProblem})`;
    throw new Error(`loadTest: k6 thresholds failed against ${base}: ${which}\n${tail(stdout, 25)}`);
  }
  if (exitCode !== 0) {
    throw new Error(`loadTest: k6 failed (exit ${exitCode}) against ${base} with ${scriptName}:\n${tail(stderr || stdout, 30)}`);
  }
  if (!summary) throw new Error(`loadTest: k6 passed but its summary could not be read, refusing to report a result: ${summaryProblem}`);
  if (summary.failedThresholds.length > 0) {
    throw new Error(`loadTest: k6 exited 0 but its summary reports failed thresholds: ${describeThresholds(summary)}`);
  }
  const missing = missingThresholds(summary, options.thresholds);
  if (missing.length > 0) {
    throw new Error(
      `loadTest: ${scriptName} did not evaluate the configured threshold(s) ${missing.join("; ")} ` +
        "(environments.staging.loadTest.thresholds), so k6 passing proves nothing: export `options = JSON.parse(__ENV.K6_OPTIONS)` " +
        "in the script, or declare those thresholds in its options",
    );
  }
  const result: LoadTestResult = {
    url: base,
    script: scriptName,
    p95Ms: summary.p95Ms,
    errorRate: summary.errorRate,
    requestsPerSecond: summary.requestsPerSecond,
    requests: summary.requests,
    thresholds: summary.thresholds,
  };
  return JSON.stringify(result, null, 2);
}

// ---------------------------------------------------------------------------------------------
// rollback

export async function rollback(p: Pipeline, options: RollbackRequest<Secret>, clock: Clock): Promise<string> {
  const { environment, reason } = options;
  if (environment === Environment.Production) return rollbackProduction(p, options, clock);

  const cfg = p.config.environments[environment];
  const target: KubeTarget = { environment, namespace: cfg.namespace, kubeconfig: options.kubeconfig };
  const started = clock.now();
  const before = await getObject(p, target, "deployment", cfg.deployment);
  if (!before) throw new Error(`rollback: deployment ${cfg.deployment} does not exist in ${environment} (namespace ${cfg.namespace})`);
  const fromImage = containerImage(before, cfg.container) ?? "(unknown)";
  await kubectlOk(p, target, ["rollout", "undo", `deployment/${cfg.deployment}`]);
  const problem = await waitRollout(p, target, cfg.deployment, cfg.rolloutTimeout);
  const after = await getObject(p, target, "deployment", cfg.deployment);
  const toImage = containerImage(after, cfg.container) ?? "(unknown)";
  if (problem) {
    const evidence = await rolloutEvidence(p, target, cfg.deployment);
    const notification = await notifyQuietly(p, options.slackWebhook, {
      status: "failure",
      environment,
      version: toImage,
      ...(options.runUrl ? { runUrl: options.runUrl } : {}),
      reason: `rollback (${reason}) did not complete: ${problem}`,
    });
    throw new Error(`rollback of ${environment} (namespace ${cfg.namespace}) did not complete (${problem}); reason: ${reason}\n${evidence}\nSlack: ${notification}`);
  }
  // rollout undo restores the previous ReplicaSet's pod template as it was written: a digest when that
  // revision was deployed by digest, a tag when an older deploy set one. Said, never hidden.
  const pinned = pinnedDigest(toImage);
  const unpinned = pinned
    ? undefined
    : `the restored revision names ${toImage}, not a digest: new pods pull whatever that tag points at now; redeploy by digest (deploy --image <repository>@sha256:...)`;
  const notification = await notifyQuietly(p, options.slackWebhook, {
    status: "rollback",
    environment,
    version: toImage,
    ...(options.runUrl ? { runUrl: options.runUrl } : {}),
    reason: unpinned ? `${reason} (warning: ${unpinned})` : reason,
    details: { From: fromImage, To: toImage },
  });
  const record: DeploymentRecord = {
    environment,
    namespace: cfg.namespace,
    deployment: cfg.deployment,
    operation: "rollback",
    image: toImage,
    digest: pinned ?? null,
    previousImage: fromImage,
    reason,
    startedAt: isoTime(started),
    finishedAt: isoTime(clock.now()),
    durationSeconds: Math.round((clock.now() - started) / 1000),
    result: "success",
    details: { method: "kubectl rollout undo", pinnedByDigest: pinned !== undefined, ...(unpinned ? { warning: unpinned } : {}) },
    notification,
  };
  return JSON.stringify(record, null, 2);
}

// ---------------------------------------------------------------------------------------------
// notify

export async function notify(p: Pipeline, request: NotifyRequest<Secret>): Promise<string> {
  return sendSlack(p, request.slackWebhook, {
    status: request.status,
    environment: request.environment,
    version: request.version,
    ...(request.runUrl ? { runUrl: request.runUrl } : {}),
    ...(request.reason ? { reason: request.reason } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// release

const GH_INSTALL = [
  'v="$1"',
  'case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) echo "unsupported architecture $(uname -m)" >&2; exit 1 ;; esac',
  'name="gh_${v}_linux_${arch}"',
  "cd /tmp",
  'wget -q "https://github.com/cli/cli/releases/download/v${v}/${name}.tar.gz"',
  'wget -q "https://github.com/cli/cli/releases/download/v${v}/gh_${v}_checksums.txt"',
  'grep " ${name}.tar.gz\\$" "gh_${v}_checksums.txt" | sha256sum -c -',
  'tar -xzf "${name}.tar.gz"',
  'install -m 0755 "${name}/bin/gh" /usr/local/bin/gh',
  'rm -rf "${name}" "${name}.tar.gz" "gh_${v}_checksums.txt"',
  "gh --version",
].join("\n");

const GH_RELEASE = [
  'tag="$1"; repo="$2"; notes="$3"; prerelease="$4"',
  'extra=""; if [ "$prerelease" = yes ]; then extra="--prerelease"; fi',
  'if gh release view "$tag" --repo "$repo" >/dev/null 2>&1; then',
  '  if [ "$notes" = file ]; then gh release edit "$tag" --repo "$repo" --notes-file /release/notes.md >/dev/null; fi',
  '  gh release view "$tag" --repo "$repo" --json url --jq .url',
  'elif [ "$notes" = file ]; then',
  '  gh release create "$tag" --repo "$repo" --verify-tag --title "$tag" $extra --notes-file /release/notes.md',
  "else",
  '  gh release create "$tag" --repo "$repo" --verify-tag --title "$tag" $extra --generate-notes',
  "fi",
].join("\n");

export async function release(p: Pipeline, request: ReleaseRequest<Secret>): Promise<string> {
  const { tag } = request.tag;
  const repository = request.githubRepository;
  let notes: string | null = null;
  if (await p.source.exists("CHANGELOG.md")) {
    notes = releaseNotesFromChangelog(await p.source.file("CHANGELOG.md").contents(), tag);
  }
  const useFile = notes !== null && notes.trim() !== "";
  // gh is TOOLS.gh from its GitHub release, checked against the release's checksums, in a cached layer.
  let ctr = dag
    .container()
    .from(p.config.images.alpine)
    .withExec(["sh", "-euc", GH_INSTALL, "install-gh", p.config.tools.gh]);
  if (useFile) ctr = ctr.withNewFile("/release/notes.md", `${notes}\n`);
  ctr = ctr.withSecretVariable("GH_TOKEN", request.githubToken);
  const { exitCode, stdout, stderr } = await outcomeOf(
    runAllowingFailure(withRunNonce(ctr), ["sh", "-euc", GH_RELEASE, "gh-release", tag, repository, useFile ? "file" : "generate", request.tag.prerelease ? "yes" : "no"]),
  );
  if (exitCode !== 0) throw new Error(`release: gh release for ${tag} in ${repository} failed (exit ${exitCode}):\n${tail(stderr || stdout, 15)}`);
  const url = stdout.trim().split("\n").pop() ?? "";
  return `release ${tag} of ${repository}: ${url} (notes: ${useFile ? "CHANGELOG.md section" : "generated by GitHub"})`;
}
