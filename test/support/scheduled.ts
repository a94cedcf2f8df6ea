/** Scripts of the scheduled operations' recorded runs (benchmark, cleanup), shared by their tests and the tool-flag table. */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, type Dirent } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { createHash } from "node:crypto";
import type { ExecView } from "./recording-session";
import { healthyScript } from "./module";

export const criterion = (name: string) => readFileSync(new URL(`../fixtures/reports/criterion/${name}`, import.meta.url), "utf8");
export const HOME = "/bench-out/criterion";

/** A genuine criterion 0.5 result, optionally made slower by `factor` (every time multiplied). */
export function ahash(factor = 1): Record<string, string> {
  const doc = JSON.parse(criterion("v0.5-estimates-slope-null-hashes-ahash.json")) as Record<string, { point_estimate: number; confidence_interval: { lower_bound: number; upper_bound: number } } | null>;
  for (const stat of Object.values(doc)) {
    if (!stat) continue;
    stat.point_estimate *= factor;
    stat.confidence_interval.lower_bound *= factor;
    stat.confidence_interval.upper_bound *= factor;
  }
  return {
    "hashes/ahash/new/estimates.json": JSON.stringify(doc),
    "hashes/ahash/new/benchmark.json": criterion("v0.5-benchmark-hashes-ahash.json"),
  };
}

/** A previous run's criterion/ directory on disk, as the workflow downloads the artifact. */
export function baselineOnDisk(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "observatory-ci-baseline-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

export const isBench = (e: ExecView) => e.args[0] === "sh" && e.args.includes("bench") && e.args.includes("cargo");
const globMatches = (pattern: string, paths: string[]) => {
  const re = new RegExp(`^${pattern.replace(/\./g, "\\.").replace(/\*\*\//g, "\0").replace(/\*/g, "[^/]*").replace(/\0/g, "(?:.*/)?")}$`);
  return paths.filter((p) => re.test(p));
};
/** The files of a host directory, relative, as the engine's glob sees them. */
export const filesUnder = (dir: string): string[] =>
  (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));

/** criterion's output after the bench exec: `written` under CRITERION_HOME. */
export function benchScript(written: Record<string, string>, benchResult?: { exitCode: number; stderr: string }) {
  return healthyScript({
    exec: (e) => (isBench(e) ? (benchResult ?? { exitCode: 0, stdout: "Benchmarking Hashes/AHash\n" }) : undefined),
    file: (path) => {
      if (path === `${HOME}/`) return JSON.stringify(Object.keys(written));
      if (path.startsWith(`${HOME}/`)) return written[path.slice(HOME.length + 1)];
      return undefined;
    },
    leaf: (field, chain) => {
      if (field !== "glob") return undefined;
      const pattern = String(chain[chain.length - 1]!.args.pattern);
      const host = chain.find((s) => s.field === "directory" && chain[chain.indexOf(s) - 1]?.field === "host");
      return globMatches(pattern, host ? filesUnder(String(host.args.path)) : Object.keys(written));
    },
  });
}


const digest = (seed: string) => `sha256:${createHash("sha256").update(seed).digest("hex")}`;
const ago = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();
export const REPO = "ghcr.io/acme/observatory/analytics-api";
export const VERSIONS_PATH = "/orgs/acme/packages/container/observatory%2Fanalytics-api/versions";

/**
 * The registry: main's newest push (an index deployed to dev, its two platform manifests untagged), an older
 * main push (beyond keepTagsPerStream 1), a 400-day-old release running in production, a stale untagged version.
 */
