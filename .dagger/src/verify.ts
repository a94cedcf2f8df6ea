/**
 * Verification of an image before it is deployed: the digest comes from the configured repository, carries a
 * cosign signature from the expected signer (this repository's publish workflow on the environment's ref, or the
 * configured public key) and a signed SBOM attestation. Anything else refuses the deploy, with cosign's reason.
 * Never cached: a verdict is only true for the run that checked it (the exec gets a run nonce, the function
 * is `cache: "never"`).
 */
import type { Container, Secret } from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import type { Pipeline } from "./pipeline";
import { WRITE_DOCKER_CONFIG, cosignContainer } from "./registry";
import { errorMessage } from "./lib/errors";
import type { DigestReference } from "./lib/deploy-image";
import type { VerificationPlan } from "./lib/deploy-args";
import { parseImageReference } from "./lib/image-ref";
import { cosignPolicyArgs, cosignRefusal, describeSigner, verifiedAttestations, verifiedSignatures, type SignerPolicy } from "./lib/signing";

export interface VerifiedImage {
  /** The digest reference to deploy: `<registry>/<repository>@sha256:...`. */
  reference: string;
  digest: string;
  /** Certificate subjects of the verified signatures (empty with a key). */
  signers: string[];
  /** One line for logs and notifications. */
  summary: string;
}

/** A verification that ran and said no (bad input is a UsageError, found before): nothing may be deployed. */
export class ImageRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageRefused";
  }
}

const COSIGN_PUBLIC_KEY_PATH = "/run/secrets/cosign.pub";
/** `$0` of each exec, so a log line and a test can tell them apart. */
export const VERIFY_SIGNATURE = "cosign-verify";
export const VERIFY_ATTESTATION = "cosign-verify-attestation";
/** The arguments after $0 are cosign's own: a subcommand, its flags, the digest reference. */
const RUN_COSIGN = [WRITE_DOCKER_CONFIG, 'exec cosign "$@"'].join("\n");

/** The pinned cosign binary in alpine (the cosign image has no shell), with registry credentials and the key. */
function verifierContainer(pipeline: Pipeline, plan: VerificationPlan<Secret>, image: DigestReference): Container {
  let ctr = cosignContainer(pipeline, parseImageReference(image.reference).registry, plan.registry?.username, plan.registry?.password);
  if (plan.publicKey) ctr = ctr.withMountedSecret(COSIGN_PUBLIC_KEY_PATH, plan.publicKey);
  return withRunNonce(ctr);
}

/** Whether a certificate subject is the one the policy names (a second look after cosign's own check). */
function acceptedSubject(policy: SignerPolicy, subject: string): boolean {
  if (policy.mode === "key") return true;
  return policy.identity !== undefined ? subject === policy.identity : new RegExp(policy.identityRegexp!).test(subject);
}

/**
 * Verifies the cosign signature and the SBOM attestation of an image digest against the signer expected for the
 * environment (the plan, parsed with the arguments). Resolves with what was verified; rejects with ImageRefused
 * (unsigned, foreign signer, foreign ref, missing attestation, cosign crashed or printed nothing checkable).
 */
export async function verifyImage(pipeline: Pipeline, image: DigestReference, plan: VerificationPlan<Secret>): Promise<VerifiedImage> {
  const { policy, attestationType, fn } = plan;
  const expected = describeSigner(policy);
  const refuse = (why: string) => new ImageRefused(`${fn}: refusing ${image.reference}: ${why}; expected a signature by ${expected}`);
  const policyArgs = cosignPolicyArgs(policy, COSIGN_PUBLIC_KEY_PATH);
  const cosign = verifierContainer(pipeline, plan, image);

  const signature = await outcomeOf(
    runAllowingFailure(cosign, ["sh", "-euc", RUN_COSIGN, VERIFY_SIGNATURE, "verify", ...policyArgs, image.reference]),
  );
  if (signature.exitCode !== 0) throw refuse(`cosign verify: ${cosignRefusal(signature.exitCode, signature.stderr, signature.stdout)}`);
  let signers: string[];
  try {
    signers = verifiedSignatures(signature.stdout, image.digest);
  } catch (e) {
    throw refuse(errorMessage(e));
  }
  if (policy.mode === "keyless") {
    const foreign = signers.filter((subject) => !acceptedSubject(policy, subject));
    if (signers.length === 0 || foreign.length > 0) {
      throw refuse(`cosign verify accepted certificate subject(s) [${(foreign.length > 0 ? foreign : signers).join(", ")}] that the policy does not name`);
    }
  }

  const attestation = await outcomeOf(
    runAllowingFailure(cosign, [
      "sh", "-euc", RUN_COSIGN, VERIFY_ATTESTATION, "verify-attestation", "--type", attestationType, ...policyArgs, image.reference,
    ]),
  );
  if (attestation.exitCode !== 0) {
    throw refuse(`cosign verify-attestation --type ${attestationType} (the SBOM): ${cosignRefusal(attestation.exitCode, attestation.stderr, attestation.stdout)}`);
  }
  let attestations: number;
  try {
    attestations = verifiedAttestations(attestation.stdout, image.digest, attestationType);
  } catch (e) {
    throw refuse(errorMessage(e));
  }
  const by = policy.mode === "key" ? "the configured public key" : `${signers.join(", ")} (issuer ${policy.issuer})`;
  return {
    reference: image.reference,
    digest: image.digest,
    signers,
    summary: `verified ${image.reference}: signed by ${by}, ${attestations} signed ${attestationType} SBOM attestation(s)`,
  };
}
