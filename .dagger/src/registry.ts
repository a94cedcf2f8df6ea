/**
 * The registry side of the image: credentials as a docker config for the tools that read one (cosign, crane,
 * Trivy), the image repository publish pushes to, and whether a reference exists in its registry (crane).
 */
import { dag, type Container, type Secret } from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import type { Pipeline } from "./pipeline";
import { imageExistence, type ImageExistence } from "./lib/deploy/image-existence";
import { ConfigError, UsageError, errorMessage, flagName } from "./lib/errors";
import type { ImageExistsRequest } from "./lib/function-args";
import { imageRepository, parseImageReference } from "./lib/image-ref";

// ---------------------------------------------------------------------------------------------------------
// Registry credentials for tools that read a docker config (cosign, crane)

const DOCKER_CONFIG_DIR = "/run/observatory-ci/docker";

/** docker/go-containerregistry key for a registry in config.json (Docker Hub keeps its historical URL). */
function dockerConfigKey(registry: string): string {
  return registry === "docker.io" ? "https://index.docker.io/v1/" : registry;
}

/**
 * Shell lines writing `$DOCKER_CONFIG/config.json` from REGISTRY_USERNAME and the REGISTRY_PASSWORD secret
 * variable, on a tmpfs (never in a layer), without tracing (`sh -euc`, no -x) or echoing the password.
 */
export const WRITE_DOCKER_CONFIG = [
  'if [ -n "${REGISTRY_PASSWORD:-}" ]; then',
  "  umask 077",
  "  auth=$(printf '%s:%s' \"$REGISTRY_USERNAME\" \"$REGISTRY_PASSWORD\" | base64 | tr -d '\\n')",
  '  printf \'{"auths":{"%s":{"auth":"%s"}}}\\n\' "$REGISTRY_KEY" "$auth" > "$DOCKER_CONFIG/config.json"',
  "  unset auth REGISTRY_PASSWORD",
  "fi",
].join("\n");

export function withDockerConfig(ctr: Container, registry: string, username?: string, password?: Secret): Container {
  let out = ctr.withMountedTemp(DOCKER_CONFIG_DIR).withEnvVariable("DOCKER_CONFIG", DOCKER_CONFIG_DIR);
  if (username !== undefined && password !== undefined) {
    out = out
      .withEnvVariable("REGISTRY_KEY", dockerConfigKey(registry))
      .withEnvVariable("REGISTRY_USERNAME", username)
      .withSecretVariable("REGISTRY_PASSWORD", password);
  }
  return out;
}

/**
 * The pinned cosign binary (taken out of its distroless image, which has no shell) in the pinned alpine,
 * with a registry login for `registry` when given: what signing and verification both run in.
 */
export function cosignContainer(pipeline: Pipeline, registry: string, username?: string, password?: Secret): Container {
  const cosignBinary = dag.container().from(pipeline.config.images.cosign).file("/ko-app/cosign");
  const ctr = dag.container().from(pipeline.config.images.alpine).withFile("/usr/local/bin/cosign", cosignBinary);
  return withDockerConfig(ctr, registry, username, password);
}

// ---------------------------------------------------------------------------------------------------------
// Image repository

/**
 * `ghcr.io/acme/observatory/analytics-api`: the registry (argument, else image.registry) and the path (argument,
 * else image.repository, else derived from the GitHub owner/name). Arguments are parsed, the config checked by its
 * schema; what is left is the case where no source names a repository, a usage error.
 */
export function publishRepository(
  pipeline: Pipeline,
  options: { registry?: string; imageRepository?: string; githubRepository?: string },
  fn: string,
): string {
  const repository = options.imageRepository ?? pipeline.config.image.repository;
  if (repository === undefined && options.githubRepository === undefined) {
    throw new UsageError({
      fn,
      flag: flagName("githubRepository"),
      problem: "is required when neither --image-repository nor image.repository names the image repository",
      expected: "owner/name (the default repository is <owner>/<name>/analytics-api)",
    });
  }
  try {
    return imageRepository({ registry: options.registry ?? pipeline.config.image.registry, repository, githubRepository: options.githubRepository });
  } catch (e) {
    throw new ConfigError(`${fn}: ${errorMessage(e)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Registry existence

/**
 * What the registry says about `reference` (crane digest): exists, absent or unknown, decided by
 * lib/deploy/image-existence.ts from crane's final error only. The credentials must already be
 * validated by the calling function.
 */
export async function registryImageExistence(pipeline: Pipeline, reference: string, auth?: { username: string; password: Secret }): Promise<ImageExistence> {
  const parsed = parseImageReference(reference);
  const script = [
    'export PATH="$PATH:/ko-app:/busybox"',
    WRITE_DOCKER_CONFIG,
    'exec crane digest "$1"',
  ].join("\n");
  let ctr = dag.container().from(pipeline.config.images.crane);
  ctr = withDockerConfig(ctr, parsed.registry, auth?.username, auth?.password);
  const ran = runAllowingFailure(withRunNonce(ctr), ["/busybox/sh", "-euc", script, "image-exists", reference]);
  return imageExistence(await outcomeOf(ran));
}

/** Whether `reference` exists in its registry: false only when the registry says it is missing; an error when it cannot tell. */
export async function imageExists(pipeline: Pipeline, request: ImageExistsRequest<Secret>): Promise<boolean> {
  const result = await registryImageExistence(pipeline, request.referenceText, request.registryAuth);
  if (result.outcome === "unknown") {
    throw new Error(`imageExists: cannot tell whether ${request.referenceText} exists; the registry answered: ${result.answer}`);
  }
  return result.outcome === "exists";
}