export const V = {
  devIndex: { id: 11, name: digest("dev-index"), tags: ["main", "main-bbbbbbb"], age: 1 },
  devAmd64: { id: 12, name: digest("dev-amd64"), tags: [], age: 1 },
  devArm64: { id: 13, name: digest("dev-arm64"), tags: [], age: 1 },
  oldMain: { id: 21, name: digest("old-main"), tags: ["main-aaaaaaa"], age: 30 },
  release: { id: 31, name: digest("release"), tags: ["1.0.0", "1.0"], age: 400 },
  stale: { id: 41, name: digest("stale"), tags: [], age: 60 },
};
const listing = Object.values(V).map((v) => ({
  id: v.id,
  name: v.name,
  created_at: ago(v.age),
  updated_at: ago(v.age),
  metadata: { package_type: "container", container: { tags: v.tags } },
}));
const manifests: Record<string, string> = {
  [V.devIndex.name]: JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ digest: V.devAmd64.name }, { digest: V.devArm64.name }] }),
  [V.release.name]: JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { digest: digest("cfg") }, layers: [] }),
};
const deploymentRunning = (image: string) => JSON.stringify({ kind: "Deployment", spec: { template: { spec: { containers: [{ name: "analytics-api", image }] } } } });
const ARTIFACTS = { total_count: 2, artifacts: [
  { id: 501, name: "sbom-and-references", size_in_bytes: 2_000_000, expired: false, created_at: ago(45) },
  { id: 502, name: "benchmark-baseline", size_in_bytes: 10_000, expired: false, created_at: ago(60) },
] };
const CACHES = { total_count: 1, actions_caches: [{ id: 601, key: "cargo-registry-abc", size_in_bytes: 5_000_000, last_accessed_at: ago(10), created_at: ago(20) }] };

export const isCurl = (e: ExecView) => e.args[0] === "curl";
export const urlOf = (e: ExecView) => e.args[e.args.length - 1]!;
export const methodOf = (e: ExecView) => e.args[e.args.indexOf("-X") + 1];

export function clusterAndGitHub(overrides: { deployments?: Record<string, string | null>; crane?: (e: ExecView) => { exitCode: number; stdout?: string; stderr?: string } } = {}) {
  const deployments: Record<string, string | null> = {
    "llm-observatory-dev/analytics-api": deploymentRunning(`${REPO}@${V.devIndex.name}`),
    "llm-observatory-staging/analytics-api": deploymentRunning(`${REPO}:main-bbbbbbb`),
    "llm-observatory/analytics-api-blue": deploymentRunning(`${REPO}:1.0.0@${V.release.name}`),
    "llm-observatory/analytics-api-green": null,
    ...overrides.deployments,
  };
  return healthyScript({
    exec: (e) => {
      if (e.args[0] === "kubectl" && e.args.includes("deployment")) {
        const ns = e.args[e.args.indexOf("-n") + 1];
        const name = e.args[e.args.indexOf("deployment") + 1];
        const found = deployments[`${ns}/${name}`];
        return { exitCode: 0, stdout: found ?? "" };
      }
      if (e.args[0] === "/busybox/sh" && e.args[3] === "manifests") {
        if (overrides.crane) return overrides.crane(e);
        return { exitCode: 0, stdout: e.args.slice(5).map((d) => `\n=== manifest ${d}\n${manifests[d] ?? JSON.stringify({ schemaVersion: 2, config: {}, layers: [] })}`).join("") };
      }
      if (!isCurl(e)) return undefined;
      const url = new URL(urlOf(e));
      if (methodOf(e) === "DELETE") return { exitCode: 0, stdout: "" };
      if (url.pathname === "/users/acme") return { exitCode: 0, stdout: JSON.stringify({ login: "acme", type: "Organization" }) };
      if (url.pathname === VERSIONS_PATH) return { exitCode: 0, stdout: url.searchParams.get("page") === "1" ? JSON.stringify(listing) : "[]" };
      if (url.pathname.endsWith("/actions/artifacts")) return { exitCode: 0, stdout: JSON.stringify(ARTIFACTS) };
      if (url.pathname.endsWith("/actions/caches")) return { exitCode: 0, stdout: JSON.stringify(CACHES) };
      return { exitCode: 22, stdout: '{"message":"Not Found"}' };
    },
  });
}

