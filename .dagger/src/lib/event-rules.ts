/**
 * What the pipeline does for one CI event, decided once for every CI system: the gates, whether and with which
 * tags it publishes, which environment it deploys to with which image reference, the scheduled jobs, and why
 * anything is refused. A CI file describes its event in neutral terms (`eventPlan --kind push --ref main ...`)
 * and acts on the answer; none re-encodes a branch or tag rule.
 *
 * The rules are today's GitHub Actions behaviour (.github/workflows), which must not change:
 * - ci.yml: every push and pull request runs the gates, the coverage upload (not from forks: they get no secrets)
 *   and the security reports; a push to main, a release/* branch or a vX.Y.Z tag publishes and signs, with the
 *   tags metadata-action computes (lib/tags.ts); the trust level is trusted only for those pushes.
 * - cd-dev.yml: main's published commit goes to dev as its `main-<sha7>` tag (resolved to its digest by deploy).
 * - cd-staging.yml: a release/* branch's published commit goes to staging as its `<branch>-<sha7>` tag, then
 *   the k6 load test, then the production-approval gate; a manual run names the image.
 * - cd-production.yml: a vX.Y.Z tag (no pre-release: verify-tag's regex) goes to production behind the
 *   production environment's reviewers, as the `X.Y.Z` tag publish pushed, then the GitHub release.
 * - rollback.yml: manual, per environment. security-scan.yml: daily, and manual.
 * - performance-benchmark.yml, cleanup.yml, delivery-metrics.yml: weekly (GitHub spreads them over Sunday night
 *   and Monday morning; one weekly run calls the three), and manual.
 */
import { z } from "zod";
import { Environment, ENVIRONMENTS } from "./deploy/environment";
import { UsageError, flagName } from "./errors";
import { commitSha, parseArgs, type Rule } from "./args";
import { computeImageTags, parseGitRef, parseReleaseTag, sanitizeTag, SHORT_SHA_LENGTH, type RefKind } from "./tags";
import { Trust } from "./trust";

/** The gates `ci` runs, in its order. */
export const CI_GATES = [
  "fmt", "clippy", "doc", "unitTest", "integrationTest",
  "audit", "deny", "trivyFs", "semgrep", "gitleaks",
  "imageSize", "trivyImage",
] as const;

export const EVENT_KINDS = ["push", "pull_request", "tag", "schedule", "manual"] as const;
export type EventKind = (typeof EVENT_KINDS)[number];
export const CI_SYSTEMS = ["github", "gitlab", "jenkins", "circleci", "azure", "tekton"] as const;
export type CiSystem = (typeof CI_SYSTEMS)[number];
export const MANUAL_ACTIONS = ["deploy", "rollback", "scan"] as const;
export type ManualAction = (typeof MANUAL_ACTIONS)[number];
/** Scheduled runs and the module functions each one calls. */
export const SCHEDULES = { daily: ["scanDeployed"], weekly: ["benchmark", "cleanup", "metrics"] } as const satisfies Record<string, readonly string[]>;
export type ScheduleName = keyof typeof SCHEDULES;
export const PLAN_FORMATS = ["json", "summary", "env"] as const;
export type PlanFormat = (typeof PLAN_FORMATS)[number];

/** The branches and tags whose pushes are reviewed revisions. */
const DEV_BRANCH = "main";
const RELEASE_BRANCH = /^release\/[A-Za-z0-9._/-]+$/;
/** cd-production.yml's verify-tag: vX.Y.Z, no leading zeros, no pre-release. */
const PRODUCTION_TAG = /^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/;
/** Characters every value of the env format is made of, so a CI system can read it without quoting rules. */
const ENV_SAFE = /^[A-Za-z0-9._/:@+,=-]*$/;

export interface CiEvent {
  kind: EventKind;
  system: CiSystem;
  /** Full git ref; kind push and tag also accept the short branch or tag name. */
  ref?: string;
  commit?: string;
  pullRequest?: number;
  /** A pull request from a fork: the CI system gives it no secrets. */
  fork?: boolean;
  schedule?: ScheduleName;
  action?: ManualAction;
  environment?: Environment;
  /** Manual staging deploy: the image reference (digest, or the `<branch>-<sha7>` tag). */
  image?: string;
}

