/**
 * Image tags as docker/metadata-action v5 computes them for exactly this `tags` input (and the default
 * `flavor`, i.e. `latest=auto`, no prefix/suffix):
 *
 *   type=ref,event=branch
 *   type=ref,event=pr
 *   type=semver,pattern={{version}}
 *   type=semver,pattern={{major}}.{{minor}}
 *   type=sha,prefix={{branch}}-
 *
 * What this relies on (docker/metadata-action README and src/meta.ts, src/tag.ts, src/context.ts):
 * - Rules are sorted by priority (semver 900, ref 600, sha 100; a stable sort keeps input order within one
 *   priority). The first non-empty value is the `version` output; the others follow in rule order, duplicates
 *   removed; `latest` comes last, and only if the FIRST emitted value asked for it (semver of a release, not a
 *   pre-release; ref branch/pr and sha never do).
 * - Every value goes through `sanitizeTag`: each run of characters outside `[a-zA-Z0-9._-]` becomes one `-`
 *   (so `feature/x` -> `feature-x`; case is kept, only image NAMES are lowercased).
 * - `type=ref,event=pr`: `refs/pull/42/merge` -> prefix `pr-` + `42`. On `pull_request_target` the action
 *   replaces GITHUB_REF (the base branch) by `refs/pull/<payload.number>/merge`.
 * - `type=semver` only applies to `refs/tags/*`; the tag (with `/` -> `-`) must pass `semver.valid` (strict,
 *   a leading `v` allowed). A pre-release renders `{{version}}` whatever the pattern, so `v2.0.0-rc.1` gives only
 *   `2.0.0-rc.1`. `{{version}}` omits build metadata (`1.2.3+b1` -> `1.2.3`).
 * - `{{branch}}` is the branch for `refs/heads/*` and EMPTY otherwise; short SHA is the first 7 characters.
 *
 * Where we deliberately differ, because the action emits tags a registry rejects (its README states the rule,
 * "may not start with a period or a dash and may contain a maximum of 128 characters", but the code only
 * replaces characters):
 * - On a tag push or a PR, `type=sha,prefix={{branch}}-` yields `-<sha>`, which starts with a dash: we drop it
 *   and list it in `dropped` (the action would emit it and `docker push` would fail).
 * - Any tag still starting with `.` or `-` is dropped the same way.
 * - A tag longer than 128 characters is cut to 128; the `<branch>-<sha>` tag keeps its `-<sha>` end so it
 *   stays unique per commit.
 * `version` is the first tag we keep ("" when nothing is left, e.g. a non-semver git tag).
 */

export const MAX_TAG_LENGTH = 128;
export const SHORT_SHA_LENGTH = 7;

export type RefKind = "branch" | "tag" | "pull_request";

export interface GitRefInput {
  /** Full git ref: `refs/heads/x`, `refs/tags/v1.2.3`, `refs/pull/42/merge`. */
  ref: string;
  /** GitHub event name: push, pull_request, pull_request_target, workflow_dispatch, schedule, release... */
  event: string;
  /** Commit SHA, 7 to 40 hex characters. */
  sha: string;
  /** Base branch of a pull request (GITHUB_BASE_REF); informational, no rule uses it. */
  baseRef?: string;
  /** Head branch of a pull request (GITHUB_HEAD_REF); informational, no rule uses it. */
  headRef?: string;
  /** Pull-request number; required for `pull_request_target`, whose GITHUB_REF is the base branch. */
  prNumber?: number;
  /** metadata-action's `flavor: latest=`; default `auto`. */
  flavorLatest?: "auto" | "true" | "false";
}

export interface DroppedTag {
  tag: string;
  reason: string;
}

export interface ImageTags {
  /** Tags to push, in metadata-action's order, deduplicated, each a valid OCI tag. */
  tags: string[];
  /** metadata-action's `version` output: the first tag ("" when none is left). */
  version: string;
  shortSha: string;
  /** Whether `latest` is among the tags. */
  latest: boolean;
  ref: { kind: RefKind; name: string };
  pullRequest?: { number: number; baseRef?: string; headRef?: string };
  /** Values the action would emit that a registry rejects, with the reason. */
  dropped: DroppedTag[];
}

const VALID_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function isValidTag(tag: string): boolean {
  return VALID_TAG.test(tag);
}

/** metadata-action's Meta.sanitizeTag. */
export function sanitizeTag(value: string): string {
  return value.replace(/[^a-zA-Z0-9._-]+/g, "-");
}

interface ParsedSemver {
  major: string;
  minor: string;
  patch: string;
  prerelease?: string;
}

