/**
 * Blue-green on plain Kubernetes objects: two Deployments `<base>-blue` / `<base>-green`, a Service
 * whose `color` selector picks the live one, and an nginx canary Ingress sending a share of the
 * traffic to the idle colour's own Service while it is analysed.
 *
 * Invariant: never both colours half-live. The Service selects exactly one colour; the other one only
 * receives traffic through the canary Ingress, and only once it runs the target image, is ready and
 * passed the smoke test. The switch moves all traffic at once; the canary is removed right after it
 * (by then it points at the live colour, so it is harmless). The planner below repairs any other
 * combination before going on.
 */

export type Colour = "blue" | "green";
export const COLOURS: readonly Colour[] = ["blue", "green"];
export const COLOUR_LABEL = "color";

export const CANARY_ANNOTATION = "nginx.ingress.kubernetes.io/canary";
export const CANARY_WEIGHT_ANNOTATION = "nginx.ingress.kubernetes.io/canary-weight";

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function record(value: unknown, where: string): Json {
  if (!isRecord(value)) throw new Error(`${where}: expected an object, got ${JSON.stringify(value) ?? "undefined"}`);
  return value;
}

function asObject(input: unknown, what: string): Json {
  if (typeof input === "string") {
    try {
      return record(JSON.parse(input), what);
    } catch (error) {
      throw new Error(`${what}: not valid JSON (${(error as Error).message})`);
    }
  }
  return record(input, what);
}

function expectKind(object: Json, kind: string, what: string): void {
  if (object.kind !== kind) throw new Error(`${what}: expected kind ${kind}, got ${JSON.stringify(object.kind)}`);
}

function objectName(object: Json): string {
  const metadata = isRecord(object.metadata) ? object.metadata : {};
  return typeof metadata.name === "string" ? metadata.name : "(unnamed)";
}

export function otherColour(colour: Colour): Colour {
  return colour === "blue" ? "green" : "blue";
}

function isColour(value: unknown): value is Colour {
  return value === "blue" || value === "green";
}

/** `analytics-api-green` -> `analytics-api`; names without a colour suffix are returned unchanged. */
function baseName(name: string): string {
  return name.replace(/-(blue|green)$/, "");
}

export function colouredName(base: string, colour: Colour): string {
  return `${base}-${colour}`;
}

const SERVER_SIDE_METADATA = ["uid", "resourceVersion", "generation", "creationTimestamp", "selfLink", "managedFields"];
const SERVER_SIDE_ANNOTATIONS = ["kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision"];

function cleanMetadata(metadata: Json): Json {
  const cleaned: Json = { ...metadata };
  for (const field of SERVER_SIDE_METADATA) delete cleaned[field];
  if (isRecord(cleaned.annotations)) {
    const annotations = { ...cleaned.annotations };
    for (const annotation of SERVER_SIDE_ANNOTATIONS) delete annotations[annotation];
    if (Object.keys(annotations).length === 0) delete cleaned.annotations;
    else cleaned.annotations = annotations;
  }
  return cleaned;
}

export interface ColourDeploymentOptions {
  /** The colour of the Deployment to produce. */
  colour: Colour;
  image: string;
  /** Container whose image is replaced. */
  container: string;
  /** Base name; defaults to the live Deployment's name without its colour suffix. */
  name?: string;
}

/**
 * Derives the idle colour's Deployment from the live one (`kubectl get deployment -o json`): same pod
 * spec and replicas, the new image in `container`, `color: <colour>` on the metadata, the selector and
 * the pod template, and none of the server-side fields (status, uid, resourceVersion, managedFields,
 * last-applied and revision annotations) so that it can be applied as a fresh object.
 */
