/**
 * The container image supply chain of the Analytics API: build (Dockerfile, one or more platforms), the size
 * and Trivy gates, the SBOM (Syft), docker/metadata-action tags, publish, cosign signing and attestation, and
 * a registry existence check. Arguments arrive parsed (lib/function-args.ts); configuration is checked here
 * (Dockerfile present, signing mode) before any container starts.
 */
import { posix } from "node:path";
import {
  dag,
  ImageLayerCompression,
  type Container,
  type Directory,
  type File,
  type Platform,
  type Secret,
} from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import type { Pipeline } from "./pipeline";
import { REPORTS_DIR, runTrivy, trivyBase, trivyReport, trivyScanArgs } from "./scan";
import { imageExistence, type ImageExistence } from "./lib/deploy/image-existence";
import { ConfigError, GateFailure, UsageError, errorMessage, flagName, tail } from "./lib/errors";
import type {
  ImageExistsRequest,
  PlatformsRequest,
  PublishRequest,
  ReleaseImageRequest,
  SbomRequest,
  Signer,
  SignRequest,
  TagsRequest,
} from "./lib/function-args";
import { formatImageReference, imageRepository, parseImageReference, validateDigest, withTag } from "./lib/image-ref";
import { sizeVerdict, measureOciLayout, type PlatformSize } from "./lib/image-size";
import { readSbom, formatSbomSummary, type SbomFormatName } from "./lib/sbom";
import {
  formatCounts,
  securityVerdict,
  severityFromTrivy,
  type Finding,
  type ParsedReport,
  type Severity,
} from "./lib/findings";
import type { GateReport } from "./lib/summary";

// ---------------------------------------------------------------------------------------------------------
// Build

/** A platform's image, as `build` makes it. */
export interface PlatformImage {
  platform: string;
  container: Container;
}

/** The platforms to build: the parsed arguments when given, else `image.platforms` (checked by the config schema). */
export function resolvePlatforms(pipeline: Pipeline, platforms?: string[]): string[] {
  return platforms && platforms.length > 0 ? platforms : pipeline.config.image.platforms;
}

/**
 * Fails, before any build starts, when the configured Dockerfile or context is not in the source: a docker
 * build would otherwise fail deep inside BuildKit with a less helpful message.
 */
export async function checkBuildInputs(pipeline: Pipeline): Promise<void> {
  const { dockerfile, context } = pipeline.config.image;
  if (!(await pipeline.source.exists(dockerfile))) {
    throw new ConfigError(
      `Dockerfile ${JSON.stringify(dockerfile)} not found in the source directory ` +
        `(config field image.dockerfile, from ${pipeline.configOrigin}); set image.dockerfile to the service's Dockerfile`,
    );
  }
  if (context !== "." && !(await pipeline.source.exists(context))) {
    throw new ConfigError(
      `build context ${JSON.stringify(context)} not found in the source directory (config field image.context, from ${pipeline.configOrigin})`,
    );
  }
}

/** Where the Dockerfile sits for `dockerBuild`, whose path is relative to the context directory. */
const OUTSIDE_CONTEXT_DOCKERFILE = ".observatory-ci.Dockerfile";

/** One platform's image from the configured Dockerfile, context, build args and target (inputs checked first). */
function buildPlatform(pipeline: Pipeline, platform: string): Container {
  const { dockerfile, context, buildArgs, target } = pipeline.config.image;
  let contextDir = context === "." ? pipeline.source : pipeline.source.directory(context);
  let dockerfileInContext = posix.relative(posix.normalize(context), posix.normalize(dockerfile));
  if (dockerfileInContext.startsWith("../")) {
    // docker build -f accepts a Dockerfile outside the context; dockerBuild wants it inside.
    contextDir = contextDir.withFile(OUTSIDE_CONTEXT_DOCKERFILE, pipeline.source.file(dockerfile));
    dockerfileInContext = OUTSIDE_CONTEXT_DOCKERFILE;
  }
  const args = Object.entries(buildArgs).map(([name, value]) => ({ name, value }));
  return contextDir.dockerBuild({
    dockerfile: dockerfileInContext,
    platform: platform as Platform,
    ...(args.length > 0 ? { buildArgs: args } : {}),
    ...(target ? { target } : {}),
  });
}

/** The image for each platform (Dockerfile checked first). */
export async function buildPlatforms(pipeline: Pipeline, platforms?: string[]): Promise<PlatformImage[]> {
  const resolved = resolvePlatforms(pipeline, platforms);
  await checkBuildInputs(pipeline);
  return resolved.map((platform) => ({ platform, container: buildPlatform(pipeline, platform) }));
}