// node-semver's strict FULL regex (what `semver.valid` uses without `loose`).
const NUMERIC_ID = "0|[1-9]\\d*";
const PRERELEASE_ID = `(?:${NUMERIC_ID}|\\d*[a-zA-Z-][a-zA-Z0-9-]*)`;
const BUILD_ID = "[a-zA-Z0-9-]+";
const STRICT_SEMVER = new RegExp(
  `^v?(${NUMERIC_ID})\\.(${NUMERIC_ID})\\.(${NUMERIC_ID})` +
    `(?:-(${PRERELEASE_ID}(?:\\.${PRERELEASE_ID})*))?` +
    `(?:\\+(${BUILD_ID}(?:\\.${BUILD_ID})*))?$`,
);
const SEMVER_MAX_LENGTH = 256;

export function parseStrictSemver(value: string): ParsedSemver | undefined {
  if (value.length > SEMVER_MAX_LENGTH) return undefined;
  const match = STRICT_SEMVER.exec(value);
  if (!match) return undefined;
  const [, major, minor, patch, prerelease] = match;
  if ([major, minor, patch].some((part) => Number(part) > Number.MAX_SAFE_INTEGER)) return undefined;
  return { major: major!, minor: minor!, patch: patch!, prerelease };
}

/** A release tag (`v1.4.0`, `v2.0.0-rc.1`) and the version tag publish pushes for it. */
export interface ReleaseTag {
  tag: string;
  /** What `type=semver,pattern={{version}}` pushes for `refs/tags/<tag>`: `1.4.0`, `2.0.0-rc.1`. */
  version: string;
  prerelease: boolean;
}

export const RELEASE_TAG_EXPECTED = "vX.Y.Z, strict semver with a leading v and no leading zeros (optionally -prerelease), e.g. v1.4.0";

/**
 * The one reader of release tags (deployProduction, release, verifyImage's production signer, publish's semver
 * tags): `v` + strict semver, as metadata-action's `semver.valid` reads the tag. Build metadata is refused, since
 * `{{version}}` drops it and two tags would then push the same version. Throws naming the rule.
 */
export function parseReleaseTag(tag: string): ReleaseTag {
  const semver = tag.startsWith("v") && !tag.includes("+") ? parseStrictSemver(tag) : undefined;
  if (!semver) throw new Error(`release tag ${JSON.stringify(tag)} is not ${RELEASE_TAG_EXPECTED}`);
  const core = `${semver.major}.${semver.minor}.${semver.patch}`;
  return {
    tag,
    version: semver.prerelease === undefined ? core : `${core}-${semver.prerelease}`,
    prerelease: semver.prerelease !== undefined,
  };
}

function describeRefError(ref: string, why: string): Error {
  return new Error(`invalid git ref ${JSON.stringify(ref)}: ${why}`);
}