export function greenFromBlue(liveDeployment: unknown, options: ColourDeploymentOptions): Json {
  const live = asObject(liveDeployment, "live Deployment");
  expectKind(live, "Deployment", "live Deployment");
  const liveName = objectName(live);
  const what = `Deployment ${liveName}`;
  const metadata = record(live.metadata, `${what}: metadata`);
  const spec = record(live.spec, `${what}: spec`);
  const template = record(spec.template, `${what}: spec.template`);
  const podSpec = record(template.spec, `${what}: spec.template.spec`);
  if (!Array.isArray(podSpec.containers) || podSpec.containers.length === 0) {
    throw new Error(`${what}: spec.template.spec.containers is missing or empty`);
  }
  if (!isColour(options.colour)) throw new Error(`colour must be blue or green, got ${JSON.stringify(options.colour)}`);
  if (!options.image.trim()) throw new Error("image must not be empty");

  const liveLabels = isRecord(metadata.labels) ? metadata.labels : {};
  if (liveLabels[COLOUR_LABEL] === options.colour) {
    throw new Error(
      `${what} already is the ${options.colour} colour: deriving ${options.colour} from it would replace the live Deployment; derive ${otherColour(options.colour)} instead`,
    );
  }

  const containerNames = podSpec.containers.map((container) => (isRecord(container) ? String(container.name) : "?"));
  if (!containerNames.includes(options.container)) {
    throw new Error(`${what} has no container ${JSON.stringify(options.container)}; its containers: ${containerNames.join(", ")}`);
  }

  const base = options.name ?? baseName(liveName);
  const colourLabel = { [COLOUR_LABEL]: options.colour };
  const selector = record(spec.selector ?? {}, `${what}: spec.selector`);
  const templateMetadata: Json = { ...(isRecord(template.metadata) ? template.metadata : {}) };
  delete templateMetadata.creationTimestamp;
  templateMetadata.labels = { ...(isRecord(templateMetadata.labels) ? templateMetadata.labels : {}), ...colourLabel };

  return {
    apiVersion: live.apiVersion ?? "apps/v1",
    kind: "Deployment",
    metadata: { ...cleanMetadata(metadata), name: colouredName(base, options.colour), labels: { ...liveLabels, ...colourLabel } },
    spec: {
      ...spec,
      replicas: typeof spec.replicas === "number" ? spec.replicas : 1,
      selector: { ...selector, matchLabels: { ...(isRecord(selector.matchLabels) ? selector.matchLabels : {}), ...colourLabel } },
      template: {
        ...template,
        metadata: templateMetadata,
        spec: {
          ...podSpec,
          containers: podSpec.containers.map((container) =>
            isRecord(container) && container.name === options.container ? { ...container, image: options.image } : container,
          ),
        },
      },
    },
  };
}

/** The colour the Service (`kubectl get service -o json`) sends traffic to, from its `color` selector. */
export function liveColour(serviceJson: unknown): Colour {
  const service = asObject(serviceJson, "Service");
  expectKind(service, "Service", "Service");
  const what = `Service ${objectName(service)}`;
  const spec = record(service.spec, `${what}: spec`);
  const selector = isRecord(spec.selector) ? spec.selector : {};
  const colour = selector[COLOUR_LABEL];
  if (colour === undefined) {
    throw new Error(
      `${what} selector has no "${COLOUR_LABEL}" label (selector: ${JSON.stringify(selector)}): a blue-green Service must select ${COLOURS.join(" or ")}`,
    );
  }
  if (!isColour(colour)) throw new Error(`${what} selects ${COLOUR_LABEL}=${JSON.stringify(colour)}; expected blue or green`);
  return colour;
}

/** Strategic-merge patch moving the Service to `colour` (`kubectl patch service X -p <json>`). */
export function serviceSelectorPatch(colour: Colour): { spec: { selector: { [COLOUR_LABEL]: Colour } } } {
  return { spec: { selector: { [COLOUR_LABEL]: colour } } };
}

export function canaryIngressName(mainIngressName: string): string {
  return `${mainIngressName}-canary`;
}

/**
 * The nginx canary copy of the public Ingress: same hosts, paths and class, every backend replaced by
 * `canaryServiceName` (ports kept), and `canary-weight` percent of the requests routed to it.
 */
