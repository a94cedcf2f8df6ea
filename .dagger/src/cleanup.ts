/**
 * Retention of images, workflow artifacts and caches (lib/retention.ts decides). Everything is read first
 * (the images each environment runs, the package's versions, the manifests of kept versions, artifacts,
 * caches); nothing is deleted unless every read succeeded and --apply was given.
 */
import { dag, type Container, type Secret } from "@dagger.io/dagger";
import type { Pipeline } from "./pipeline";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import { WRITE_DOCKER_CONFIG, publishRepository, withDockerConfig } from "./registry";
import { curlSecretArgs, getObject, kubectlOk, withCurlSecret, type KubeTarget } from "./deploy-support";
import { selectorOf } from "./production-argo";
import { GITHUB_API } from "./github";
import type { Clock } from "./lib/clock";
import { tail } from "./lib/errors";
import { COLOURS, colouredName } from "./lib/deploy/bluegreen";
import { containerImage, requireContainerImage } from "./lib/deploy/deployment-image";
import type { Environment } from "./lib/deploy/environment";
import { GITHUB_PAGE_SIZE, ghcrPackage, parseArtifacts, parseCaches, parsePackageVersions } from "./lib/github-packages";
import {
  MANIFEST_MARKER,
  cleanupReport,
  expiredCiItems,
  manifestsToRead,
  planRetention,
  splitManifests,
  type CiItem,
  type DeployedImage,
  type ImageVersion,
} from "./lib/retention";
import type { CleanupRequest } from "./lib/scheduled-args";

const TOKEN_SECRET = "github-token";

/** The GitHub REST API through the pinned curl, the token a mounted secret file (deploy-support.ts withCurlSecret). */
class GitHubApi {
  private readonly ctr: Container;
  constructor(p: Pipeline, token: Secret) {
    this.ctr = withCurlSecret(dag.container().from(p.config.images.curl), TOKEN_SECRET, token);
  }

  async call(method: "GET" | "DELETE", path: string, what: string): Promise<string> {
    const args = [
      "curl", "--fail-with-body", "--silent", "--show-error", "--max-time", "60", "-X", method,
      ...curlSecretArgs(TOKEN_SECRET, "header", "Authorization: Bearer {{secret}}"),
      "-H", "Accept: application/vnd.github+json", "-H", "X-GitHub-Api-Version: 2022-11-28",
      `${GITHUB_API}${path}`,
    ];
    // registry and repository state change between calls: every request really runs
    const outcome = await outcomeOf(runAllowingFailure(withRunNonce(this.ctr), args));
    if (outcome.exitCode !== 0) {
      throw new Error(`cleanup: GitHub API ${what} failed (${method} ${path}, curl exit ${outcome.exitCode}): ${tail((outcome.stdout + "\n" + outcome.stderr).trim(), 10)}`);
    }
    return outcome.stdout;
  }

  /** Every page of a listing: pages of 100 until a short one. */
  async pages<T>(path: string, what: string, parse: (text: string, where: string) => { items: T[] }): Promise<T[]> {
    const all: T[] = [];
    for (let page = 1; ; page++) {
      const sep = path.includes("?") ? "&" : "?";
      const url = `${path}${sep}per_page=${GITHUB_PAGE_SIZE}&page=${page}`;
      const { items } = parse(await this.call("GET", url, what), `GET ${url}`);
      all.push(...items);
      if (items.length < GITHUB_PAGE_SIZE) return all;
    }
  }
}

/**
 * Where an image repository's versions are listed and deleted. GitHub's packages API is the one client so
 * far; another registry gets its own implementation of this interface.
 */
export interface RegistryVersions {
  list(): Promise<ImageVersion[]>;
  remove(version: ImageVersion): Promise<void>;
}

/** ghcr.io: GET/DELETE /{orgs|users}/{owner}/packages/container/{package}/versions (REST API 2022-11-28). */
async function githubPackageVersions(api: GitHubApi, repository: string): Promise<RegistryVersions> {
  const { owner, packageName } = ghcrPackage(repository);
  const account = JSON.parse(await api.call("GET", `/users/${owner}`, `reading account ${owner}`)) as { type?: string };
  const base = `/${account.type === "Organization" ? "orgs" : "users"}/${owner}/packages/container/${encodeURIComponent(packageName)}/versions`;
  return {
    list: () => api.pages(base, `listing the versions of ${repository}`, (text, where) => ({ items: parsePackageVersions(text, where) })),
    remove: async (version) => {
      await api.call("DELETE", `${base}/${version.id}`, `deleting version ${version.id} (${version.digest}) of ${repository}`);
    },
  };
}

function registryVersions(api: GitHubApi, repository: string): Promise<RegistryVersions> {
  if (repository.startsWith("ghcr.io/")) return githubPackageVersions(api, repository);
  throw new Error(`cleanup: no registry client for ${repository}: image retention uses GitHub's packages API (ghcr.io) only, and no other registry client exists yet`);
}

/**
 * The images each environment runs, as the daily scan reads them; production's both colours, since the idle
 * one is what a rollback switches back to. A missing Deployment fails the cleanup: its image would be unprotected.
 */
