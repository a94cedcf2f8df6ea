/**
 * ci/k8s/rbac against what the module really runs: the deployment, rollback and daily-scan plans are
 * recorded on the fake cluster, every kubectl command is turned into the API requests kubectl 1.31
 * makes (test/support/kubectl-rbac.ts), and (a) each request is allowed by the Role of its namespace,
 * (b) each thing a Role grants is used by some request, (c) nothing is a wildcard or cluster-scoped. The
 * argo-rollouts strategy's deploy and rollback plans are checked the same way against its own Role
 * (ci/k8s/rbac/production-argo-rollouts), and a cleanup run against cleanup's (ci/k8s/rbac/cleanup).
 */
import { describe, expect, it } from "vitest";
import { dag } from "@dagger.io/dagger";
import { Environment } from "../../.dagger/src/lib/deploy/environment";
import { environmentsConfigSchema } from "../../.dagger/src/lib/config/environments";
import { MANIFEST_PATH } from "../../.dagger/src/deploy-support";
import { canarySecret, type ExecView, type Script } from "../support/recording-session";
import { GOOD, failureOf, healthyScript, sourceWithConfig, startPerTest } from "../support/module";
import { analysisTemplate, rolloutSteps } from "../../.dagger/src/lib/deploy/argo-analysis";
import { FakeArgoController } from "./argo-fake-controller";
import { clusterAndGitHub } from "../support/scheduled";
import {
  RBAC_ENVIRONMENTS,
  allowedBy,
  describeRequest,
  grants,
  kubectlRequests,
  pipelineRoles,
  renderKustomization,
  rolesOf,
  type Role,
  type ApiRequest,
} from "../support/kubectl-rbac";
import { bootstrappedProduction, FakeClock, FakeCluster, isLive, newFile, OLD_DIGEST, PINNED, promVector, REPO } from "./deploy-fake-cluster";

const start = startPerTest();
/** Every run on a fake clock: the canary window and the grace period take no time. */
const startRun = (script: Parameters<typeof start>[0], source: string) => start(script, source, { clock: new FakeClock() });

const config = environmentsConfigSchema.parse({});
/** A distinct sha256 digest per label, for the registry's tags. */
const digestOf = (label: string) => `sha256:${label.padEnd(64, "0")}`;
const kubeconfig = () => dag.setSecret("kubeconfig", canarySecret("kubeconfig"));

/** The fake cluster for kubectl and the endpoints, the healthy scanners for everything else (scanDeployed). */
function scriptOf(cluster: FakeCluster): Script {
  const clusterScript = cluster.script();
  const scanners = healthyScript();
  return {
    exec: (e) => (["trivy", "cargo"].some((tool) => e.args.includes(tool)) ? scanners.exec!(e) : clusterScript.exec!(e)),
    file: (path, exec, chain) => clusterScript.file!(path, exec, chain) ?? scanners.file!(path, exec, chain),
  };
}

function requestsOf(execs: ExecView[]): { command: string; requests: ApiRequest[] }[] {
  return execs
    .filter((e) => e.args[0] === "kubectl")
    .map((e) => {
      const manifest = e.args.includes(MANIFEST_PATH) ? JSON.parse(newFile(e.chain, MANIFEST_PATH) ?? "null") : undefined;
      return { command: e.args.join(" "), requests: kubectlRequests(e.args, manifest) };
    });
}

function rollingCluster(environment: "dev" | "staging"): FakeCluster {
  const cluster = new FakeCluster({ namespace: config[environment].namespace });
  cluster.addDeployment(config[environment].deployment, `${REPO}:main-0a0b0c0`, 1);
  return cluster;
}

function productionCluster(): FakeCluster {
  const cluster = bootstrappedProduction(config.production.namespace);
  cluster.prometheus = (query) => promVector(query.includes("histogram_quantile") ? "0.21" : "0");
  return cluster;
}

