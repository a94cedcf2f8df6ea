/**
 * deployProduction's pre-checks: the release tag resolved to its digest by the registry, that digest's signature
 * and SBOM attestation, staging's health and end-to-end suite (environments.staging.e2e, when configured). They
 * change nothing; a failure names its check. The review of production's recent errors needs the live colour, so
 * deploy-production.ts runs it once it has observed the cluster.
 */
import type { Secret } from "@dagger.io/dagger";
import type { Pipeline } from "./pipeline";
import { registryImageExistence } from "./registry";
import { ImageRefused, verifyImage, type VerifiedImage } from "./verify";
import { curlProbe, smokeTest } from "./deploy-support";
import { endToEnd } from "./e2e";
import type { Clock } from "./lib/clock";
import { errorMessage } from "./lib/errors";
import type { ProductionRequest } from "./lib/deploy-args";
import { resolvedDigest } from "./lib/deploy-image";
import { healthPaths } from "./lib/deploy/smoke";

/** A check before the first change failed (the image, staging, the production state the planner reads). */
export class PreCheckFailed extends Error {
  constructor(
    readonly check: string,
    message: string,
    /** The image, when it was verified before another check failed (the record names the digest). */
    readonly verified?: VerifiedImage,
  ) {
    super(message);
    this.name = "PreCheckFailed";
  }
}

/**
 * The tag's digest (crane digest), then that digest's signature and SBOM attestation (verifyImage, signed on
 * refs/tags/vX.Y.Z). Changes nothing.
 */
async function resolveAndVerify(p: Pipeline, request: ProductionRequest<Secret>): Promise<VerifiedImage> {
  const tagged = request.tagReference;
  let found;
  try {
    found = await registryImageExistence(p, tagged, request.registry);
  } catch (e) {
    throw new PreCheckFailed("image exists", `pre-check: could not ask the registry whether ${tagged} exists: ${errorMessage(e)}`);
  }
  if (found.outcome === "unknown") {
    throw new PreCheckFailed(
      "image exists",
      `pre-check: cannot tell whether ${tagged} exists, the registry answered: ${found.answer}\nCheck --registry-username/--registry-password and the registry, then re-run.`,
    );
  }
  if (found.outcome === "absent") {
    throw new PreCheckFailed(
      "image exists",
      `pre-check: image ${tagged} does not exist in the registry (${found.answer}); publish the tag first (the tag's CI run pushes it)`,
    );
  }
  try {
    return await verifyImage(p, resolvedDigest(tagged, found.digest), request.verification);
  } catch (e) {
    const why = e instanceof ImageRefused ? "refused" : "could not be verified";
    throw new PreCheckFailed("image signature", `pre-check: ${tagged} resolves to ${found.digest}, whose signature ${why}: ${errorMessage(e)}`);
  }
}

/** Staging answers healthy, then passes its end-to-end suite when one is configured. */
async function stagingChecks(p: Pipeline, clock: Clock): Promise<void> {
  const staging = p.config.environments.staging;
  try {
    await smokeTest(clock, curlProbe(p, staging.url), healthPaths(staging.smoke.paths), staging.smoke.deadlineSeconds, `staging (${staging.url})`);
  } catch (e) {
    throw new PreCheckFailed("staging healthy", `pre-check: staging does not answer healthy, refusing to promote:\n${errorMessage(e)}`);
  }
  if (!staging.e2e) return;
  try {
    await endToEnd(p, staging.e2e, staging.url.replace(/\/+$/, ""));
  } catch (e) {
    throw new PreCheckFailed("staging end-to-end", `pre-check: staging's end-to-end suite (environments.staging.e2e) failed, refusing to promote:\n${errorMessage(e)}`);
  }
}

/**
 * The image (digest, signature) and staging (health, end-to-end suite), in parallel. Resolves with the verified
 * image; rejects with PreCheckFailed naming the check. Changes nothing.
 */
export async function productionPreChecks(p: Pipeline, request: ProductionRequest<Secret>, clock: Clock): Promise<VerifiedImage> {
  const [image, stagingHealth] = await Promise.allSettled([resolveAndVerify(p, request), stagingChecks(p, clock)]);
  if (image.status === "rejected") throw image.reason;
  if (stagingHealth.status === "rejected") {
    const failed = stagingHealth.reason;
    if (failed instanceof PreCheckFailed) throw new PreCheckFailed(failed.check, failed.message, image.value);
    throw failed;
  }
  return image.value;
}