export interface PublishPlan {
  /** What releaseImage reads: the full ref and the GitHub event name metadata-action's rules expect. */
  ref: string;
  event: "push";
  commit: string;
  tags: string[];
}

export interface DeployPlan {
  environment: Environment;
  /** What deploy --image / deployProduction --tag take: a tag of the publish repository or a digest reference. */
  image: string;
  commit?: string;
  branch?: string;
  /** production: the release tag vX.Y.Z. */
  tag?: string;
  /** staging: the k6 load test after the deploy. */
  loadTest: boolean;
  /** Where a person approves: before the deploy (production), or after staging's load test for production. */
  approval: "none" | "before-deploy" | "after-load-test";
  /** production: the GitHub release after the deploy. */
  githubRelease: boolean;
}

export interface Refusal {
  what: "publish" | "deploy" | "coverage" | "event";
  why: string;
}

export interface EventPlan {
  event: { kind: EventKind; system: CiSystem; ref?: { kind: RefKind; name: string; full: string }; commit?: string; pullRequest?: number };
  trust: Trust;
  gates: string[];
  coverage: boolean;
  securityReports: boolean;
  publish?: PublishPlan;
  deploy?: DeployPlan;
  rollback?: { environment: Environment };
  /** Module functions a scheduled (or manual scan) run calls, with every environment it covers. */
  scheduled: string[];
  refusals: Refusal[];
}

/** `main` -> `refs/heads/main` on a push, `v1.4.0` -> `refs/tags/v1.4.0` on a tag. */
function fullRef(kind: EventKind, ref: string): string {
  if (ref.startsWith("refs/")) return ref;
  return kind === "tag" ? `refs/tags/${ref}` : `refs/heads/${ref}`;
}

function nothing(event: EventPlan["event"], trust: Trust): EventPlan {
  return { event, trust, gates: [], coverage: false, securityReports: false, scheduled: [], refusals: [] };
}

/** The `<branch>-<sha7>` tag publish pushed for a branch's commit (metadata-action's type=sha,prefix={{branch}}-). */
function commitTag(branch: string, commit: string): string {
  return `${sanitizeTag(branch)}-${commit.slice(0, SHORT_SHA_LENGTH)}`;
}

function isReleaseTag(name: string): boolean {
  try {
    parseReleaseTag(name);
    return true;
  } catch {
    return false;
  }
}

function planGitEvent(event: CiEvent, described: EventPlan["event"]): EventPlan {
  const pullRequest = event.kind === "pull_request";
  const ref = described.ref;
  const commit = event.commit!;
  const reviewed =
    !pullRequest &&
    ref !== undefined &&
    ((ref.kind === "branch" && (ref.name === DEV_BRANCH || RELEASE_BRANCH.test(ref.name))) || (ref.kind === "tag" && isReleaseTag(ref.name)));
  const plan: EventPlan = {
    ...nothing(described, reviewed ? Trust.Trusted : Trust.Untrusted),
    gates: [...CI_GATES],
    coverage: !(pullRequest && event.fork === true),
    securityReports: true,
  };
  if (!plan.coverage) plan.refusals.push({ what: "coverage", why: "a pull request from a fork gets no secrets, so no Codecov token" });

  if (pullRequest) {
    plan.refusals.push({ what: "publish", why: "pull requests never publish: only pushes to main, release/* and vX.Y.Z tags do" });
    return plan;
  }
  if (!reviewed || ref === undefined) {
    plan.refusals.push({
      what: "publish",
      why: `${ref?.full ?? "the ref"} is not main, a release/* branch or a release tag vX.Y.Z: only those publish and deploy`,
    });
    return plan;
  }
  const tags = computeImageTags({ ref: ref.full, event: "push", sha: commit });
  plan.publish = { ref: ref.full, event: "push", commit, tags: tags.tags };

  if (ref.kind === "branch" && ref.name === DEV_BRANCH) {
    plan.deploy = { environment: Environment.Dev, image: commitTag(ref.name, commit), commit, branch: ref.name, loadTest: false, approval: "none", githubRelease: false };
  } else if (ref.kind === "branch") {
    plan.deploy = {
      environment: Environment.Staging, image: commitTag(ref.name, commit), commit, branch: ref.name,
      loadTest: true, approval: "after-load-test", githubRelease: false,
    };
  } else if (PRODUCTION_TAG.test(ref.name)) {
    plan.deploy = {
      environment: Environment.Production, image: tags.version, commit, tag: ref.name,
      loadTest: false, approval: "before-deploy", githubRelease: true,
    };
  } else {
    plan.refusals.push({ what: "deploy", why: `${ref.name} is a pre-release: it is published, never deployed to production (vX.Y.Z only)` });
  }
  return plan;
}

