import { describe, expect, it } from "vitest";
import { dag } from "@dagger.io/dagger";
import { IMAGES } from "../../.dagger/src/versions";
import { canarySecret, type ExecView } from "../support/recording-session";
import { REPO, V, VERSIONS_PATH, clusterAndGitHub, isCurl, methodOf, urlOf } from "../support/scheduled";
import { failureOf, sourceWithConfig, startPerTest } from "../support/module";

const start = startPerTest();

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

describe("cleanup under argo-rollouts", () => {
  it("protects the Rollout's image and every revision its ReplicaSets keep, read from the controller's objects", async () => {
    const base = clusterAndGitHub();
    // versions that --apply deletes under the blue-green layout (see above): here the Rollout and its previous revision run them
    const rollout = {
      kind: "Rollout",
      spec: { selector: { matchLabels: { app: "analytics-api" } }, template: { spec: { containers: [{ name: "analytics-api", image: `${REPO}:main-aaaaaaa@${V.oldMain.name}` }] } } },
    };
    const previous = { kind: "ReplicaSet", spec: { template: { spec: { containers: [{ name: "analytics-api", image: `${REPO}@${V.stale.name}` }] } } } };
    const script = {
      ...base,
      exec: (e: ExecView) => {
        const line = e.args.join(" ");
        if (e.args[0] === "kubectl" && line.includes("get rollout analytics-api")) return { exitCode: 0, stdout: JSON.stringify(rollout) };
        if (e.args[0] === "kubectl" && line.includes("get replicasets -l app=analytics-api")) return { exitCode: 0, stdout: JSON.stringify({ items: [previous] }) };
        return base.exec?.(e);
      },
    };
    const { session, call } = await start(script, sourceWithConfig({ ...CONFIG, environments: { production: { strategy: "argo-rollouts" } } }));
    const report = await call((ci) => {
      const s = secrets();
      return ci.cleanup(s.kubeconfig, s.token, "acme/observatory", undefined, true);
    });
    const production = session.execs.filter((e) => e.args[0] === "kubectl" && e.args[e.args.indexOf("-n") + 1] === "llm-observatory").map((e) => e.args.join(" "));
    expect(production.some((l) => / deployment /.test(l))).toBe(false);
    expect(production.some((l) => l.includes("get replicasets -l app=analytics-api -o json"))).toBe(true);
    expect(deletions(session.execs).sort()).toEqual(["/repos/acme/observatory/actions/artifacts/501", "/repos/acme/observatory/actions/caches/601"].sort());
    expect(report).toContain("image versions: 0 deleted, 6 kept");
    expect(report).toContain("deployed in production");
  });
});
