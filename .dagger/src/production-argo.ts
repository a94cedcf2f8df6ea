/**
 * Production with `environments.production.strategy: "argo-rollouts"`: the Argo Rollouts controller (v1.9.1) runs
 * the release (ci/k8s/overlays/argo-rollouts); this function verifies the image as the pipeline strategy does, sets
 * it on the Rollout once, then only reads the controller's status until Healthy or Degraded. A re-run finds the
 * Rollout already on the image and observes again: it never sets it twice, so cancelling or re-running the job
 * cannot change the outcome. `rollback` aborts (mid-release) or undoes (after it) through the same fields the
 * kubectl-argo-rollouts plugin patches.
 */
import type { Secret } from "@dagger.io/dagger";
import type { Pipeline } from "./pipeline";
import { getObject, kubectlOk, notifyQuietly, runningDigest, type KubeTarget } from "./deploy-support";
import { PreCheckFailed, productionPreChecks } from "./production-checks";
import type { VerifiedImage } from "./verify";
import { isoTime, type Clock } from "./lib/clock";
import { errorMessage } from "./lib/errors";
import type { ProductionRequest, RollbackRequest } from "./lib/deploy-args";
import { parseDurationSeconds } from "./lib/deploy/duration";
import { argoNames, rulesDrift } from "./lib/deploy/argo-analysis";
import { ingressBackendPort } from "./lib/deploy/bluegreen";
import { describeAnalysis, parseAnalysisRun, parseRollout, type RolloutState } from "./lib/deploy/argo-status";
import { imagePatch, previousTemplatePatch, ABORT_PATCH } from "./lib/deploy/argo-patches";
import type { DeploymentRecord } from "./lib/deploy/record";

/** Seconds between two reads of the Rollout's status. */
const POLL_SECONDS = 15;

type Cfg = Pipeline["config"]["environments"]["production"];

function targetOf(cfg: Cfg, kubeconfig: Secret): KubeTarget {
  return { environment: "production", namespace: cfg.namespace, kubeconfig };
}

async function readRollout(p: Pipeline, target: KubeTarget, cfg: Cfg): Promise<{ raw: Record<string, unknown>; state: RolloutState }> {
  const name = argoNames(cfg).rollout;
  const raw = await getObject(p, target, "rollout", name);
  if (!raw) {
    throw new Error(
      `production: Rollout ${name} does not exist (namespace ${cfg.namespace}); strategy argo-rollouts needs the Argo Rollouts controller v1.9.1, its CRDs and kubectl apply -k ci/k8s/overlays/argo-rollouts`,
    );
  }
  return { raw, state: parseRollout(raw, cfg.container) };
}

/** The analysis run the controller names, described; a note when it cannot be read (the verdict stays the Rollout's). */
async function analysisEvidence(p: Pipeline, target: KubeTarget, state: RolloutState): Promise<string> {
  if (!state.analysisRun?.name) return "";
  try {
    const raw = await getObject(p, target, "analysisrun", state.analysisRun.name);
    return raw ? describeAnalysis(parseAnalysisRun(raw)) : `analysis run ${state.analysisRun.name}: gone`;
  } catch (e) {
    return `analysis run ${state.analysisRun.name}: could not be read (${errorMessage(e)})`;
  }
}

