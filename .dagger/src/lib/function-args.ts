/**
 * One argument schema per module function (lib/args.ts explains the parsing). index.ts calls the function's
 * parser first; the stage receives the returned request. `S` is the engine's Secret type, opaque here.
 */
import { z } from "zod";
import {
  commitSha,
  conflicts,
  digestReference,
  environmentName,
  githubEvent,
  githubRepository,
  gitRef,
  httpUrl,
  imageReference,
  imageRepositoryPath,
  nonEmpty,
  pair,
  parseArgs,
  platform,
  platforms,
  pullRequestNumber,
  registryHost,
  registryUsername,
  releaseTag,
  requires,
  secret,
  sourcePath,
  type Rule,
} from "./args";
import { Environment, ENVIRONMENTS } from "./deploy/environment";
import { NotifyStatus } from "./deploy/slack";
import { UsageError, flagName } from "./errors";
import { formatImageReference, type ImageReference } from "./image-ref";
import { SbomFormat } from "./sbom";
import { computeImageTags, type ImageTags, type ReleaseTag } from "./tags";

/** Registry credentials, always both. */
export interface RegistryAuth<S> {
  username: string;
  password: S;
}

export const REGISTRY_PAIR = "registry authentication needs the user and the password";

export function registryAuth<S>(username: string | undefined, password: S | undefined): RegistryAuth<S> | undefined {
  return username !== undefined && password !== undefined ? { username, password } : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// tests

export interface IntegrationTestRequest<S> {
  jwtSecret?: S;
}

export function parseIntegrationTestArgs<S>(args: { jwtSecret?: S }): IntegrationTestRequest<S> {
  return parseArgs("integrationTest", z.object({ jwtSecret: secret<S>().optional() }), args);
}

export interface UploadCoverageRequest<S, F = unknown> {
  /** A Cobertura report made earlier (the ci job's): uploaded as is, the unit tests are not run again. */
  report?: F;
  codecovToken: S;
  commit: string;
  slug: string;
  branch?: string;
  pullRequest?: string;
  gitService: CodecovGitService;
}

/** Codecov's git services: codecov/codecov-cli v11.2.4 codecov-cli/codecov_cli/helpers/git.py (GitService). */
export const CODECOV_GIT_SERVICES = ["github", "gitlab", "bitbucket", "github_enterprise", "gitlab_enterprise", "bitbucket_server"] as const;
export type CodecovGitService = (typeof CODECOV_GIT_SERVICES)[number];

export function parseUploadCoverageArgs<S, F>(args: {
  report?: F;
  codecovToken: S;
  commit: string;
  slug: string;
  branch?: string;
  pullRequest?: string;
  gitService?: string;
}): UploadCoverageRequest<S, F> {
  const schema = z.object({
    report: z.custom<F>((value) => value !== null && typeof value === "object", { message: "is not a file" }).optional(),
    codecovToken: secret<S>(),
    commit: commitSha,
    slug: githubRepository,
    branch: nonEmpty("a branch name").optional(),
    pullRequest: z
      .string()
      .refine((n) => /^[1-9]\d*$/.test(n), { message: "is not a pull-request number", params: { expected: "a positive integer" } })
      .optional(),
    gitService: z
      .string()
      .refine((s) => (CODECOV_GIT_SERVICES as readonly string[]).includes(s), {
        message: "is not a git service Codecov knows",
        params: { expected: CODECOV_GIT_SERVICES.join(", ") },
      })
      .optional(),
  });
  const parsed = parseArgs("uploadCoverage", schema, args);
  return { ...parsed, report: parsed.report as F | undefined, gitService: (parsed.gitService ?? "github") as CodecovGitService };
}

// ---------------------------------------------------------------------------------------------------------
// git history (ci, gitleaks, securityReports): directories, given or loaded by the engine

const directory = <D>() => z.custom<D>((value) => value !== null && typeof value === "object", { message: "is not a directory" });

export interface GitHistoryRequest<D> {
  gitDir?: D;
  checkout?: D;
}

export function parseGitHistoryArgs<D>(fn: "ci" | "gitleaks" | "securityReports" | "codeQualityReport", args: GitHistoryRequest<D>): GitHistoryRequest<D> {
  return parseArgs(fn, z.object({ gitDir: directory<D>().optional(), checkout: directory<D>().optional() }), args);
}

// ---------------------------------------------------------------------------------------------------------
// scanDeployed

export interface ScanDeployedRequest<S> {
  kubeconfig: S;
  environments: Environment[];
  /** Where findings open an issue; absent: the report is only returned. */
  github?: { token: S; repository: string };
  registry?: RegistryAuth<S>;
  /** Findings are posted here. */
  slackWebhook?: S;
  /** Critical findings page, one alert per environment, resolved by a clean scan. */
  pagerdutyRoutingKey?: S;
  runUrl?: string;
}

export function parseScanDeployedArgs<S>(args: {
  kubeconfig: S;
  githubToken?: S;
  githubRepository?: string;
  environments?: string[];
  registryUsername?: string;
  registryPassword?: S;
  slackWebhook?: S;
  pagerdutyRoutingKey?: S;
  runUrl?: string;
}): ScanDeployedRequest<S> {
  const schema = z.object({
    kubeconfig: secret<S>(),
    githubToken: secret<S>().optional(),
    githubRepository: githubRepository.optional(),
    environments: z.array(environmentName).optional(),
    registryUsername: registryUsername.optional(),
    registryPassword: secret<S>().optional(),
    slackWebhook: secret<S>().optional(),
    pagerdutyRoutingKey: secret<S>().optional(),
    runUrl: httpUrl.optional(),
  });
  const rules: Rule<typeof args>[] = [
    pair("githubToken", "githubRepository", "findings open an issue in --github-repository with --github-token"),
    pair("registryUsername", "registryPassword", REGISTRY_PAIR),
  ];
  const parsed = parseArgs("scanDeployed", schema, args, rules);
  const environments = parsed.environments?.length ? [...new Set(parsed.environments)] : [...ENVIRONMENTS];
  const registry = registryAuth(parsed.registryUsername, parsed.registryPassword);
  return {
    kubeconfig: parsed.kubeconfig,
    environments,
    ...(parsed.githubToken !== undefined && parsed.githubRepository !== undefined
      ? { github: { token: parsed.githubToken, repository: parsed.githubRepository } }
      : {}),
    ...(registry ? { registry } : {}),
    ...(parsed.slackWebhook !== undefined ? { slackWebhook: parsed.slackWebhook } : {}),
    ...(parsed.pagerdutyRoutingKey !== undefined ? { pagerdutyRoutingKey: parsed.pagerdutyRoutingKey } : {}),
    ...(parsed.runUrl !== undefined ? { runUrl: parsed.runUrl } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------
// image: build, size, scan, SBOM

export interface PlatformsRequest {
  /** Absent: image.platforms. */
  platforms?: string[];
}

export function parseBuildArgs(args: { platform?: string }): PlatformsRequest {
  const parsed = parseArgs("build", z.object({ platform: platform.optional() }), args);
  return parsed.platform === undefined ? {} : { platforms: [parsed.platform] };
}

export function parsePlatformsArgs(fn: "buildPlatforms" | "imageTarball", args: { platforms?: string[] }): PlatformsRequest {
  const parsed = parseArgs(fn, z.object({ platforms: platforms.optional() }), args);
  return parsed.platforms?.length ? { platforms: parsed.platforms } : {};
}

export interface SbomRequest extends PlatformsRequest {
  /** Absent: image.sbomFormat. */
  format?: SbomFormat;
}

export function parseSbomArgs(args: { format?: SbomFormat | string; platform?: string }): SbomRequest {
  const parsed = parseArgs("sbom", z.object({ format: z.enum(SbomFormat).optional(), platform: platform.optional() }), args);
  return {
    ...(parsed.format !== undefined ? { format: parsed.format } : {}),
    ...(parsed.platform !== undefined ? { platforms: [parsed.platform] } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------
// tags, publish, sign, releaseImage, imageExists

interface GitRefArgs {
  ref: string;
  event: string;
  commit: string;
  prNumber?: number;
}

const gitRefFields = { ref: gitRef, event: githubEvent, commit: commitSha, prNumber: pullRequestNumber.optional() };

const pullRequestTarget: Rule<GitRefArgs> = (args) =>
  args.event === "pull_request_target" && args.prNumber === undefined && typeof args.ref === "string" && !args.ref.startsWith("refs/pull/")
    ? [{ arg: "prNumber", problem: "is required on pull_request_target (its ref is the base branch; metadata-action tags it pr-<number>)", expected: "the pull-request number" }]
    : [];

/** A pull-request number belongs to a pull-request event, and agrees with a refs/pull/<n>/merge ref. */
const pullRequestNumberFits: Rule<GitRefArgs> = (args) => {
  // a malformed number or event is already reported on its own
  if (!pullRequestNumber.safeParse(args.prNumber).success || !githubEvent.safeParse(args.event).success) return [];
  if (args.event !== "pull_request" && args.event !== "pull_request_target") {
    return [{ arg: "prNumber", problem: `is only read on pull_request and pull_request_target events, not on ${JSON.stringify(args.event)}`, expected: "no --pr-number, or a pull-request event" }];
  }
  const inRef = typeof args.ref === "string" ? /^refs\/pull\/(\d+)\//.exec(args.ref)?.[1] : undefined;
  return inRef !== undefined && Number(inRef) !== args.prNumber
    ? [{ arg: "prNumber", problem: `disagrees with --ref ${args.ref} (pull request ${inRef})`, expected: `${inRef}, or no --pr-number` }]
    : [];
};

/** metadata-action's tags for validated arguments (computeImageTags cannot fail on them). */
function imageTagsOf(args: { ref: string; event: string; commit: string; prNumber?: number }): ImageTags {
  return computeImageTags({ ref: args.ref, event: args.event, sha: args.commit, prNumber: args.prNumber });
}

export interface TagsRequest {
  tags: ImageTags;
}

export function parseTagsArgs(args: GitRefArgs): TagsRequest {
  const tags = imageTagsOf(parseArgs("tags", z.object(gitRefFields), args, [pullRequestTarget, pullRequestNumberFits]));
  if (tags.tags.length === 0) {
    const why = tags.dropped.map((d) => d.reason).join("; ");
    throw new UsageError({ fn: "tags", flag: "--ref", problem: `maps to no image tag${why ? `: ${why}` : ""}`, found: args.ref, expected: "a branch, a pull-request ref or a semver tag like refs/tags/v1.2.3" });
  }
  return { tags };
}

export interface PublishRequest<S> {
  registryAuth: RegistryAuth<S>;
  tags: ImageTags;
  commit: string;
  /** owner/name: the default image repository and the source label. */
  githubRepository?: string;
  /** Absent: image.registry. */
  registry?: string;
  /** Path inside the registry; absent: image.repository, else from githubRepository. */
  imageRepository?: string;
  platforms?: string[];
}

interface PublishArgs<S> extends GitRefArgs {
  registryUsername: string;
  registryPassword: S;
  githubRepository?: string;
  registry?: string;
  imageRepository?: string;
  platforms?: string[];
}

function publishFields<S>() {
  return {
    registryUsername,
    registryPassword: secret<S>(),
    ...gitRefFields,
    githubRepository: githubRepository.optional(),
    registry: registryHost.optional(),
    imageRepository: imageRepositoryPath.optional(),
    platforms: platforms.optional(),
  };
}

/** A ref that yields no tag (a git tag that is not semver) pushes nothing: said before anything is built. */
function pushableTags(fn: string, args: GitRefArgs): ImageTags {
  const tags = imageTagsOf(args);
  if (tags.tags.length === 0) {
    const dropped = tags.dropped.map((d) => `${d.tag}: ${d.reason}`).join("; ");
    throw new UsageError({
      fn,
      flag: flagName("ref"),
      problem: `yields no image tag to push${dropped ? ` (dropped ${dropped})` : ""}`,
      found: args.ref,
      expected: "a branch, a pull request or a release tag vX.Y.Z",
    });
  }
  return tags;
}

function publishRequest<S>(fn: string, parsed: PublishArgs<S>): PublishRequest<S> {
  return {
    registryAuth: { username: parsed.registryUsername, password: parsed.registryPassword },
    tags: pushableTags(fn, parsed),
    commit: parsed.commit,
    ...(parsed.githubRepository !== undefined ? { githubRepository: parsed.githubRepository } : {}),
    ...(parsed.registry !== undefined ? { registry: parsed.registry } : {}),
    ...(parsed.imageRepository !== undefined ? { imageRepository: parsed.imageRepository } : {}),
    ...(parsed.platforms?.length ? { platforms: parsed.platforms } : {}),
  };
}

export function parsePublishArgs<S>(args: PublishArgs<S>): PublishRequest<S> {
  return publishRequest("publish", parseArgs("publish", z.object(publishFields<S>()), args, [pullRequestTarget, pullRequestNumberFits]));
}

/** How cosign gets its identity. */
export type Signer<S> =
  | { mode: "keyless-token"; oidcToken: S }
  /** GitHub Actions: cosign fetches a fresh token at signing time from these two. */
  | { mode: "keyless-request"; requestUrl: S; requestToken: S }
  | { mode: "key"; key: S; keyPassword?: S };

interface SignerArgs<S> {
  oidcToken?: S;
  key?: S;
  keyPassword?: S;
  oidcRequestUrl?: S;
  oidcRequestToken?: S;
}

function signerFields<S>() {
  return {
    oidcToken: secret<S>().optional(),
    key: secret<S>().optional(),
    keyPassword: secret<S>().optional(),
    oidcRequestUrl: secret<S>().optional(),
    oidcRequestToken: secret<S>().optional(),
  };
}

function signerRules<S, A extends SignerArgs<S>>(fn: string): Rule<A>[] {
  const oneSigner: Rule<A> = (args) =>
    args.oidcToken === undefined && args.key === undefined && args.oidcRequestUrl === undefined && args.oidcRequestToken === undefined
      ? [{
          arg: "oidcToken",
          problem: `is missing: ${fn} signs with --oidc-token, or --oidc-request-url and --oidc-request-token (GitHub Actions), or --key`,
          expected: "one signing credential",
        }]
      : [];
  return [
    oneSigner,
    pair<A>("oidcRequestUrl", "oidcRequestToken", "ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN"),
    conflicts<A>("oidcToken", "oidcRequestUrl", "which token cosign uses would depend on its provider order"),
    conflicts<A>("key", "oidcToken", "--key signs with the key pair, --oidc-token is for keyless signing"),
    conflicts<A>("key", "oidcRequestUrl", "--oidc-request-url is for keyless signing"),
    requires<A>("keyPassword", "key", "it is the password of the cosign key"),
  ];
}

function signerOf<S>(args: SignerArgs<S>): Signer<S> {
  if (args.key !== undefined) return { mode: "key", key: args.key, ...(args.keyPassword !== undefined ? { keyPassword: args.keyPassword } : {}) };
  if (args.oidcRequestUrl !== undefined && args.oidcRequestToken !== undefined) {
    return { mode: "keyless-request", requestUrl: args.oidcRequestUrl, requestToken: args.oidcRequestToken };
  }
  return { mode: "keyless-token", oidcToken: args.oidcToken as S };
}

export interface SignRequest<S> {
  digestRef: ImageReference & { digest: string };
  registryAuth?: RegistryAuth<S>;
  signer: Signer<S>;
  /** Absent: image.sbomFormat. */
  sbomFormat?: SbomFormat;
}

export function parseSignArgs<S>(args: SignerArgs<S> & {
  digestRef: string;
  registryUsername?: string;
  registryPassword?: S;
  sbomFormat?: SbomFormat | string;
}): SignRequest<S> {
  const schema = z.object({
    digestRef: digestReference,
    registryUsername: registryUsername.optional(),
    registryPassword: secret<S>().optional(),
    sbomFormat: z.enum(SbomFormat).optional(),
    ...signerFields<S>(),
  });
  const parsed = parseArgs("sign", schema, args, [pair("registryUsername", "registryPassword", REGISTRY_PAIR), ...signerRules<S, typeof args>("sign")]);
  const auth = registryAuth(parsed.registryUsername, parsed.registryPassword);
  return {
    digestRef: parsed.digestRef,
    signer: signerOf(parsed),
    ...(auth ? { registryAuth: auth } : {}),
    ...(parsed.sbomFormat !== undefined ? { sbomFormat: parsed.sbomFormat } : {}),
  };
}

export interface ReleaseImageRequest<S> extends PublishRequest<S> {
  signer: Signer<S>;
}

export function parseReleaseImageArgs<S>(args: PublishArgs<S> & SignerArgs<S>): ReleaseImageRequest<S> {
  const schema = z.object({ ...publishFields<S>(), ...signerFields<S>() });
  const parsed = parseArgs("releaseImage", schema, args, [pullRequestTarget, pullRequestNumberFits, ...signerRules<S, typeof args>("releaseImage")]);
  return { ...publishRequest("releaseImage", parsed), signer: signerOf(parsed) };
}

export interface ImageExistsRequest<S> {
  reference: ImageReference;
  /** As given (crane reads it). */
  referenceText: string;
  registryAuth?: RegistryAuth<S>;
}

export function parseImageExistsArgs<S>(args: { reference: string; registryUsername?: string; registryPassword?: S }): ImageExistsRequest<S> {
  const schema = z.object({ reference: imageReference, registryUsername: registryUsername.optional(), registryPassword: secret<S>().optional() });
  const parsed = parseArgs("imageExists", schema, args, [pair("registryUsername", "registryPassword", REGISTRY_PAIR)]);
  const auth = registryAuth(parsed.registryUsername, parsed.registryPassword);
  return { reference: parsed.reference, referenceText: args.reference, ...(auth ? { registryAuth: auth } : {}) };
}

// ---------------------------------------------------------------------------------------------------------
// notify, release, loadTest

export interface NotifyRequest<S> {
  slackWebhook: S;
  status: NotifyStatus;
  environment: string;
  version: string;
  runUrl?: string;
  reason?: string;
  author?: string;
  commit?: string;
  /** Where --commit lives: the message links the commit's page. */
  githubRepository?: string;
}

export function parseNotifyArgs<S>(args: Omit<NotifyRequest<S>, "status"> & { status: NotifyStatus | string }): NotifyRequest<S> {
  const schema = z.object({
    slackWebhook: secret<S>(),
    status: z.enum(NotifyStatus),
    environment: nonEmpty("an environment name, e.g. staging"),
    version: nonEmpty("the version or image deployed"),
    runUrl: httpUrl.optional(),
    reason: z.string().optional(),
    author: nonEmpty("who made the change, e.g. the commit's author").optional(),
    commit: commitSha.optional(),
    githubRepository: githubRepository.optional(),
  });
  const parsed = parseArgs("notify", schema, args);
  return {
    slackWebhook: parsed.slackWebhook,
    status: parsed.status,
    environment: parsed.environment.trim(),
    version: parsed.version.trim(),
    ...(parsed.runUrl ? { runUrl: parsed.runUrl } : {}),
    ...(parsed.reason ? { reason: parsed.reason } : {}),
    ...(parsed.author ? { author: parsed.author.trim() } : {}),
    ...(parsed.commit ? { commit: parsed.commit } : {}),
    ...(parsed.githubRepository ? { githubRepository: parsed.githubRepository } : {}),
  };
}

export interface ReleaseRequest<S> {
  tag: ReleaseTag;
  githubToken: S;
  githubRepository: string;
  /** The released image by digest, named in the notes. */
  image?: string;
  /** The tag's commit, named in the notes. */
  commit?: string;
}

export function parseReleaseArgs<S>(args: { tag: string; githubToken: S; githubRepository: string; image?: string; commit?: string }): ReleaseRequest<S> {
  const schema = z.object({ tag: releaseTag, githubToken: secret<S>(), githubRepository, image: digestReference.optional(), commit: commitSha.optional() });
  const parsed = parseArgs("release", schema, args);
  return {
    tag: parsed.tag,
    githubToken: parsed.githubToken,
    githubRepository: parsed.githubRepository,
    ...(parsed.image ? { image: formatImageReference(parsed.image) } : {}),
    ...(parsed.commit ? { commit: parsed.commit } : {}),
  };
}

export interface LoadTestRequest {
  /** Absent: environments.staging.url. */
  url?: string;
  /** Absent: environments.staging.loadTest.script, else the built-in script. */
  script?: string;
}

export function parseLoadTestArgs(args: { url?: string; script?: string }): LoadTestRequest {
  const parsed = parseArgs("loadTest", z.object({ url: httpUrl.optional(), script: sourcePath.optional() }), args);
  return {
    ...(parsed.url !== undefined ? { url: parsed.url.replace(/\/+$/, "") } : {}),
    ...(parsed.script !== undefined ? { script: parsed.script } : {}),
  };
}
