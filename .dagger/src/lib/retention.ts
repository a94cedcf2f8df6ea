/**
 * Retention of container image versions: which versions of the image repository may be deleted, and
 * why each kept one is kept. Pure: the listing, the manifests of kept indexes and the deployed images
 * come from the caller (cleanup.ts reads them from the registry and the clusters).
 *
 * A version is one manifest digest with its tags (GitHub's packages API lists a container package's
 * versions this way, `name` = digest, `metadata.container.tags`); deleting a version deletes every tag on it.
 * A version is kept when it
 *   - runs in an environment now (by digest, or by a tag the Deployment names),
 *   - carries a release tag (`X.Y.Z` as publish pushes it, or `vX.Y.Z`),
 *   - carries a moving tag (`latest`, a branch name, `X.Y`): each names one version, the current one,
 *   - carries one of the newest `keepTagsPerStream` tags of its stream (`<branch>-<sha>` per branch, `pr-N`),
 *   - is a manifest a kept index lists (the platform images of a multi-platform index are untagged versions),
 *   - is a cosign signature or attestation (`sha256-<hex>.sig|.att|.sbom`) of a kept digest,
 *   - is untagged and younger than `untaggedDays`.
 * Everything else is deleted.
 */
import { markdownCode, markdownTable, markdownText } from "./markdown";

export interface ImageVersion {
  /** The registry's id of the version (GitHub: the package version id), used to delete it. */
  id: string;
  digest: string;
  tags: readonly string[];
  createdAt: Date;
}

export interface DeployedImage {
  environment: string;
  /** The image reference the Deployment runs: <repo>@sha256:..., <repo>:<tag> or <repo>:<tag>@sha256:... */
  image: string;
}

export interface RetentionPolicy {
  untaggedDays: number;
  keepTagsPerStream: number;
  now: Date;
}

export interface RetentionInput {
  versions: readonly ImageVersion[];
  deployed: readonly DeployedImage[];
  /**
   * The manifests each kept index lists, by the index's digest; a single-platform manifest maps to [].
   * Every digest `manifestsToRead` returned must be here: an unknown one may be an index whose platform
   * images would otherwise look like old untagged versions.
   */
  manifests: ReadonlyMap<string, readonly string[]>;
  policy: RetentionPolicy;
}

export interface RetentionDecision {
  version: ImageVersion;
  keep: boolean;
  /** Why it is kept, or why it goes: one reason per line of the report. */
  reasons: string[];
}

export type TagStream = { kind: "release" } | { kind: "signature"; subject: string } | { kind: "stream"; stream: string } | { kind: "moving" };

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const RELEASE = /^v?\d+\.\d+\.\d+$/;
const SIGNATURE = /^sha256-([a-f0-9]{64})\.(sig|att|sbom)$/;
const COMMIT_TAG = /^(.+)-([0-9a-f]{7})$/;
const PULL_REQUEST = /^pr-\d+$/;

/** What a tag is for, as publish's tags (lib/tags.ts) and cosign name them. */
export function tagStream(tag: string): TagStream {
  if (RELEASE.test(tag)) return { kind: "release" };
  const signature = SIGNATURE.exec(tag);
  if (signature) return { kind: "signature", subject: `sha256:${signature[1]}` };
  if (PULL_REQUEST.test(tag)) return { kind: "stream", stream: "pr" };
  const commit = COMMIT_TAG.exec(tag);
  if (commit) return { kind: "stream", stream: commit[1]! };
  return { kind: "moving" };
}

/** The digest and tag an image reference pins (either may be absent). */
export function referenceParts(image: string): { digest?: string; tag?: string } {
  const [name, digest] = image.split("@", 2) as [string, string | undefined];
  const lastSlash = name.lastIndexOf("/");
  const colon = name.indexOf(":", lastSlash + 1);
  return { digest, tag: colon >= 0 ? name.slice(colon + 1) : undefined };
}

function checkInput(input: RetentionInput): void {
  const { untaggedDays, keepTagsPerStream } = input.policy;
  if (!(Number.isInteger(untaggedDays) && untaggedDays >= 1)) throw new Error(`retention: untaggedDays must be a whole number >= 1, found ${untaggedDays}`);
  if (!(Number.isInteger(keepTagsPerStream) && keepTagsPerStream >= 1)) throw new Error(`retention: keepTagsPerStream must be a whole number >= 1, found ${keepTagsPerStream}`);
  for (const v of input.versions) {
    if (!DIGEST.test(v.digest)) throw new Error(`retention: version ${v.id} has no sha256 digest (found ${JSON.stringify(v.digest)})`);
    if (Number.isNaN(v.createdAt.getTime())) throw new Error(`retention: version ${v.id} (${v.digest}) has no valid creation time`);
  }
}