export function canaryIngress(mainIngress: unknown, weight: number, canaryServiceName: string): Json {
  const main = asObject(mainIngress, "Ingress");
  expectKind(main, "Ingress", "Ingress");
  const mainName = objectName(main);
  const what = `Ingress ${mainName}`;
  if (!Number.isInteger(weight) || weight < 0 || weight > 100) throw new Error(`canary weight must be an integer 0..100, got ${weight}`);
  const metadata = record(main.metadata, `${what}: metadata`);
  const annotations = isRecord(metadata.annotations) ? metadata.annotations : {};
  if (annotations[CANARY_ANNOTATION] === "true") throw new Error(`${what} is itself a canary Ingress; pass the main Ingress`);
  const spec = record(main.spec, `${what}: spec`);
  const rules = Array.isArray(spec.rules) ? spec.rules : [];

  const retarget = (backend: unknown, where: string): Json => {
    const value = record(backend, where);
    const service = record(value.service, `${where}.service`);
    return { ...value, service: { ...service, name: canaryServiceName } };
  };
  const canaryRules = rules.map((rule, ruleIndex) => {
    const value = record(rule, `${what}: spec.rules[${ruleIndex}]`);
    if (!isRecord(value.http)) return value;
    const paths = Array.isArray(value.http.paths) ? value.http.paths : [];
    return {
      ...value,
      http: {
        ...value.http,
        paths: paths.map((path, pathIndex) => {
          const entry = record(path, `${what}: spec.rules[${ruleIndex}].http.paths[${pathIndex}]`);
          return { ...entry, backend: retarget(entry.backend, `${what}: spec.rules[${ruleIndex}].http.paths[${pathIndex}].backend`) };
        }),
      },
    };
  });
  if (canaryRules.length === 0 && !spec.defaultBackend) throw new Error(`${what} has neither rules nor a defaultBackend`);

  const cleaned = cleanMetadata(metadata);
  const canarySpec: Json = { ...spec, rules: canaryRules };
  if (spec.defaultBackend) canarySpec.defaultBackend = retarget(spec.defaultBackend, `${what}: spec.defaultBackend`);
  if (canaryRules.length === 0) delete canarySpec.rules;
  return {
    apiVersion: main.apiVersion ?? "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: {
      ...cleaned,
      name: canaryIngressName(mainName),
      annotations: {
        ...(isRecord(cleaned.annotations) ? cleaned.annotations : {}),
        [CANARY_ANNOTATION]: "true",
        [CANARY_WEIGHT_ANNOTATION]: String(weight),
      },
    },
    spec: canarySpec,
  };
}

/** The Service port as the Ingress backends name it (number or name), as ingress-nginx uses it in upstream names. */
export function ingressBackendPort(ingress: unknown, serviceName: string): string {
  const main = asObject(ingress, "Ingress");
  const spec = isRecord(main.spec) ? main.spec : {};
  const backends: unknown[] = [spec.defaultBackend];
  for (const rule of Array.isArray(spec.rules) ? spec.rules : []) {
    const paths = isRecord(rule) && isRecord(rule.http) && Array.isArray(rule.http.paths) ? rule.http.paths : [];
    for (const path of paths) if (isRecord(path)) backends.push(path.backend);
  }
  for (const backend of backends) {
    if (!isRecord(backend) || !isRecord(backend.service) || backend.service.name !== serviceName) continue;
    const port = isRecord(backend.service.port) ? backend.service.port : {};
    if (typeof port.number === "number") return String(port.number);
    if (typeof port.name === "string") return port.name;
  }
  throw new Error(`Ingress ${objectName(main)} has no backend for Service ${serviceName} with a port`);
}

// ---------------------------------------------------------------------------------------------
// Resumable production rollout planner.

export interface ObservedDeployment {
  image: string;
  replicas: number;
  readyReplicas: number;
}

export interface ObservedProduction {
  /** The colour the public Service selects. */
  serviceColour: Colour;
  deployments: Record<Colour, ObservedDeployment | null>;
  /** The canary Ingress, when it exists. `colour` is null when its backend is not one of the colour Services. */
  canary: { colour: Colour | null; serviceName: string; weight: number } | null;
}

export type ProductionAction =
  | { type: "create-idle"; colour: Colour; image: string }
  | { type: "wait-rollout"; colour: Colour }
  | { type: "smoke-idle"; colour: Colour }
  | { type: "set-canary"; colour: Colour; weight: number }
  | { type: "analyse"; colour: Colour; weight: number }
  | { type: "switch"; colour: Colour }
  | { type: "remove-canary"; repair?: string }
  | { type: "scale-down-old"; colour: Colour; afterSeconds: number }
  | { type: "done" }
  | { type: "blocked"; reason: string };