/** One platform's image; default the first configured platform (linux/amd64 unless configured). */
export async function build(pipeline: Pipeline, request: PlatformsRequest): Promise<Container> {
  const [image] = await buildPlatforms(pipeline, request.platforms);
  return image!.container;
}

/** An OCI image tarball of every platform (multi-platform index when there are several). */
export function ociTarball(images: PlatformImage[], forcedCompression?: ImageLayerCompression): File {
  const opts = forcedCompression ? { forcedCompression } : {};
  if (images.length === 1) return images[0]!.container.asTarball(opts);
  return dag.container().asTarball({ ...opts, platformVariants: images.map((image) => image.container) });
}

export async function imageTarball(pipeline: Pipeline, platforms?: string[]): Promise<File> {
  return ociTarball(await buildPlatforms(pipeline, platforms));
}

// ---------------------------------------------------------------------------------------------------------
// Size gate

const LAYOUT_DIR = "/layout";
/** Largest tar member extracted to read the layout: indexes, manifests and configs are far smaller. */
const METADATA_MAX_BYTES = 16 * 1024 * 1024;

/**
 * Unpacks the OCI layout's small members (index.json, manifests, configs) so their JSON can be read; layer
 * blobs, which can be hundreds of MB, stay in the tarball. `tar -tv` prints mode, owner, size, date, time, name.
 */
const EXTRACT_LAYOUT_METADATA = [
  `mkdir -p ${LAYOUT_DIR}`,
  `cd ${LAYOUT_DIR}`,
  `tar -tvf /image.tar | awk '$1 !~ /^d/ && $3 <= ${METADATA_MAX_BYTES} { print $NF }' > /tmp/layout-metadata`,
  `test -s /tmp/layout-metadata`,
  `tar -xf /image.tar $(cat /tmp/layout-metadata)`,
].join("\n");

/**
 * Size per platform: config + layer blobs of each manifest in the exported OCI layout, layers uncompressed so the
 * figure is what `docker images` shows (and what the plan's "< 500 MB" means on a developer's machine).
 */
export async function measureImages(pipeline: Pipeline, images: PlatformImage[]): Promise<PlatformSize[]> {
  const layout = dag
    .container()
    .from(pipeline.config.images.alpine)
    .withMountedFile("/image.tar", ociTarball(images, ImageLayerCompression.Uncompressed))
    .withExec(["sh", "-euc", EXTRACT_LAYOUT_METADATA]);
  const measured = await measureOciLayout((path) => layout.file(`${LAYOUT_DIR}/${path}`).contents());
  if (measured.length !== images.length) {
    throw new Error(
      `the exported image has ${measured.length} platform image(s) (${measured.map((m) => m.platform).join(", ")}), ` +
        `expected ${images.length} (${images.map((i) => i.platform).join(", ")})`,
    );
  }
  return measured.map(({ platform, bytes }) => ({ platform, bytes }));
}

export async function imageSize(pipeline: Pipeline, platforms?: string[]): Promise<GateReport> {
  const images = await buildPlatforms(pipeline, platforms);
  let sizes: PlatformSize[];
  try {
    sizes = await measureImages(pipeline, images);
  } catch (e) {
    throw new GateFailure("imageSize", `could not measure the image, refusing to pass it: ${errorMessage(e)}`, "not measured");
  }
  let verdict;
  try {
    verdict = sizeVerdict(sizes, pipeline.config.image.maxSizeMb);
  } catch (e) {
    throw new GateFailure("imageSize", errorMessage(e), "not measured");
  }
  if (!verdict.passed) throw new GateFailure("imageSize", `${verdict.message} (image.maxSizeMb)`, verdict.summary);
  return { figure: verdict.summary };
}

// ---------------------------------------------------------------------------------------------------------
// Trivy image gate

export const TRIVY_IMAGE_REPORT = `${REPORTS_DIR}/trivy-image.json`;
export const TRIVY_IMAGE_SARIF = `${REPORTS_DIR}/trivy-image.sarif`;

/**
 * The Trivy scan of one platform's image tarball (no registry round trip): the security stage's
 * Trivy container, flags and wrapper (a crash fails the exec, a result is cached).
 */
export function trivyImageScan(pipeline: Pipeline, image: PlatformImage): Container {
  const ctr = trivyBase(pipeline).withMountedFile("/image.tar", image.container.asTarball());
  return runTrivy(ctr, TRIVY_IMAGE_REPORT, [
    "trivy", "image", "--input", "/image.tar", "--scanners", "vuln,secret",
    ...trivyScanArgs(pipeline, TRIVY_IMAGE_REPORT),
  ]);
}