/** Kept because of what they are (deployed, tags), before manifests and signatures: their reasons, by digest. */
function keptRoots(input: RetentionInput): Map<string, string[]> {
  const { versions, deployed, policy } = input;
  const reasons = new Map<string, string[]>();
  const keep = (digest: string, reason: string) => reasons.set(digest, [...(reasons.get(digest) ?? []), reason]);

  for (const { environment, image } of deployed) {
    const { digest, tag } = referenceParts(image);
    if (digest) keep(digest, `deployed in ${environment}`);
    if (tag && !digest) {
      const tagged = versions.find((v) => v.tags.includes(tag));
      if (tagged) keep(tagged.digest, `deployed in ${environment} as :${tag}`);
    }
  }

  const streams = new Map<string, Array<{ tag: string; version: ImageVersion }>>();
  for (const version of versions) {
    for (const tag of version.tags) {
      const kind = tagStream(tag);
      if (kind.kind === "release") keep(version.digest, `release tag ${tag}`);
      else if (kind.kind === "moving") keep(version.digest, `moving tag ${tag}`);
      else if (kind.kind === "stream") streams.set(kind.stream, [...(streams.get(kind.stream) ?? []), { tag, version }]);
    }
  }
  for (const [stream, tagged] of streams) {
    const newest = [...tagged].sort((a, b) => b.version.createdAt.getTime() - a.version.createdAt.getTime()).slice(0, policy.keepTagsPerStream);
    for (const { tag, version } of newest) keep(version.digest, `tag ${tag}: among the newest ${policy.keepTagsPerStream} of stream ${stream}`);
  }
  return reasons;
}

/** The kept versions whose manifests must be read (any of them may be a multi-platform index). */
export function manifestsToRead(input: Omit<RetentionInput, "manifests">): string[] {
  checkInput({ ...input, manifests: new Map() });
  return [...keptRoots({ ...input, manifests: new Map() }).keys()].filter((d) => input.versions.some((v) => v.digest === d)).sort();
}

const DAY_MS = 86_400_000;

export function planRetention(input: RetentionInput): RetentionDecision[] {
  checkInput(input);
  const { versions, manifests, policy } = input;
  const reasons = keptRoots(input);
  const listed = new Set(versions.map((v) => v.digest));

  for (const digest of [...reasons.keys()]) {
    if (!listed.has(digest)) continue; // a deployed image from elsewhere: nothing here to keep
    const children = manifests.get(digest);
    if (children === undefined) throw new Error(`retention: the manifest of kept version ${digest} was not read; refusing to decide what its platform images are`);
    for (const child of children) reasons.set(child, [...(reasons.get(child) ?? []), `listed by kept index ${digest}`]);
  }

  return versions.map((version) => {
    const kept = reasons.get(version.digest);
    if (kept) return { version, keep: true, reasons: kept };
    const ageDays = Math.floor((policy.now.getTime() - version.createdAt.getTime()) / DAY_MS);
    const signatureOf = version.tags.map(tagStream).find((t): t is { kind: "signature"; subject: string } => t.kind === "signature");
    if (signatureOf) {
      if (reasons.has(signatureOf.subject)) return { version, keep: true, reasons: [`signature of kept ${signatureOf.subject}`] };
      return { version, keep: false, reasons: [`signature of ${signatureOf.subject}, which is not kept`] };
    }
    if (version.tags.length === 0) {
      if (ageDays < policy.untaggedDays) return { version, keep: true, reasons: [`untagged, ${ageDays} day(s) old (< ${policy.untaggedDays})`] };
      return { version, keep: false, reasons: [`untagged, ${ageDays} day(s) old (>= ${policy.untaggedDays}), listed by no kept index`] };
    }
    return { version, keep: false, reasons: version.tags.map((t) => `tag ${t}: older than the newest ${policy.keepTagsPerStream} of its stream`) };
  });
}

/**
 * The children of a manifest as `crane manifest` prints it: an OCI image index or a Docker manifest
 * list lists them in `manifests[].digest`; an image manifest has none.
 */
export function indexChildren(manifestJson: string, where: string): string[] {
  let doc: { mediaType?: unknown; manifests?: unknown; layers?: unknown; config?: unknown };
  try {
    doc = JSON.parse(manifestJson) as typeof doc;
  } catch (e) {
    throw new Error(`${where}: the manifest is not JSON (${(e as Error).message})`);
  }
  if (doc === null || typeof doc !== "object") throw new Error(`${where}: the manifest is not a JSON object`);
  if (Array.isArray(doc.manifests)) {
    return doc.manifests.map((m: { digest?: unknown }, i: number) => {
      if (typeof m?.digest !== "string" || !DIGEST.test(m.digest)) throw new Error(`${where}: manifests[${i}] has no sha256 digest`);
      return m.digest;
    });
  }
  if (Array.isArray(doc.layers) || doc.config) return [];
  throw new Error(`${where}: neither an image index (manifests) nor an image manifest (config, layers)`);
}

