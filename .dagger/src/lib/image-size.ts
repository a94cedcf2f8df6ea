/**
 * The image size gate (plan: image < 500 MB) and how to measure an image from an OCI layout.
 *
 * Units: 1 MB = 1,000,000 bytes, the decimal unit `docker images` and registries display.
 * What is measured: the sum of the config and layer blob sizes of each platform's manifest in an OCI layout
 * (what `Container.export`/`asTarball` write). Those are the sizes as stored, i.e. compressed unless the image
 * is exported with uncompressed layers; `docker images` shows the uncompressed size, which is larger. Export
 * with `forcedCompression: Uncompressed` to gate on what `docker images` reports.
 */

import { PLATFORM_PATTERN } from "./config/image";

export const BYTES_PER_MB = 1_000_000;

export interface PlatformSize {
  /** `os/arch[/variant]`, e.g. `linux/amd64`. */
  platform: string;
  bytes: number;
}

export interface SizeRow extends PlatformSize {
  passed: boolean;
  /** `123.4 MB` */
  size: string;
}

export interface SizeVerdict {
  passed: boolean;
  rows: SizeRow[];
  /** `linux/amd64 123.4 MB (limit 500 MB)`, one entry per platform joined by `; `. */
  summary: string;
  /** On failure, names each platform over the limit with its size and the limit. */
  message: string;
}


function assertByteCount(bytes: number, what: string): void {
  if (typeof bytes !== "number" || !Number.isFinite(bytes) || bytes < 0 || !Number.isInteger(bytes)) {
    throw new Error(`${what} must be a whole, non-negative number of bytes, got ${String(bytes)}`);
  }
}

/**
 * Always in MB, so a size reads against a limit given in MB: `1234.5 MB`. Rounded down, so an image that
 * passes never reads as the limit itself (499,999,999 bytes is `499.9 MB`, not `500.0 MB`).
 */
export function formatMegabytes(bytes: number): string {
  assertByteCount(bytes, "formatMegabytes input");
  return `${(Math.floor(bytes / 100_000) / 10).toFixed(1)} MB`;
}

function formatLimit(limitMb: number): string {
  return `${Number.isInteger(limitMb) ? limitMb : limitMb.toFixed(1)} MB`;
}

/** Each platform's image must be strictly smaller than `limitMb` (the plan says "< 500 MB"). */
export function sizeVerdict(sizes: PlatformSize[], limitMb: number): SizeVerdict {
  if (typeof limitMb !== "number" || !Number.isFinite(limitMb) || limitMb <= 0) {
    throw new Error(`image size limit must be a positive number of MB, got ${String(limitMb)}`);
  }
  if (!Array.isArray(sizes) || sizes.length === 0) {
    throw new Error("image size gate: no platform sizes were measured; refusing to pass an unmeasured image");
  }
  const seen = new Set<string>();
  for (const { platform, bytes } of sizes) {
    if (typeof platform !== "string" || !PLATFORM_PATTERN.test(platform)) {
      throw new Error(`image size gate: platform ${JSON.stringify(platform)} is not os/arch[/variant]`);
    }
    if (seen.has(platform)) throw new Error(`image size gate: platform ${platform} is listed twice`);
    seen.add(platform);
    assertByteCount(bytes, `image size of ${platform}`);
    if (bytes === 0) throw new Error(`image size of ${platform} is 0 bytes, which is a failed measurement, not an image`);
  }

  const limitBytes = limitMb * BYTES_PER_MB;
  const limit = formatLimit(limitMb);
  const rows: SizeRow[] = sizes.map(({ platform, bytes }) => ({ platform, bytes, passed: bytes < limitBytes, size: formatMegabytes(bytes) }));
  const failing = rows.filter((row) => !row.passed);
  const summary = rows.map((row) => `${row.platform} ${row.size} (limit ${limit})`).join("; ");
  const message =
    failing.length === 0
      ? `image size OK: ${summary}`
      : `image too large: ` +
        failing
          .map((row) => `${row.platform} is ${row.size} (${row.bytes.toLocaleString("en-US")} bytes), not under the ${limit} limit`)
          .join("; ");
  return { passed: failing.length === 0, rows, summary, message };
}

// ---------------------------------------------------------------------------------------------------------
// Measuring an OCI image layout (index.json + blobs/<alg>/<hex>).

