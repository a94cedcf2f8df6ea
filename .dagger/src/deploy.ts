/**
 * Dev and staging: deploy (`kubectl set image` by verified digest, rollout, smoke, undo on failure) and
 * rollback (`rollout undo`; production's is production-rollback.ts). Production's blue-green rollout is
 * deploy-production.ts, the smoke and load tests load-test.ts, Slack and GitHub releases announce.ts.
 *
 * Every function that changes a cluster or sends a message is `cache: "never"` in index.ts, and each
 * exec that must really run again carries a nonce (withRunNonce). Waiting happens in TypeScript
 * (the clock index.ts passes in). Secrets (kubeconfig, webhook, tokens) are Dagger Secrets, mounted or
 * set as secret variables, never in an argument or a message.
 */
import type { Secret } from "@dagger.io/dagger";
import type { Pipeline } from "./pipeline";
import { registryImageExistence } from "./registry";
import { verifyImage, type VerifiedImage } from "./verify";
import { errorMessage, tail } from "./lib/errors";
import type { RegistryAuth } from "./lib/function-args";
import type { DeployRequest, RollbackRequest } from "./lib/deploy-args";
import { pinnedDigest, resolvedDigest, type DigestReference, type RequestedImage } from "./lib/deploy-image";
import { Environment } from "./lib/deploy/environment";
import type { DeploymentRecord } from "./lib/deploy/record";
import { isoTime, type Clock } from "./lib/clock";
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
  smokeTest,
  type KubeTarget,
  type SmokeResult,
} from "./deploy-support";
import { rollbackProduction } from "./production-rollback";
import { endToEnd, type EndToEndResult } from "./e2e";


/** The registry's digest for a commit tag (crane digest, read-only); an absent or unreadable tag stops the deploy. */
async function digestOfTag(p: Pipeline, requested: Extract<RequestedImage, { kind: "commit-tag" }>, auth?: RegistryAuth<Secret>): Promise<DigestReference> {
  const found = await registryImageExistence(p, requested.reference, auth);
  if (found.outcome === "exists") return resolvedDigest(requested.reference, found.digest);
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
  // what every message of this deploy says besides its status and reason
  const about = {
    environment,
    version,
    environmentUrl: cfg.url,
    ...(options.runUrl ? { runUrl: options.runUrl } : {}),
    ...(options.commit ? { commit: options.commit } : {}),
    ...(options.githubRepository ? { githubRepository: options.githubRepository } : {}),
  };

  // Resolve and verify before the first kubectl: a refusal leaves the cluster exactly as it was.
  let verified: VerifiedImage;
  try {
    const image = requested.kind === "digest" ? requested.image : await digestOfTag(p, requested, options.registry);
    verified = await verifyImage(p, image, options.verification);
  } catch (e) {
    const reason = errorMessage(e);
    const notification = await notifyQuietly(p, options.slackWebhook, {
      status: "failure",
      ...about,
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
  let e2e: EndToEndResult | undefined;
  if (rolloutProblem) {
    const evidence = await rolloutEvidence(p, target, cfg.deployment);
    failure = `rollout of ${image} did not complete within ${cfg.rolloutTimeout} (${rolloutProblem})\n${evidence}`;
  } else {
    try {
      smoke = await smokeTest(clock, curlProbe(p, cfg.url), cfg.smoke.paths, cfg.smoke.deadlineSeconds, cfg.url, cfg.smoke.metrics);
    } catch (e) {
      failure = errorMessage(e);
    }
  }
  if (!failure && cfg.e2e) {
    try {
      e2e = await endToEnd(p, cfg.e2e, cfg.url.replace(/\/+$/, ""));
    } catch (e) {
      failure = `the end-to-end suite (environments.${environment}.e2e) failed: ${errorMessage(e)}`;
    }
  }

  if (failure && previousImage === image) {
    // set image changed nothing (a re-run of the same build): `rollout undo` would go back to the revision
    // before it, an older release nobody asked to deploy. Nothing was changed, so nothing is undone.
    const notification = await notifyQuietly(p, options.slackWebhook, {
      status: "failure",
      ...about,
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
      ...about,
      reason: failure.split("\n")[0],
    });
    throw new Error(`deploy to ${environment} (namespace ${cfg.namespace}) failed: ${failure}\n\n${undoText}.\nSlack: ${notification}`);
  }

  const after = await getObject(p, target, "deployment", cfg.deployment);
  const digest = (await runningDigest(p, target, after, cfg.container)) ?? verified.digest;
  const notification = await notifyQuietly(p, options.slackWebhook, {
    status: "success",
    ...about,
    details: { Image: image, ...(digest ? { Digest: digest } : {}), Verified: verified.signers.join(", ") || "public key" },
  });
  return JSON.stringify(record("success", { smoke, ...(e2e ? { e2e } : {}), rolloutTimeout: cfg.rolloutTimeout }, { digest, previousImage, notification }), null, 2);
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
