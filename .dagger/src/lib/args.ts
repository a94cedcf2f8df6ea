/**
 * Arguments of the module's functions, parsed once at the boundary (index.ts) before any container starts.
 * Each function has one zod schema for its fields and a list of rules across fields (pairs, conflicts); the
 * problems of both are collected and thrown together as one UsageError, one line per bad argument:
 * `function --flag: problem (found "value"; expected ...)`. Stages receive the parsed request and never check
 * an argument again.
 *
 * Cross-field rules read the raw arguments, so they run even when a field failed (zod skips an object's
 * refinements once a field has an issue, and the user should see every mistake at once).
 */
import { z } from "zod";
import { flagName, UsageError, type UsageProblem } from "./errors";
import { PLATFORM_PATTERN } from "./config/image";
import { ENVIRONMENTS, Environment } from "./deploy/environment";
import { httpUrlProblem } from "./deploy/http-url";
import { parseImageReference, validateRegistry, validateRepositoryPath, type ImageReference } from "./image-ref";
import { checkGithubRepository } from "./signing";
import { parseGitRef, parseReleaseTag, RELEASE_TAG_EXPECTED, type ReleaseTag } from "./tags";

/** What a refinement attaches to its issue: the expectation shown after the found value. */
interface Expectation {
  expected?: string;
}

/** A problem found by a rule across arguments. */
export interface ArgProblem {
  /** The argument as the function declares it (camelCase). */
  arg: string;
  problem: string;
  expected?: string;
}

export type Rule<A> = (args: A) => ArgProblem[];

/** A field problem with its expectation, for `superRefine`/`transform` contexts. */
export function addProblem(ctx: z.RefinementCtx, problem: string, expected?: string): void {
  ctx.addIssue({ code: "custom", message: problem, params: { expected } satisfies Expectation });
}

/**
 * A string that a throwing parser accepts. With `detail`, the parser's reason (its message after the quoted
 * value) follows the problem; without, only the problem and the expectation are shown.
 */
export function parsedBy<T>(parse: (value: string) => T, problem: string, expected: string, detail = true) {
  return z.string().transform((value, ctx): T => {
    try {
      return parse(value);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      const quoted = JSON.stringify(value);
      const at = why.indexOf(quoted);
      const reason = (at >= 0 ? why.slice(at + quoted.length) : why).replace(/^[\s:,]+/, "").replace(/\s*\(expected [^)]*\)$/, "");
      addProblem(ctx, detail && reason ? `${problem}: ${reason}` : problem, expected);
      return z.NEVER;
    }
  });
}

/**
 * A URL as it may appear in a message: the whole value, with user info and query values masked (either may
 * carry a credential), so the user sees which URL was wrong, not only its scheme.
 */
export function displayUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url.includes("@") ? "(an unparsable URL with user info)" : url;
  }
  if (!parsed.username && !parsed.password && !parsed.search) return url;
  const userInfo = parsed.username || parsed.password ? "***@" : "";
  const query = parsed.search ? `?${[...parsed.searchParams.keys()].map((key) => `${encodeURIComponent(key)}=***`).join("&")}` : "";
  return `${parsed.protocol}//${userInfo}${parsed.host}${parsed.pathname}${query}${parsed.hash}`;
}

/** The found value as the message shows it: strings and numbers only (a Secret is an opaque engine object). */
function shown(value: unknown): string | undefined {
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value !== "string") return undefined;
  return /^[a-z][a-z0-9+.-]*:/i.test(value) ? displayUrl(value) : value;
}

