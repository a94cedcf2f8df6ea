/**
 * The deploy family's argument schemas (deploy, deployProduction, rollback, smoke, verifyImage): lib/args.ts
 * explains the parsing, function-args.ts holds the other functions' schemas. index.ts calls the parser first;
 * the stage receives the returned request. `S` is the engine's Secret type, opaque here.
 */
import { z } from "zod";
import {
  type ArgProblem,
  commitSha,
  conflicts,
  environmentName,
  githubRepository,
  httpUrl,
  nonEmpty,
  pair,
  parseArgs,
  registryUsername,
  releaseTag,
  requires,
  secret,
  type Rule,
} from "./args";
import { Environment } from "./deploy/environment";
import { COMMIT_TAG } from "./deploy/smoke";
import type { PrometheusEndpoint } from "./deploy/prometheus";
import type { ReleaseSafeguards } from "./deploy/safeguards";
import { deployableImage, requestedImage, type DigestReference, type RequestedImage } from "./deploy-image";
import { ConfigError, UsageError, errorMessage, flagName } from "./errors";
import { imageRepository, withTag } from "./image-ref";
import type { PipelineConfig } from "./pipeline-config";
import { ATTESTATION_TYPES, expectedSigningRef, signerPolicy, type AttestationType, type ExpectedRef, type SignerPolicy } from "./signing";

import { computeImageTags } from "./tags";

import { registryAuth, REGISTRY_PAIR, type RegistryAuth } from "./function-args";

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
  /** The commit the image must have been built from, when the caller names it. */
  workflowSha?: string;
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
    if (policy.mode === "keyless" && input.workflowSha !== undefined) policy = { ...policy, workflowSha: input.workflowSha };
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
  /** Where --commit lives (the Slack message links the commit's page). */
  githubRepository?: string;
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
    if (image.includes("/")) return { reference: image, problems: [] };
    if (image.startsWith("sha256:")) return { reference: `${repository}@${image}`, problems: [] };
    // `analytics-api:main-1a2b3c4`, `app@sha256:...`: a reference whose repository is missing, not a tag
    if (/[:@]/.test(image)) {
      return {
        problems: [
          {
            arg: "image",
            problem: "names no repository: give the full reference, or the bare digest or commit tag (the repository is image.registry / image.repository)",
            expected: `${repository}@sha256:<64 hex>, ${repository}:<branch>-<sha7>, sha256:<64 hex> or <branch>-<sha7>`,
          },
        ],
      };
    }
    return { reference: withTag(repository, image), problems: [] };
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
    const signer = verificationPlan("deploy", context, {
      expected: ref.expected,
      githubRepository: a.githubRepository,
      publicKey: a.publicKey,
      registry: rawRegistry(a),
      // --commit names the build: its signature must come from the run that built exactly that commit
      workflowSha: valid(commitSha, a.commit),
    });
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
    ...(parsed.githubRepository !== undefined ? { githubRepository: parsed.githubRepository } : {}),
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
  pagerdutyRoutingKey?: S;
  safeguards: ReleaseSafeguards;
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
  commit?: string;
  pagerdutyRoutingKey?: S;
  hotfix?: boolean;
  acceptRecentErrors?: boolean;
  reason?: string;
}

/** A waiver without a reason, or a reason without a waiver, is a usage error. */
const safeguardReason = <A extends { hotfix?: boolean; acceptRecentErrors?: boolean; reason?: string }>(a: A): ArgProblem[] => {
  const waived = [a.hotfix === true ? "--hotfix" : undefined, a.acceptRecentErrors === true ? "--accept-recent-errors" : undefined].filter(Boolean);
  if (waived.length > 0 && a.reason === undefined) {
    return [{ arg: "reason", problem: `is required with ${waived.join(" and ")}: the record, the release notes and Slack say why`, expected: "a non-blank reason, e.g. \"fix for INC-42: 5xx on /v1/traces\"" }];
  }
  if (waived.length === 0 && a.reason !== undefined) {
    return [{ arg: "reason", problem: "explains a waived safeguard, but none is waived", expected: "--hotfix or --accept-recent-errors with it, or no --reason" }];
  }
  return [];
};

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
    commit: commitSha.optional(),
    pagerdutyRoutingKey: secret<S>().optional(),
    hotfix: z.boolean().optional(),
    acceptRecentErrors: z.boolean().optional(),
    reason: z.string().optional(),
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
    const signer = verificationPlan("deployProduction", context, {
      expected,
      githubRepository: a.githubRepository,
      publicKey: a.publicKey,
      registry: rawRegistry(a),
      // --commit: the tag's commit (cd-production.yml's verify-tag): the signing run must have built exactly it
      workflowSha: valid(commitSha, a.commit),
    });
    problems.push(...signer.problems);
    if (repository !== undefined && tag && signer.plan) planned = { tagReference: withTag(repository, tag.version), verification: signer.plan };
    return firstPerArg(problems);
  };
  const rules: Rule<A>[] = [pair("registryUsername", "registryPassword", REGISTRY_PAIR), tokenOverHttps, withConfig, safeguardReason];
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
    ...(parsed.pagerdutyRoutingKey !== undefined ? { pagerdutyRoutingKey: parsed.pagerdutyRoutingKey } : {}),
    safeguards: {
      hotfix: parsed.hotfix === true,
      acceptRecentErrors: parsed.acceptRecentErrors === true,
      ...(parsed.reason !== undefined ? { reason: parsed.reason.trim() } : {}),
    },
  };
}

// ---- rollback, smoke

export interface RollbackRequest<S> {
  environment: Environment;
  kubeconfig: S;
  reason: string;
  slackWebhook?: S;
  runUrl?: string;
  pagerdutyRoutingKey?: S;
}

export function parseRollbackArgs<S>(args: {
  environment: Environment | string;
  kubeconfig: S;
  reason?: string;
  slackWebhook?: S;
  runUrl?: string;
  pagerdutyRoutingKey?: S;
}): RollbackRequest<S> {
  const schema = z.object({
    environment: environmentName,
    kubeconfig: secret<S>(),
    reason: z.string().optional(),
    slackWebhook: secret<S>().optional(),
    runUrl: httpUrl.optional(),
    pagerdutyRoutingKey: secret<S>().optional(),
  });
  const parsed = parseArgs("rollback", schema, args);
  return {
    environment: parsed.environment,
    kubeconfig: parsed.kubeconfig,
    reason: parsed.reason?.trim() || "manual rollback",
    ...(parsed.slackWebhook !== undefined ? { slackWebhook: parsed.slackWebhook } : {}),
    ...(parsed.runUrl !== undefined ? { runUrl: parsed.runUrl } : {}),
    ...(parsed.pagerdutyRoutingKey !== undefined ? { pagerdutyRoutingKey: parsed.pagerdutyRoutingKey } : {}),
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