export interface ProductionPlanOptions {
  targetImage: string;
  canarySteps: readonly number[];
  graceSeconds: number;
  /** A hotfix goes from the smoke-tested idle colour straight to the switch: no canary step is set or analysed. */
  hotfix?: boolean;
}

export interface ProductionPlan {
  live: Colour;
  idle: Colour;
  actions: ProductionAction[];
}

/** Scaled up and every replica ready. */
export function isReady(deployment: ObservedDeployment | null): boolean {
  return deployment !== null && deployment.replicas > 0 && deployment.readyReplicas >= deployment.replicas;
}

/**
 * Plans the rest of a production rollout from what the cluster shows, so that a re-run after an
 * interruption continues where it stopped, or repairs a state that breaks the invariant. What is not
 * observable (smoke results, analysis progress) is redone: smoke and analysis restart on resume.
 */
export function productionState(observed: ObservedProduction, options: ProductionPlanOptions): ProductionPlan {
  const live = observed.serviceColour;
  const idle = otherColour(live);
  const liveDeployment = observed.deployments[live];
  const idleDeployment = observed.deployments[idle];
  const target = options.targetImage;
  const steps = options.hotfix ? [] : [...options.canarySteps];
  const actions: ProductionAction[] = [];
  const plan = (): ProductionPlan => ({ live, idle, actions });

  if (steps.length === 0 && !options.hotfix) throw new Error("at least one canary step is needed");

  if (liveDeployment?.image === target) {
    if (!isReady(liveDeployment)) {
      actions.push({
        type: "blocked",
        reason: `the live colour ${live} already runs ${target} but is not ready (${liveDeployment.readyReplicas}/${liveDeployment.replicas} ready): investigate or roll back`,
      });
      return plan();
    }
    if (observed.canary) {
      actions.push({
        type: "remove-canary",
        repair: `the release is live on ${live}; the canary Ingress to ${observed.canary.serviceName} is left over`,
      });
    }
    if (idleDeployment && idleDeployment.replicas > 0) {
      actions.push({ type: "scale-down-old", colour: idle, afterSeconds: options.graceSeconds });
    }
    actions.push({ type: "done" });
    return plan();
  }

  if (!liveDeployment) {
    actions.push({
      type: "blocked",
      reason: `the Service selects ${live} but that Deployment does not exist: restore it or point the Service at an existing colour`,
    });
    return plan();
  }

  let canaryWeight: number | null = null;
  if (observed.canary) {
    const canary = observed.canary;
    const idleMatchesTarget = idleDeployment?.image === target && isReady(idleDeployment);
    if (canary.colour !== idle) {
      actions.push({
        type: "remove-canary",
        repair: `stray canary: it sends traffic to ${canary.serviceName}, not to the idle colour ${idle}`,
      });
    } else if (!idleMatchesTarget) {
      actions.push({
        type: "remove-canary",
        repair: `stray canary: the idle colour ${idle} ${idleDeployment ? `runs ${idleDeployment.image} (${idleDeployment.readyReplicas}/${idleDeployment.replicas} ready)` : "does not exist"}, not a ready ${target}`,
      });
    } else {
      canaryWeight = canary.weight;
    }
  }

  if (idleDeployment?.image !== target || idleDeployment.replicas === 0) {
    actions.push({ type: "create-idle", colour: idle, image: target }, { type: "wait-rollout", colour: idle });
  } else if (!isReady(idleDeployment)) {
    actions.push({ type: "wait-rollout", colour: idle });
  }
  actions.push({ type: "smoke-idle", colour: idle });

  let remaining = steps;
  if (canaryWeight !== null && steps.includes(canaryWeight)) {
    // Resume at the step the canary is at; its analysis restarts from the beginning.
    remaining = steps.slice(steps.indexOf(canaryWeight));
    actions.push({ type: "analyse", colour: idle, weight: canaryWeight });
    remaining = remaining.slice(1);
  }
  for (const weight of remaining) {
    actions.push({ type: "set-canary", colour: idle, weight }, { type: "analyse", colour: idle, weight });
  }
  actions.push(
    { type: "switch", colour: idle },
    { type: "remove-canary" },
    { type: "scale-down-old", colour: live, afterSeconds: options.graceSeconds },
    { type: "done" },
  );
  return plan();
}

