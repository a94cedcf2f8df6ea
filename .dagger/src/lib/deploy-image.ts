/**
 * Which image references a deploy accepts: the configured repository, pinned by digest. A tag can be moved
 * by anyone who can push; a digest names exactly the manifest that was gated, pushed and signed.
 */
import { UsageError } from "./errors";
import { bareRepository, formatImageReference, parseImageReference } from "./image-ref";

/** A deployable image: `<registry>/<repository>@sha256:<64 hex>`. */
export interface DigestReference {
  /** `ghcr.io/acme/observatory/analytics-api@sha256:...` (no tag). */
  reference: string;
  repository: string;
  digest: string;
}

/** What a tag reference resolved to in the registry: its repository at `digest` (the tag dropped). */
export function resolvedDigest(tagReference: string, digest: string): DigestReference {
  const parsed = parseImageReference(tagReference);
  const repository = formatImageReference({ registry: parsed.registry, repository: parsed.repository });
  return { reference: `${repository}@${digest}`, repository, digest };
}

/** Where a value came from, for messages: `deploy --image`. */
export interface ValueOrigin {
  fn: string;
  flag: string;
}

/** A refusal of the value at `origin`, in the one usage format. */
function refuse(origin: ValueOrigin, value: string, problem: string, expected?: string): UsageError {
  return new UsageError({ fn: origin.fn, flag: origin.flag, problem, found: value, ...(expected ? { expected } : {}) });
}

function foreign(origin: ValueOrigin, value: string, expected: string): UsageError {
  return refuse(
    origin,
    value,
    `is not from the configured repository ${expected} (image.registry / image.repository); only images this repository's publish job pushed are deployed`,
    `${expected}@sha256:<64 hex>`,
  );
}

function parsedAt(origin: ValueOrigin, value: string) {
  try {
    return parseImageReference(value);
  } catch (e) {
    throw refuse(origin, value, `is not an image reference: ${(e as Error).message}`, "<registry>/<repository>@sha256:<64 hex>");
  }
}

/**
 * Accepts `<configured repository>@sha256:<64 hex>` only; a tag beside the digest (`repo:1.4.0@sha256:...`, as
 * publish prints it) is dropped because the digest is what is pulled. A tag alone, another registry or another
 * repository is refused with a UsageError naming the flag and the value.
 */
export function deployableImage(value: string, expectedRepository: string, origin: ValueOrigin): DigestReference {
  const parsed = parsedAt(origin, value);
  const repository = formatImageReference({ registry: parsed.registry, repository: parsed.repository });
  const expected = bareRepository(expectedRepository);
  if (repository !== expected) throw foreign(origin, value, expected);
  if (parsed.digest === undefined) {
    throw refuse(
      origin,
      value,
      "names a tag, not a digest; a tag can be moved after it was signed",
      `${expected}@sha256:<64 hex> as publish recorded it (references.txt of the publish run)`,
    );
  }
  return { reference: `${expected}@${parsed.digest}`, repository: expected, digest: parsed.digest };
}

/** What a deploy was asked for: a digest to verify as is, or a commit tag the registry resolves to its digest. */
export type RequestedImage =
  | { kind: "digest"; image: DigestReference; tag?: string }
  | { kind: "commit-tag"; reference: string; repository: string; tag: string };

/**
 * Reads `deploy --image`: the configured repository by digest (`repo@sha256:...`, `repo:tag@sha256:...`), or
 * by the immutable `<branch>-<sha7>` tag publish pushed for one commit. The tag is only a lookup key: the
 * registry resolves it to a digest, and only that digest, once its signature is verified, reaches the
 * cluster. A moving tag (latest, main, 1.4.0), another registry or another repository is refused.
 */
export function requestedImage(value: string, expectedRepository: string, origin: ValueOrigin, commitTag: RegExp): RequestedImage {
  const parsed = parsedAt(origin, value);
  if (parsed.digest !== undefined) {
    return { kind: "digest", image: deployableImage(value, expectedRepository, origin), ...(parsed.tag !== undefined ? { tag: parsed.tag } : {}) };
  }
  const repository = formatImageReference({ registry: parsed.registry, repository: parsed.repository });
  const expected = bareRepository(expectedRepository);
  if (repository !== expected) throw foreign(origin, value, expected);
  const accepted = `its digest (${expected}@sha256:<64 hex>) or its <branch>-<sha7> tag (e.g. main-1a2b3c4)`;
  if (parsed.tag === undefined) throw refuse(origin, value, "has neither a tag nor a digest", accepted);
  if (!commitTag.test(parsed.tag)) {
    throw refuse(
      origin,
      value,
      "is not a commit tag: deploy accepts only what publish pushed for one commit; moving tags such as latest, main or a version move to other builds",
      accepted,
    );
  }
  return { kind: "commit-tag", reference: `${expected}:${parsed.tag}`, repository: expected, tag: parsed.tag };
}

/** Whether a Deployment's image pins a digest (`...@sha256:<64 hex>`): what a scale-up or an undo would pull. */
export function pinnedDigest(image: string): string | undefined {
  try {
    return parseImageReference(image).digest;
  } catch {
    return undefined;
  }
}

/** How a rollback may scale a parked colour back up without pulling a tag that may have moved. */
export type ScaleUpImage =
  | { kind: "pinned"; image: string }
  | { kind: "re-pin"; image: string; from: string }
  | { kind: "refuse"; reason: string };

/**
 * A scale-up pulls the image the Deployment's spec names. A digest is pulled as it is. A tag (a release
 * deployed before deploys were by digest) is re-pinned to the digest recorded at the switch away from it
 * (what its pods ran, PREVIOUS_DIGEST_ANNOTATION), when that record is about this very spec image; otherwise
 * the scale-up is refused: the tag may point at another image now.
 */
export function scaleUpImage(specImage: string, recordedImage: string | undefined, recordedDigest: string | undefined): ScaleUpImage {
  if (pinnedDigest(specImage) !== undefined) return { kind: "pinned", image: specImage };
  if (recordedImage === specImage && recordedDigest && /^sha256:[a-f0-9]{64}$/.test(recordedDigest)) {
    try {
      const parsed = parseImageReference(specImage);
      return { kind: "re-pin", image: `${formatImageReference({ registry: parsed.registry, repository: parsed.repository })}@${recordedDigest}`, from: specImage };
    } catch {
      // an unparsable spec image is refused below
    }
  }
  return {
    kind: "refuse",
    reason:
      `its Deployment names ${specImage}, a tag, not a digest, and no digest was recorded for it at the switch; ` +
      "scaling it up would pull whatever that tag points at now",
  };
}