function valueAt(args: Record<string, unknown>, path: readonly PropertyKey[]): unknown {
  let value: unknown = args;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function issueProblem(fn: string, args: Record<string, unknown>, issue: z.core.$ZodIssue): UsageProblem {
  const arg = String(issue.path[0] ?? "");
  const value = valueAt(args, issue.path);
  const index = issue.path.length > 1 && typeof issue.path[1] === "number" ? ` (item ${issue.path[1] + 1})` : "";
  let problem = issue.message;
  let expected = (issue as { params?: Expectation }).params?.expected;
  if (issue.code === "invalid_type") {
    problem = value === undefined ? "is required" : `is not a ${issue.expected}`;
    expected ??= issue.expected;
  } else if (issue.code === "invalid_value") {
    problem = "is not one of the choices";
    expected ??= `one of ${issue.values.map(String).join(", ")}`;
  }
  const found = shown(value);
  return {
    fn,
    flag: flagName(arg),
    problem: `${problem}${index}`,
    ...(found !== undefined ? { found } : {}),
    ...(expected ? { expected } : {}),
  };
}

/**
 * Parses `args` with `schema` and `rules`; any problem throws one UsageError naming every bad argument, in the
 * order the function declares them.
 */
export function parseArgs<S extends z.ZodType, A extends object>(
  fn: string,
  schema: S,
  given: A,
  rules: Rule<A>[] = [],
): z.output<S> {
  const args = blankOptionalsUnset(schema, given);
  const parsed = schema.safeParse(args);
  const raw = args as Record<string, unknown>;
  const problems: UsageProblem[] = parsed.success ? [] : parsed.error.issues.map((issue) => issueProblem(fn, raw, issue));
  for (const rule of rules) {
    for (const { arg, problem, expected } of rule(args)) {
      const found = shown(raw[arg]);
      problems.push({ fn, flag: flagName(arg), problem, ...(found !== undefined ? { found } : {}), ...(expected ? { expected } : {}) });
    }
  }
  if (problems.length > 0) {
    const order = Object.keys(args);
    const rank = (p: UsageProblem) => order.findIndex((arg) => flagName(arg) === p.flag);
    throw new UsageError([...problems].sort((a, b) => rank(a) - rank(b)));
  }
  return (parsed as { data: z.output<S> }).data;
}

/**
 * An optional string argument given as blank counts as not given. CI systems paste an unset variable
 * as "" (`--commit "$COMMIT"` on a run that has no commit), and the dagger CLI sends a flag that was
 * on the command line even when empty (dagger v0.21.8 cmd/dagger/functions.go only skips flags that
 * were not set). A required argument keeps its value, so a blank one is still refused.
 */
function blankOptionalsUnset<A extends object>(schema: z.ZodType, args: A): A {
  const shape = (schema as unknown as { shape?: Record<string, z.ZodType> }).shape;
  if (!shape) return args;
  const out = { ...args } as Record<string, unknown>;
  for (const [key, value] of Object.entries(out)) {
    if (typeof value === "string" && value.trim() === "" && shape[key]?.safeParse(undefined).success) out[key] = undefined;
  }
  return out as A;
}

// ---------------------------------------------------------------------------------------------------------
// Rules across arguments

const given = (value: unknown) => value !== undefined && value !== null;
const at = (args: object, key: string): unknown => (args as Record<string, unknown>)[key];

/** Both or neither (a user name and its password). */
export function pair<A extends object>(a: keyof A & string, b: keyof A & string, why: string): Rule<A> {
  return (args) => {
    if (given(at(args, a)) === given(at(args, b))) return [];
    const missing = given(at(args, a)) ? b : a;
    const present = given(at(args, a)) ? a : b;
    return [{ arg: missing, problem: `is missing: ${flagName(present)} needs it (${why})`, expected: `both ${flagName(a)} and ${flagName(b)}, or neither` }];
  };
}

/** `a` is only meaningful with `b`. */
export function requires<A extends object>(a: keyof A & string, b: keyof A & string, why: string): Rule<A> {
  return (args) => (given(at(args, a)) && !given(at(args, b)) ? [{ arg: a, problem: `needs ${flagName(b)} (${why})` }] : []);
}

/** `a` and `b` exclude each other. */
export function conflicts<A extends object>(a: keyof A & string, b: keyof A & string, why: string): Rule<A> {
  return (args) =>
    given(at(args, a)) && given(at(args, b)) ? [{ arg: b, problem: `conflicts with ${flagName(a)} (${why})`, expected: "one of them" }] : [];
}

// ---------------------------------------------------------------------------------------------------------
// Field schemas, one per concept

/** A Secret argument: an engine object the schema only checks was given, never reads. */
export const secret = <S>() => z.custom<S>((value) => given(value), { message: "is required" });

export const nonEmpty = (what: string) =>
  z.string().refine((value) => value.trim().length > 0, { message: "is empty", params: { expected: what } satisfies Expectation });

/** A full git commit SHA (GITHUB_SHA). */
export const commitSha = z.string().superRefine((sha, ctx) => {
  if (/^[0-9a-f]{40}$/.test(sha)) return;
  // git prints SHAs in lower case and the image tags derived from it must be lower case
  if (/^[0-9a-fA-F]{40}$/.test(sha)) addProblem(ctx, "is in upper case: use lower case", "40 lowercase hexadecimal characters (GITHUB_SHA)");
  else addProblem(ctx, "is not a full commit SHA", "40 lowercase hexadecimal characters (GITHUB_SHA)");
});

/** GitHub's owner/name (GITHUB_REPOSITORY). */
export const githubRepository = z.string().refine(
  (value) => {
    try {
      checkGithubRepository(value);
      return true;
    } catch {
      return false;
    }
  },
  { message: "is not a GitHub repository", params: { expected: "owner/name (GITHUB_REPOSITORY), e.g. acme/observatory" } satisfies Expectation },
);

/** A registry user name as it goes into a docker config `auth` (`user:password`, base64): no ":" and no blanks. */
export const REGISTRY_USERNAME = /^[^\s\x00-\x1f\x7f:]+$/;
export const registryUsername = z.string().refine((name) => REGISTRY_USERNAME.test(name), {
  message: "is not a valid registry user name",
  params: { expected: 'a registry user name without spaces, control characters or ":"' } satisfies Expectation,
});

export const registryHost = parsedBy((value) => (validateRegistry(value), value), "is not a registry host", "a host name with an optional :port, e.g. ghcr.io", false);

/** The repository path inside the registry (`acme/observatory/analytics-api`), not GitHub's owner/name. */
export const imageRepositoryPath = parsedBy(
  (value) => (validateRepositoryPath(value), value),
  "is not a repository path",
  "a lowercase path inside the registry, e.g. acme/observatory/analytics-api",
);

export const imageReference = parsedBy(parseImageReference, "is not an image reference", "<registry>/<repository>[:tag][@sha256:<64 hex>]");

/** A pushed image by digest: a tag can move between pushing and signing. */
export const digestReference = z.string().transform((value, ctx): ImageReference & { digest: string } => {
  try {
    const reference = parseImageReference(value);
    if (reference.digest !== undefined) return { ...reference, digest: reference.digest };
    addProblem(ctx, "is not a digest reference (a tag can move between pushing and signing)", "<repository>@sha256:<64 hex>, a line of publish's output");
  } catch (e) {
    addProblem(ctx, `is not an image reference: ${e instanceof Error ? e.message : String(e)}`, "<repository>@sha256:<64 hex>");
  }
  return z.NEVER;
});

export const platform = z.string().refine((value) => PLATFORM_PATTERN.test(value), {
  message: "is not a platform",
  params: { expected: "os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8" } satisfies Expectation,
});

export const platforms = z.array(platform).superRefine((list, ctx) => {
  const repeated = list.filter((value, index) => list.indexOf(value) !== index);
  if (repeated.length > 0) addProblem(ctx, `lists ${[...new Set(repeated)].join(", ")} twice`, "each platform once");
});

export const releaseTag = parsedBy<ReleaseTag>(parseReleaseTag, "is not a release tag", RELEASE_TAG_EXPECTED, false);

export const gitRef = parsedBy(
  (value) => (parseGitRef(value), value),
  "is not a git ref",
  "refs/heads/<branch>, refs/tags/<tag> or refs/pull/<n>/merge (GITHUB_REF)",
);

/**
 * The events that trigger GitHub workflows (GITHUB_EVENT_NAME), as actionlint v1.7.12 lists them from
 * GitHub's "Events that trigger workflows" page (all_webhooks.go, AllWebhookTypes).
 */
export const GITHUB_EVENTS = [
  "branch_protection_rule", "check_run", "check_suite", "create", "delete", "deployment", "deployment_status", "discussion",
  "discussion_comment", "fork", "gollum", "image_version", "issue_comment", "issues", "label", "merge_group", "milestone",
  "page_build", "public", "pull_request", "pull_request_review", "pull_request_review_comment", "pull_request_target", "push",
  "registry_package", "release", "repository_dispatch", "schedule", "status", "watch", "workflow_call", "workflow_dispatch",
  "workflow_run",
] as const;

export const githubEvent = z.string().refine((event) => (GITHUB_EVENTS as readonly string[]).includes(event), {
  message: "is not a GitHub event name",
  params: { expected: "an event that triggers workflows (GITHUB_EVENT_NAME), e.g. push, pull_request, pull_request_target, workflow_dispatch" } satisfies Expectation,
});

export const pullRequestNumber = z.number().refine((n) => Number.isInteger(n) && n > 0, {
  message: "is not a pull-request number",
  params: { expected: "a positive integer" } satisfies Expectation,
});

export const httpUrl = z.string().superRefine((url, ctx) => {
  const problem = httpUrlProblem(url);
  if (problem) addProblem(ctx, problem, "an http(s) URL without credentials");
});

/** A file path inside the source directory. */
export const sourcePath = z.string().refine((path) => path.length > 0 && !path.startsWith("/") && !path.split("/").includes(".."), {
  message: "is not a path inside the source directory",
  params: { expected: "a relative path without .., e.g. ci/load/staging.js" } satisfies Expectation,
});

export const environmentName = z
  .string()
  .transform((value) => value.trim().toLowerCase())
  .refine((value): value is Environment => (ENVIRONMENTS as readonly string[]).includes(value), {
    message: "is not an environment",
    params: { expected: `one of ${ENVIRONMENTS.join(", ")}` } satisfies Expectation,
  })
  .transform((value) => value as Environment);