/** Every plan that talks to a cluster, recorded: deploy, its undo, rollback, deployProduction (both colours, a failed canary, a failed rollout), production rollback, scanDeployed. */
async function recordPlans(): Promise<{ command: string; requests: ApiRequest[] }[]> {
  const execs: ExecView[] = [];
  for (const environment of ["dev", "staging"] as const) {
    const cluster = rollingCluster(environment);
    const { call, session } = await startRun(scriptOf(cluster), GOOD);
    await call((ci) => ci.deploy(environment as Environment, kubeconfig(), `${REPO}:main-1a2b3c4`, undefined, undefined, "acme/observatory"));
    cluster.tags.set("main-2b3c4d5", digestOf("2b3c"));
    cluster.failingImages.add(`${REPO}@${digestOf("2b3c")}`);
    await failureOf(call((ci) => ci.deploy(environment as Environment, kubeconfig(), `${REPO}:main-2b3c4d5`, undefined, undefined, "acme/observatory")));
    await call((ci) => ci.rollback(environment as Environment, kubeconfig(), "recorded for RBAC"));
    execs.push(...session.execs);
  }
  {
    const cluster = productionCluster();
    for (const version of ["1.4.0", "1.5.0", "1.6.0", "1.7.0"]) cluster.tags.set(version, digestOf(version.replace(/\./g, "")));
    const { call, session } = await startRun(scriptOf(cluster), GOOD);
    await call((ci) => ci.deployProduction("v1.4.0", kubeconfig(), undefined, undefined, "acme/observatory"));
    // blue still names the 1.3.0 tag: the rollback pins it to the digest it ran (set image), then scales it up
    await call((ci) => ci.rollback(Environment.Production, kubeconfig(), "recorded for RBAC"));
    await call((ci) => ci.deployProduction("v1.5.0", kubeconfig(), undefined, undefined, "acme/observatory"));
    cluster.prometheus = (query) => promVector(isLive(query) ? "0" : "0.5"); // live traffic healthy, the canary fails
    await failureOf(call((ci) => ci.deployProduction("v1.6.0", kubeconfig(), undefined, undefined, "acme/observatory")));
    cluster.failingImages.add(`${REPO}@${digestOf("170")}`);
    await failureOf(call((ci) => ci.deployProduction("v1.7.0", kubeconfig(), undefined, undefined, "acme/observatory")));
    execs.push(...session.execs);
  }
  {
    // the rollback that interrupts a canary: the canary Ingress exists, green runs the candidate
    const cluster = productionCluster();
    cluster.addDeployment("analytics-api-green", `${REPO}:1.4.0`, 3, { color: "green" });
    cluster.put({
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { name: "analytics-api-canary", annotations: { "nginx.ingress.kubernetes.io/canary": "true" } },
      spec: { rules: [{ host: "a", http: { paths: [{ path: "/", backend: { service: { name: "analytics-api-green", port: { number: 80 } } } }] } }] },
    });
    const { call, session } = await startRun(scriptOf(cluster), GOOD);
    await call((ci) => ci.rollback(Environment.Production, kubeconfig(), "recorded for RBAC"));
    execs.push(...session.execs);
  }
  {
    // scanDeployed reads every environment; one fake cluster holds the objects of all three
    const cluster = productionCluster();
    cluster.addDeployment("analytics-api", `${REPO}:main-1a2b3c4`, 1);
    const { call, session } = await startRun(scriptOf(cluster), GOOD);
    await call((ci) => ci.scanDeployed(kubeconfig()));
    execs.push(...session.execs);
  }
  return requestsOf(execs);
}

const ARGO_CONFIG = { environments: { production: { strategy: "argo-rollouts" } } };

/** The Argo Rollouts controller of test/session/deploy-production-argo.test.ts, on its own fake cluster and clock. */
function argoController(clock: FakeClock): FakeArgoController {
  const namespace = config.production.namespace;
  const cluster = new FakeCluster({ namespace });
  cluster.addIngress("analytics-api", "analytics.llm-observatory.example");
  const production = environmentsConfigSchema.parse(ARGO_CONFIG.environments).production;
  const argo = new FakeArgoController(cluster, clock, `${REPO}@${OLD_DIGEST}`, rolloutSteps(production));
  argo.analysisTemplate = { ...analysisTemplate(production, "80"), metadata: { name: "analytics-api-canary", namespace, generation: 1 } };
  return argo;
}