export interface CiItem {
  id: string;
  name: string;
  /** Artifacts: created_at; caches: last_accessed_at (GitHub evicts by access, so age counts from it). */
  at: Date;
  sizeBytes: number;
}

/**
 * Workflow artifacts or caches older than `maxAgeDays`; the newest item of each name listed in
 * `keepLatest` survives whatever its age (the benchmark baseline is one artifact a week apart).
 */
export function expiredCiItems(items: readonly CiItem[], maxAgeDays: number, now: Date, keepLatest: readonly string[] = []): CiItem[] {
  if (!(Number.isInteger(maxAgeDays) && maxAgeDays >= 1)) throw new Error(`retention: maxAgeDays must be a whole number >= 1, found ${maxAgeDays}`);
  const newestOf = new Map<string, CiItem>();
  for (const item of items) {
    if (!keepLatest.includes(item.name)) continue;
    const seen = newestOf.get(item.name);
    if (!seen || item.at > seen.at) newestOf.set(item.name, item);
  }
  const protectedIds = new Set([...newestOf.values()].map((i) => i.id));
  return items.filter((item) => !protectedIds.has(item.id) && now.getTime() - item.at.getTime() >= maxAgeDays * DAY_MS);
}

/** The marker line cleanup.ts's crane script prints before each manifest. */
export const MANIFEST_MARKER = "=== manifest";

/** `=== manifest sha256:...` + the manifest, repeated: the children of each, by digest. */
export function splitManifests(output: string, expected: readonly string[]): Map<string, string[]> {
  const parts = output.split(new RegExp(`^${MANIFEST_MARKER} (sha256:[a-f0-9]{64})$`, "m"));
  const manifests = new Map<string, string[]>();
  for (let i = 1; i < parts.length; i += 2) manifests.set(parts[i]!, indexChildren(parts[i + 1]!.trim(), `crane manifest ${parts[i]}`));
  const missing = expected.filter((d) => !manifests.has(d));
  if (missing.length) throw new Error(`crane printed no manifest for ${missing.join(", ")}`);
  return manifests;
}

function shortDigest(digest: string): string {
  return digest.slice(0, 19);
}

export interface CleanupReportInput {
  repository: string;
  applied: boolean;
  images: readonly RetentionDecision[];
  artifacts: readonly CiItem[];
  caches: readonly CiItem[];
  policy: { untaggedDays: number; keepTagsPerStream: number; artifactDays: number; cacheDays: number };
}

/** The cleanup report: what goes (or went, with --apply) and why each kept image version stays. */
export function cleanupReport(input: CleanupReportInput): string {
  const { images, artifacts, caches, policy } = input;
  const gone = images.filter((d) => !d.keep);
  const kept = images.filter((d) => d.keep);
  const verb = input.applied ? "deleted" : "would be deleted (dry run: call with --apply to delete)";
  const row = (d: RetentionDecision) => [
    markdownCode(shortDigest(d.version.digest)),
    d.version.tags.length ? d.version.tags.map(markdownCode).join(" ") : "–",
    d.version.createdAt.toISOString().slice(0, 10),
    markdownText(d.reasons.join("; "), 400),
  ];
  const table = (decisions: readonly RetentionDecision[]) =>
    decisions.length ? markdownTable([{ header: "digest" }, { header: "tags" }, { header: "created" }, { header: "why" }], decisions.map(row)) : ["None."];
  const mb = (items: readonly CiItem[]) => (items.reduce((n, i) => n + i.sizeBytes, 0) / 1e6).toFixed(1);
  return [
    `## Cleanup of ${input.repository}`,
    "",
    `Policy: untagged versions older than ${policy.untaggedDays} days, tags beyond the newest ${policy.keepTagsPerStream} per stream; artifacts older than ${policy.artifactDays} days; caches unused for ${policy.cacheDays} days. Deployed versions, release tags and the platform manifests of kept indexes are always kept.`,
    "",
    `- image versions: ${gone.length} ${verb}, ${kept.length} kept`,
    `- workflow artifacts: ${artifacts.length} ${verb} (${mb(artifacts)} MB)`,
    `- caches: ${caches.length} ${verb} (${mb(caches)} MB)`,
    "",
    `### Image versions ${input.applied ? "deleted" : "to delete"}`,
    "",
    ...table(gone),
    "",
    "### Image versions kept",
    "",
    ...table(kept),
    "",
  ].join("\n");
}
