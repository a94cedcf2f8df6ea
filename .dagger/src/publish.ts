/**
 * Publishing the image: docker/metadata-action tags, the gated push, the cosign signature and SBOM attestation of
 * the pushed digest, and releaseImage (all three in one call). No credential is ever an argument.
 */
import { dag, type Container, type Directory, type File, type Secret } from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import type { Pipeline } from "./pipeline";
import { buildPlatforms, checkBuildInputs, describeSbom, imageSize, resolvePlatforms, sbomFileName, syftSbom, trivyImage } from "./image";
import { WRITE_DOCKER_CONFIG, cosignContainer, publishRepository } from "./registry";
import { UsageError, errorMessage, flagName, tail } from "./lib/errors";
import type { PublishRequest, ReleaseImageRequest, Signer, SignRequest, TagsRequest } from "./lib/function-args";
import { formatImageReference, parseImageReference, validateDigest, withTag } from "./lib/image-ref";
import type { SbomFormatName } from "./lib/sbom";
import type { GateReport } from "./lib/summary";

// ---------------------------------------------------------------------------------------------------------
// Tags

/** The tags docker/metadata-action computes for the plan's rules (see lib/tags.ts), from the parsed arguments. */
export function tags(request: TagsRequest): string[] {
  return request.tags.tags;
}

// ---------------------------------------------------------------------------------------------------------
// Publish

/** The gates an image must pass before it is pushed, all run even when one fails. */
async function imageGates(pipeline: Pipeline, platforms: string[]): Promise<string[]> {
  const gates: Record<string, () => Promise<GateReport>> = {
    imageSize: () => imageSize(pipeline, platforms),
    trivyImage: () => trivyImage(pipeline, platforms),
  };
  const outcomes = await Promise.allSettled(Object.values(gates).map((run) => run()));
  const names = Object.keys(gates);
  return outcomes.flatMap((outcome, index) =>
    outcome.status === "rejected" ? [`### ${names[index]}\n\n${errorMessage(outcome.reason)}`] : [],
  );
}

function digestOf(published: string, address: string): string {
  const digest = published.slice(published.lastIndexOf("@") + 1);
  try {
    validateDigest(digest);
  } catch {
    throw new Error(`pushing ${address}: the registry answered ${JSON.stringify(published)}, which names no sha256 digest`);
  }
  return digest;
}

/**
 * Pushes the image (every platform, as one index when several) under every computed tag, after the image
 * gates passed. Returns `<repository>:<tag>@<digest>`, one per line.
 */
export async function publish(pipeline: Pipeline, request: PublishRequest<Secret>, fn: "publish" | "releaseImage" = "publish"): Promise<string> {
  const computed = request.tags;
  const repository = publishRepository(pipeline, request, fn);
  const registry = parseImageReference(repository).registry;
  const addresses = computed.tags.map((tag) => withTag(repository, tag));
  const platforms = resolvePlatforms(pipeline, request.platforms);
  await checkBuildInputs(pipeline);

  const failures = await imageGates(pipeline, platforms);
  if (failures.length > 0) {
    throw new Error(`publish refused: ${failures.length} image gate(s) failed, nothing was pushed.\n\n${failures.join("\n\n")}`);
  }

  // OCI annotations as docker/metadata-action sets them (no `created`: it would change the digest every run).
  const labels: Record<string, string> = {
    "org.opencontainers.image.title": "analytics-api",
    "org.opencontainers.image.revision": request.commit,
    "org.opencontainers.image.version": computed.version,
  };
  if (request.githubRepository) labels["org.opencontainers.image.source"] = `https://github.com/${request.githubRepository}`;
  const variants = (await buildPlatforms(pipeline, platforms)).map(({ container }) =>
    Object.entries(labels).reduce((ctr, [name, value]) => ctr.withLabel(name, value), container),
  );
  const publisher = dag.container().withRegistryAuth(registry, request.registryAuth.username, request.registryAuth.password);
  const pushed: string[] = [];
  // One push per tag, in order: the first uploads the blobs, the others only add a manifest reference.
  for (const address of addresses) {
    const published = await publisher.publish(address, { platformVariants: variants });
    pushed.push(`${address}@${digestOf(published, address)}`);
  }
  return pushed.join("\n");
}