/** deployProduction and rollback with strategy argo-rollouts: a healthy release, its undo, a failed analysis, a rollback aborting a release in flight. */
async function recordArgoPlans(): Promise<{ command: string; requests: ApiRequest[] }[]> {
  const execs: ExecView[] = [];
  const kubeconfigOnly = (ci: any) => ci.deployProduction("v1.4.0", kubeconfig(), undefined, undefined, "acme/observatory");
  {
    const clock = new FakeClock();
    const argo = argoController(clock);
    const { call, session } = await start(argo.script(), sourceWithConfig(ARGO_CONFIG), { clock });
    await call(kubeconfigOnly);
    await call((ci) => ci.rollback(Environment.Production, kubeconfig(), "recorded for RBAC"));
    execs.push(...session.execs);
  }
  {
    const clock = new FakeClock();
    const argo = argoController(clock);
    argo.outcome = "analysis-fails";
    const { call, session } = await start(argo.script(), sourceWithConfig(ARGO_CONFIG), { clock });
    await failureOf(call(kubeconfigOnly));
    execs.push(...session.execs);
  }
  {
    const clock = new FakeClock();
    const argo = argoController(clock);
    argo.rollout.spec.template.spec.containers[0].image = PINNED;
    argo.rollout.status = { ...argo.rollout.status, phase: "Progressing", currentPodHash: "hash2" };
    const { call, session } = await start(argo.script(), sourceWithConfig(ARGO_CONFIG), { clock });
    await call((ci) => ci.rollback(Environment.Production, kubeconfig(), "recorded for RBAC"));
    execs.push(...session.execs);
  }
  return requestsOf(execs);
}

/** cleanup, dry run, on the fake clusters of the three environments (test/session/cleanup.test.ts). */
async function recordCleanup(): Promise<{ command: string; requests: ApiRequest[] }[]> {
  const { call, session } = await start(clusterAndGitHub(), GOOD);
  await call((ci) => ci.cleanup(kubeconfig(), dag.setSecret("github-token", canarySecret("github")), "acme/observatory"));
  return requestsOf(session.execs);
}

/**
 * (a) every request is allowed by one of `roles`, (b) every grant of `roles` is used. An unnamed grant
 * counts as used by a named request only for the resources in `generatedNames`, whose names nobody knows
 * before the request.
 */
function unexplained(plans: { command: string; requests: ApiRequest[] }[], roles: Role[], generatedNames: string[] = []) {
  const denied = plans.flatMap(({ command, requests }) =>
    requests.filter((request) => !allowedBy(roles, request)).map((request) => `${describeRequest(request)} (kubectl ${command})`),
  );
  const used = plans.flatMap((plan) => plan.requests);
  const covers = (grant: ApiRequest, request: ApiRequest) => {
    const { name, ...unnamed } = request;
    if (grant.name === undefined && name !== undefined && generatedNames.includes(`${grant.group}/${grant.resource}`)) return JSON.stringify(unnamed) === JSON.stringify(grant);
    return JSON.stringify(request) === JSON.stringify(grant);
  };
  const unused = roles.flatMap((role) =>
    grants(role)
      .filter(({ request }) => !used.some((u) => covers(request, u)))
      .map(({ request }) => `${role.namespace}/${role.name}: ${describeRequest(request)}`),
  );
  return { denied, unused, used };
}

function expectNamespacedReadOnlyObjects(objects: Record<string, any>[], serviceAccount: { name: string; namespace: string }) {
  expect(new Set(objects.map((o) => o.kind))).toEqual(new Set(["ServiceAccount", "Role", "RoleBinding"]));
  const roles = new Set(objects.filter((o) => o.kind === "Role").map((o) => `${o.metadata.namespace}/${o.metadata.name}`));
  for (const binding of objects.filter((o) => o.kind === "RoleBinding")) {
    expect(binding.roleRef).toMatchObject({ apiGroup: "rbac.authorization.k8s.io", kind: "Role" });
    expect(roles.has(`${binding.metadata.namespace}/${binding.roleRef.name}`), binding.metadata.name).toBe(true);
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", ...serviceAccount }]);
  }
  for (const role of objects.filter((o) => o.kind === "Role")) {
    for (const rule of role.rules) {
      for (const field of ["apiGroups", "resources", "verbs", "resourceNames"]) expect(rule[field] ?? [], `${role.metadata.name} ${field}`).not.toContain("*");
      expect(rule.nonResourceURLs).toBeUndefined();
    }
  }
}

