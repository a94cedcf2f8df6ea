/**
 * The admission policy examples in ci/k8s/policy/: rendered offline by kubectl (`patch --local` converts each
 * document to JSON without an API server, CRDs included), then checked against what verifyImage enforces.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { environmentsConfigSchema } from "../.dagger/src/lib/config/environments";
import { imageConfigSchema } from "../.dagger/src/lib/config/image";
import { ENVIRONMENTS, Environment } from "../.dagger/src/lib/deploy/environment";
import { parseImageReference } from "../.dagger/src/lib/image-ref";
import { ATTESTATION_TYPES, checkIdentityRegexp, expectedSigningRef, publishWorkflowIdentity } from "../.dagger/src/lib/signing";

type K8sObject = Record<string, any>;

function render(path: string): K8sObject[] {
  let out: string;
  try {
    out = execFileSync("kubectl", ["patch", "--local", "-f", path, "--type", "merge", "-p", "{}", "-o", "json"], { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
  } catch (error) {
    const failure = error as { code?: string; stderr?: string };
    if (failure.code === "ENOENT") throw new Error("kubectl is not installed: the manifest tests need it");
    throw new Error(`kubectl could not read ${path}: ${failure.stderr ?? String(error)}`);
  }
  // several documents come out as consecutive pretty-printed objects, each starting at column 0
  return out.split(/\n(?=\{)/).map((text) => JSON.parse(text));
}

const environments = environmentsConfigSchema.parse({});
const namespaces = ENVIRONMENTS.map((environment) => environments[environment].namespace);
const image = imageConfigSchema.parse({});
/** The repository the manifests deploy (ci/k8s/base/deployment.yaml) and the GitHub repository it is built from. */
const deployedImage = /image: (\S+)/.exec(readFileSync("ci/k8s/base/deployment.yaml", "utf8"))![1]!;
const parsedImage = parseImageReference(deployedImage);
const REPOSITORY = `${parsedImage.registry}/${parsedImage.repository}`;
const GITHUB_REPOSITORY = "llm-observatory/llm-observatory";
const DIGEST = `sha256:${"c".repeat(64)}`;

describe("ci/k8s/policy/cluster-image-policy.yaml (sigstore policy-controller)", () => {
  const objects = render("ci/k8s/policy/cluster-image-policy.yaml");
  const [policy] = objects.filter((object) => object.kind === "ClusterImagePolicy");

  it("covers the deployed repository, enforcing, with a keyless authority from GitHub's issuer and the SBOM attestation", () => {
    expect(policy.apiVersion).toBe("policy.sigstore.dev/v1beta1");
    expect(policy.spec.mode).toBe("enforce");
    expect(policy.spec.images).toEqual([{ glob: `${REPOSITORY}**` }]);
    const [authority] = policy.spec.authorities;
    expect(authority.keyless.identities).toHaveLength(1);
    expect(authority.keyless.identities[0].issuer).toBe(image.sign.oidcIssuer);
    expect(authority.attestations).toEqual([{ name: "sbom", predicateType: ATTESTATION_TYPES[image.sbomFormat] }]);
  });

  it("accepts the same signer as verifyImage for every environment, and refuses other workflows, repositories and refs", () => {
    const subject = policy.spec.authorities[0].keyless.identities[0].subjectRegExp as string;
    const refs = [
      expectedSigningRef({ environment: Environment.Dev }),
      expectedSigningRef({ environment: Environment.Staging }),
      expectedSigningRef({ environment: Environment.Staging, releaseBranch: "release/1.4" }),
      expectedSigningRef({ environment: Environment.Production, releaseTag: "v1.4.0" }),
    ];
    for (const ref of refs) expect(() => checkIdentityRegexp(subject, GITHUB_REPOSITORY, ref), ref.describe).not.toThrow();
    const regexp = new RegExp(subject);
    expect(regexp.test(publishWorkflowIdentity(GITHUB_REPOSITORY, "refs/tags/v1.4.0-rc.1"))).toBe(false);
    expect(regexp.test(publishWorkflowIdentity(GITHUB_REPOSITORY, "refs/heads/develop"))).toBe(false);
  });

  it("opts exactly the service's namespaces in with the policy-controller's label", () => {
    const labelled = objects.filter((object) => object.kind === "Namespace");
    expect(labelled.map((ns) => ns.metadata.name).sort()).toEqual([...namespaces].sort());
    for (const ns of labelled) expect(ns.metadata.labels).toEqual({ "policy.sigstore.dev/include": "true" });
  });
});

describe("ci/k8s/policy/validating-admission-policy.yaml", () => {
  const objects = render("ci/k8s/policy/validating-admission-policy.yaml");
  const policy = objects.find((object) => object.kind === "ValidatingAdmissionPolicy")!;
  const binding = objects.find((object) => object.kind === "ValidatingAdmissionPolicyBinding")!;
  /** The RE2 pattern inside a CEL `matches('...')` string literal (CEL unescapes `\\` to `\`). */
  const patterns = (cel: string) => [...cel.matchAll(/matches\('((?:[^'\\]|\\.)*)'\)/g)].map((m) => m[1]!.replace(/\\\\/g, "\\"));

  it("binds the policy with Deny to the service's namespaces, failing closed", () => {
    expect(policy.apiVersion).toBe("admissionregistration.k8s.io/v1");
    expect(policy.spec.failurePolicy).toBe("Fail");
    expect(binding.spec.policyName).toBe(policy.metadata.name);
    expect(binding.spec.validationActions).toEqual(["Deny"]);
    expect(binding.spec.matchResources.namespaceSelector.matchExpressions).toEqual([
      { key: "kubernetes.io/metadata.name", operator: "In", values: namespaces },
    ]);
    const resources = policy.spec.matchConstraints.resourceRules.flatMap((rule: K8sObject) => rule.resources);
    expect(resources).toEqual(expect.arrayContaining(["deployments", "replicasets", "pods"]));
  });

  it("admits only <repository>@sha256:<64 hex>, the reference verifyImage returns; a tag, another registry or repository is refused", () => {
    const [validation] = policy.spec.validations;
    const found = [...patterns(validation.expression), ...patterns(validation.messageExpression)];
    expect(found).toHaveLength(2);
    expect(new Set(found).size, "the check and the message use the same pattern").toBe(1);
    const regexp = new RegExp(found[0]!);
    expect(regexp.test(`${REPOSITORY}@${DIGEST}`)).toBe(true);
    for (const refused of [deployedImage, `${REPOSITORY}:1.4.0@${DIGEST}`, `docker.io/llm-observatory/analytics-api@${DIGEST}`, `${REPOSITORY}-evil@${DIGEST}`, `${REPOSITORY}@sha256:abc`]) {
      expect(regexp.test(refused), refused).toBe(false);
    }
    expect(policy.spec.variables.find((v: K8sObject) => v.name === "images").expression).toMatch(/initContainers[\s\S]*ephemeralContainers/);
  });
});
