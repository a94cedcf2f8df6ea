/**
 * What the API server authorizes for each kubectl command the module runs, and whether the Roles in
 * ci/k8s/rbac allow it. The verbs come from kubectl 1.31 (alpine/k8s:1.31.2), read at the
 * kubernetes/kubectl and kubernetes/cli-runtime tags v0.31.2 and kubernetes/apiserver v0.31.2:
 *
 * - Named resources go through cli-runtime's builder, which GETs each object first unless the command
 *   opts out (`requireObject` defaults to true and adds `RetrieveLazy`: pkg/resource/builder.go,
 *   visitor.go). `delete` opts out (`RequireObject(false)`, pkg/cmd/delete/delete.go).
 * - `set image`: GET, then a strategic merge PATCH of the Deployment (pkg/cmd/set/set_image.go).
 * - `rollout status`: GET (`Latest()`), then LIST and WATCH with `fieldSelector=metadata.name=<name>`
 *   (pkg/cmd/rollout/rollout_status.go); the Deployment status viewer reads only the Deployment.
 * - `rollout undo`: GET, GET again, LIST the namespace's ReplicaSets by label selector
 *   (pkg/polymorphichelpers/rollback.go -> pkg/util/deployment GetAllReplicaSets), PATCH the Deployment.
 * - `scale` without --timeout or preconditions: GET (builder), then a merge PATCH of the `scale`
 *   subresource (pkg/cmd/scale/scale.go, pkg/scale/scale.go ScaleSimple).
 * - `patch`: GET (builder), PATCH (pkg/cmd/patch/patch.go); with `--subresource=status|scale` both go to the
 *   subresource (the builder's `Subresource`, the helper's `WithSubresource`).
 * - `apply` (client side): GET, then CREATE when absent or PATCH when present (pkg/cmd/apply/apply.go,
 *   patcher.go); both outcomes happen in the plans (the first canary creates its Ingress).
 * - `delete` (with the default --wait): DELETE, then wait for deletion: GET, LIST and WATCH with the
 *   name field selector (pkg/cmd/wait/delete.go).
 * - `get --raw /api/v1/namespaces/<ns>/services/<name>/proxy/...`: GET on `services/proxy`, named by
 *   the path segment `<name>` (`[scheme:]service[:port]`).
 *
 * In RBAC terms (apiserver pkg/endpoints/request/requestinfo.go): a GET without a name is `list`
 * (`watch` with ?watch), a list or watch whose field selector pins metadata.name carries that name (so
 * resourceNames apply), the third path part is the subresource, and a create has no name.
 */
import { execFileSync } from "node:child_process";

export interface ApiRequest {
  namespace: string;
  group: string;
  /** `resource` or `resource/subresource`. */
  resource: string;
  verb: string;
  /** What RBAC's resourceNames are compared with; absent for create and unnamed lists. */
  name?: string;
}

export type K8sObject = Record<string, any>;

const KINDS: Record<string, { group: string; resource: string }> = {
  deployment: { group: "apps", resource: "deployments" },
  service: { group: "", resource: "services" },
  ingress: { group: "networking.k8s.io", resource: "ingresses" },
  // `kubectl get events` resolves to the core group's events: discovery lists the legacy group first.
  events: { group: "", resource: "events" },
  pods: { group: "", resource: "pods" },
  replicasets: { group: "apps", resource: "replicasets" },
  // argoproj/argo-rollouts v1.9.1 manifests/crds/rollout-crd.yaml (with the status subresource),
  // analysis-run-crd.yaml, analysis-template-crd.yaml: group argoproj.io, singular and plural names as below.
  rollout: { group: "argoproj.io", resource: "rollouts" },
  rollouts: { group: "argoproj.io", resource: "rollouts" },
  analysisrun: { group: "argoproj.io", resource: "analysisruns" },
  analysisruns: { group: "argoproj.io", resource: "analysisruns" },
  analysistemplate: { group: "argoproj.io", resource: "analysistemplates" },
  analysistemplates: { group: "argoproj.io", resource: "analysistemplates" },
};

