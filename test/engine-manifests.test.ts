/**
 * ci/engine: the shared Dagger engine for a team's runners, rendered with `kubectl kustomize`, and the
 * runner-side values (GitHub ARC scale set, GitLab Kubernetes executor) that point at it.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { DAGGER_VERSION } from "../.dagger/src/versions";

type K8sObject = Record<string, any>;

function render(dir: string): K8sObject[] {
  let out: string;
  try {
    out = execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
  } catch (error) {
    const failure = error as { code?: string; stderr?: string };
    if (failure.code === "ENOENT") throw new Error("kubectl is not installed: the manifest tests need it (it bundles kustomize)");
    throw new Error(`kubectl kustomize ${dir} failed: ${failure.stderr ?? String(error)}`);
  }
  return parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
}

const objects = render("ci/engine");
const one = (kind: string) => {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0];
};
const engine = one("StatefulSet");
const pod = engine.spec.template.spec;
const container = pod.containers.find((c: K8sObject) => c.name === "dagger-engine");
const service = one("Service");
const policy = one("NetworkPolicy");
const RUNNER_HOST = `tcp://${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local:${service.spec.ports[0].port}`;

describe("ci/engine (kubectl kustomize)", () => {
  it("renders a namespace, the engine's config, a StatefulSet, a Service and a NetworkPolicy, all in `dagger`", () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      expect.arrayContaining(["Namespace/dagger", "NetworkPolicy/dagger-engine", "Service/dagger-engine", "StatefulSet/dagger-engine"]),
    );
    for (const o of objects.filter((o) => o.kind !== "Namespace")) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe("dagger");
  });

  it("runs the engine image of the module's Dagger version, by exact tag", () => {
    expect(container.image).toBe(`registry.dagger.io/engine:v${DAGGER_VERSION}`);
    const daggerJson = JSON.parse(readFileSync("dagger.json", "utf8"));
    expect(daggerJson.engineVersion).toBe(`v${DAGGER_VERSION}`);
  });

  it("keeps its state on a persistent volume at /var/lib/dagger, retained when deleted or scaled", () => {
    expect(engine.spec.replicas).toBe(1);
    const claim = engine.spec.volumeClaimTemplates.find((c: K8sObject) => c.metadata.name === "data");
    expect(claim.spec.accessModes).toEqual(["ReadWriteOnce"]);
    expect(claim.spec.resources.requests.storage).toBe("200Gi");
    expect(container.volumeMounts).toEqual(expect.arrayContaining([{ name: "data", mountPath: "/var/lib/dagger" }]));
    expect(engine.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: "Retain", whenScaled: "Retain" });
  });

  it("bounds its cache below the volume: gc keeps at most 160 GB of the 200 Gi", () => {
    const config = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("dagger-engine-config"))!;
    const engineJson = JSON.parse(config.data["engine.json"]);
    expect(engineJson.gc).toEqual({ reservedSpace: "20GB", maxUsedSpace: "160GB", minFreeSpace: "15%" });
    const mount = container.volumeMounts.find((m: K8sObject) => m.mountPath === "/etc/dagger/engine.json");
    const volume = pod.volumes.find((v: K8sObject) => v.name === mount.name);
    expect(volume.configMap.name).toBe(config.metadata.name); // the generator's hashed name, so a config change restarts the engine
  });

  it("is probed with the engine's own CLI and given time to finish in-flight work", () => {
    for (const probe of [container.readinessProbe, container.livenessProbe]) expect(probe.exec.command).toEqual(["dagger", "core", "version"]);
    expect(pod.terminationGracePeriodSeconds).toBe(300);
  });

  it("requests resources for concurrent pipelines, limits memory only, and is the only privileged container", () => {
    expect(container.resources.requests).toMatchObject({ cpu: "8", memory: "32Gi" });
    expect(container.resources.limits).toEqual({ memory: "48Gi" });
    expect(container.securityContext).toEqual({ privileged: true });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(one("Namespace").metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("privileged");
  });

  it("listens on TCP 1234 behind a ClusterIP Service selecting the engine pod", () => {
    expect(container.args).toEqual(["--addr", "tcp://0.0.0.0:1234", "--addr", "unix:///run/dagger/engine.sock"]);
    expect(service.spec.type).toBe("ClusterIP");
    expect(service.spec.ports).toEqual([{ name: "dagger", port: 1234, targetPort: "dagger", protocol: "TCP" }]);
    expect(engine.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    expect(RUNNER_HOST).toBe("tcp://dagger-engine.dagger.svc.cluster.local:1234");
  });

  it("admits only the runner namespaces on 1234, and lets the engine reach DNS and the internet but not the cluster or cloud metadata", () => {
    expect(engine.spec.template.metadata.labels).toMatchObject(policy.spec.podSelector.matchLabels);
    expect(policy.spec.policyTypes).toEqual(["Ingress", "Egress"]);
    expect(policy.spec.ingress).toHaveLength(1);
    const [rule] = policy.spec.ingress;
    expect(rule.from).toEqual([{ namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: ["arc-runners", "gitlab-runners"] }] } }]);
    expect(rule.ports).toEqual([{ port: 1234, protocol: "TCP" }]);
    const internet = policy.spec.egress.find((e: K8sObject) => e.to[0].ipBlock);
    expect(internet.to[0].ipBlock.except).toEqual(expect.arrayContaining(["10.0.0.0/8", "169.254.0.0/16"]));
  });
});

describe("runners pointed at the shared engine", () => {
  const arc = parse(readFileSync("ci/engine/runners/github-arc-values.yaml", "utf8"));
  const gitlab = parse(readFileSync("ci/engine/runners/gitlab-runner-values.yaml", "utf8"));

  it("the ARC scale set's runner dials the engine Service, unprivileged, with its GitHub credentials in a Secret", () => {
    const runner = arc.template.spec.containers.find((c: K8sObject) => c.name === "runner");
    expect(runner.env).toEqual([{ name: "_EXPERIMENTAL_DAGGER_RUNNER_HOST", value: RUNNER_HOST }]);
    expect(runner.image).toMatch(/^ghcr\.io\/actions\/actions-runner:\d+\.\d+\.\d+$/);
    expect(runner.command).toEqual(["/home/runner/run.sh"]);
    expect(runner.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    expect(typeof arc.githubConfigSecret).toBe("string"); // the name of an existing Secret, not inline credentials
    expect(arc.maxRunners).toBeGreaterThan(0);
  });

  it("the GitLab Kubernetes executor gives job pods the engine's address, unprivileged, with its token in a Secret", () => {
    expect(gitlab.runners.secret).toBe("gitlab-runner-token");
    expect(gitlab.runners.config).toContain(`environment = ["_EXPERIMENTAL_DAGGER_RUNNER_HOST=${RUNNER_HOST}"]`);
    expect(gitlab.runners.config).toContain('namespace = "gitlab-runners"');
    expect(gitlab.runners.config).toContain("privileged = false");
  });

  it("both runner namespaces are the ones the engine's NetworkPolicy admits", () => {
    const admitted = policy.spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values;
    expect(admitted).toContain("arc-runners");
    expect(admitted).toContain("gitlab-runners");
    expect(readFileSync("ci/engine/runners/github-arc-values.yaml", "utf8")).toContain("--namespace arc-runners");
  });
});