export async function deployProductionArgo(p: Pipeline, request: ProductionRequest<Secret>, clock: Clock): Promise<string> {
  const cfg = p.config.environments.production;
  const target = targetOf(cfg, request.kubeconfig);
  const names = argoNames(cfg);
  const started = clock.now();
  const version = request.tag;
  const log: string[] = [];
  const changes: { change: string; object: string; detail: string }[] = [];
  let image = request.tagReference;
  let verified: VerifiedImage | undefined;
  let previousImage: string | null = null;
  let step = "pre-checks";

  const notify = (status: "success" | "failure" | "rollback", reason?: string, details?: Record<string, string>) =>
    notifyQuietly(p, request.slackWebhook, {
      status,
      environment: "production",
      version,
      ...(request.runUrl ? { runUrl: request.runUrl } : {}),
      ...(reason ? { reason } : {}),
      ...(details ? { details } : {}),
    });
  const record = (result: DeploymentRecord["result"], details: Record<string, unknown>, digest: string | null = verified?.digest ?? null): DeploymentRecord => ({
    environment: "production",
    namespace: cfg.namespace,
    deployment: names.rollout,
    operation: "deploy-production",
    image,
    digest,
    previousImage,
    startedAt: isoTime(started),
    finishedAt: isoTime(clock.now()),
    durationSeconds: Math.round((clock.now() - started) / 1000),
    result,
    notification: "",
    details: {
      tag: version,
      tagReference: request.tagReference,
      strategy: "argo-rollouts",
      ...(verified ? { verification: verified.summary } : {}),
      ...details,
      changes,
      log,
    },
  });
  const fail = (done: DeploymentRecord, text: string): never => {
    throw new Error(`deployProduction ${version}: ${text}\nSlack: ${done.notification}\nRecord: ${JSON.stringify(done)}`);
  };

  let state: RolloutState;
  try {
    try {
      verified = await productionPreChecks(p, request, clock);
    } catch (e) {
      if (e instanceof PreCheckFailed && e.verified) verified = e.verified;
      throw e;
    } finally {
      if (verified) image = verified.reference;
    }
    log.push(`pre-checks passed: ${request.tagReference} is ${image}, ${verified.summary}; staging healthy`);
    step = "observe production";
    let raw: Record<string, unknown>;
    ({ raw, state } = await readRollout(p, target, cfg));
    step = "canary rules in the cluster";
    const [ingress, template] = await Promise.all([getObject(p, target, "ingress", cfg.ingress), getObject(p, target, "analysistemplate", names.analysisTemplate)]);
    if (!ingress) throw new PreCheckFailed(step, `Ingress ${cfg.ingress} does not exist (namespace ${cfg.namespace})`);
    const drift = rulesDrift(cfg, ingressBackendPort(ingress, cfg.service), raw, template);
    if (drift.length > 0) {
      throw new PreCheckFailed(step, `the cluster does not run the config's canary rules: ${drift.join("; ")}. Regenerate and apply ci/k8s/overlays/argo-rollouts`);
    }
    if (state.image !== image) {
      if (!state.fullyPromoted && !state.aborted) {
        throw new PreCheckFailed("production state", `Rollout ${names.rollout} is releasing ${state.image ?? "?"} (${state.phase}: ${state.message}); wait for it or rollback --environment production`);
      }
      previousImage = state.image;
      step = "set image";
      changes.push({ change: "patched", object: `rollout/${names.rollout}`, detail: `image ${image}` });
      await kubectlOk(p, target, ["patch", "rollout", names.rollout, "--type=json", "-p", imagePatch(raw, cfg.container, image)]);
      log.push(`set ${cfg.container} of rollout/${names.rollout} from ${previousImage ?? "?"} to ${image}`);
    } else {
      log.push(`rollout/${names.rollout} already runs ${image}: following the controller (no change made)`);
    }
  } catch (e) {
    const message = errorMessage(e);
    if (changes.length > 0) {
      // kubectl failed, but the API server may have taken the patch: only the controller's status can tell.
      const done = record("failure", { failedStep: step });
      done.notification = await notify("failure", `${step}: ${message.split("\n")[0]}`);
      return fail(done, `${message}\nSetting the image on rollout/${names.rollout} failed; it may still have been applied. Re-run deployProduction --tag ${version}: it follows the release if the Rollout has the image, else sets it.`);
    }
    const check = e instanceof PreCheckFailed ? e.check : step;
    const done = record("failure", { failedCheck: check });
    done.notification = await notify("failure", `${check} failed, production unchanged: ${message.split("\n")[0]}`);
    return fail(done, `${message}\nFailed before changing anything (check: ${check}): production is as this run found it, so there was nothing to undo.`);
  }

  step = "follow the controller";
  const deadline = started + (parseDurationSeconds(cfg.rolloutTimeout) + cfg.canary.steps.length * (cfg.canary.windowSeconds + cfg.canary.intervalSeconds)) * 1000;
  let seen = "";
  for (;;) {
    let current: RolloutState;
    try {
      current = (await readRollout(p, target, cfg)).state;
    } catch (e) {
      const done = record("failure", { failedStep: step });
      done.notification = await notify("failure", `${step}: ${errorMessage(e).split("\n")[0]}`);
      return fail(done, `${errorMessage(e)}\nThe controller still owns the release; re-run deployProduction --tag ${version} to keep following it.`);
    }
    const progress = `${current.phase} at step ${current.stepIndex ?? "?"}/${current.steps}${current.message ? `: ${current.message}` : ""}`;
    if (progress !== seen) log.push(`${isoTime(clock.now())} ${progress}`);
    seen = progress;
    if (current.image !== image) {
      const done = record("failure", { failedStep: step, rollout: current });
      done.notification = await notify("failure", `the Rollout's image changed to ${current.image ?? "?"} during the release`);
      return fail(done, `rollout/${names.rollout} now runs ${current.image ?? "?"}, not ${image}: someone else changed it; this run stops following.`);
    }
    if (current.phase === "Healthy" && current.fullyPromoted) {
      const { raw } = await readRollout(p, target, cfg);
      const digest = (await runningDigest(p, target, raw, cfg.container)) ?? verified?.digest ?? null;
      const evidence = await analysisEvidence(p, target, current);
      const done = record("success", { rollout: current, ...(evidence ? { analysis: evidence } : {}) }, digest);
      done.notification = await notify("success", undefined, { Image: image, Strategy: "argo-rollouts", ...(digest ? { Digest: digest } : {}) });
      return JSON.stringify(done, null, 2);
    }
    if (current.phase === "Degraded" || current.phase === "Paused") {
      const evidence = await analysisEvidence(p, target, current);
      const analysisFailed = current.aborted && current.analysisRun !== null && current.analysisRun.status !== "Successful";
      const what = analysisFailed ? "canary analysis failed" : current.phase === "Paused" ? "the controller paused the release" : "the release is Degraded";
      const rolledBack = current.aborted;
      const done = record(rolledBack ? "rolled-back" : "failure", { failedStep: step, rollout: current, ...(evidence ? { analysis: evidence } : {}) });
      done.notification = await notify(rolledBack ? "rollback" : "failure", `${what}: ${current.message}`);
      return fail(
        done,
        `${what}${rolledBack ? ", the controller aborted the release and sent all traffic back to the stable ReplicaSet" : ""}.\n${current.message}` +
          (evidence ? `\n${evidence}` : "") +
          (rolledBack
            ? `\nThe Rollout keeps ${image} as its desired image (aborted); deploy a fixed release, or rollback --environment production to restore the previous pod template.`
            : `\nThe controller still owns the release: promote or abort it (rollback --environment production aborts).`),
      );
    }
    if (clock.now() >= deadline) {
      const done = record("failure", { failedStep: step, rollout: current });
      done.notification = await notify("failure", `not Healthy within the deadline: ${progress}`);
      return fail(done, `rollout/${names.rollout} is not Healthy after ${Math.round((clock.now() - started) / 1000)}s (${progress}). The controller still owns the release; re-run deployProduction --tag ${version} to keep following it.`);
    }
    await clock.sleep(POLL_SECONDS * 1000);
  }
}