/** A one-line rendering for logs: `set-canary(5)`, `repair: remove stray canary (...)`. */
export function describeAction(action: ProductionAction): string {
  switch (action.type) {
    case "create-idle":
      return `create-idle(${action.colour}, ${action.image})`;
    case "wait-rollout":
    case "smoke-idle":
    case "switch":
      return `${action.type}(${action.colour})`;
    case "set-canary":
    case "analyse":
      return `${action.type}(${action.weight})`;
    case "remove-canary":
      return action.repair ? `repair: remove canary (${action.repair})` : "remove-canary";
    case "scale-down-old":
      return `scale-down-old(${action.colour}, after ${action.afterSeconds}s)`;
    case "done":
      return "done";
    case "blocked":
      return `blocked: ${action.reason}`;
  }
}

function observeDeployment(deploymentJson: unknown, container: string): ObservedDeployment | null {
  if (deploymentJson === null || deploymentJson === undefined) return null;
  const deployment = asObject(deploymentJson, "Deployment");
  expectKind(deployment, "Deployment", "Deployment");
  const what = `Deployment ${objectName(deployment)}`;
  const spec = record(deployment.spec, `${what}: spec`);
  const podSpec = record(record(spec.template, `${what}: spec.template`).spec, `${what}: spec.template.spec`);
  const containers = Array.isArray(podSpec.containers) ? podSpec.containers.filter(isRecord) : [];
  const found = containers.find((candidate) => candidate.name === container);
  if (!found || typeof found.image !== "string") {
    throw new Error(`${what} has no container ${JSON.stringify(container)}; its containers: ${containers.map((c) => String(c.name)).join(", ")}`);
  }
  const status = isRecord(deployment.status) ? deployment.status : {};
  const generation = typeof record(deployment.metadata, `${what}: metadata`).generation === "number" ? (deployment.metadata as Json).generation : undefined;
  const observedGeneration = status.observedGeneration;
  const current = generation === undefined || observedGeneration === undefined || observedGeneration === generation;
  const updated = typeof status.updatedReplicas === "number" ? status.updatedReplicas : 0;
  const ready = typeof status.readyReplicas === "number" ? status.readyReplicas : 0;
  const available = typeof status.availableReplicas === "number" ? status.availableReplicas : 0;
  return {
    image: found.image,
    replicas: typeof spec.replicas === "number" ? spec.replicas : 1,
    // Ready means ready on the current spec: pods of the previous ReplicaSet do not count.
    readyReplicas: current ? Math.min(ready, updated, available) : 0,
  };
}

/**
 * Builds the observation from `kubectl get -o json` outputs; pass null for objects that do not exist
 * (`kubectl get --ignore-not-found` prints nothing).
 */
export function observeProduction(input: {
  service: unknown;
  blue: unknown;
  green: unknown;
  canaryIngress: unknown;
  container: string;
  /** Base name of the per-colour Services (`<serviceBase>-blue`). */
  serviceBase: string;
}): ObservedProduction {
  let canary: ObservedProduction["canary"] = null;
  if (input.canaryIngress !== null && input.canaryIngress !== undefined) {
    const ingress = asObject(input.canaryIngress, "canary Ingress");
    expectKind(ingress, "Ingress", "canary Ingress");
    const what = `Ingress ${objectName(ingress)}`;
    const metadata = record(ingress.metadata, `${what}: metadata`);
    const annotations = isRecord(metadata.annotations) ? metadata.annotations : {};
    const rawWeight = annotations[CANARY_WEIGHT_ANNOTATION];
    const weight = typeof rawWeight === "string" && /^\d+$/.test(rawWeight) ? Number(rawWeight) : 0;
    const spec = isRecord(ingress.spec) ? ingress.spec : {};
    const names = new Set<string>();
    const backends: unknown[] = [spec.defaultBackend];
    for (const rule of Array.isArray(spec.rules) ? spec.rules : []) {
      const paths = isRecord(rule) && isRecord(rule.http) && Array.isArray(rule.http.paths) ? rule.http.paths : [];
      for (const path of paths) if (isRecord(path)) backends.push(path.backend);
    }
    for (const backend of backends) {
      if (isRecord(backend) && isRecord(backend.service) && typeof backend.service.name === "string") names.add(backend.service.name);
    }
    const serviceName = [...names].join(", ") || "(no backend)";
    const colour = names.size === 1 ? COLOURS.find((candidate) => colouredName(input.serviceBase, candidate) === serviceName) ?? null : null;
    canary = { colour, serviceName, weight: annotations[CANARY_ANNOTATION] === "true" ? weight : 0 };
  }
  return {
    serviceColour: liveColour(input.service),
    deployments: {
      blue: observeDeployment(input.blue, input.container),
      green: observeDeployment(input.green, input.container),
    },
    canary,
  };
}

