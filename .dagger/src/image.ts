/**
 * The container image of the Analytics API: build (Dockerfile, one or more platforms), the OCI tarball, the size
 * and Trivy image gates, and the SBOM (Syft). Publishing and signing are publish.ts, registry credentials and the
 * existence check registry.ts. Arguments arrive parsed (lib/function-args.ts); configuration is checked here
 * (Dockerfile present) before any container starts.
 */
import { posix } from "node:path";
import {
  dag,
  ImageLayerCompression,
  type Container,
  type File,
  type Platform,
} from "@dagger.io/dagger";
import type { Pipeline } from "./pipeline";
import { REPORTS_DIR, runTrivy, trivyBase, trivyReport, trivyScanArgs } from "./scan";
import { ConfigError, GateFailure, errorMessage } from "./lib/errors";
import type { PlatformsRequest, SbomRequest } from "./lib/function-args";
import { sizeVerdict, measureOciLayout, type PlatformSize } from "./lib/image-size";
import { readSbom, formatSbomSummary, type SbomFormatName } from "./lib/sbom";
import { failureHeadline, mergeReports, securityVerdict, trivyImageFigure, type ParsedReport } from "./lib/findings";
import type { GateReport } from "./lib/summary";
import { sarifCategory, withSarifCategory } from "./lib/sarif-category";

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

export async function trivyImage(pipeline: Pipeline, platforms?: string[]): Promise<GateReport> {
  const images = await buildPlatforms(pipeline, platforms);
  const reports = await Promise.all(images.map((image) => trivyFindings(pipeline, image)));
  const report = mergeReports(reports);
  const { failOn, allowlist } = pipeline.config.security;
  const verdict = securityVerdict("trivy", report, { failOn, allowlist });
  const figure = trivyImageFigure(pipeline.config.security.trivy.severity, verdict.counts, verdict.accepted.length, report.findings);
  if (!verdict.passed) {
    throw new GateFailure("trivyImage", `Trivy: ${failureHeadline(verdict, { one: "finding", many: "findings" }, `the image (${images.map((i) => i.platform).join(", ")})`)}:\n\n${verdict.details}`, figure, "markdown");
  }
  return { figure };
}

/**
 * The image scan as SARIF for code scanning (`trivy convert` of the JSON report, one run per platform), each run
 * with its code scanning category: `observatory-ci/trivy-image/`, or one per platform when there are several
 * (lib/sarif-category.ts). Fails when the scan crashed; findings do not fail it (the gate does).
 */
export async function trivyImageSarif(pipeline: Pipeline, platforms?: string[]): Promise<File> {
  const images = await buildPlatforms(pipeline, platforms);
  const texts = await Promise.all(
    images.map((image) =>
      trivyImageScan(pipeline, image)
        .withExec(["trivy", "convert", "--format", "sarif", "--output", TRIVY_IMAGE_SARIF, TRIVY_IMAGE_REPORT])
        .file(TRIVY_IMAGE_SARIF)
        .contents(),
    ),
  );
  const logs = texts.map((text, index) => {
    const platform = images[index]!.platform;
    try {
      const category = sarifCategory("trivy-image", images.length > 1 ? platform : undefined);
      return JSON.parse(withSarifCategory(text, `trivy-image.sarif (${platform})`, category)) as { runs: unknown[] };
    } catch (e) {
      throw new Error(`trivy convert wrote an unreadable SARIF file for ${platform}: ${errorMessage(e)}`);
    }
  });
  const merged = { ...logs[0], runs: logs.flatMap((log) => log.runs) };
  return dag.directory().withNewFile("trivy-image.sarif", JSON.stringify(merged, null, 2)).file("trivy-image.sarif");
}

// ---------------------------------------------------------------------------------------------------------
// SBOM

const SBOM_DIR = "/sbom";

export function sbomFileName(format: SbomFormatName): string {
  return format === "spdx-json" ? "sbom.spdx.json" : "sbom.cdx.json";
}

/** The SBOM of one platform's image, written by the pinned Syft from the image tarball, checked before it is returned. */
export async function sbom(pipeline: Pipeline, request: SbomRequest): Promise<File> {
  const sbomFormat: SbomFormatName = request.format ?? pipeline.config.image.sbomFormat;
  const [image] = await buildPlatforms(pipeline, request.platforms);
  return sbomOf(pipeline, image!, sbomFormat);
}

async function sbomOf(pipeline: Pipeline, image: PlatformImage, format: SbomFormatName): Promise<File> {
  return syftSbom(pipeline, "oci-archive:/image.tar", format, image.platform, (ctr) => ctr.withMountedFile("/image.tar", image.container.asTarball()));
}

/**
 * The pinned Syft reading `source` (`oci-archive:...`, `registry:...`) into an SBOM of `format`, checked before
 * it is returned. `prepare` adds what the source needs (the tarball, a registry login); `label` names it in errors.
 */
export async function syftSbom(
  pipeline: Pipeline,
  source: string,
  format: SbomFormatName,
  label: string,
  prepare: (ctr: Container) => Container = (ctr) => ctr,
  extraArgs: string[] = [],
): Promise<File> {
  const path = `${SBOM_DIR}/${sbomFileName(format)}`;
  const base = dag.container().from(pipeline.config.images.syft).withEnvVariable("SYFT_CHECK_FOR_APP_UPDATE", "false").withDirectory(SBOM_DIR, dag.directory());
  const ran = prepare(base).withExec(["/syft", "scan", source, ...extraArgs, "--source-name", "analytics-api", "--output", `${format}=${path}`]);
  return checkedSbom(ran.file(path), format, `${path} (${label})`);
}

export async function checkedSbom(file: File, format: SbomFormatName, source: string): Promise<File> {
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

/** One line describing an SBOM, for messages. */
export async function describeSbom(file: File, format: SbomFormatName): Promise<string> {
  return formatSbomSummary(readSbom(await file.contents(), { expectedFormat: format }));
}
