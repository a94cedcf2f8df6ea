import { describe, expect, it } from "vitest";
import { ABORT_PATCH, imagePatch, previousTemplatePatch } from "../../.dagger/src/lib/deploy/argo-patches";

const rollout = { metadata: { name: "analytics-api" }, spec: { template: { spec: { containers: [{ name: "proxy", image: "envoy:1" }, { name: "analytics-api", image: "old" }] } } } };

describe("Argo Rollouts patches (as kubectl-argo-rollouts v1.9.1 sends them)", () => {
  it("abort: the merge patch of cmd/abort/abort.go", () => {
    expect(ABORT_PATCH).toBe('{"status":{"abort":true}}');
  });

  it("image: tests the container's name at its index, then replaces its image", () => {
    expect(JSON.parse(imagePatch(rollout, "analytics-api", "repo@sha256:ab"))).toEqual([
      { op: "test", path: "/spec/template/spec/containers/1/name", value: "analytics-api" },
      { op: "replace", path: "/spec/template/spec/containers/1/image", value: "repo@sha256:ab" },
    ]);
    expect(() => imagePatch(rollout, "api", "x")).toThrow('Rollout analytics-api has no container "api" (environments.production.container); it has proxy, analytics-api');
  });

  it("undo: the second-newest revision's template without the pod-template-hash label; none with one revision", () => {
    const rs = (revision: string, image: string) => ({
      metadata: { annotations: { "rollout.argoproj.io/revision": revision } },
      spec: { template: { metadata: { labels: { app: "a", "rollouts-pod-template-hash": `h${revision}` } }, spec: { containers: [{ name: "analytics-api", image }] } } },
    });
    const restore = previousTemplatePatch([rs("3", "v3"), rs("10", "v10"), rs("9", "v9")], "analytics-api")!;
    expect(restore.revision).toBe(9);
    expect(restore.image).toBe("v9");
    expect(JSON.parse(restore.patch)).toEqual([{ op: "replace", path: "/spec/template", value: { metadata: { labels: { app: "a" } }, spec: { containers: [{ name: "analytics-api", image: "v9" }] } } }]);
    expect(previousTemplatePatch([rs("1", "v1")], "analytics-api")).toBeNull();
  });
});
