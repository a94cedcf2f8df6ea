/**
 * GitHub's REST answers the cleanup reads (API version 2022-11-28, docs.github.com/rest/packages/packages,
 * /rest/actions/artifacts, /rest/actions/cache):
 *   GET /{orgs|users}/{owner}/packages/container/{package}/versions  -> [{ id, name: "sha256:...", created_at, metadata: { container: { tags } } }]
 *   GET /repos/{owner}/{repo}/actions/artifacts                         -> { total_count, artifacts: [{ id, name, size_in_bytes, created_at, expired }] }
 *   GET /repos/{owner}/{repo}/actions/caches                            -> { total_count, actions_caches: [{ id, key, size_in_bytes, last_accessed_at }] }
 * Pages hold at most 100 entries (`per_page=100&page=N`).
 */
import type { CiItem, ImageVersion } from "./retention";

export const GITHUB_PAGE_SIZE = 100;

function parse(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${where}: GitHub answered something that is not JSON: ${text.slice(0, 200)}`);
  }
}

function date(value: unknown, where: string): Date {
  const d = typeof value === "string" ? new Date(value) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new Error(`${where}: expected an ISO date, found ${JSON.stringify(value)}`);
  return d;
}

function id(value: unknown, where: string): string {
  if (typeof value !== "number" || !Number.isInteger(value)) throw new Error(`${where}: expected a numeric id, found ${JSON.stringify(value)}`);
  return String(value);
}

/** One page of a container package's versions. */
export function parsePackageVersions(text: string, where: string): ImageVersion[] {
  const page = parse(text, where);
  if (!Array.isArray(page)) throw new Error(`${where}: expected a list of package versions`);
  return page.map((v: { id?: unknown; name?: unknown; created_at?: unknown; metadata?: { container?: { tags?: unknown } } }, i) => {
    const at = `${where}[${i}]`;
    const tags = v.metadata?.container?.tags ?? [];
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string")) throw new Error(`${at}: metadata.container.tags is not a list of strings`);
    if (typeof v.name !== "string") throw new Error(`${at}: no name (the version's digest)`);
    return { id: id(v.id, `${at}.id`), digest: v.name, tags: tags as string[], createdAt: date(v.created_at, `${at}.created_at`) };
  });
}

/** One page of workflow artifacts; already expired ones (GitHub keeps their record) are left out. */
export function parseArtifacts(text: string, where: string): { total: number; items: CiItem[] } {
  const doc = parse(text, where) as { total_count?: unknown; artifacts?: unknown };
  if (!Array.isArray(doc?.artifacts) || typeof doc.total_count !== "number") throw new Error(`${where}: expected { total_count, artifacts }`);
  const items = (doc.artifacts as Array<{ id?: unknown; name?: unknown; size_in_bytes?: unknown; created_at?: unknown; expired?: unknown }>)
    .filter((a) => a.expired !== true)
    .map((a, i) => ({
      id: id(a.id, `${where}.artifacts[${i}].id`),
      name: String(a.name),
      at: date(a.created_at, `${where}.artifacts[${i}].created_at`),
      sizeBytes: Number(a.size_in_bytes ?? 0),
    }));
  return { total: doc.total_count, items };
}

/** One page of Actions caches, aged by their last access. */
export function parseCaches(text: string, where: string): { total: number; items: CiItem[] } {
  const doc = parse(text, where) as { total_count?: unknown; actions_caches?: unknown };
  if (!Array.isArray(doc?.actions_caches) || typeof doc.total_count !== "number") throw new Error(`${where}: expected { total_count, actions_caches }`);
  const items = (doc.actions_caches as Array<{ id?: unknown; key?: unknown; size_in_bytes?: unknown; last_accessed_at?: unknown }>).map((c, i) => ({
    id: id(c.id, `${where}.actions_caches[${i}].id`),
    name: String(c.key),
    at: date(c.last_accessed_at, `${where}.actions_caches[${i}].last_accessed_at`),
    sizeBytes: Number(c.size_in_bytes ?? 0),
  }));
  return { total: doc.total_count, items };
}

/**
 * The package path of an image repository on ghcr.io: `ghcr.io/<owner>/<rest>` is package `<rest>` of
 * `<owner>` (the API wants the slash in a nested name URL-encoded).
 */
export function ghcrPackage(repository: string): { owner: string; packageName: string } {
  const m = /^ghcr\.io\/([^/]+)\/(.+)$/.exec(repository);
  if (!m) throw new Error(`not a ghcr.io image repository: ${JSON.stringify(repository)} (expected ghcr.io/<owner>/<name>)`);
  return { owner: m[1]!.toLowerCase(), packageName: m[2]! };
}
