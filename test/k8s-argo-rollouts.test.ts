/**
 * The `argo-rollouts` overlay: rendered with `kubectl kustomize`, each Argo object validated against the
 * openAPIV3Schema of its CRD at the pinned controller version (test/fixtures/reports/argo-rollouts/crds, copied
 * from argoproj/argo-rollouts v1.9.1 manifests/crds), and tied to the generator and the base Deployment.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Ajv } from "ajv";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { environmentsConfigSchema } from "../.dagger/src/lib/config/environments";
import { analysisTemplate, argoNames, rolloutSteps } from "../.dagger/src/lib/deploy/argo-analysis";

type K8sObject = Record<string, any>;

function kustomize(path: string): K8sObject[] {
  try {
    const yaml = execFileSync("kubectl", ["kustomize", path], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return parseAllDocuments(yaml).map((document) => document.toJS() as K8sObject);
  } catch (error) {
    const failure = error as { code?: string; stderr?: string };
    if (failure.code === "ENOENT") throw new Error("kubectl is not installed: the manifest tests need it (it bundles kustomize)");
    throw new Error(`kubectl kustomize ${path} failed: ${failure.stderr ?? String(error)}`);
  }
}

const crd = (name: string) => {
  const document = parseAllDocuments(readFileSync(new URL(`./fixtures/reports/argo-rollouts/crds/${name}-crd.yaml`, import.meta.url), "utf8"))[0].toJS();
  const version = document.spec.versions.find((candidate: K8sObject) => candidate.name === "v1alpha1");
  return { kind: document.spec.names.kind as string, schema: version.schema.openAPIV3Schema as K8sObject };
};

/** The CRDs carry Kubernetes' own keywords (x-kubernetes-*): not JSON Schema, ignored by ajv's non-strict mode. */
const ajv = new Ajv({ strict: false, allErrors: true });
// OpenAPI's integer formats, as the API server checks them.
ajv.addFormat("int32", { type: "number", validate: (value: number) => Number.isInteger(value) && Math.abs(value) <= 2 ** 31 });
ajv.addFormat("int64", { type: "number", validate: (value: number) => Number.isInteger(value) });
ajv.addFormat("date-time", { type: "string", validate: (value: string) => !Number.isNaN(Date.parse(value)) });
const validators = Object.fromEntries(["rollout", "analysis-template"].map((name) => {
  const { kind, schema } = crd(name);
  return [kind, ajv.compile(schema)];
}));

const config = environmentsConfigSchema.parse({ production: { strategy: "argo-rollouts" } }).production;
const objects = kustomize("ci/k8s/overlays/argo-rollouts");
const named = (kind: string, name: string) => {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map((object) => `${object.kind}/${object.metadata.name}`).join(", ")}`);
  return found;
};
const names = argoNames(config);

describe("overlay argo-rollouts", () => {
  it("has the Rollout, its AnalysisTemplate, the stable and canary Services and the stable Ingress, and no Deployment", () => {
    expect(objects.map((object) => `${object.kind}/${object.metadata.name}`).sort()).toEqual(
      ["AnalysisTemplate/analytics-api-canary", "Ingress/analytics-api", "Rollout/analytics-api", "Service/analytics-api", "Service/analytics-api-canary"],
    );
    for (const object of objects) expect(object.metadata.namespace).toBe(config.namespace);
  });

  it.each(["Rollout", "AnalysisTemplate"])("validates the %s against the v1.9.1 CRD schema", (kind) => {
    const object = objects.find((candidate) => candidate.kind === kind)!;
    const validate = validators[kind];
    expect(validate(object), JSON.stringify(validate.errors)).toBe(true);
  });

  it("rejects what the CRD schema rejects (the validation is not vacuous)", () => {
    const rollout = structuredClone(named("Rollout", names.rollout));
    rollout.spec.strategy.canary.steps = [{ setWeight: "five" }];
    expect(validators.Rollout(rollout)).toBe(false);
    const template = structuredClone(named("AnalysisTemplate", names.analysisTemplate));
    delete template.spec.metrics[0].provider;
    expect(validators.AnalysisTemplate(template)).toBe(false);
  });

  it("ships the AnalysisTemplate the generator makes from the default rules", () => {
    const generated = analysisTemplate(config, "80") as K8sObject;
    const shipped = named("AnalysisTemplate", names.analysisTemplate);
    expect(shipped.spec).toEqual(generated.spec);
  });

  it("runs the plan's steps through the controller: 5 %, analysis, then 100 % after the last step", () => {
    const canary = named("Rollout", names.rollout).spec.strategy.canary;
    expect(canary.steps).toEqual(rolloutSteps(config));
    expect(canary.steps).toEqual([{ setWeight: 5 }, { analysis: { templates: [{ templateName: names.analysisTemplate }] } }]);
    expect(canary.stableService).toBe(config.service);
    expect(canary.canaryService).toBe(names.canaryService);
    expect(canary.trafficRouting).toEqual({ nginx: { stableIngress: config.ingress } });
    expect(canary.scaleDownDelaySeconds).toBe(config.canary.graceSeconds);
    named("Service", canary.canaryService);
    const ingress = named("Ingress", canary.trafficRouting.nginx.stableIngress);
    expect(ingress.spec.rules[0].http.paths[0].backend.service).toEqual({ name: config.service, port: { number: 80 } });
  });

  it("runs the base Deployment's pod (container, probes, hardening) under Services without a colour", () => {
    const [base] = kustomize("ci/k8s/base").filter((object) => object.kind === "Deployment");
    const rollout = named("Rollout", names.rollout);
    expect(rollout.spec.template.spec).toEqual(base.spec.template.spec);
    expect(rollout.spec.template.spec.containers.map((container: K8sObject) => container.name)).toEqual([config.container]);
    expect(rollout.spec.selector.matchLabels).toEqual({ app: "analytics-api" });
    for (const service of [config.service, names.canaryService]) expect(named("Service", service).spec.selector).toEqual({ app: "analytics-api" });
    expect(rollout.spec.progressDeadlineAbort).toBe(true);
  });
});
