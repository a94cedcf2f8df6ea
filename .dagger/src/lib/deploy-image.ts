/**
 * Which image references a deploy accepts: the configured repository, pinned by digest. A tag can be moved
 * by anyone who can push; a digest names exactly the manifest that was gated, pushed and signed.
 */
import { formatImageReference, parseImageReference } from "./image-ref";

/** A deployable image: `<registry>/<repository>@sha256:<64 hex>`. */
export interface DigestReference {
  /** `ghcr.io/acme/observatory/analytics-api@sha256:...` (no tag). */
  reference: string;
  repository: string;
  digest: string;
}

/** Where a value came from, for messages: `deploy --image`. */
export interface ValueOrigin {
  fn: string;
  flag: string;
}

function normalisedRepository(repository: string): string {
  const parsed = parseImageReference(repository);
  if (parsed.tag !== undefined || parsed.digest !== undefined) {
    throw new Error(`expected a repository without tag or digest, got ${JSON.stringify(repository)}`);
  }
  return formatImageReference({ registry: parsed.registry, repository: parsed.repository });
}

/**
 * Accepts `<configured repository>@sha256:<64 hex>` only; a tag beside the digest (`repo:1.4.0@sha256:...`, as
 * publish prints it) is dropped because the digest is what is pulled. A tag alone, another registry or another
 * repository is refused, naming the flag and the value.
 */
export function deployableImage(value: string, expectedRepository: string, origin: ValueOrigin): DigestReference {
  const where = `${origin.fn} ${origin.flag}`;
  let parsed;
  try {
    parsed = parseImageReference(value);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
  const repository = formatImageReference({ registry: parsed.registry, repository: parsed.repository });
  const expected = normalisedRepository(expectedRepository);
  if (repository !== expected) {
    throw new Error(
      `${where}: ${JSON.stringify(value)} is not from the configured repository ${expected} ` +
        "(image.registry / image.repository); only images this repository's publish job pushed are deployed",
    );
  }
  if (parsed.digest === undefined) {
    throw new Error(
      `${where}: ${JSON.stringify(value)} names a tag, not a digest; a tag can be moved after it was signed. ` +
        `Pass ${expected}@sha256:<64 hex> as publish recorded it (references.txt of the publish run)`,
    );
  }
  return { reference: `${expected}@${parsed.digest}`, repository: expected, digest: parsed.digest };
}

/** One line of what publish / releaseImage recorded: `<repository>:<tag>@<digest>`. */
export interface PublishedReference extends DigestReference {
  tag: string;
}

/**
 * Reads publish's output or releaseImage's references.txt (one `<repository>:<tag>@<digest>` per line). Every
 * line must be from the configured repository and name one and the same digest (publish pushes one manifest
 * under every tag). With `tag`, that tag must be among the recorded ones. Returns the digest reference to deploy.
 */
export function digestFromPublished(recorded: string, expectedRepository: string, origin: ValueOrigin, tag?: string): PublishedReference {
  const where = `${origin.fn} ${origin.flag}`;
  const lines = recorded.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  if (lines.length === 0) throw new Error(`${where}: the publish record is empty; expected <repository>:<tag>@sha256:<digest> lines`);
  const entries = lines.map((line) => {
    const entry = deployableImage(line, expectedRepository, origin);
    const parsedTag = parseImageReference(line).tag;
    if (parsedTag === undefined) throw new Error(`${where}: ${JSON.stringify(line)} is not a publish record line (<repository>:<tag>@<digest>)`);
    return { ...entry, tag: parsedTag };
  });
  const digests = [...new Set(entries.map((entry) => entry.digest))];
  if (digests.length > 1) {
    throw new Error(`${where}: the publish record names ${digests.length} different digests (${digests.join(", ")}); one publish pushes one digest`);
  }
  if (tag === undefined) return entries[0]!;
  const match = entries.find((entry) => entry.tag === tag);
  if (!match) {
    throw new Error(`${where}: tag ${JSON.stringify(tag)} is not in the publish record (recorded: ${entries.map((e) => e.tag).join(", ")})`);
  }
  return match;
}