/**
 * Rolling back `badImage` on an operator's request (`rollback --environment production` during a canary): if the
 * canary is still running, drop it and park the idle colour; if the switch already happened and the
 * previous colour is still up (grace period), switch back to it. The automatic rollback of a failed
 * deployProduction run uses planUndo instead: it only undoes that run's own changes.
 */
export function planRollback(observed: ObservedProduction, badImage: string): ProductionAction[] {
  const live = observed.serviceColour;
  const idle = otherColour(live);
  const actions: ProductionAction[] = [];
  if (observed.canary) actions.push({ type: "remove-canary" });
  const liveDeployment = observed.deployments[live];
  const idleDeployment = observed.deployments[idle];
  if (liveDeployment?.image === badImage) {
    if (!idleDeployment || idleDeployment.image === badImage || !isReady(idleDeployment)) {
      actions.push({
        type: "blocked",
        reason: `${badImage} is live on ${live} and the other colour ${idle} is ${idleDeployment ? `at ${idleDeployment.image} with ${idleDeployment.readyReplicas}/${idleDeployment.replicas} ready` : "missing"}: there is no ready previous release to switch back to; redeploy a previous version`,
      });
      return actions;
    }
    actions.push({ type: "switch", colour: idle }, { type: "scale-down-old", colour: live, afterSeconds: 0 }, { type: "done" });
    return actions;
  }
  if (idleDeployment && idleDeployment.image === badImage && idleDeployment.replicas > 0) {
    actions.push({ type: "scale-down-old", colour: idle, afterSeconds: 0 });
  }
  actions.push({ type: "done" });
  return actions;
}

// ---------------------------------------------------------------------------------------------
// What one run changed, and undoing only that.

/** A change a production run made to the cluster; `failed` when kubectl failed (it may or may not have happened). */
export interface ProductionChange {
  change: "applied" | "deleted" | "scaled" | "switched";
  /** `deployment/analytics-api-green`, `ingress/analytics-api-canary`, `service/analytics-api`. */
  object: string;
  detail: string;
  failed?: true;
}

export interface UndoScope {
  /** The colour this run rolls out to (not live when the run started). */
  idle: Colour;
  /** This run applied (or tried to apply) the idle colour's Deployment. */
  appliedIdle: boolean;
  /** This run applied (or tried to apply) the canary Ingress. */
  appliedCanary: boolean;
  /** This run's canary analysis failed: the canary it analysed is withdrawn even when an earlier run set it up. */
  condemnedCanary: boolean;
}

/**
 * The automatic rollback of a run that failed before its switch: remove the canary it created (or
 * condemned) and park the colour it rolled out. It never moves the Service and never scales the colour
 * the Service selects, so a release that was live before the run stays live.
 */
export function planUndo(observed: ObservedProduction, scope: UndoScope): ProductionAction[] {
  const actions: ProductionAction[] = [];
  if (observed.canary && (scope.appliedCanary || scope.condemnedCanary)) actions.push({ type: "remove-canary" });
  const idle = observed.deployments[scope.idle];
  if ((scope.appliedIdle || scope.condemnedCanary) && scope.idle !== observed.serviceColour && idle && idle.replicas > 0) {
    actions.push({ type: "scale-down-old", colour: scope.idle, afterSeconds: 0 });
  }
  actions.push({ type: "done" });
  return actions;
}

/** `applied deployment/analytics-api-green (image ...)`, `switched service/analytics-api (to green) [failed]`. */
export function describeChange(change: ProductionChange): string {
  return `${change.change} ${change.object} (${change.detail})${change.failed ? " [kubectl failed: may not have happened]" : ""}`;
}