/** Findings of one platform's scan; a crash or a missing/garbled report fails the gate (fail closed). */
function trivyFindings(pipeline: Pipeline, image: PlatformImage): Promise<ParsedReport> {
  return trivyReport("trivyImage", trivyImageScan(pipeline, image), TRIVY_IMAGE_REPORT, `the ${image.platform} image`);
}

/** The same vulnerability in every platform's image is one finding. */
function mergeReports(reports: ParsedReport[]): ParsedReport {
  const merged: ParsedReport = { findings: [], warnings: [], suppressed: 0 };
  const seen = new Set<string>();
  for (const report of reports) {
    merged.suppressed += report.suppressed;
    merged.warnings.push(...report.warnings);
    for (const finding of report.findings) {
      const key = JSON.stringify([finding.id, finding.package ?? "", finding.location?.path ?? "", finding.location?.line ?? 0]);
      if (seen.has(key)) continue;
      seen.add(key);
      merged.findings.push(finding);
    }
  }
  return merged;
}

/** The severities Trivy reports (`security.trivy.severity`), lower-cased, worst first. */
function reportedSeverities(pipeline: Pipeline): Severity[] {
  return pipeline.config.security.trivy.severity
    .split(",")
    .map((value) => severityFromTrivy(value))
    .filter((value): value is Severity => value !== undefined);
}

function trivyFigure(pipeline: Pipeline, counts: Record<Severity, number>, accepted: number, findings: readonly Finding[]): string {
  const shown = reportedSeverities(pipeline);
  const parts = shown.map((severity) => `${counts[severity]} ${severity}`);
  const others = findings.filter((finding) => !shown.includes(finding.severity)).length;
  const text = others > 0 ? formatCounts(counts) : parts.join(", ");
  return accepted > 0 ? `${text} (${accepted} accepted)` : text;
}

export async function trivyImage(pipeline: Pipeline, platforms?: string[]): Promise<GateReport> {
  const images = await buildPlatforms(pipeline, platforms);
  const reports = await Promise.all(images.map((image) => trivyFindings(pipeline, image)));
  const report = mergeReports(reports);
  const { failOn, allowlist } = pipeline.config.security;
  const verdict = securityVerdict("trivy", report, { failOn, allowlist });
  const figure = trivyFigure(pipeline, verdict.counts, verdict.accepted.length, report.findings);
  if (!verdict.passed) {
    throw new GateFailure("trivyImage", `Trivy found blocking issues in the image (${images.map((i) => i.platform).join(", ")}):\n${verdict.details}`, figure);
  }
  return { figure };
}

/**
 * The image scan as SARIF for code scanning (`trivy convert` of the JSON report, one run per platform). Fails
 * when the scan crashed; findings do not fail it (the gate does).
 */
export async function trivyImageSarif(pipeline: Pipeline, platforms?: string[]): Promise<File> {
  const images = await buildPlatforms(pipeline, platforms);
  const files = images.map((image) =>
    trivyImageScan(pipeline, image)
      .withExec(["trivy", "convert", "--format", "sarif", "--output", TRIVY_IMAGE_SARIF, TRIVY_IMAGE_REPORT])
      .file(TRIVY_IMAGE_SARIF),
  );
  if (files.length === 1) return files[0]!;
  const texts = await Promise.all(files.map((file) => file.contents()));
  const logs = texts.map((text, index) => {
    try {
      return JSON.parse(text) as { runs?: unknown[] };
    } catch (e) {
      throw new Error(`trivy convert wrote an unreadable SARIF file for ${images[index]!.platform}: ${errorMessage(e)}`);
    }
  });
  const merged = { ...logs[0], runs: logs.flatMap((log) => log.runs ?? []) };
  return dag.directory().withNewFile("trivy-image.sarif", JSON.stringify(merged, null, 2)).file("trivy-image.sarif");
}

// ---------------------------------------------------------------------------------------------------------
// SBOM

const SBOM_DIR = "/sbom";

function sbomFileName(format: SbomFormatName): string {
  return format === "spdx-json" ? "sbom.spdx.json" : "sbom.cdx.json";
}

/** The SBOM of one platform's image, written by the pinned Syft from the image tarball, checked before it is returned. */
export async function sbom(pipeline: Pipeline, request: SbomRequest): Promise<File> {
  const sbomFormat: SbomFormatName = request.format ?? pipeline.config.image.sbomFormat;
  const [image] = await buildPlatforms(pipeline, request.platforms);
  return sbomOf(pipeline, image!, sbomFormat);
}