function kindOf(kind: string, command: string): { group: string; resource: string } {
  const found = KINDS[kind.toLowerCase()];
  if (!found) throw new Error(`kubectl-rbac: unknown kind ${JSON.stringify(kind)} in \`kubectl ${command}\`; map it in test/support/kubectl-rbac.ts`);
  return found;
}

/** `deployment/x` or `deployment x`: the kind and the name, and the rest of the arguments. */
function target(args: string[]): { kind: string; name: string; rest: string[] } {
  if (args[0]?.includes("/")) {
    const [kind, name] = args[0].split("/");
    return { kind, name, rest: args.slice(1) };
  }
  return { kind: args[0], name: args[1], rest: args.slice(2) };
}

/**
 * The API requests one kubectl command makes. `argv` starts with "kubectl"; `manifest` is the object
 * `apply -f` reads (the module writes it as a file).
 */
export function kubectlRequests(argv: string[], manifest?: K8sObject): ApiRequest[] {
  if (argv[0] !== "kubectl") throw new Error(`not a kubectl command: ${argv.join(" ")}`);
  let namespace = "";
  const args: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === "-n" || argv[i] === "--namespace") namespace = argv[++i];
    else if (argv[i].startsWith("--namespace=")) namespace = argv[i].slice("--namespace=".length);
    else args.push(argv[i]);
  }
  const command = args.join(" ");
  const [verb, ...rest] = args;
  const requests = (kind: { group: string; resource: string }, name: string | undefined, ...verbs: string[]): ApiRequest[] =>
    verbs.map((v) => ({ namespace, group: kind.group, resource: kind.resource, verb: v, ...(name !== undefined ? { name } : {}) }));

  if (verb === "get" && rest[0] === "--raw") {
    const proxy = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/]+)\/proxy(\/|$)/.exec(rest[1]);
    if (!proxy) throw new Error(`kubectl-rbac: unmapped raw path in \`kubectl ${command}\``);
    return [{ namespace: decodeURIComponent(proxy[1]), group: "", resource: "services/proxy", verb: "get", name: decodeURIComponent(proxy[2]) }];
  }
  if (verb === "get") {
    const { kind, name } = target(rest);
    const named = name !== undefined && !name.startsWith("-");
    return requests(kindOf(kind, command), named ? name : undefined, named ? "get" : "list");
  }
  if (verb === "set" && rest[0] === "image") {
    const { kind, name } = target(rest.slice(1));
    return requests(kindOf(kind, command), name, "get", "patch");
  }
  if (verb === "rollout" && rest[0] === "status") {
    const { kind, name } = target(rest.slice(1));
    return requests(kindOf(kind, command), name, "get", "list", "watch");
  }
  if (verb === "rollout" && rest[0] === "undo") {
    const { kind, name } = target(rest.slice(1));
    return [...requests(kindOf(kind, command), name, "get", "patch"), ...requests({ group: "apps", resource: "replicasets" }, undefined, "list")];
  }
  if (verb === "scale") {
    const { kind, name } = target(rest);
    const mapped = kindOf(kind, command);
    return [...requests(mapped, name, "get"), ...requests({ ...mapped, resource: `${mapped.resource}/scale` }, name, "patch")];
  }
  if (verb === "patch") {
    const { kind, name, rest: flags } = target(rest);
    const mapped = kindOf(kind, command);
    const subresource = flags.find((flag) => flag.startsWith("--subresource="))?.slice("--subresource=".length);
    if (subresource === undefined) return requests(mapped, name, "get", "patch");
    // --subresource: the builder reads and the helper patches the subresource's URL (pkg/cmd/patch/patch.go
    // `Subresource(o.Subresource)` and `WithSubresource`; cli-runtime pkg/resource/visitor.go Info.Get), so
    // both requests are on <resource>/<subresource>, named.
    return requests({ ...mapped, resource: `${mapped.resource}/${subresource}` }, name, "get", "patch");
  }
  if (verb === "delete") {
    const { kind, name } = target(rest);
    return requests(kindOf(kind, command), name, "delete", "get", "list", "watch");
  }
  if (verb === "apply") {
    if (!manifest?.kind || !manifest.metadata?.name) throw new Error(`kubectl-rbac: \`kubectl ${command}\` without the manifest it applies`);
    const mapped = kindOf(manifest.kind, command);
    return [...requests(mapped, manifest.metadata.name, "get", "patch"), ...requests(mapped, undefined, "create")];
  }
  throw new Error(`kubectl-rbac: unmapped command \`kubectl ${command}\`; map it in test/support/kubectl-rbac.ts`);
}

export interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

export interface Role {
  namespace: string;
  name: string;
  rules: Rule[];
}

export function ruleAllows(rule: Rule, request: ApiRequest): boolean {
  return (
    rule.apiGroups.includes(request.group) &&
    rule.resources.includes(request.resource) &&
    rule.verbs.includes(request.verb) &&
    (!rule.resourceNames?.length || (request.name !== undefined && rule.resourceNames.includes(request.name)))
  );
}

/** The Role (namespace/name) and rule index allowing the request, or null. */
export function allowedBy(roles: Role[], request: ApiRequest): { role: Role; rule: number } | null {
  for (const role of roles) {
    if (role.namespace !== request.namespace) continue;
    const rule = role.rules.findIndex((r) => ruleAllows(r, request));
    if (rule >= 0) return { role, rule };
  }
  return null;
}

/** Every (verb, resource, name) a rule grants, as requests: what "the plans use all of it" compares. */
export function grants(role: Role): { rule: number; request: ApiRequest }[] {
  return role.rules.flatMap((rule, index) =>
    rule.apiGroups.flatMap((group) =>
      rule.resources.flatMap((resource) =>
        rule.verbs.flatMap((verb) =>
          (rule.resourceNames?.length ? rule.resourceNames : [undefined]).map((name) => ({
            rule: index,
            request: { namespace: role.namespace, group, resource, verb, ...(name !== undefined ? { name } : {}) },
          })),
        ),
      ),
    ),
  );
}

export function describeRequest(r: ApiRequest): string {
  return `${r.verb} ${r.group ? `${r.group}/` : ""}${r.resource}${r.name !== undefined ? ` ${r.name}` : ""} in ${r.namespace || "(no namespace)"}`;
}

/** kubectl prints several objects as concatenated JSON documents; split them at top-level braces. */
export function parseConcatenatedJson(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (inString) {
      if (char === "\\") index++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === "{") {
      if (depth++ === 0) start = index;
    } else if (char === "}" && --depth === 0) {
      objects.push(JSON.parse(text.slice(start, index + 1)));
    }
  }
  if (depth !== 0) throw new Error("unbalanced JSON from kubectl");
  return objects;
}

/** `kubectl kustomize <dir>` as objects (converted offline by `kubectl patch --local`, see test/k8s.test.ts). */
export function renderKustomization(dir: string): K8sObject[] {
  const kubectl = (args: string[], input?: string) => {
    try {
      return execFileSync("kubectl", args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
    } catch (error) {
      const failure = error as { code?: string; stderr?: string };
      if (failure.code === "ENOENT") throw new Error("kubectl is not installed: the RBAC tests need it (it bundles kustomize)");
      throw new Error(`kubectl ${args.join(" ")} failed: ${failure.stderr ?? String(error)}`);
    }
  };
  return parseConcatenatedJson(kubectl(["patch", "--local", "-f", "-", "--type", "merge", "-p", "{}", "-o", "json"], kubectl(["kustomize", dir])));
}

export const RBAC_ENVIRONMENTS = ["dev", "staging", "production"] as const;

let renderedRoles: Role[] | undefined;

/** The Roles a kustomization under ci/k8s/rbac renders. */
export function rolesOf(dir: string): Role[] {
  return renderKustomization(dir)
    .filter((object) => object.kind === "Role")
    .map((object) => ({ namespace: object.metadata.namespace, name: object.metadata.name, rules: object.rules as Rule[] }));
}

/** Every Role of ci/k8s/rbac (all environments), rendered once per test worker. */
export function pipelineRoles(): Role[] {
  renderedRoles ??= RBAC_ENVIRONMENTS.flatMap((environment) => rolesOf(`ci/k8s/rbac/${environment}`));
  return renderedRoles;
}