describe("ci/k8s/rbac/production-argo-rollouts: production with strategy argo-rollouts", () => {
  it("renders the production ServiceAccount with one namespaced Role and its RoleBinding, no wildcard", () => {
    const objects = renderKustomization("ci/k8s/rbac/production-argo-rollouts");
    expectNamespacedReadOnlyObjects(objects, { name: "observatory-ci-deployer", namespace: config.production.namespace });
    expect(objects.filter((o) => o.kind === "Role").map((o) => o.metadata.namespace)).toEqual([config.production.namespace]);
  });

  it("(a) allows every API request of the recorded Argo deploy and rollback plans, (b) grants nothing they do not use", async () => {
    const plans = await recordArgoPlans();
    // AnalysisRuns: the controller names them <rollout>-<pod-template-hash>-<revision>[-<infix>] (argoproj/argo-rollouts
    // v1.9.1 rollout/analysis.go newAnalysisRunFromRollout), so their get cannot be restricted by name.
    const { denied, unused, used } = unexplained(plans, rolesOf("ci/k8s/rbac/production-argo-rollouts"), ["argoproj.io/analysisruns"]);
    expect(denied).toEqual([]);
    expect(unused).toEqual([]);
    // the plans set the image, undo, abort through the status subresource and read the analysis
    for (const expected of [
      { group: "argoproj.io", resource: "rollouts", verb: "patch", name: "analytics-api" },
      { group: "argoproj.io", resource: "rollouts/status", verb: "patch", name: "analytics-api" },
      { group: "argoproj.io", resource: "analysistemplates", verb: "get", name: "analytics-api-canary" },
      { group: "apps", resource: "replicasets", verb: "list" },
    ]) {
      expect(used).toContainEqual({ namespace: config.production.namespace, ...expected });
    }
    expect(used.some((r) => r.resource === "analysisruns" && r.verb === "get")).toBe(true);
  });

  it("the pipeline strategy's Roles do not allow the Argo plans: the argo-rollouts strategy needs its own Role", async () => {
    const plans = await recordArgoPlans();
    expect(unexplained(plans, pipelineRoles()).denied).not.toEqual([]);
  });
});

describe("ci/k8s/rbac/cleanup: cleanup's read-only identity", () => {
  it("renders one ServiceAccount and, per environment's namespace, a Role reading only its Deployments", () => {
    const objects = renderKustomization("ci/k8s/rbac/cleanup");
    expectNamespacedReadOnlyObjects(objects, { name: "observatory-ci-cleanup", namespace: config.production.namespace });
    const roles = objects.filter((o) => o.kind === "Role");
    expect(roles.map((o) => o.metadata.namespace).sort()).toEqual(RBAC_ENVIRONMENTS.map((e) => config[e].namespace).sort());
    for (const role of roles) for (const rule of role.rules) expect(rule.verbs).toEqual(["get"]);
  });

  it("(a) allows every API request of the recorded cleanup, (b) grants nothing it does not use", async () => {
    const plans = await recordCleanup();
    const { denied, unused, used } = unexplained(plans, rolesOf("ci/k8s/rbac/cleanup"));
    expect(denied).toEqual([]);
    expect(unused).toEqual([]);
    expect(new Set(used.map((r) => r.namespace))).toEqual(new Set(RBAC_ENVIRONMENTS.map((e) => config[e].namespace)));
  });
});