function planManual(event: CiEvent, described: EventPlan["event"]): EventPlan {
  const plan = nothing(described, Trust.Trusted);
  const environment = event.environment!;
  switch (event.action!) {
    case "scan":
      plan.scheduled = [...SCHEDULES.daily];
      return plan;
    case "rollback":
      plan.rollback = { environment };
      return plan;
    case "deploy":
      if (environment === Environment.Staging) {
        plan.deploy = { environment, image: event.image!, loadTest: true, approval: "after-load-test", githubRelease: false };
      } else if (environment === Environment.Production) {
        const tag = described.ref!.name;
        plan.deploy = {
          environment, image: parseReleaseTag(tag).version, tag,
          ...(event.commit ? { commit: event.commit } : {}),
          loadTest: false, approval: "before-deploy", githubRelease: true,
        };
      }
      return plan;
  }
}

/** The plan for an event whose arguments `parseEventPlanArgs` accepted. */
export function planEvent(event: CiEvent): EventPlan {
  // a manual deploy names a release tag (production)
  const ref = event.ref === undefined ? undefined : fullRef(event.kind === "manual" ? "tag" : event.kind, event.ref);
  const parsedRef = ref === undefined ? undefined : parseGitRef(ref);
  const described: EventPlan["event"] = {
    kind: event.kind,
    system: event.system,
    ...(parsedRef ? { ref: { kind: parsedRef.kind, name: parsedRef.name, full: ref! } } : {}),
    ...(event.commit ? { commit: event.commit } : {}),
    ...(event.pullRequest !== undefined ? { pullRequest: event.pullRequest } : {}),
  };
  switch (event.kind) {
    case "push":
    case "tag":
    case "pull_request":
      return planGitEvent(event, described);
    case "schedule":
      return { ...nothing(described, Trust.Trusted), scheduled: [...SCHEDULES[event.schedule!]] };
    case "manual":
      return planManual(event, described);
  }
}

// ---------------------------------------------------------------------------------------------------------
// arguments

const choice = <T extends readonly string[]>(values: T) => z.enum(values as unknown as [T[number], ...T[number][]]);

export interface EventPlanArgs {
  kind: string;
  system: string;
  ref?: string;
  commit?: string;
  /** A string, so a CI system can pass its (possibly unset, blank) variable as it is. */
  pullRequest?: string;
  /** "true" or "false", a string for the same reason. */
  fork?: string;
  schedule?: string;
  action?: string;
  environment?: string;
  image?: string;
  format?: string;
}

const needs = (arg: keyof EventPlanArgs, when: string, expected: string) => ({ arg, problem: `is required ${when}`, expected });