async function deployedImages(p: Pipeline, kubeconfig: Secret, environments: readonly Environment[]): Promise<DeployedImage[]> {
  const found = await Promise.all(
    environments.map(async (environment) => {
      const env = p.config.environments[environment];
      const target = { environment, namespace: env.namespace, kubeconfig };
      if (environment === "production" && p.config.environments.production.strategy === "argo-rollouts") return rolloutImages(p, target, env.deployment, env.container);
      const names = environment === "production" ? COLOURS.map((c) => colouredName(env.deployment, c)) : [env.deployment];
      const objects = await Promise.all(names.map((name) => getObject(p, target, "deployment", name)));
      const images = objects.flatMap((object, i) =>
        object === null ? [] : [{ environment, image: requireContainerImage(object, env.container, `cleanup: environment ${environment}: deployment ${names[i]} in namespace ${env.namespace}`) }],
      );
      if (images.length === 0) {
        throw new Error(`cleanup: environment ${environment}: no deployment ${names.join(" or ")} in namespace ${env.namespace}; refusing to clean up without knowing what it runs`);
      }
      return images;
    }),
  );
  return found.flat();
}

/**
 * Under Argo Rollouts: the Rollout's pod template and every ReplicaSet the controller keeps for it (its revision
 * history: `rollback` restores a previous revision's template), all protected. A missing Rollout fails the cleanup.
 */
async function rolloutImages(p: Pipeline, target: KubeTarget & { environment: Environment }, name: string, container: string): Promise<DeployedImage[]> {
  const rollout = await getObject(p, target, "rollout", name);
  if (rollout === null) {
    throw new Error(`cleanup: environment production: no rollout ${name} in namespace ${target.namespace}; refusing to clean up without knowing what it runs`);
  }
  const replicaSets = JSON.parse(await kubectlOk(p, target, ["get", "replicasets", "-l", selectorOf(rollout), "-o", "json"])) as { items?: unknown[] };
  const images = [rollout, ...(replicaSets.items ?? [])].map((object) => containerImage(object, container)).filter((image): image is string => image !== undefined);
  return [...new Set(images)].map((image) => ({ environment: target.environment, image }));
}

/** One crane run printing each manifest after a marker line; any failure fails it (nothing is deleted). */
async function readManifests(p: Pipeline, repository: string, digests: string[], auth?: { username: string; password: Secret }): Promise<Map<string, string[]>> {
  if (digests.length === 0) return new Map();
  const script = [
    'export PATH="$PATH:/ko-app:/busybox"',
    WRITE_DOCKER_CONFIG,
    'repo="$1"; shift',
    'for d in "$@"; do',
    `  printf '\\n${MANIFEST_MARKER} %s\\n' "$d"`,
    '  crane manifest "$repo@$d"',
    "done",
  ].join("\n");
  const ctr = withDockerConfig(dag.container().from(p.config.images.crane), "ghcr.io", auth?.username, auth?.password);
  const outcome = await outcomeOf(runAllowingFailure(withRunNonce(ctr), ["/busybox/sh", "-euc", script, "manifests", repository, ...digests]));
  if (outcome.exitCode !== 0) {
    throw new Error(`cleanup: reading the manifests of ${repository} failed (exit ${outcome.exitCode}): ${tail(outcome.stderr || outcome.stdout, 10)}`);
  }
  return splitManifests(outcome.stdout, digests);
}

/** The dry run (or, with --apply, the deletion) and its report. */
export async function cleanup(p: Pipeline, request: CleanupRequest<Secret>, clock: Clock): Promise<string> {
  const now = new Date(clock.now());
  const policy = p.config.cleanup;
  const { artifactDays, cacheDays, keepLatestArtifacts } = p.config.cleanup;
  const repository = publishRepository(p, { githubRepository: request.githubRepository }, "cleanup");
  const api = new GitHubApi(p, request.githubToken);
  const registry = await registryVersions(api, repository);
  const repo = `/repos/${request.githubRepository}/actions`;

  const [deployed, versions, artifactList, cacheList] = await Promise.all([
    deployedImages(p, request.kubeconfig, request.environments),
    registry.list(),
    api.pages(`${repo}/artifacts`, "listing workflow artifacts", parseArtifacts),
    api.pages(`${repo}/caches`, "listing Actions caches", parseCaches),
  ]);
  const retention = { versions, deployed, policy: { untaggedDays: policy.untaggedDays, keepTagsPerStream: policy.keepTagsPerStream, now } };
  const manifests = await readManifests(p, repository, manifestsToRead(retention), request.registry);
  const images = planRetention({ ...retention, manifests });
  const artifacts = expiredCiItems(artifactList, artifactDays, now, keepLatestArtifacts);
  const caches = expiredCiItems(cacheList, cacheDays, now);

  if (request.apply) {
    // one at a time: the API rate-limits, and a failure stops the run with what was already deleted reported by GitHub
    for (const d of images.filter((x) => !x.keep)) await registry.remove(d.version);
    for (const a of artifacts) await api.call("DELETE", `${repo}/artifacts/${a.id}`, `deleting artifact ${a.name} (${a.id})`);
    for (const c of caches) await api.call("DELETE", `${repo}/caches/${c.id}`, `deleting cache ${cacheLabel(c)}`);
  }
  return cleanupReport({ repository, applied: request.apply, images, artifacts, caches, policy });
}

function cacheLabel(c: CiItem): string {
  return `${c.name} (${c.id})`;
}
