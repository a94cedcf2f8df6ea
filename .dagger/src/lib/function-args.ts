/**
 * One argument schema per module function (lib/args.ts explains the parsing). index.ts calls the function's
 * parser first; the stage receives the returned request. `S` is the engine's Secret type, opaque here.
 */
import { z } from "zod";
import {
  type ArgProblem,
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
import { COMMIT_TAG } from "./deploy/smoke";
import type { PrometheusEndpoint } from "./deploy/prometheus";
import { deployableImage, requestedImage, type DigestReference, type RequestedImage } from "./deploy-image";
import { ConfigError, UsageError, errorMessage, flagName } from "./errors";
import { imageRepository, withTag, type ImageReference } from "./image-ref";
import type { PipelineConfig } from "./pipeline-config";
import { ATTESTATION_TYPES, expectedSigningRef, signerPolicy, type AttestationType, type ExpectedRef, type SignerPolicy } from "./signing";
import { SbomFormat } from "./sbom";
import { computeImageTags, type ImageTags, type ReleaseTag } from "./tags";

/** Registry credentials, always both. */
export interface RegistryAuth<S> {
  username: string;
  password: S;
}

const REGISTRY_PAIR = "registry authentication needs the user and the password";

function registryAuth<S>(username: string | undefined, password: S | undefined): RegistryAuth<S> | undefined {
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

export interface UploadCoverageRequest<S> {
  codecovToken: S;
  commit: string;
  slug: string;
  branch?: string;
  pullRequest?: string;
}

export function parseUploadCoverageArgs<S>(args: {
  codecovToken: S;
  commit: string;
  slug: string;
  branch?: string;
  pullRequest?: string;
}): UploadCoverageRequest<S> {
  const schema = z.object({
    codecovToken: secret<S>(),
    commit: commitSha,
    slug: githubRepository,
    branch: nonEmpty("a branch name").optional(),
    pullRequest: z
      .string()
      .refine((n) => /^[1-9]\d*$/.test(n), { message: "is not a pull-request number", params: { expected: "a positive integer" } })
      .optional(),
  });
  return parseArgs("uploadCoverage", schema, args);
}

// ---------------------------------------------------------------------------------------------------------
// git history (ci, gitleaks, securityReports): directories, given or loaded by the engine

const directory = <D>() => z.custom<D>((value) => value !== null && typeof value === "object", { message: "is not a directory" });

export interface GitHistoryRequest<D> {
  gitDir?: D;
  checkout?: D;
}

export function parseGitHistoryArgs<D>(fn: "ci" | "gitleaks" | "securityReports", args: GitHistoryRequest<D>): GitHistoryRequest<D> {
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
}

export function parseScanDeployedArgs<S>(args: {
  kubeconfig: S;
  githubToken?: S;
  githubRepository?: string;
  environments?: string[];
  registryUsername?: string;
  registryPassword?: S;
}): ScanDeployedRequest<S> {
  const schema = z.object({
    kubeconfig: secret<S>(),
    githubToken: secret<S>().optional(),
    githubRepository: githubRepository.optional(),
    environments: z.array(environmentName).optional(),
    registryUsername: registryUsername.optional(),
    registryPassword: secret<S>().optional(),
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

/** metadata-action's tags for validated arguments (computeImageTags cannot fail on them). */
function imageTagsOf(args: { ref: string; event: string; commit: string; prNumber?: number }): ImageTags {
  return computeImageTags({ ref: args.ref, event: args.event, sha: args.commit, prNumber: args.prNumber });
}

export interface TagsRequest {
  tags: ImageTags;
}

export function parseTagsArgs(args: GitRefArgs): TagsRequest {
  return { tags: imageTagsOf(parseArgs("tags", z.object(gitRefFields), args, [pullRequestTarget])) };
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
  return publishRequest("publish", parseArgs("publish", z.object(publishFields<S>()), args, [pullRequestTarget]));
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
  const parsed = parseArgs("releaseImage", schema, args, [pullRequestTarget, ...signerRules<S, typeof args>("releaseImage")]);
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
}

export function parseNotifyArgs<S>(args: {
  slackWebhook: S;
  status: NotifyStatus | string;
  environment: string;
  version: string;
  runUrl?: string;
  reason?: string;
}): NotifyRequest<S> {
  const schema = z.object({
    slackWebhook: secret<S>(),
    status: z.enum(NotifyStatus),
    environment: nonEmpty("an environment name, e.g. staging"),
    version: nonEmpty("the version or image deployed"),
    runUrl: httpUrl.optional(),
    reason: z.string().optional(),
  });
  const parsed = parseArgs("notify", schema, args);
  return {
    slackWebhook: parsed.slackWebhook,
    status: parsed.status,
    environment: parsed.environment.trim(),
    version: parsed.version.trim(),
    ...(parsed.runUrl ? { runUrl: parsed.runUrl } : {}),
    ...(parsed.reason ? { reason: parsed.reason } : {}),
  };
}

export interface ReleaseRequest<S> {
  tag: ReleaseTag;
  githubToken: S;
  githubRepository: string;
}

export function parseReleaseArgs<S>(args: { tag: string; githubToken: S; githubRepository: string }): ReleaseRequest<S> {
  const schema = z.object({ tag: releaseTag, githubToken: secret<S>(), githubRepository });
  return parseArgs("release", schema, args);
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

// ---------------------------------------------------------------------------------------------------------
// deploy family: deploy, deployProduction, rollback, smoke, verifyImage. The configuration names the image
// repository and the expected signer, so the schemas of deploy, deployProduction and verifyImage also read it
// (as data: nothing is started). A configuration that cannot work is a ConfigError, not a usage error.

/** What the deploy family's arguments are checked against: the parsed configuration and where it came from. */
export interface DeployContext {
  config: Pick<PipelineConfig, "image" | "environments">;
  configOrigin: string;
}

/** How an image's signature is checked, decided from the arguments and the configuration before any container. */
export interface VerificationPlan<S> {
  fn: string;
  policy: SignerPolicy;
  attestationType: AttestationType;
  registry?: RegistryAuth<S>;
  /** Key-based signing (image.sign.keyless false): the cosign public key. */
  publicKey?: S;
}

/** The field's parsed value when it is valid; an invalid one is reported by the field itself. */
function valid<Z extends z.ZodType>(schema: Z, value: unknown): z.output<Z> | undefined {
  const result = schema.safeParse(value);
  return result.success ? result.data : undefined;
}

/** Problems of a UsageError thrown by a shared parser, as problems of this function's arguments. */
function argProblemsOf(e: unknown, arg: string): ArgProblem[] {
  if (e instanceof UsageError) return e.problems.map(({ problem, expected }) => ({ arg, problem, ...(expected ? { expected } : {}) }));
  return [{ arg, problem: errorMessage(e) }];
}

const GITHUB_REPOSITORY_EXPECTED = "owner/name (GITHUB_REPOSITORY), e.g. acme/observatory";

/** The repository deploys accept (image.registry / image.repository, else from --github-repository). */
function deployRepository(context: DeployContext, raw: unknown): { repository?: string; problems: ArgProblem[] } {
  const github = valid(githubRepository, raw);
  const image = context.config.image;
  if (image.repository === undefined && github === undefined) {
    return {
      problems: raw === undefined
        ? [{ arg: "githubRepository", problem: "is required when image.repository does not name the image repository", expected: "owner/name (the default repository is <owner>/<name>/analytics-api)" }]
        : [],
    };
  }
  try {
    return { repository: imageRepository({ registry: image.registry, repository: image.repository, githubRepository: github }), problems: [] };
  } catch (e) {
    throw new ConfigError(`${errorMessage(e)} (config from ${context.configOrigin})`);
  }
}

interface SignerInput<S> {
  expected?: ExpectedRef;
  githubRepository: unknown;
  publicKey?: S;
  registry?: RegistryAuth<S>;
}

/** The expected signer: keyless needs the repository whose publish workflow signs; key-based needs the public key. */
function verificationPlan<S>(fn: string, context: DeployContext, input: SignerInput<S>): { plan?: VerificationPlan<S>; problems: ArgProblem[] } {
  const sign = context.config.image.sign;
  const problems: ArgProblem[] = [];
  const github = valid(githubRepository, input.githubRepository);
  if (sign.keyless && input.githubRepository === undefined) {
    problems.push({ arg: "githubRepository", problem: "is required for keyless verification: it names the repository whose publish workflow signs", expected: GITHUB_REPOSITORY_EXPECTED });
  }
  if (!sign.keyless && input.publicKey === undefined) {
    problems.push({ arg: "publicKey", problem: "is required: image.sign.keyless is false, so the signature is checked with the cosign public key", expected: "the cosign public key (PEM)" });
  }
  if (sign.keyless && input.publicKey !== undefined) {
    problems.push({ arg: "publicKey", problem: "is for key-based signing (image.sign.keyless false); keyless signatures are checked against the signer's identity", expected: "no --public-key" });
  }
  if (problems.length > 0 || input.expected === undefined || (sign.keyless && github === undefined)) return { problems };
  let policy: SignerPolicy;
  try {
    policy = signerPolicy(sign, github, input.expected);
  } catch (e) {
    throw new ConfigError(`${fn}: ${errorMessage(e)} (config from ${context.configOrigin})`);
  }
  return {
    plan: {
      fn,
      policy,
      attestationType: ATTESTATION_TYPES[context.config.image.sbomFormat],
      ...(input.registry ? { registry: input.registry } : {}),
      ...(input.publicKey !== undefined ? { publicKey: input.publicKey } : {}),
    },
    problems,
  };
}

/** One problem per argument from the configuration rule (the first is the most basic one). */
function firstPerArg(problems: ArgProblem[]): ArgProblem[] {
  return problems.filter((problem, index) => problems.findIndex((p) => p.arg === problem.arg) === index);
}

/** Registry credentials from raw arguments that passed their fields. */
function rawRegistry<S>(args: { registryUsername?: string; registryPassword?: S }): RegistryAuth<S> | undefined {
  return registryAuth(valid(registryUsername, args.registryUsername), args.registryPassword);
}

/** The ref a staging image must be signed on: a release/* branch (`--branch`), or any release/* branch. */
function stagingRef(branch: string | undefined): { expected?: ExpectedRef; problems: ArgProblem[] } {
  try {
    return { expected: expectedSigningRef({ environment: Environment.Staging, releaseBranch: branch }), problems: [] };
  } catch {
    return { problems: [{ arg: "branch", problem: "is not a release/* branch: staging images are signed by the publish job of one", expected: "release/<name>, e.g. release/1.4" }] };
  }
}

// ---- deploy

export interface DeployRequest<S> {
  environment: Environment.Dev | Environment.Staging;
  kubeconfig: S;
  /** A digest to verify, or a commit tag the registry resolves to its digest first. */
  image: RequestedImage;
  commit?: string;
  verification: VerificationPlan<S>;
  registry?: RegistryAuth<S>;
  slackWebhook?: S;
  runUrl?: string;
}

interface DeployArgs<S> {
  environment: Environment | string;
  kubeconfig: S;
  image?: string;
  commit?: string;
  branch?: string;
  githubRepository?: string;
  slackWebhook?: S;
  runUrl?: string;
  registryUsername?: string;
  registryPassword?: S;
  publicKey?: S;
}

const DEPLOY_IMAGE = { fn: "deploy", flag: "--image" };

/** `--image` as given, or the `<branch>-<sha7>` tag publish pushed for `--commit` on `--branch`. */
function deployReference(args: DeployArgs<unknown>, repository: string): { reference?: string; problems: ArgProblem[] } {
  const image = args.image?.trim();
  if (image) {
    return { reference: image.includes("/") ? image : image.startsWith("sha256:") ? `${repository}@${image}` : withTag(repository, image), problems: [] };
  }
  const commit = valid(commitSha, args.commit);
  const branch = args.branch?.trim().replace(/^refs\/heads\//, "");
  if (commit === undefined || !branch) return { problems: [] };
  const computed = computeImageTags({ ref: `refs/heads/${branch}`, event: "push", sha: commit });
  const tag = computed.tags.find((t) => t.endsWith(`-${computed.shortSha}`));
  if (!tag) return { problems: [{ arg: "branch", problem: "yields no <branch>-<sha7> tag", expected: "the branch the commit was built on, e.g. main or release/1.4" }] };
  return { reference: withTag(repository, tag), problems: [] };
}

/** The ref the image must be signed on: main for dev; for staging, --branch when given (a release/* branch). */
function deploySigningRef(environment: Environment | undefined, branchArg: string | undefined): { expected?: ExpectedRef; problems: ArgProblem[] } {
  const branch = branchArg?.trim().replace(/^refs\/heads\//, "") || undefined;
  if (environment === Environment.Dev) {
    if (branch !== undefined && branch !== "main") {
      return { problems: [{ arg: "branch", problem: "dev deploys images that the publish job of main signed", expected: "main (or no --branch with --image)" }] };
    }
    return { expected: expectedSigningRef({ environment }), problems: [] };
  }
  return environment === Environment.Staging ? stagingRef(branch) : { problems: [] };
}

export function parseDeployArgs<S>(context: DeployContext, args: DeployArgs<S>): DeployRequest<S> {
  const schema = z.object({
    environment: environmentName,
    kubeconfig: secret<S>(),
    image: nonEmpty("the image by digest, or its <branch>-<sha7> tag").optional(),
    commit: commitSha.optional(),
    branch: nonEmpty("a branch name").optional(),
    githubRepository: githubRepository.optional(),
    slackWebhook: secret<S>().optional(),
    runUrl: httpUrl.optional(),
    registryUsername: registryUsername.optional(),
    registryPassword: secret<S>().optional(),
    publicKey: secret<S>().optional(),
  });
  type A = typeof args;
  const notProduction: Rule<A> = (a) =>
    valid(environmentName, a.environment) === Environment.Production
      ? [{ arg: "environment", problem: "is production, which deployProduction --tag vX.Y.Z deploys (blue-green with canary analysis)", expected: "dev or staging" }]
      : [];
  const imageOrCommit: Rule<A> = (a) =>
    a.image === undefined && a.commit === undefined
      ? [{ arg: "image", problem: "is missing: deploy needs --image, or --commit with --branch", expected: "<repository>@sha256:<64 hex>, or the <branch>-<sha7> tag publish pushed" }]
      : [];
  let planned: { image: RequestedImage; verification: VerificationPlan<S> } | undefined;
  const withConfig: Rule<A> = (a) => {
    const environment = valid(environmentName, a.environment);
    const { repository, problems } = deployRepository(context, a.githubRepository);
    let image: RequestedImage | undefined;
    if (repository !== undefined && (a.image === undefined || typeof a.image === "string")) {
      const reference = deployReference(a, repository);
      problems.push(...reference.problems);
      if (reference.reference !== undefined) {
        try {
          image = requestedImage(reference.reference, repository, DEPLOY_IMAGE, COMMIT_TAG);
        } catch (e) {
          problems.push(...argProblemsOf(e, a.image !== undefined ? "image" : "branch"));
        }
      }
    }
    const ref = deploySigningRef(environment, typeof a.branch === "string" ? a.branch : undefined);
    problems.push(...ref.problems);
    const signer = verificationPlan("deploy", context, { expected: ref.expected, githubRepository: a.githubRepository, publicKey: a.publicKey, registry: rawRegistry(a) });
    problems.push(...signer.problems);
    if (image && signer.plan) planned = { image, verification: signer.plan };
    return firstPerArg(problems);
  };
  const rules: Rule<A>[] = [
    notProduction,
    imageOrCommit,
    conflicts("image", "commit", "--image names the image, --commit names it by its commit tag"),
    requires("commit", "branch", "the commit's tag is <branch>-<sha7>"),
    pair("registryUsername", "registryPassword", REGISTRY_PAIR),
    withConfig,
  ];
  const parsed = parseArgs("deploy", schema, args, rules);
  const registry = registryAuth(parsed.registryUsername, parsed.registryPassword);
  return {
    environment: parsed.environment as Environment.Dev | Environment.Staging,
    kubeconfig: parsed.kubeconfig,
    image: planned!.image,
    ...(parsed.commit !== undefined ? { commit: parsed.commit } : {}),
    verification: planned!.verification,
    ...(registry ? { registry } : {}),
    ...(parsed.slackWebhook !== undefined ? { slackWebhook: parsed.slackWebhook } : {}),
    ...(parsed.runUrl !== undefined ? { runUrl: parsed.runUrl } : {}),
  };
}

// ---- verifyImage

export interface VerifyImageRequest<S> {
  image: DigestReference;
  environment: Environment;
  verification: VerificationPlan<S>;
}

interface VerifyImageArgs<S> {
  image: string;
  environment: Environment | string;
  githubRepository?: string;
  tag?: string;
  branch?: string;
  registryUsername?: string;
  registryPassword?: S;
  publicKey?: S;
}

export function parseVerifyImageArgs<S>(context: DeployContext, args: VerifyImageArgs<S>): VerifyImageRequest<S> {
  const schema = z.object({
    image: nonEmpty("<registry>/<repository>@sha256:<64 hex>"),
    environment: environmentName,
    githubRepository: githubRepository.optional(),
    tag: releaseTag.optional(),
    branch: nonEmpty("a release/* branch").optional(),
    registryUsername: registryUsername.optional(),
    registryPassword: secret<S>().optional(),
    publicKey: secret<S>().optional(),
  });
  type A = typeof args;
  const onlyFor = (arg: "tag" | "branch", environment: Environment, what: string): Rule<A> => (a) => {
    const env = valid(environmentName, a.environment);
    return a[arg] !== undefined && env !== undefined && env !== environment
      ? [{ arg, problem: `is only for ${environment} (${what})`, expected: `no ${flagName(arg)} for ${env}` }]
      : [];
  };
  const productionTag: Rule<A> = (a) =>
    valid(environmentName, a.environment) === Environment.Production && a.tag === undefined
      ? [{ arg: "tag", problem: "is required for production: its images are signed on their release tag", expected: "vX.Y.Z" }]
      : [];
  let planned: { image: DigestReference; verification: VerificationPlan<S> } | undefined;
  const withConfig: Rule<A> = (a) => {
    const environment = valid(environmentName, a.environment);
    const { repository, problems } = deployRepository(context, a.githubRepository);
    let image: DigestReference | undefined;
    if (repository !== undefined && typeof a.image === "string" && a.image.trim() !== "") {
      try {
        image = deployableImage(a.image.trim(), repository, { fn: "verifyImage", flag: "--image" });
      } catch (e) {
        problems.push(...argProblemsOf(e, "image"));
      }
    }
    let expected: ExpectedRef | undefined;
    if (environment === Environment.Staging) {
      const ref = stagingRef(typeof a.branch === "string" ? a.branch : undefined);
      problems.push(...ref.problems);
      expected = ref.expected;
    } else if (environment === Environment.Dev) {
      expected = expectedSigningRef({ environment });
    } else if (environment === Environment.Production) {
      const tag = valid(releaseTag, a.tag);
      if (tag) expected = expectedSigningRef({ environment, releaseTag: tag.tag });
    }
    const signer = verificationPlan("verifyImage", context, { expected, githubRepository: a.githubRepository, publicKey: a.publicKey, registry: rawRegistry(a) });
    problems.push(...signer.problems);
    if (image && signer.plan) planned = { image, verification: signer.plan };
    return firstPerArg(problems);
  };
  const rules: Rule<A>[] = [
    productionTag,
    onlyFor("tag", Environment.Production, "the release tag its image was signed on"),
    onlyFor("branch", Environment.Staging, "the release branch its image was signed on"),
    pair("registryUsername", "registryPassword", REGISTRY_PAIR),
    withConfig,
  ];
  const parsed = parseArgs("verifyImage", schema, args, rules);
  return { image: planned!.image, environment: parsed.environment, verification: planned!.verification };
}

// ---- deployProduction

export interface ProductionRequest<S> {
  /** The release tag, vX.Y.Z. */
  tag: string;
  /** `<repository>:X.Y.Z`, the tag publish pushed: resolved to its digest by the pre-check. */
  tagReference: string;
  kubeconfig: S;
  registry?: RegistryAuth<S>;
  verification: VerificationPlan<S>;
  /** --prometheus-url, else environments.production.prometheus.url, else the API server proxy. */
  prometheus: PrometheusEndpoint;
  prometheusToken?: S;
  slackWebhook?: S;
  runUrl?: string;
}

interface ProductionArgs<S> {
  tag: string;
  kubeconfig: S;
  registryUsername?: string;
  registryPassword?: S;
  githubRepository?: string;
  prometheusUrl?: string;
  prometheusToken?: S;
  slackWebhook?: S;
  runUrl?: string;
  publicKey?: S;
}

export function parseDeployProductionArgs<S>(context: DeployContext, args: ProductionArgs<S>): ProductionRequest<S> {
  const schema = z.object({
    tag: releaseTag,
    kubeconfig: secret<S>(),
    registryUsername: registryUsername.optional(),
    registryPassword: secret<S>().optional(),
    githubRepository: githubRepository.optional(),
    prometheusUrl: httpUrl.optional(),
    prometheusToken: secret<S>().optional(),
    slackWebhook: secret<S>().optional(),
    runUrl: httpUrl.optional(),
    publicKey: secret<S>().optional(),
  });
  type A = typeof args;
  const configured = context.config.environments.production.prometheus.url;
  const tokenOverHttps: Rule<A> = (a) => {
    if (a.prometheusToken === undefined) return [];
    const url = a.prometheusUrl ?? configured;
    if (url === undefined) {
      return [{ arg: "prometheusToken", problem: "needs --prometheus-url (or environments.production.prometheus.url); the API server proxy uses the kubeconfig's credentials" }];
    }
    if (valid(httpUrl, url) === undefined || /^https:/i.test(url)) return [];
    return [{
      arg: "prometheusUrl",
      problem: `sends the --prometheus-token bearer token over plain http, refused${a.prometheusUrl === undefined ? " (environments.production.prometheus.url)" : ""}`,
      expected: "an https URL, or no token",
    }];
  };
  let planned: { tagReference: string; verification: VerificationPlan<S> } | undefined;
  const withConfig: Rule<A> = (a) => {
    const { repository, problems } = deployRepository(context, a.githubRepository);
    const tag = valid(releaseTag, a.tag);
    const expected = tag ? expectedSigningRef({ environment: Environment.Production, releaseTag: tag.tag }) : undefined;
    const signer = verificationPlan("deployProduction", context, { expected, githubRepository: a.githubRepository, publicKey: a.publicKey, registry: rawRegistry(a) });
    problems.push(...signer.problems);
    if (repository !== undefined && tag && signer.plan) planned = { tagReference: withTag(repository, tag.version), verification: signer.plan };
    return firstPerArg(problems);
  };
  const rules: Rule<A>[] = [pair("registryUsername", "registryPassword", REGISTRY_PAIR), tokenOverHttps, withConfig];
  const parsed = parseArgs("deployProduction", schema, args, rules);
  const prometheus = context.config.environments.production.prometheus;
  const url = (parsed.prometheusUrl ?? prometheus.url)?.replace(/\/+$/, "");
  const registry = registryAuth(parsed.registryUsername, parsed.registryPassword);
  return {
    tag: parsed.tag.tag,
    tagReference: planned!.tagReference,
    kubeconfig: parsed.kubeconfig,
    ...(registry ? { registry } : {}),
    verification: planned!.verification,
    prometheus: { ...(url ? { url } : {}), service: prometheus.service, namespace: prometheus.namespace, port: prometheus.port },
    ...(parsed.prometheusToken !== undefined ? { prometheusToken: parsed.prometheusToken } : {}),
    ...(parsed.slackWebhook !== undefined ? { slackWebhook: parsed.slackWebhook } : {}),
    ...(parsed.runUrl !== undefined ? { runUrl: parsed.runUrl } : {}),
  };
}

// ---- rollback, smoke

export interface RollbackRequest<S> {
  environment: Environment;
  kubeconfig: S;
  reason: string;
  slackWebhook?: S;
  runUrl?: string;
}

export function parseRollbackArgs<S>(args: { environment: Environment | string; kubeconfig: S; reason?: string; slackWebhook?: S; runUrl?: string }): RollbackRequest<S> {
  const schema = z.object({
    environment: environmentName,
    kubeconfig: secret<S>(),
    reason: z.string().optional(),
    slackWebhook: secret<S>().optional(),
    runUrl: httpUrl.optional(),
  });
  const parsed = parseArgs("rollback", schema, args);
  return {
    environment: parsed.environment,
    kubeconfig: parsed.kubeconfig,
    reason: parsed.reason?.trim() || "manual rollback",
    ...(parsed.slackWebhook !== undefined ? { slackWebhook: parsed.slackWebhook } : {}),
    ...(parsed.runUrl !== undefined ? { runUrl: parsed.runUrl } : {}),
  };
}

export interface SmokeRequest {
  /** Absent: the environment's configured URL. */
  url?: string;
  environment: Environment;
}

export function parseSmokeArgs(args: { url?: string; environment?: Environment | string }): SmokeRequest {
  const parsed = parseArgs("smoke", z.object({ url: httpUrl.optional(), environment: environmentName.optional() }), args);
  return { ...(parsed.url !== undefined ? { url: parsed.url.replace(/\/+$/, "") } : {}), environment: parsed.environment ?? Environment.Staging };
}