export function parseGitRef(ref: string): { kind: RefKind; name: string; prNumber?: number } {
  if (typeof ref !== "string" || ref.length === 0) {
    throw describeRefError(String(ref ?? ""), "it is empty (expected refs/heads/<branch>, refs/tags/<tag> or refs/pull/<n>/merge)");
  }
  if (/[\s\x00-\x1f\x7f~^:?*[\\]/.test(ref)) {
    throw describeRefError(ref, "it contains whitespace, a control character or one of ~^:?*[\\ which git forbids in refs");
  }
  if (!ref.startsWith("refs/")) {
    throw describeRefError(ref, "it does not start with refs/ (expected refs/heads/<branch>, refs/tags/<tag> or refs/pull/<n>/merge)");
  }
  for (const [prefix, kind] of [
    ["refs/heads/", "branch"],
    ["refs/tags/", "tag"],
  ] as const) {
    if (ref.startsWith(prefix)) {
      const name = ref.slice(prefix.length);
      if (name.length === 0) throw describeRefError(ref, `nothing follows ${prefix}`);
      return { kind, name };
    }
  }
  if (ref.startsWith("refs/pull/")) {
    const match = /^refs\/pull\/([1-9]\d*)\/merge$/.exec(ref);
    if (!match) throw describeRefError(ref, "a pull-request ref must be refs/pull/<number>/merge");
    return { kind: "pull_request", name: match[1]!, prNumber: Number(match[1]) };
  }
  throw describeRefError(ref, "only refs/heads/*, refs/tags/* and refs/pull/<n>/merge are supported");
}

interface Candidate {
  value: string;
  latest: boolean;
  /** Characters at the end that truncation must keep (the `-<sha>` of the sha rule). */
  keepTail: number;
}

export function computeImageTags(input: GitRefInput): ImageTags {
  const { event, sha } = input;
  if (typeof event !== "string" || !/^[a-z_]+$/.test(event)) {
    throw new Error(`invalid GitHub event name ${JSON.stringify(event)}: expected a name like push or pull_request`);
  }
  if (typeof sha !== "string" || !/^[0-9a-fA-F]{7,40}$/.test(sha)) {
    throw new Error(`invalid commit SHA ${JSON.stringify(sha)}: expected 7 to 40 hexadecimal characters`);
  }

  let ref = input.ref;
  if (event === "pull_request_target" && typeof ref === "string" && !ref.startsWith("refs/pull/")) {
    const prNumber = input.prNumber;
    if (prNumber === undefined || !Number.isInteger(prNumber) || prNumber <= 0) {
      throw new Error(
        `pull_request_target runs with GITHUB_REF=${JSON.stringify(ref)} (the base branch); metadata-action tags it ` +
          `pr-<number> from the event payload, so pass the pull-request number (got ${JSON.stringify(prNumber)})`,
      );
    }
    ref = `refs/pull/${prNumber}/merge`;
  }
  const parsed = parseGitRef(ref);
  const shortSha = sha.length <= SHORT_SHA_LENGTH ? sha : sha.slice(0, SHORT_SHA_LENGTH);

  const candidates: Candidate[] = [];
  // priority 900: type=semver,pattern={{version}} then type=semver,pattern={{major}}.{{minor}}
  if (parsed.kind === "tag") {
    const semver = parseStrictSemver(parsed.name.replace(/\//g, "-"));
    if (semver) {
      const version = `${semver.major}.${semver.minor}.${semver.patch}`;
      if (semver.prerelease !== undefined) {
        const full = `${version}-${semver.prerelease}`;
        candidates.push({ value: full, latest: false, keepTail: 0 }, { value: full, latest: false, keepTail: 0 });
      } else {
        candidates.push(
          { value: version, latest: true, keepTail: 0 },
          { value: `${semver.major}.${semver.minor}`, latest: true, keepTail: 0 },
        );
      }
    }
  }
  // priority 600: type=ref,event=branch then type=ref,event=pr (prefix pr-)
  if (parsed.kind === "branch") candidates.push({ value: parsed.name, latest: false, keepTail: 0 });
  if (parsed.kind === "pull_request") candidates.push({ value: `pr-${parsed.name}`, latest: false, keepTail: 0 });
  // priority 100: type=sha,prefix={{branch}}-
  const branchExpression = parsed.kind === "branch" ? parsed.name : "";
  candidates.push({ value: `${branchExpression}-${shortSha}`, latest: false, keepTail: shortSha.length + 1 });

  const emitted: Candidate[] = candidates
    .filter((candidate) => candidate.value.length > 0)
    .map((candidate) => ({ ...candidate, value: sanitizeTag(candidate.value) }));
  const flavorLatest = input.flavorLatest ?? "auto";
  const latest = flavorLatest === "auto" ? (emitted[0]?.latest ?? false) : flavorLatest === "true";
  if (latest) emitted.push({ value: "latest", latest: true, keepTail: 0 });

  const tags: string[] = [];
  const dropped: DroppedTag[] = [];
  for (const { value, keepTail } of emitted) {
    let tag = value;
    if (tag.length > MAX_TAG_LENGTH) {
      tag = tag.slice(0, MAX_TAG_LENGTH - keepTail) + (keepTail > 0 ? tag.slice(-keepTail) : "");
    }
    if (!isValidTag(tag)) {
      const reason =
        keepTail > 0 && branchExpression === ""
          ? `{{branch}} is empty for ${ref} (not a branch), so type=sha,prefix={{branch}}- starts with "-"`
          : `a tag must start with a letter, digit or underscore (from ref ${ref})`;
      dropped.push({ tag, reason });
      continue;
    }
    if (!tags.includes(tag)) tags.push(tag);
  }

  const result: ImageTags = {
    tags,
    version: tags[0] ?? "",
    shortSha,
    latest: tags.includes("latest") && latest,
    ref: { kind: parsed.kind, name: parsed.name },
    dropped,
  };
  if (parsed.kind === "pull_request") {
    result.pullRequest = { number: parsed.prNumber! };
    if (input.baseRef) result.pullRequest.baseRef = input.baseRef;
    if (input.headRef) result.pullRequest.headRef = input.headRef;
  }
  return result;
}

