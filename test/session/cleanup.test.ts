import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { dag } from "@dagger.io/dagger";
import { IMAGES } from "../../.dagger/src/versions";
import { canarySecret, type ExecView } from "../support/recording-session";
import { failureOf, healthyScript, sourceWithConfig, startPerTest } from "../support/module";

const start = startPerTest();

const digest = (seed: string) => `sha256:${createHash("sha256").update(seed).digest("hex")}`;
const ago = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();
const REPO = "ghcr.io/acme/observatory/analytics-api";
const VERSIONS_PATH = "/orgs/acme/packages/container/observatory%2Fanalytics-api/versions";

/**
 * The registry: main's newest push (an index deployed to dev, its two platform manifests untagged), an older
 * main push (beyond keepTagsPerStream 1), a 400-day-old release running in production, a stale untagged version.
 */
const V = {
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

const isCurl = (e: ExecView) => e.args[0] === "curl";
const urlOf = (e: ExecView) => e.args[e.args.length - 1]!;
const methodOf = (e: ExecView) => e.args[e.args.indexOf("-X") + 1];

function clusterAndGitHub(overrides: { deployments?: Record<string, string | null>; crane?: (e: ExecView) => { exitCode: number; stdout?: string; stderr?: string } } = {}) {
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

const CONFIG = { cleanup: { keepTagsPerStream: 1, untaggedDays: 14 } };
const secrets = () => ({ kubeconfig: dag.setSecret("kubeconfig", canarySecret("kubeconfig")), token: dag.setSecret("github-token", canarySecret("github")) });
const deletions = (execs: ExecView[]) => execs.filter((e) => isCurl(e) && methodOf(e) === "DELETE").map((e) => new URL(urlOf(e)).pathname);

describe("cleanup", () => {
  it("dry run by default: reports what would go and why each kept version stays, deletes nothing", async () => {
    const { session, call } = await start(clusterAndGitHub(), sourceWithConfig(CONFIG));
    const report = await call((ci) => {
      const s = secrets();
      return ci.cleanup(s.kubeconfig, s.token, "acme/observatory");
    });
    expect(deletions(session.execs)).toEqual([]);
    expect(report).toContain("image versions: 2 would be deleted (dry run: call with --apply to delete), 4 kept");
    expect(report).toContain("deployed in dev");
    expect(report).toContain("deployed in staging as :main-bbbbbbb");
    expect(report).toContain(`listed by kept index ${V.devIndex.name}`);
    expect(report).toContain("release tag 1.0.0");
    expect(report).toContain("workflow artifacts: 1 would be deleted");
    expect(report).toContain("caches: 1 would be deleted");
    // the manifests of the versions kept for themselves were read with crane, pinned (the platform images are kept through their index)
    const crane = session.execs.find((e) => e.args[3] === "manifests")!;
    expect(crane.image).toBe(IMAGES.crane);
    expect(crane.args.slice(4, 5)).toEqual([REPO]);
    expect(crane.args.slice(5).sort()).toEqual([V.devIndex.name, V.release.name].sort());
    // the token is a mounted secret file of the pinned curl, on every request
    for (const e of session.execs.filter(isCurl)) {
      expect(e.image).toBe(IMAGES.curl);
      expect(e.secretFiles["/run/secrets/github-token"]).toBe("github-token");
      expect(e.env.OBSERVATORY_CI_RUN).toBeDefined();
    }
  });

  it("--apply deletes exactly the planned versions, artifacts and caches, never a deployed or released one", async () => {
    const { session, call } = await start(clusterAndGitHub(), sourceWithConfig(CONFIG));
    const report = await call((ci) => {
      const s = secrets();
      return ci.cleanup(s.kubeconfig, s.token, "acme/observatory", undefined, true);
    });
    expect(deletions(session.execs).sort()).toEqual(
      [`${VERSIONS_PATH}/${V.oldMain.id}`, `${VERSIONS_PATH}/${V.stale.id}`, "/repos/acme/observatory/actions/artifacts/501", "/repos/acme/observatory/actions/caches/601"].sort(),
    );
    expect(report).toContain("image versions: 2 deleted, 4 kept");
  });

  it("deletes nothing when an environment's deployment cannot be read, or a manifest cannot", async () => {
    const missing = await start(clusterAndGitHub({ deployments: { "llm-observatory-staging/analytics-api": null } }), sourceWithConfig(CONFIG));
    const error = await failureOf(missing.call((ci) => { const s = secrets(); return ci.cleanup(s.kubeconfig, s.token, "acme/observatory", undefined, true); }));
    expect(error.message).toMatch(/cleanup: environment staging: no deployment analytics-api in namespace llm-observatory-staging; refusing to clean up/);
    expect(deletions(missing.session.execs)).toEqual([]);

    const denied = await start(clusterAndGitHub({ crane: () => ({ exitCode: 1, stderr: "UNAUTHORIZED: authentication required" }) }), sourceWithConfig(CONFIG));
    const craneError = await failureOf(denied.call((ci) => { const s = secrets(); return ci.cleanup(s.kubeconfig, s.token, "acme/observatory", undefined, true); }));
    expect(craneError.message).toMatch(/cleanup: reading the manifests of ghcr\.io\/acme\/observatory\/analytics-api failed \(exit 1\): UNAUTHORIZED/);
    expect(deletions(denied.session.execs)).toEqual([]);
  });

  it("refuses a bad repository or a lone registry user before any container starts", async () => {
    const { session, call } = await start(clusterAndGitHub());
    const error = await failureOf(call((ci) => { const s = secrets(); return ci.cleanup(s.kubeconfig, s.token, "not a repo", ["qa"], false, "bot"); }));
    expect(error.message).toContain("cleanup --github-repository:");
    expect(error.message).toContain("cleanup --environments");
    expect(error.message).toContain("cleanup --registry-password: is missing");
    expect(session.execs).toEqual([]);
  });
});
