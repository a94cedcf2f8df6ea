import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { environmentsConfigSchema } from "../.dagger/src/lib/config/environments";
import { canaryIngress, greenFromBlue, liveColour } from "../.dagger/src/lib/deploy/bluegreen";
import { ENVIRONMENTS, Environment } from "../.dagger/src/lib/deploy/environment";
import { parseConcatenatedJson } from "./support/kubectl-rbac";

type K8sObject = Record<string, any>;

/**
 * `kubectl kustomize` prints YAML. `kubectl create --dry-run=client -o json` needs an API server for
 * discovery, but `kubectl patch --local` converts offline: an empty merge patch leaves each object unchanged.
 */
function render(environment: Environment): K8sObject[] {
  const kubectl = (args: string[], input?: string) => {
    try {
      return execFileSync("kubectl", args, { cwd: process.cwd(), encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
    } catch (error) {
      const failure = error as { code?: string; stderr?: string };
      if (failure.code === "ENOENT") throw new Error("kubectl is not installed: the manifest tests need it (it bundles kustomize)");
      throw new Error(`kubectl ${args.join(" ")} failed: ${failure.stderr ?? String(error)}`);
    }
  };
  const yaml = kubectl(["kustomize", `ci/k8s/overlays/${environment}`]);
  return parseConcatenatedJson(kubectl(["patch", "--local", "-f", "-", "--type", "merge", "-p", "{}", "-o", "json"], yaml));
}

const config = environmentsConfigSchema.parse({});
const rendered = Object.fromEntries(ENVIRONMENTS.map((environment) => [environment, render(environment)])) as Record<Environment, K8sObject[]>;
const ofKind = (objects: K8sObject[], kind: string) => objects.filter((object) => object.kind === kind);
const named = (objects: K8sObject[], kind: string, name: string) => {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map((object) => `${object.kind}/${object.metadata.name}`).join(", ")}`);
  return found;
};

describe.each(ENVIRONMENTS)("overlay %s", (environment) => {
  const objects = rendered[environment];
  const settings = config[environment];
  const deployments = ofKind(objects, "Deployment");

  it("puts every object in the environment's namespace", () => {
    expect(objects.length).toBeGreaterThanOrEqual(3);
    for (const object of objects) expect(object.metadata.namespace, `${object.kind}/${object.metadata.name}`).toBe(settings.namespace);
  });

  it("runs the configured container with probes, requests and limits", () => {
    for (const deployment of deployments) {
      const pod = deployment.spec.template.spec;
      const container = pod.containers.find((candidate: K8sObject) => candidate.name === settings.container);
      expect(container, deployment.metadata.name).toBeDefined();
      expect(container.ports).toContainEqual({ name: "http", containerPort: 8080, protocol: "TCP" });
      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        expect(probe.httpGet).toEqual({ path: "/health", port: "http" });
      }
      expect(Object.keys(container.resources.requests).sort()).toEqual(["cpu", "memory"]);
      expect(Object.keys(container.resources.limits).sort()).toEqual(["cpu", "memory"]);
      expect(container.image).toMatch(/^[^:]+\/analytics-api:[\w.-]+$/);
      expect(container.image).not.toMatch(/:latest$/);
    }
  });

  it("hardens every container", () => {
    for (const deployment of deployments) {
      const pod = deployment.spec.template.spec;
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(pod.securityContext.seccompProfile).toEqual({ type: "RuntimeDefault" });
      expect(pod.automountServiceAccountToken).toBe(false);
      for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
        const security = container.securityContext;
        expect(security.runAsNonRoot, container.name).toBe(true);
        expect(security.readOnlyRootFilesystem, container.name).toBe(true);
        expect(security.allowPrivilegeEscalation, container.name).toBe(false);
        expect(security.capabilities.drop, container.name).toEqual(["ALL"]);
        expect(security.capabilities.add, container.name).toBeUndefined();
        expect(security.seccompProfile, container.name).toEqual({ type: "RuntimeDefault" });
      }
    }
  });

  it("labels each Deployment with one colour on its metadata, selector and pods", () => {
    for (const deployment of deployments) {
      const colour = deployment.metadata.labels.color;
      expect(["blue", "green"]).toContain(colour);
      expect(deployment.spec.selector.matchLabels).toEqual({ app: "analytics-api", color: colour });
      expect(deployment.spec.template.metadata.labels).toMatchObject({ app: "analytics-api", color: colour });
    }
  });

  it("routes the public Service to a running colour", () => {
    const service = named(objects, "Service", settings.service);
    const colour = liveColour(service);
    expect(service.spec.selector).toEqual({ app: "analytics-api", color: colour });
    const target = deployments.filter((deployment) =>
      Object.entries(service.spec.selector).every(([key, value]) => deployment.spec.template.metadata.labels[key] === value),
    );
    expect(target).toHaveLength(1);
    expect(target[0].spec.replicas).toBeGreaterThan(0);
    expect(service.spec.ports).toEqual([{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }]);
  });

  it("exposes the environment's public host through the nginx Ingress", () => {
    const [ingress] = ofKind(objects, "Ingress");
    expect(ofKind(objects, "Ingress")).toHaveLength(1);
    const host = new URL(settings.url).host;
    expect(ingress.spec.ingressClassName).toBe("nginx");
    expect(ingress.spec.rules.map((rule: K8sObject) => rule.host)).toEqual([host]);
    expect(ingress.spec.tls[0].hosts).toEqual([host]);
    expect(ingress.spec.rules[0].http.paths[0].backend).toEqual({ service: { name: settings.service, port: { number: 80 } } });
  });
});

describe.each([Environment.Dev, Environment.Staging])("overlay %s (rolling update)", (environment) => {
  it("has the single Deployment the pipeline updates", () => {
    const deployments = ofKind(rendered[environment], "Deployment");
    expect(deployments.map((deployment) => deployment.metadata.name)).toEqual([config[environment].deployment]);
    expect(deployments[0].spec.template.spec.containers.map((container: K8sObject) => container.name)).toEqual([config[environment].container]);
  });
});

describe("overlay production (blue-green)", () => {
  const objects = rendered[Environment.Production];
  const { deployment, service, container, ingress } = config.production;
  const blue = named(objects, "Deployment", `${deployment}-blue`);
  const green = named(objects, "Deployment", `${deployment}-green`);

  it("has both colours, blue live and green idle", () => {
    expect(ofKind(objects, "Deployment").map((object) => object.metadata.name).sort()).toEqual(["analytics-api-blue", "analytics-api-green"]);
    expect(blue.metadata.labels.color).toBe("blue");
    expect(green.metadata.labels.color).toBe("green");
    expect(blue.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(green.spec.replicas).toBe(0);
    expect(liveColour(named(objects, "Service", service))).toBe("blue");
  });

  it("has one Service per colour for the canary and the smoke test", () => {
    for (const colour of ["blue", "green"]) {
      expect(named(objects, "Service", `${service}-${colour}`).spec.selector).toEqual({ app: "analytics-api", color: colour });
    }
  });

  it("agrees with greenFromBlue: deriving green from the rendered blue gives the rendered green", () => {
    const image = blue.spec.template.spec.containers[0].image;
    const derived = greenFromBlue(blue, { colour: "green", image, container }) as K8sObject;
    expect({ ...derived, spec: { ...derived.spec, replicas: 0 } }).toEqual(green);
  });

  it("yields a canary Ingress whose backend Service exists", () => {
    const canary = canaryIngress(named(objects, "Ingress", ingress), 5, `${service}-green`) as K8sObject;
    const backend = canary.spec.rules[0].http.paths[0].backend.service;
    const target = named(objects, "Service", backend.name);
    expect(target.spec.ports.map((port: K8sObject) => port.port)).toContain(backend.port.number);
    expect(canary.metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]).toBe("5");
  });
});

describe.each(ENVIRONMENTS)("overlay %s: NetworkPolicies", (environment) => {
  const objects = rendered[environment];
  const policies = ofKind(objects, "NetworkPolicy");
  const selects = (policy: K8sObject, type: "Ingress" | "Egress") => policy.spec.policyTypes.includes(type);
  const namespacePeer = (namespace: string, pods: Record<string, string>) => ({
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
    podSelector: { matchLabels: pods },
  });

  it("select every pod of the service, for both directions", () => {
    expect(policies.map((policy) => policy.metadata.name).sort()).toEqual(["analytics-api-egress", "analytics-api-from-api-server", "analytics-api-ingress"]);
    for (const deployment of ofKind(objects, "Deployment")) {
      const pods = deployment.spec.template.metadata.labels;
      for (const type of ["Ingress", "Egress"] as const) {
        const selecting = policies.filter((policy) => selects(policy, type) && Object.entries(policy.spec.podSelector.matchLabels).every(([key, value]) => pods[key] === value));
        expect(selecting.length, `${deployment.metadata.name} ${type}`).toBeGreaterThan(0);
      }
    }
  });

  it("admit only the ingress controller, Prometheus and the API server's proxy, on the http port", () => {
    const rules = policies.filter((policy) => selects(policy, "Ingress")).flatMap((policy) => policy.spec.ingress);
    for (const rule of rules) {
      expect(rule.from?.length, "a rule without `from` admits every source").toBeGreaterThan(0);
      expect(rule.ports).toEqual([{ port: "http", protocol: "TCP" }]);
    }
    const peers = rules.flatMap((rule) => rule.from);
    expect(peers).toHaveLength(3);
    expect(peers).toEqual(expect.arrayContaining([
      namespacePeer("ingress-nginx", { "app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller" }),
      namespacePeer(config.production.prometheus.namespace, { "app.kubernetes.io/name": "prometheus", "app.kubernetes.io/component": "server" }),
      { ipBlock: { cidr: "192.0.2.0/24" } },
    ]));
    for (const deployment of ofKind(objects, "Deployment")) {
      const container = deployment.spec.template.spec.containers[0];
      expect(container.ports.map((port: K8sObject) => port.name)).toContain("http");
    }
  });

  it("let the pods reach only DNS, the database and Redis", () => {
    const rules = policies.filter((policy) => selects(policy, "Egress")).flatMap((policy) => policy.spec.egress);
    for (const rule of rules) expect(rule.ports?.length, "a rule without ports reaches every port").toBeGreaterThan(0);
    expect(rules).toEqual([
      {
        to: [namespacePeer("kube-system", { "k8s-app": "kube-dns" })],
        ports: [
          { port: 53, protocol: "UDP" },
          { port: 53, protocol: "TCP" },
        ],
      },
      { ports: [{ port: 5432, protocol: "TCP" }] },
      { ports: [{ port: 6379, protocol: "TCP" }] },
    ]);
  });
});