const eventRules: Rule<EventPlanArgs>[] = [
  (a) => {
    const problems = [];
    if (a.kind === "push" || a.kind === "tag") {
      if (a.ref === undefined) problems.push(needs("ref", `for --kind ${a.kind}`, a.kind === "tag" ? "the tag, e.g. v1.4.0" : "the branch, e.g. main"));
      if (a.commit === undefined) problems.push(needs("commit", `for --kind ${a.kind}`, "the full commit SHA"));
    }
    if (a.kind === "pull_request") {
      if (a.pullRequest === undefined) problems.push(needs("pullRequest", "for --kind pull_request", "the pull/merge request number"));
      if (a.commit === undefined) problems.push(needs("commit", "for --kind pull_request", "the full commit SHA"));
    }
    if (a.kind === "schedule" && a.schedule === undefined) problems.push(needs("schedule", "for --kind schedule", `one of ${Object.keys(SCHEDULES).join(", ")}`));
    if (a.kind === "manual" && a.action === undefined) problems.push(needs("action", "for --kind manual", `one of ${MANUAL_ACTIONS.join(", ")}`));
    if (a.kind === "manual" && (a.action === "deploy" || a.action === "rollback") && a.environment === undefined) {
      problems.push(needs("environment", `for --action ${a.action}`, ENVIRONMENTS.join(", ")));
    }
    return problems;
  },
  (a) => {
    if (a.ref === undefined || (a.kind !== "push" && a.kind !== "tag" && !(a.kind === "manual" && a.action === "deploy"))) return [];
    const kind = a.kind === "manual" ? "tag" : a.kind;
    try {
      const parsed = parseGitRef(fullRef(kind, a.ref));
      if (parsed.kind !== (kind === "tag" ? "tag" : "branch")) {
        return [{ arg: "ref", problem: `is not a ${kind === "tag" ? "tag" : "branch"}`, expected: kind === "tag" ? "v1.4.0 or refs/tags/v1.4.0" : "main or refs/heads/main" }];
      }
    } catch (e) {
      return [{ arg: "ref", problem: (e as Error).message.replace(/^invalid git ref "[^"]*": /, ""), expected: "a branch or tag name, or its full ref" }];
    }
    return [];
  },
  (a) => {
    if (a.kind !== "manual" || a.action !== "deploy") return [];
    if (a.environment === Environment.Dev) {
      return [{ arg: "environment", problem: "dev is deployed only from main's published commits (a push to main), never by hand", expected: "staging or production" }];
    }
    if (a.environment === Environment.Staging && a.image === undefined) return [needs("image", "for a manual staging deploy", "the image by digest or its <branch>-<sha7> tag")];
    if (a.environment === Environment.Staging && !/^[A-Za-z0-9._/:@-]+$/.test(a.image ?? "")) {
      return [{ arg: "image", problem: "is not an image reference", expected: "<repository>@sha256:<64 hex> or a <branch>-<sha7> tag" }];
    }
    if (a.environment === Environment.Production && (a.ref === undefined || !PRODUCTION_TAG.test(a.ref.replace(/^refs\/tags\//, "")))) {
      return [{ arg: "ref", problem: "is not a release tag to deploy to production", expected: "vX.Y.Z (no pre-release), e.g. v1.4.0" }];
    }
    return [];
  },
];

export interface EventPlanRequest {
  event: CiEvent;
  format: PlanFormat;
}

/** The eventPlan function's arguments, every problem named at once, before anything runs. */
export function parseEventPlanArgs(args: EventPlanArgs): EventPlanRequest {
  const schema = z.object({
    kind: choice(EVENT_KINDS),
    system: choice(CI_SYSTEMS),
    ref: z.string().optional(),
    commit: commitSha.optional(),
    pullRequest: z
      .string()
      .refine((value) => /^[1-9][0-9]{0,9}$/.test(value), { message: "is not a pull-request number", params: { expected: "a positive integer" } })
      .transform(Number)
      .optional(),
    fork: z.enum(["true", "false"]).transform((value) => value === "true").optional(),
    schedule: choice(Object.keys(SCHEDULES) as ScheduleName[]).optional(),
    action: choice(MANUAL_ACTIONS).optional(),
    environment: choice(ENVIRONMENTS).optional(),
    image: z.string().optional(),
    format: choice(PLAN_FORMATS).optional(),
  });
  const parsed = parseArgs("eventPlan", schema, args, eventRules);
  const { format, ...event } = parsed;
  return { event: event as CiEvent, format: format ?? "json" };
}

// ---------------------------------------------------------------------------------------------------------
// output

/** KEY=VALUE lines a CI system loads as variables (GitLab dotenv, a sourced shell file, Azure output variables). */
export function planAsEnv(plan: EventPlan): string {
  const d = plan.deploy;
  const values: Record<string, string> = {
    TRUST: plan.trust,
    RUN_GATES: String(plan.gates.length > 0),
    UPLOAD_COVERAGE: String(plan.coverage),
    SECURITY_REPORTS: String(plan.securityReports),
    PUBLISH: String(plan.publish !== undefined),
    PUBLISH_REF: plan.publish?.ref ?? "",
    PUBLISH_EVENT: plan.publish?.event ?? "",
    PUBLISH_TAGS: plan.publish?.tags.join(",") ?? "",
    DEPLOY_ENVIRONMENT: d?.environment ?? "",
    DEPLOY_IMAGE: d?.image ?? "",
    DEPLOY_COMMIT: d?.commit ?? "",
    DEPLOY_BRANCH: d?.branch ?? "",
    DEPLOY_TAG: d?.tag ?? "",
    LOAD_TEST: String(d?.loadTest ?? false),
    APPROVAL: d?.approval ?? "none",
    GITHUB_RELEASE: String(d?.githubRelease ?? false),
    ROLLBACK_ENVIRONMENT: plan.rollback?.environment ?? "",
    SCAN_DEPLOYED: String(plan.scheduled.includes("scanDeployed")),
    BENCHMARK: String(plan.scheduled.includes("benchmark")),
    CLEANUP: String(plan.scheduled.includes("cleanup")),
    METRICS: String(plan.scheduled.includes("metrics")),
  };
  return Object.entries(values)
    .map(([key, value]) => {
      if (!ENV_SAFE.test(value)) {
        throw new UsageError({ fn: "eventPlan", flag: flagName("format"), problem: `env cannot carry ${key}=${JSON.stringify(value)}`, expected: "--format json" });
      }
      return `${key}=${value}\n`;
    })
    .join("");
}

/** A few lines for a person reading the CI log. */
export function planSummary(plan: EventPlan): string {
  const { event } = plan;
  const what = [event.kind, event.ref?.full, event.pullRequest !== undefined ? `#${event.pullRequest}` : undefined, event.commit?.slice(0, SHORT_SHA_LENGTH)]
    .filter(Boolean)
    .join(" ");
  const lines = [`${event.system}: ${what} (trust: ${plan.trust})`];
  lines.push(plan.gates.length > 0 ? `- gates: ${plan.gates.join(", ")}` : "- gates: none");
  if (plan.gates.length > 0) lines.push(`- coverage upload: ${plan.coverage ? "yes" : "no"}; security reports: ${plan.securityReports ? "yes" : "no"}`);
  if (plan.publish) lines.push(`- publish and sign: ${plan.publish.tags.join(", ")}`);
  if (plan.deploy) {
    const d = plan.deploy;
    const gate = d.approval === "before-deploy" ? ", after approval" : "";
    const after = [d.loadTest ? "load test" : "", d.approval === "after-load-test" ? "production approval" : "", d.githubRelease ? "GitHub release" : ""].filter(Boolean);
    lines.push(`- deploy to ${d.environment}${gate}: ${d.image}${after.length ? `, then ${after.join(", ")}` : ""}`);
  }
  if (plan.rollback) lines.push(`- roll back ${plan.rollback.environment}`);
  if (plan.scheduled.length > 0) lines.push(`- run: ${plan.scheduled.join(", ")} (${ENVIRONMENTS.join(", ")})`);
  for (const refusal of plan.refusals) lines.push(`- no ${refusal.what}: ${refusal.why}`);
  return `${lines.join("\n")}\n`;
}

export function renderPlan(plan: EventPlan, format: PlanFormat): string {
  if (format === "env") return planAsEnv(plan);
  if (format === "summary") return planSummary(plan);
  return `${JSON.stringify(plan, null, 2)}\n`;
}
