/**
 * OCI image references: `[registry/]path[:tag][@sha256:<64 hex>]`, following the grammar of
 * distribution/reference (the parser docker, crane and cosign share): path components are lowercase
 * `[a-z0-9]+` joined by `.`, `_`, `__` or dashes; a tag is `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; the name
 * (registry + path) is at most 255 characters. As in docker, the first component is a registry only when it
 * contains `.` or `:` or is `localhost`; otherwise the registry is docker.io (and `library/` is added to a
 * one-component path there). Unlike docker, a capitalised first component (`Acme/app`) is not taken for a
 * registry but reported as an uppercase path, which is what such a value almost always is.
 */

import { isValidTag } from "./tags";

export const DEFAULT_REGISTRY = "ghcr.io";
export const DEFAULT_IMAGE_NAME = "analytics-api";
const DOCKER_HUB = "docker.io";
const NAME_MAX_LENGTH = 255;

export interface ImageReference {
  /** Registry host[:port], e.g. `ghcr.io`, `localhost:5000`. */
  registry: string;
  /** Path inside the registry, e.g. `acme/observatory/analytics-api`. */
  repository: string;
  tag?: string;
  /** `sha256:<64 lowercase hex>`. */
  digest?: string;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const REGISTRY = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

function refError(value: string, why: string): Error {
  return new Error(`invalid image reference ${JSON.stringify(value)}: ${why}`);
}

/** Throws unless `registry` is a host name, IPv4 or [IPv6] address, with an optional port. */
export function validateRegistry(registry: string): void {
  if (!REGISTRY.test(registry)) {
    throw new Error(`invalid registry ${JSON.stringify(registry)}: expected a host name with an optional :port, e.g. ghcr.io or localhost:5000`);
  }
}

/** Throws unless `path` is a valid repository path (lowercase components separated by `/`). */
export function validateRepositoryPath(path: string): void {
  if (path.length === 0) throw new Error("invalid repository path \"\": it is empty");
  for (const component of path.split("/")) {
    if (PATH_COMPONENT.test(component)) continue;
    if (PATH_COMPONENT.test(component.toLowerCase())) {
      throw new Error(
        `invalid repository path ${JSON.stringify(path)}: repository names must be lowercase ` +
          `(${JSON.stringify(component)}; use ${JSON.stringify(path.toLowerCase())})`,
      );
    }
    throw new Error(
      `invalid repository path ${JSON.stringify(path)}: component ${JSON.stringify(component)} must be lowercase letters ` +
        `and digits, separated by ".", "_", "__" or "-" (and not start or end with one)`,
    );
  }
}

export function validateDigest(digest: string): void {
  if (!SHA256_DIGEST.test(digest)) {
    throw new Error(`invalid digest ${JSON.stringify(digest)}: expected sha256: followed by 64 lowercase hex characters`);
  }
}

function validateTag(tag: string): void {
  if (!isValidTag(tag)) {
    throw new Error(
      `invalid tag ${JSON.stringify(tag)}: a tag is 1 to 128 characters of letters, digits, "_", "." and "-", ` +
        `and does not start with "." or "-"`,
    );
  }
}

function splitRegistry(name: string): { registry: string; repository: string } {
  const slash = name.indexOf("/");
  const first = slash === -1 ? "" : name.slice(0, slash);
  const isRegistry = slash !== -1 && (first.includes(".") || first.includes(":") || first === "localhost");
  if (!isRegistry) {
    const repository = name.includes("/") ? name : `library/${name}`;
    return { registry: DOCKER_HUB, repository };
  }
  const registry = first === "index.docker.io" ? DOCKER_HUB : first;
  let repository = name.slice(slash + 1);
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`;
  return { registry, repository };
}

export function parseImageReference(reference: string): ImageReference {
  if (typeof reference !== "string" || reference.length === 0) throw refError(String(reference ?? ""), "it is empty");
  if (/\s/.test(reference)) throw refError(reference, "it contains whitespace");

  let rest = reference;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!SHA256_DIGEST.test(digest)) {
      throw refError(reference, `digest ${JSON.stringify(digest)} is not sha256: followed by 64 lowercase hex characters`);
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) {
      throw refError(reference, `tag ${JSON.stringify(tag)} must be 1 to 128 of [A-Za-z0-9_.-] and not start with "." or "-"`);
    }
  }
  if (rest.length === 0) throw refError(reference, "the repository name is missing");
  if (rest.length > NAME_MAX_LENGTH) throw refError(reference, `the name is longer than ${NAME_MAX_LENGTH} characters`);

  const { registry, repository } = splitRegistry(rest);
  try {
    validateRegistry(registry);
    validateRepositoryPath(repository);
  } catch (error) {
    throw refError(reference, (error as Error).message);
  }
  const parsed: ImageReference = { registry, repository };
  if (tag !== undefined) parsed.tag = tag;
  if (digest !== undefined) parsed.digest = digest;
  return parsed;
}

export function formatImageReference(reference: ImageReference): string {
  let text = `${reference.registry}/${reference.repository}`;
  if (reference.tag !== undefined) text += `:${reference.tag}`;
  if (reference.digest !== undefined) text += `@${reference.digest}`;
  return text;
}

/** A repository without tag or digest, normalised (`docker.io/library/...` spelled out); anything else throws. */
export function bareRepository(repository: string): string {
  const parsed = parseImageReference(repository);
  if (parsed.tag !== undefined || parsed.digest !== undefined) {
    throw new Error(`expected a repository without tag or digest, got ${JSON.stringify(repository)}`);
  }
  return formatImageReference({ registry: parsed.registry, repository: parsed.repository });
}

/** `ghcr.io/acme/app` + `1.2.3` -> `ghcr.io/acme/app:1.2.3` (both validated). */
export function withTag(repository: string, tag: string): string {
  bareRepository(repository);
  validateTag(tag);
  return `${repository}:${tag}`;
}

/**
 * The plan's image repository `ghcr.io/<owner>/<repo>/analytics-api`, from GITHUB_REPOSITORY (`owner/repo`),
 * lowercased because GitHub names may contain capitals and OCI repositories may not.
 */
export function defaultImageRepository(
  githubRepository: string | undefined,
  registry: string = DEFAULT_REGISTRY,
  imageName: string = DEFAULT_IMAGE_NAME,
): string {
  if (!githubRepository) {
    throw new Error("cannot derive the image repository: GITHUB_REPOSITORY is not set (set image.repository in the config)");
  }
  if (!/^[^/\s]+\/[^/\s]+$/.test(githubRepository)) {
    throw new Error(`cannot derive the image repository: GITHUB_REPOSITORY=${JSON.stringify(githubRepository)} is not owner/repo`);
  }
  validateRegistry(registry);
  const path = `${githubRepository.toLowerCase()}/${imageName}`;
  try {
    validateRepositoryPath(path);
  } catch (error) {
    throw new Error(`cannot derive the image repository from GITHUB_REPOSITORY=${JSON.stringify(githubRepository)}: ${(error as Error).message}`);
  }
  return `${registry}/${path}`;
}

/**
 * The one resolver of the image repository (`registry/path`) images are pushed to and deployed from: the
 * repository path when given, else the plan's default from GitHub's owner/name.
 */
export function imageRepository(input: { registry: string; repository?: string; githubRepository?: string }): string {
  if (input.repository === undefined) return defaultImageRepository(input.githubRepository, input.registry);
  validateRegistry(input.registry);
  validateRepositoryPath(input.repository);
  return `${input.registry}/${input.repository}`;
}