/** rollback --environment production under argo-rollouts: abort a release in flight, else restore the previous revision's pod template. */
export async function rollbackProductionArgo(p: Pipeline, options: RollbackRequest<Secret>, clock: Clock): Promise<string> {
  const cfg = p.config.environments.production;
  const target = targetOf(cfg, options.kubeconfig);
  const name = argoNames(cfg).rollout;
  const started = clock.now();
  const { raw, state } = await readRollout(p, target, cfg);
  const steps: string[] = [];
  let image = state.image ?? "(unknown)";
  const fromImage: string | null = state.image;
  if (!state.fullyPromoted && !state.aborted) {
    // kubectl-argo-rollouts v1.9.1 cmd/abort/abort.go: merge patch {"status":{"abort":true}} on the status subresource, else on the object.
    const onStatus = await kubectlOk(p, target, ["patch", "rollout", name, "--subresource=status", "--type=merge", "-p", ABORT_PATCH]).then(
      () => true,
      () => false,
    );
    if (!onStatus) await kubectlOk(p, target, ["patch", "rollout", name, "--type=merge", "-p", ABORT_PATCH]);
    steps.push(`aborted the release of ${state.image ?? "?"}: the controller sends all traffic back to the stable ReplicaSet`);
    image = "(the stable ReplicaSet's image)";
  } else {
    const replicaSets = JSON.parse(await kubectlOk(p, target, ["get", "replicasets", "-l", selectorOf(raw), "-o", "json"])) as { items?: Record<string, unknown>[] };
    const restore = previousTemplatePatch(replicaSets.items ?? [], cfg.container);
    if (!restore) throw new Error(`rollback: rollout/${name} has no previous revision to return to; redeploy a previous version with deployProduction --tag`);
    await kubectlOk(p, target, ["patch", "rollout", name, "--type=json", "-p", restore.patch]);
    steps.push(`restored the pod template of revision ${restore.revision} (${restore.image ?? "?"}); the controller runs it through the canary steps`);
    image = restore.image ?? "(unknown)";
  }
  const notification = await notifyQuietly(p, options.slackWebhook, {
    status: "rollback",
    environment: "production",
    version: image,
    ...(options.runUrl ? { runUrl: options.runUrl } : {}),
    reason: options.reason,
    details: { From: fromImage ?? "(unknown)", To: image },
  });
  const done: DeploymentRecord = {
    environment: "production",
    namespace: cfg.namespace,
    deployment: name,
    operation: "rollback",
    image,
    digest: null,
    previousImage: fromImage,
    reason: options.reason,
    startedAt: isoTime(started),
    finishedAt: isoTime(clock.now()),
    durationSeconds: Math.round((clock.now() - started) / 1000),
    result: "success",
    details: { strategy: "argo-rollouts", steps, rolloutBefore: state },
    notification,
  };
  return JSON.stringify(done, null, 2);
}

export function selectorOf(rollout: Record<string, unknown>): string {
  const labels = (rollout as { spec?: { selector?: { matchLabels?: Record<string, string> } } }).spec?.selector?.matchLabels ?? {};
  return Object.entries(labels).map(([key, value]) => `${key}=${value}`).join(",");
}
