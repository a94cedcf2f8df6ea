/**
 * `rollback --environment production`: back to the previous colour, by digest, or withdraw a canary. The
 * decision is lib/deploy/bluegreen.ts planRollback and lib/deploy-image.ts scaleUpImage; this file runs it.
 */
import type { Secret } from "@dagger.io/dagger";
import type { Pipeline } from "./pipeline";
import { getObject, kubectlOk, notifyQuietly, rolloutEvidence, runningDigest, waitRollout, type KubeTarget } from "./deploy-support";
import { observe } from "./production-cluster";
import { isoTime, type Clock } from "./lib/clock";
import type { RollbackRequest } from "./lib/deploy-args";
import { pinnedDigest, scaleUpImage } from "./lib/deploy-image";
import { canaryIngressName, colouredName, isReady, otherColour, planRollback } from "./lib/deploy/bluegreen";
import type { DeploymentRecord } from "./lib/deploy/record";
import { rollbackProductionArgo } from "./production-argo";
import { annotationsOf, PREVIOUS_DIGEST_ANNOTATION, PREVIOUS_IMAGE_ANNOTATION, switchPatch } from "./lib/deploy/service-switch";

/**
 * Production rollback. During a canary (the canary Ingress exists): remove it and park the idle
 * colour; the live colour is untouched. Otherwise: switch the Service back to the other colour,
 * scaling it up first when the grace period already scaled it down. Refuses when that colour no
 * longer runs the release that was live before (the Service records it at each switch).
 */
export async function rollbackProduction(p: Pipeline, options: RollbackRequest<Secret>, clock: Clock): Promise<string> {
  if (p.config.environments.production.strategy === "argo-rollouts") return rollbackProductionArgo(p, options, clock);
  const cfg = p.config.environments.production;
  const target: KubeTarget = { environment: "production", namespace: cfg.namespace, kubeconfig: options.kubeconfig };
  const started = clock.now();
  const { observed, service } = await observe(p, target);
  const live = observed.serviceColour;
  const previous = otherColour(live);
  const liveDeployment = observed.deployments[live];
  const previousDeployment = observed.deployments[previous];
  const steps: string[] = [];
  let image: string;
  let fromImage: string | null = liveDeployment?.image ?? null;

  const notify = (status: "rollback" | "failure", reason: string, details?: Record<string, string>) =>
    notifyQuietly(p, options.slackWebhook, {
      status,
      environment: "production",
      version: image ?? "(unknown)",
      ...(options.runUrl ? { runUrl: options.runUrl } : {}),
      reason,
      ...(details ? { details } : {}),
    });

  if (observed.canary) {
    // A rollout stopped mid-canary: the candidate is the idle colour, the live one stays.
    const candidate = previousDeployment?.image ?? "(none)";
    for (const action of planRollback(observed, candidate)) {
      if (action.type === "remove-canary") {
        await kubectlOk(p, target, ["delete", "ingress", canaryIngressName(cfg.ingress), "--ignore-not-found"]);
        steps.push("removed the canary Ingress");
      } else if (action.type === "scale-down-old") {
        await kubectlOk(p, target, ["scale", `deployment/${colouredName(cfg.deployment, action.colour)}`, "--replicas=0"]);
        steps.push(`scaled ${action.colour} (${candidate}) to 0`);
      }
    }
    image = liveDeployment?.image ?? "(unknown)";
    fromImage = candidate;
  } else {
    if (!previousDeployment) {
      throw new Error(`rollback: production has no ${previous} Deployment to switch back to; redeploy a previous version with deployProduction`);
    }
    const recorded = annotationsOf(service)[PREVIOUS_IMAGE_ANNOTATION];
    if (recorded && recorded !== previousDeployment.image) {
      throw new Error(
        `rollback: the ${previous} colour runs ${previousDeployment.image}, not ${recorded} (the release that was live before ${live}); ` +
          `switching to it would not restore the previous release. Redeploy the previous version with deployProduction --tag`,
      );
    }
    if (previousDeployment.image === liveDeployment?.image) {
      throw new Error(`rollback: both colours run ${previousDeployment.image}; there is no different previous release to return to`);
    }
    image = previousDeployment.image;
    if (!isReady(previousDeployment)) {
      const annotations = annotationsOf(service);
      const pull = scaleUpImage(image, annotations[PREVIOUS_IMAGE_ANNOTATION], annotations[PREVIOUS_DIGEST_ANNOTATION]);
      if (pull.kind === "refuse") {
        throw new Error(
          `rollback: refusing to scale ${previous} back up: ${pull.reason}. Nothing was changed; the Service still selects ${live}. ` +
            `Redeploy the previous release by digest with deployProduction --tag <its vX.Y.Z> (it resolves and verifies the digest).`,
        );
      }
      if (pull.kind === "re-pin") {
        // a parked colour (0 replicas): the new pod template starts no pod until the scale-up below
        await kubectlOk(p, target, ["set", "image", `deployment/${colouredName(cfg.deployment, previous)}`, `${cfg.container}=${pull.image}`]);
        steps.push(`pinned ${previous} from ${pull.from} to ${pull.image} (the digest it ran when it was live)`);
        image = pull.image;
      }
      const replicas = Math.max(1, liveDeployment?.replicas ?? 1);
      await kubectlOk(p, target, ["scale", `deployment/${colouredName(cfg.deployment, previous)}`, `--replicas=${replicas}`]);
      steps.push(`scaled ${previous} up to ${replicas}`);
      const problem = await waitRollout(p, target, colouredName(cfg.deployment, previous), cfg.rolloutTimeout);
      if (problem) {
        const evidence = await rolloutEvidence(p, target, colouredName(cfg.deployment, previous));
        const notification = await notify("failure", `rollback (${options.reason}): ${previous} did not become ready`);
        throw new Error(
          `rollback: ${previous} (${image}) did not become ready (${problem}), the Service still selects ${live}; reason: ${options.reason}\n${evidence}\nSlack: ${notification}`,
        );
      }
    }
    const liveDigest = liveDeployment?.image === undefined ? null : (pinnedDigest(liveDeployment.image) ?? (await runningDigest(p, target, await getObject(p, target, "deployment", colouredName(cfg.deployment, live)), cfg.container)));
    await kubectlOk(p, target, ["patch", "service", cfg.service, "--type=strategic", "-p", switchPatch(previous, live, liveDeployment?.image, liveDigest)]);
    steps.push(`switched Service ${cfg.service} from ${live} to ${previous}`);
  }

  const notification = await notify("rollback", options.reason, { From: fromImage ?? "(unknown)", To: image });
  const record: DeploymentRecord = {
    environment: "production",
    namespace: cfg.namespace,
    deployment: cfg.deployment,
    operation: "rollback",
    image,
    digest: pinnedDigest(image) ?? null,
    previousImage: fromImage,
    reason: options.reason,
    startedAt: isoTime(started),
    finishedAt: isoTime(clock.now()),
    durationSeconds: Math.round((clock.now() - started) / 1000),
    result: "success",
    details: { steps, liveBefore: live },
    notification,
  };
  return JSON.stringify(record, null, 2);
}