const INDEX_MEDIA_TYPES = ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];
const MANIFEST_MEDIA_TYPES = ["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"];

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface MeasuredImage extends PlatformSize {
  manifestDigest: string;
}

/** Reads a file of the layout (`index.json`, `blobs/sha256/<hex>`) as text. */
export type LayoutReader = (path: string) => Promise<string>;

function blobPath(digest: string): string {
  const match = /^(sha256|sha512):([a-f0-9]{64,128})$/.exec(digest);
  if (!match) throw new Error(`OCI layout: descriptor digest ${JSON.stringify(digest)} is not <algorithm>:<hex>`);
  return `blobs/${match[1]}/${match[2]}`;
}

async function readJson(read: LayoutReader, path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await read(path);
  } catch (error) {
    throw new Error(`OCI layout: cannot read ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`OCI layout: ${path} is not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`OCI layout: ${path} is not a JSON object`);
  return value as Record<string, unknown>;
}

function descriptorsOf(document: Record<string, unknown>, key: "manifests" | "layers", path: string): Descriptor[] {
  const list = document[key];
  if (!Array.isArray(list)) throw new Error(`OCI layout: ${path} has no ${key} array`);
  return list.map((item, index) => asDescriptor(item, `${path} ${key}[${index}]`));
}

function asDescriptor(value: unknown, where: string): Descriptor {
  const descriptor = value as Descriptor;
  if (typeof value !== "object" || value === null || typeof descriptor.digest !== "string") {
    throw new Error(`OCI layout: ${where} is not a descriptor with a digest`);
  }
  assertByteCount(descriptor.size, `OCI layout: ${where}.size`);
  return descriptor;
}

function platformOf(source: { os?: unknown; architecture?: unknown; variant?: unknown } | undefined): string | undefined {
  if (!source || typeof source.os !== "string" || typeof source.architecture !== "string") return undefined;
  return [source.os, source.architecture, typeof source.variant === "string" && source.variant ? source.variant : undefined]
    .filter(Boolean)
    .join("/");
}

/**
 * Size of every platform image in an OCI layout: config + layers of each manifest, following nested indexes.
 * BuildKit attestation manifests (`vnd.docker.reference.type: attestation-manifest`, platform unknown/unknown)
 * are not images and are skipped. The platform comes from the index descriptor, else from the image config.
 */
export async function measureOciLayout(read: LayoutReader): Promise<MeasuredImage[]> {
  const measured: MeasuredImage[] = [];
  const visitIndex = async (index: Record<string, unknown>, path: string, depth: number): Promise<void> => {
    if (depth > 4) throw new Error(`OCI layout: indexes nested deeper than 4 levels at ${path}`);
    for (const descriptor of descriptorsOf(index, "manifests", path)) {
      if (descriptor.annotations?.["vnd.docker.reference.type"] === "attestation-manifest") continue;
      if (descriptor.platform?.os === "unknown") continue;
      const childPath = blobPath(descriptor.digest);
      const child = await readJson(read, childPath);
      const mediaType = descriptor.mediaType ?? (child.mediaType as string | undefined);
      const isIndex = mediaType ? INDEX_MEDIA_TYPES.includes(mediaType) : Array.isArray(child.manifests);
      if (isIndex) {
        await visitIndex(child, childPath, depth + 1);
        continue;
      }
      if (mediaType && !MANIFEST_MEDIA_TYPES.includes(mediaType)) {
        throw new Error(`OCI layout: ${childPath} has media type ${mediaType}, not an image manifest or index`);
      }
      const config = asDescriptor(child.config, `${childPath} config`);
      const layers = descriptorsOf(child, "layers", childPath);
      let platform = platformOf(descriptor.platform);
      if (!platform) platform = platformOf(await readJson(read, blobPath(config.digest)));
      if (!platform) throw new Error(`OCI layout: cannot tell the platform of ${childPath} (no platform in the index nor os/architecture in its config)`);
      const bytes = layers.reduce((sum, layer) => sum + layer.size, config.size);
      measured.push({ platform, bytes, manifestDigest: descriptor.digest });
    }
  };
  await visitIndex(await readJson(read, "index.json"), "index.json", 0);
  if (measured.length === 0) throw new Error("OCI layout: index.json lists no image manifest");
  return measured;
}