/**
 * The SBOM of what the registry serves at a digest reference, read by Syft from the registry itself: the
 * attested SBOM describes the pushed bytes, never a rebuild that could differ. The digest pins the
 * content, so the exec may be cached. Syft's image is `FROM scratch` with no USER (anchore/syft v1.16.0
 * Dockerfile), so it runs as root; it takes registry credentials from SYFT_REGISTRY_AUTH_AUTHORITY,
 * _USERNAME and _PASSWORD (v1.16.0 cmd/syft/internal/options/registry.go `PostLoad`), the password a
 * secret variable. For a multi-platform index `--platform` picks the same platform `sbom` describes.
 */
async function pushedSbom(
  pipeline: Pipeline,
  digestRef: string,
  format: SbomFormatName,
  auth: { registry: string; username?: string; password?: Secret },
  pushedPlatforms?: string[],
): Promise<File> {
  const platforms = resolvePlatforms(pipeline, pushedPlatforms);
  const login = (ctr: Container) =>
    auth.username !== undefined && auth.password !== undefined
      ? ctr
          .withEnvVariable("SYFT_REGISTRY_AUTH_AUTHORITY", auth.registry)
          .withEnvVariable("SYFT_REGISTRY_AUTH_USERNAME", auth.username)
          .withSecretVariable("SYFT_REGISTRY_AUTH_PASSWORD", auth.password)
      : ctr;
  return syftSbom(pipeline, `registry:${digestRef}`, format, digestRef, login, platforms.length > 1 ? ["--platform", platforms[0]!] : []);
}

// ---------------------------------------------------------------------------------------------------------
// Sign

const COSIGN_KEY_PATH = "/run/secrets/cosign.key";
const COSIGN_SBOM_DIR = "/attest";

/** cosign's `--type` for each SBOM format. */
const ATTESTATION_TYPES: Record<SbomFormatName, string> = { "spdx-json": "spdxjson", "cyclonedx-json": "cyclonedx" };

/**
 * cosign signature of a pushed digest, plus the image's SBOM as an in-toto attestation. Keyless (Fulcio
 * certificate from the OIDC token) by default; `key` switches to key-based signing. No credential is ever an
 * argument: the token, key password and registry password are secret variables, the key a secret file.
 */
export async function sign(pipeline: Pipeline, request: SignRequest<Secret>): Promise<string> {
  return (await signDigest(pipeline, request, "sign")).message;
}

/** image.sign.keyless false allows only key-based signing: said before anything runs. */
function checkSigningMode(pipeline: Pipeline, signer: Signer<Secret>, fn: string): void {
  if (signer.mode !== "key" && !pipeline.config.image.sign.keyless) {
    throw new UsageError({ fn, flag: flagName("key"), problem: "is required: image.sign.keyless is false, so signing uses a key pair", expected: "--key (and --key-password)" });
  }
}

/**
 * `sign`, returning the attested SBOM too. `platforms`: those the digest was pushed with (releaseImage);
 * default image.platforms.
 */
