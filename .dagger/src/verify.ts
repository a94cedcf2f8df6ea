/**
 * Verification of an image before it is deployed: the digest comes from the configured repository, carries a
 * cosign signature from the expected signer (this repository's publish workflow on the environment's ref, or the
 * configured public key) and a signed SBOM attestation. Anything else refuses the deploy, with cosign's reason.
 * Never cached: a verdict is only true for the run that checked it (the exec gets a run nonce, the function
 * is `cache: "never"`).
 */
import { dag, type Container, type Secret } from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import type { Pipeline } from "./pipeline";
import { checkCredentials, publishRepository, WRITE_DOCKER_CONFIG, withDockerConfig } from "./registry";
import { ConfigError, errorMessage } from "./lib/errors";
import type { Environment } from "./lib/deploy/environment";
import { deployableImage, type DigestReference } from "./lib/deploy-image";
import { parseImageReference } from "./lib/image-ref";
import {
  ATTESTATION_TYPES,
  cosignPolicyArgs,
  cosignRefusal,
  describeSigner,
  expectedSigningRef,
  signerPolicy,
  verifiedAttestations,
  verifiedSignatures,
  type AttestationType,
  type SignerPolicy,
} from "./lib/signing";

export interface VerifyImageOptions {
  /** `<registry>/<repository>@sha256:<64 hex>` (a publish line `repo:tag@sha256:...` is accepted, the tag dropped). */
  digestRef: string;
  environment: Environment;
  /** production: the release tag the image was signed on (vX.Y.Z). */
  releaseTag?: string;
  /** staging: the release branch the image was signed on, when known; else any release/* branch. */
  releaseBranch?: string;
  /** owner/repo whose publish workflow signs (keyless), also the default image repository. */
  githubRepository?: string;
  /** Registry credentials, to read the signatures of a private repository. */
  username?: string;
  password?: Secret;
  /** Key-based signing (image.sign.keyless false): the cosign public key (PEM). */
  publicKey?: Secret;
  /** For messages: the function and flag the image came from; default `verifyImage --image`. */
  caller?: { fn: string; flag: string };
}

export interface VerifiedImage {
  /** The digest reference to deploy: `<registry>/<repository>@sha256:...`. */
  reference: string;
  digest: string;
  /** Certificate subjects of the verified signatures (empty with a key). */
  signers: string[];
  /** One line for logs and notifications. */
  summary: string;
}

/** A verification that ran and said no (as opposed to bad input, a ConfigError): nothing may be deployed. */
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

/** Everything checked before any container starts. */
interface VerifyPlan extends SignerCheck {
  image: DigestReference;
}

/** The expected signer and SBOM attestation, checked without the image. */
export interface SignerCheck {
  policy: SignerPolicy;
  attestationType: AttestationType;
  fn: string;
}

/**
 * Checks everything verifyImage needs except the image itself (credentials, the expected ref, the signer
 * policy, the public key), so a deploy that still has to resolve its digest can refuse bad input before
 * any container starts.
 */
export function checkSigner(pipeline: Pipeline, options: Omit<VerifyImageOptions, "digestRef">): SignerCheck {
  const fn = (options.caller ?? { fn: "verifyImage", flag: "--image" }).fn;
  checkCredentials(fn, options.username, options.password);
  const sign = pipeline.config.image.sign;
  let policy: SignerPolicy;
  try {
    const expected = expectedSigningRef({ environment: options.environment, releaseTag: options.releaseTag, releaseBranch: options.releaseBranch });
    policy = signerPolicy(sign, options.githubRepository, expected);
  } catch (e) {
    throw new ConfigError(`${fn}: ${errorMessage(e)} (config from ${pipeline.configOrigin})`);
  }
  if (policy.mode === "key" && options.publicKey === undefined) {
    throw new ConfigError(`${fn}: image.sign.keyless is false, so pass --public-key (the cosign public key, PEM) to verify the signature`);
  }
  if (policy.mode === "keyless" && options.publicKey !== undefined) {
    throw new ConfigError(`${fn}: --public-key is for key-based signing (image.sign.keyless false); keyless signatures are checked against the signer's identity`);
  }
  return { policy, attestationType: ATTESTATION_TYPES[pipeline.config.image.sbomFormat], fn };
}

function plan(pipeline: Pipeline, options: VerifyImageOptions): VerifyPlan {
  const caller = options.caller ?? { fn: "verifyImage", flag: "--image" };
  const expectedRepository = publishRepository(pipeline, { githubRepository: options.githubRepository });
  let image: DigestReference;
  try {
    image = deployableImage(options.digestRef, expectedRepository, caller);
  } catch (e) {
    throw new ConfigError(errorMessage(e));
  }
  return { image, ...checkSigner(pipeline, options) };
}

/** The pinned cosign binary in alpine (the cosign image has no shell), with registry credentials and the key. */
function cosignContainer(pipeline: Pipeline, options: VerifyImageOptions, image: DigestReference): Container {
  const cosignBinary = dag.container().from(pipeline.config.images.cosign).file("/ko-app/cosign");
  let ctr = dag.container().from(pipeline.config.images.alpine).withFile("/usr/local/bin/cosign", cosignBinary);
  ctr = withDockerConfig(ctr, parseImageReference(image.reference).registry, options.username, options.password);
  if (options.publicKey) ctr = ctr.withMountedSecret(COSIGN_PUBLIC_KEY_PATH, options.publicKey);
  return withRunNonce(ctr);
}

/** Whether a certificate subject is the one the policy names (a second look after cosign's own check). */
function acceptedSubject(policy: SignerPolicy, subject: string): boolean {
  if (policy.mode === "key") return true;
  return policy.identity !== undefined ? subject === policy.identity : new RegExp(policy.identityRegexp!).test(subject);
}

/**
 * Verifies the cosign signature and the SBOM attestation of an image digest against the signer expected for the
 * environment. Resolves with what was verified; rejects with ImageRefused (unsigned, foreign signer, foreign ref,
 * missing attestation, cosign crashed or printed nothing checkable) or ConfigError (bad input, before any container).
 */
export async function verifyImage(pipeline: Pipeline, options: VerifyImageOptions): Promise<VerifiedImage> {
  const { image, policy, attestationType, fn } = plan(pipeline, options);
  const expected = describeSigner(policy);
  const refuse = (why: string) => new ImageRefused(`${fn}: refusing ${image.reference}: ${why}; expected a signature by ${expected}`);
  const policyArgs = cosignPolicyArgs(policy, COSIGN_PUBLIC_KEY_PATH);
  const cosign = cosignContainer(pipeline, options, image);

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