async function sbomOf(pipeline: Pipeline, image: PlatformImage, format: SbomFormatName): Promise<File> {
  const path = `${SBOM_DIR}/${sbomFileName(format)}`;
  const ran = dag
    .container()
    .from(pipeline.config.images.syft)
    .withEnvVariable("SYFT_CHECK_FOR_APP_UPDATE", "false")
    .withMountedFile("/image.tar", image.container.asTarball())
    .withDirectory(SBOM_DIR, dag.directory())
    .withExec(["/syft", "scan", "oci-archive:/image.tar", "--source-name", "analytics-api", "--output", `${format}=${path}`]);
  return checkedSbom(ran.file(path), format, `${path} (${image.platform})`);
}

async function checkedSbom(file: File, format: SbomFormatName, source: string): Promise<File> {
  let text: string;
  try {
    text = await file.contents();
  } catch (e) {
    throw new Error(`syft wrote no SBOM at ${source}: ${errorMessage(e)}`);
  }
  // A truncated or foreign document must not be published or attested as the image's SBOM.
  readSbom(text, { expectedFormat: format, source });
  return file;
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
  const path = `${SBOM_DIR}/${sbomFileName(format)}`;
  const platforms = resolvePlatforms(pipeline, pushedPlatforms);
  let ctr = dag
    .container()
    .from(pipeline.config.images.syft)
    .withEnvVariable("SYFT_CHECK_FOR_APP_UPDATE", "false")
    .withDirectory(SBOM_DIR, dag.directory());
  if (auth.username !== undefined && auth.password !== undefined) {
    ctr = ctr
      .withEnvVariable("SYFT_REGISTRY_AUTH_AUTHORITY", auth.registry)
      .withEnvVariable("SYFT_REGISTRY_AUTH_USERNAME", auth.username)
      .withSecretVariable("SYFT_REGISTRY_AUTH_PASSWORD", auth.password);
  }
  const ran = ctr.withExec([
    "/syft", "scan", `registry:${digestRef}`,
    ...(platforms.length > 1 ? ["--platform", platforms[0]!] : []),
    "--source-name", "analytics-api",
    "--output", `${format}=${path}`,
  ]);
  return checkedSbom(ran.file(path), format, `${path} (${digestRef})`);
}

/** One line describing an SBOM, for messages. */
export async function describeSbom(file: File, format: SbomFormatName): Promise<string> {
  return formatSbomSummary(readSbom(await file.contents(), { expectedFormat: format }));
}

// ---------------------------------------------------------------------------------------------------------
// Tags

/** The tags docker/metadata-action computes for the plan's rules (see lib/tags.ts), from the parsed arguments. */
export function tags(request: TagsRequest): string[] {
  return request.tags.tags;
}

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

export function checkCredentials(fn: string, username?: string, password?: Secret): void {
  if ((username === undefined) !== (password === undefined)) {
    throw new ConfigError(`${fn}: pass both --username and --password for registry authentication, or neither`);
  }
  if (username !== undefined) checkUsername(fn, username);
}

function checkUsername(fn: string, username: string): void {
  if (username.length === 0 || /[\s\x00-\x1f\x7f:]/.test(username)) {
    throw new ConfigError(`${fn}: --username must be a non-empty registry user name without spaces or ":", got ${JSON.stringify(username)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Publish

/**
 * `ghcr.io/acme/observatory/analytics-api`: the registry (argument, else image.registry) and the path (argument,
 * else image.repository, else derived from the GitHub owner/name). Arguments are parsed, the config checked by its
 * schema; what is left is the case where no source names a repository, a usage error.
 */
export function publishRepository(
  pipeline: Pipeline,
  options: { registry?: string; imageRepository?: string; githubRepository?: string },
  fn?: string,
): string {
  const repository = options.imageRepository ?? pipeline.config.image.repository;
  if (repository === undefined && options.githubRepository === undefined) {
    if (fn === undefined) {
      throw new ConfigError(
        "no image repository: pass --github-repository owner/name, or set image.repository in the config (the default is <owner>/<repo>/analytics-api)",
      );
    }
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
    throw new ConfigError(fn === undefined ? errorMessage(e) : `${fn}: ${errorMessage(e)}`);
  }
}

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

  const cosignBinary = dag.container().from(pipeline.config.images.cosign).file("/ko-app/cosign");
  let ctr = dag
    .container()
    .from(pipeline.config.images.alpine)
    .withFile("/usr/local/bin/cosign", cosignBinary)
    .withMountedFile(predicate, sbomFile);
  ctr = withDockerConfig(ctr, reference.registry, auth?.username, auth?.password);
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
  const signed = await signDigest(
    pipeline,
    { digestRef: { ...parseImageReference(first!), digest: first!.slice(first!.lastIndexOf("@") + 1) }, registryAuth: request.registryAuth, signer: request.signer },
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