async function signDigest(
  pipeline: Pipeline,
  request: SignRequest<Secret>,
  fn: string,
  platforms?: string[],
): Promise<{ sbom: File; message: string }> {
  const reference = request.digestRef;
  checkSigningMode(pipeline, request.signer, fn);
  const { signer } = request;
  const mode = signer.mode === "key" ? "key" : "keyless";
  const format: SbomFormatName = request.sbomFormat ?? pipeline.config.image.sbomFormat;
  const auth = request.registryAuth;
  // The digest alone names what is signed: a tag in `repo:tag@sha256:...` (as publish prints it) is dropped.
  const target = formatImageReference({ registry: reference.registry, repository: reference.repository, digest: reference.digest });
  const sbomFile = await pushedSbom(pipeline, target, format, { registry: reference.registry, username: auth?.username, password: auth?.password }, platforms);
  const keyFlags = mode === "key" ? ` --key ${COSIGN_KEY_PATH}` : "";
  const predicate = `${COSIGN_SBOM_DIR}/${sbomFileName(format)}`;
  const script = [
    WRITE_DOCKER_CONFIG,
    `cosign sign --yes${keyFlags} "$1"`,
    `cosign attest --yes${keyFlags} --type ${ATTESTATION_TYPES[format]} --predicate ${predicate} "$1"`,
  ].join("\n");

  let ctr = cosignContainer(pipeline, reference.registry, auth?.username, auth?.password).withMountedFile(predicate, sbomFile);
  if (signer.mode === "keyless-request") {
    // cosign's github-actions provider requests the token (audience sigstore) when it signs, so it is fresh.
    ctr = ctr
      .withSecretVariable("ACTIONS_ID_TOKEN_REQUEST_URL", signer.requestUrl)
      .withSecretVariable("ACTIONS_ID_TOKEN_REQUEST_TOKEN", signer.requestToken);
  } else if (signer.mode === "keyless-token") {
    ctr = ctr.withSecretVariable("SIGSTORE_ID_TOKEN", signer.oidcToken);
  } else {
    ctr = ctr.withMountedSecret(COSIGN_KEY_PATH, signer.key);
    // cosign keys are encrypted; an empty password is what `cosign generate-key-pair` accepts without one.
    ctr = signer.keyPassword ? ctr.withSecretVariable("COSIGN_PASSWORD", signer.keyPassword) : ctr.withEnvVariable("COSIGN_PASSWORD", "");
  }
  const ran = runAllowingFailure(withRunNonce(ctr), ["sh", "-euc", script, "cosign-sign", target]);
  const { exitCode, stdout, stderr } = await outcomeOf(ran);
  if (exitCode !== 0) {
    throw new Error(`${fn}: cosign failed for ${target} (exit ${exitCode}):\n${tail(stderr || stdout)}`);
  }
  return { sbom: sbomFile, message: `signed ${target} (${mode}) and attested its SBOM (${ATTESTATION_TYPES[format]}, ${await describeSbom(sbomFile, format)})` };
}

// ---------------------------------------------------------------------------------------------------------
// Release: publish, sign, SBOM in one call

/**
 * What the publish job of CI does in one call: the gated push under every tag, the cosign signature and
 * SBOM attestation of the pushed digest, and a directory to keep as the run's artifact
 * (references.txt, the SBOM, signature.txt). Signing credentials are checked before anything is pushed,
 * so an image is never published unsigned by this function.
 */
export async function releaseImage(pipeline: Pipeline, request: ReleaseImageRequest<Secret>): Promise<Directory> {
  checkSigningMode(pipeline, request.signer, "releaseImage");
  const format: SbomFormatName = pipeline.config.image.sbomFormat;
  const pushed = await publish(pipeline, request, "releaseImage");
  const [first] = pushed.split("\n");
  // publish prints `<repository>:<tag>@<digest>` with the digest checked (digestOf)
  const digestRef = parseImageReference(first!) as SignRequest<Secret>["digestRef"];
  const signed = await signDigest(
    pipeline,
    { digestRef, registryAuth: request.registryAuth, signer: request.signer },
    "releaseImage",
    request.platforms,
  );
  return dag
    .directory()
    .withNewFile("references.txt", `${pushed}\n`)
    .withNewFile("signature.txt", `${signed.message}\n`)
    // the attested SBOM, of the pushed digest
    .withFile(sbomFileName(format), signed.sbom);
}