describe("ci/k8s/rbac: the pipeline identities' Roles", () => {

  it("renders, per environment, a ServiceAccount, Roles and RoleBindings only: namespaced, no wildcard", () => {
    for (const environment of RBAC_ENVIRONMENTS) {
      const objects = renderKustomization(`ci/k8s/rbac/${environment}`);
      const namespace = config[environment].namespace;
      expect(new Set(objects.map((o) => o.kind)), environment).toEqual(new Set(["ServiceAccount", "Role", "RoleBinding"]));
      const [account] = objects.filter((o) => o.kind === "ServiceAccount");
      expect(account.metadata, environment).toMatchObject({ name: "observatory-ci-deployer", namespace });
      const roles = new Map(objects.filter((o) => o.kind === "Role").map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o]));
      for (const binding of objects.filter((o) => o.kind === "RoleBinding")) {
        expect(binding.roleRef, environment).toMatchObject({ apiGroup: "rbac.authorization.k8s.io", kind: "Role" });
        expect(roles.has(`${binding.metadata.namespace}/${binding.roleRef.name}`), `${environment}: ${binding.metadata.name}`).toBe(true);
        expect(binding.subjects, environment).toEqual([{ kind: "ServiceAccount", name: "observatory-ci-deployer", namespace }]);
      }
      for (const role of roles.values()) {
        expect(role.metadata.namespace === namespace || (environment === "production" && role.metadata.namespace === config.production.prometheus.namespace)).toBe(true);
        for (const rule of role.rules) {
          for (const field of ["apiGroups", "resources", "verbs", "resourceNames"]) {
            expect(rule[field] ?? [], `${environment} ${role.metadata.name} ${field}`).not.toContain("*");
          }
          expect(rule.nonResourceURLs, `${environment} ${role.metadata.name}`).toBeUndefined();
          for (const verb of ["escalate", "bind", "impersonate", "deletecollection"]) expect(rule.verbs).not.toContain(verb);
        }
      }
    }
  });

  it("(a) allows every API request of every recorded plan, (b) grants nothing the plans do not use", async () => {
    const plans = await recordPlans();
    const roles = pipelineRoles();
    const denied = plans.flatMap(({ command, requests }) =>
      requests.filter((request) => !allowedBy(roles, request)).map((request) => `${describeRequest(request)} (kubectl ${command})`),
    );
    expect(denied).toEqual([]);

    const used = plans.flatMap((plan) => plan.requests);
    const unused = roles.flatMap((role) =>
      grants(role)
        .filter(({ request }) => !used.some((u) => JSON.stringify(u) === JSON.stringify(request)))
        .map(({ request }) => `${role.namespace}/${role.name}: ${describeRequest(request)}`),
    );
    expect(unused).toEqual([]);

    // the plans reach every environment, and Prometheus through the API server proxy
    const namespaces = new Set(used.map((r) => r.namespace));
    for (const environment of RBAC_ENVIRONMENTS) expect(namespaces).toContain(config[environment].namespace);
    expect(used).toContainEqual({ namespace: "monitoring", group: "", resource: "services/proxy", verb: "get", name: "http:prometheus-server:80" });
  });

  it("maps each kubectl command to the requests kubectl 1.31 makes", () => {
    const ns = ["-n", "llm-observatory"];
    const names = (argv: string[], manifest?: object) => kubectlRequests(argv, manifest).map(describeRequest);
    expect(names(["kubectl", ...ns, "rollout", "undo", "deployment/analytics-api"])).toEqual([
      "get apps/deployments analytics-api in llm-observatory",
      "patch apps/deployments analytics-api in llm-observatory",
      "list apps/replicasets in llm-observatory",
    ]);
    expect(names(["kubectl", ...ns, "scale", "deployment/analytics-api-blue", "--replicas=0"])).toEqual([
      "get apps/deployments analytics-api-blue in llm-observatory",
      "patch apps/deployments/scale analytics-api-blue in llm-observatory",
    ]);
    expect(names(["kubectl", "get", "deployment", "analytics-api", "-n", "llm-observatory-dev", "-o", "json"])).toEqual([
      "get apps/deployments analytics-api in llm-observatory-dev",
    ]);
    expect(names(["kubectl", "get", "--raw", "/api/v1/namespaces/monitoring/services/http:prometheus-server:80/proxy/api/v1/query?query=up"])).toEqual([
      "get services/proxy http:prometheus-server:80 in monitoring",
    ]);
    expect(names(["kubectl", ...ns, "apply", "-f", MANIFEST_PATH], { kind: "Ingress", metadata: { name: "analytics-api-canary" } })).toEqual([
      "get networking.k8s.io/ingresses analytics-api-canary in llm-observatory",
      "patch networking.k8s.io/ingresses analytics-api-canary in llm-observatory",
      "create networking.k8s.io/ingresses in llm-observatory",
    ]);
    expect(names(["kubectl", ...ns, "patch", "rollout", "analytics-api", "--subresource=status", "--type=merge", "-p", "{}"])).toEqual([
      "get argoproj.io/rollouts/status analytics-api in llm-observatory",
      "patch argoproj.io/rollouts/status analytics-api in llm-observatory",
    ]);
    expect(names(["kubectl", ...ns, "get", "replicasets", "-l", "app=analytics-api", "-o", "json"])).toEqual(["list apps/replicasets in llm-observatory"]);
    expect(names(["kubectl", ...ns, "get", "analysisrun", "analytics-api-hash2-2-1", "-o", "json"])).toEqual([
      "get argoproj.io/analysisruns analytics-api-hash2-2-1 in llm-observatory",
    ]);
    expect(() => kubectlRequests(["kubectl", ...ns, "exec", "pod/x", "--", "sh"])).toThrow(/unmapped command/);
  });
});
