/**
 * Production: blue-green with an nginx-ingress canary analysed on Prometheus, automatic rollback,
 * and the manual rollback. The decisions are lib/deploy/bluegreen.ts (productionState, planUndo,
 * planRollback) and lib/deploy/canary.ts (canaryVerdict); this file observes the cluster, runs the
 * planned actions with kubectl and waits between analysis intervals on the clock it is given.
 *
 * A run records each change it makes; when it fails, only those are undone (planUndo), and a failure
 * before its first change undoes nothing.
 *
 * Re-running after any interruption observes the cluster again and lets the planner continue or
 * repair: the Service always selects exactly one colour, and the other colour only gets traffic
 * through the canary Ingress once it runs the target image, is ready and passed the smoke test.
 */
import { dag, type Secret } from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import type { Pipeline } from "./pipeline";
import { registryImageExistence } from "./image";
import { ImageRefused, verifyImage, type VerifiedImage } from "./verify";
import { errorMessage, tail } from "./lib/errors";
import type { ProductionRequest, RollbackRequest } from "./lib/function-args";
import { parseImageReference } from "./lib/image-ref";
import { pinnedDigest, scaleUpImage } from "./lib/deploy-image";
import {
  canaryIngress,
  canaryIngressName,
  colouredName,
  describeAction,
  describeChange,
  greenFromBlue,
  ingressBackendPort,
  observeProduction,
  otherColour,
  planRollback,
  planUndo,
  productionState,
  serviceSelectorPatch,
  type Colour,
  type ObservedDeployment,
  type ObservedProduction,
  type ProductionAction,
  type ProductionChange,
  type UndoScope,
} from "./lib/deploy/bluegreen";
import { canaryVerdict, intervalsRequired, type CanarySample, type CanaryVerdict } from "./lib/deploy/canary";
import { parsePrometheusResponse, prometheusQueryRequest, renderQuery, singleValue } from "./lib/deploy/prometheus";
import {
  curlProbe,
  curlSecretArgs,
  getObject,
  kubectl,
  kubectlOk,
  MANIFEST_PATH,
  notifyQuietly,
  rolloutEvidence,
  runningDigest,
  smokeTest,
  waitRollout,
  withCurlSecret,
  type KubeTarget,
  type Probe,
  type SmokeResult,
} from "./deploy-support";
import type { DeploymentRecord } from "./lib/deploy/record";
import { isoTime, type Clock } from "./lib/clock";

/** Written on the Service at each switch: what was live before, so a rollback returns to exactly that. */
export const PREVIOUS_IMAGE_ANNOTATION = "observatory-ci.dev/previous-image";
export const PREVIOUS_COLOUR_ANNOTATION = "observatory-ci.dev/previous-colour";
/**
 * The digest the previously live colour ran (its pods' imageID, or its digest reference): what a rollback may
 * re-pin that colour to when its spec still names a tag (a release deployed before deploys were by digest).
 */
export const PREVIOUS_DIGEST_ANNOTATION = "observatory-ci.dev/previous-digest";

/** A failure the canary analysis decided: carries the verdict and the samples as evidence. */
class CanaryRollback extends Error {
  constructor(
    readonly verdict: CanaryVerdict,
    readonly weight: number,
    evidence: string,
  ) {
    super(`canary at ${weight} % failed its analysis: ${verdict.reason}\n${evidence}`);
    this.name = "CanaryRollback";
  }
}

/** A check before the first change failed (the image, staging, the production state the planner reads). */
class PreCheckFailed extends Error {
  constructor(
    readonly check: string,
    message: string,
  ) {
    super(message);
    this.name = "PreCheckFailed";
  }
}

function isReady(deployment: ObservedDeployment | null): deployment is ObservedDeployment {
  return deployment !== null && deployment.replicas > 0 && deployment.readyReplicas >= deployment.replicas;
}

function formatMetric(value: number | null, unit: "%" | "s"): string {
  if (value === null || Number.isNaN(value)) return "no data";
  return unit === "s" ? `${Number(value.toFixed(3))}s` : `${Number((value * 100).toFixed(2))}%`;
}

interface Observation {
  observed: ObservedProduction;
  service: Record<string, unknown>;
  raw: Record<Colour, Record<string, unknown> | null>;
}

/** Reads the production objects and builds the planner's view of them. */
async function observe(p: Pipeline, target: KubeTarget): Promise<Observation> {
  const cfg = p.config.environments.production;
  const [service, blue, green, canary] = await Promise.all([
    getObject(p, target, "service", cfg.service),
    getObject(p, target, "deployment", colouredName(cfg.deployment, "blue")),
    getObject(p, target, "deployment", colouredName(cfg.deployment, "green")),
    getObject(p, target, "ingress", canaryIngressName(cfg.ingress)),
  ]);
  if (!service) {
    throw new Error(`production: Service ${cfg.service} does not exist (namespace ${cfg.namespace}); bootstrap with kubectl apply -k ci/k8s/overlays/production`);
  }
  const observed = observeProduction({ service, blue, green, canaryIngress: canary, container: cfg.container, serviceBase: cfg.service });
  return { observed, service, raw: { blue, green } };
}

function annotationsOf(object: Record<string, unknown>): Record<string, string> {
  const metadata = (object.metadata ?? {}) as { annotations?: Record<string, string> };
  return metadata.annotations ?? {};
}

/** The Service patch for a switch: the selector, and where it came from (for `rollback`). */
function switchPatch(colour: Colour, fromColour: Colour, fromImage: string | undefined, fromDigest: string | null): string {
  return JSON.stringify({
    ...serviceSelectorPatch(colour),
    metadata: {
      annotations: { [PREVIOUS_COLOUR_ANNOTATION]: fromColour, [PREVIOUS_IMAGE_ANNOTATION]: fromImage ?? "", [PREVIOUS_DIGEST_ANNOTATION]: fromDigest ?? "" },
    },
  });
}

/** Smoke through the API server's service proxy: the colour's own Service, no public traffic involved. */
function proxyProbe(p: Pipeline, target: KubeTarget, serviceName: string, port: string): Probe {
  return async (path) => {
    const out = await kubectl(p, target, ["get", "--raw", `/api/v1/namespaces/${target.namespace}/services/${serviceName}:${port}/proxy${path}`], {
      namespaced: false,
    });
    // kubectl get --raw exits non-zero on any non-2xx answer.
    return out.exitCode === 0 ? { status: 200, body: out.stdout } : { status: null, body: "", error: tail(out.stderr || out.stdout, 3) };
  };
}

const PROMETHEUS_TOKEN_SECRET = "prometheus-token";

/** The health paths of a smoke configuration (staging's pre-check only asks whether it is healthy). */
function healthPaths(paths: readonly string[]): string[] {
  const health = paths.filter((path) => /health/.test(path));
  return health.length > 0 ? health : ["/health"];
}

class ProductionRollout {
  private readonly cfg;
  private readonly target: KubeTarget;
  private readonly log: string[] = [];
  private mainIngress: Record<string, unknown> | null = null;
  private readonly canaryReports: { weight: number; intervals: number; reason: string }[] = [];
  private smoke?: SmokeResult;
  /** Every change this run made, in order: what a rollback may undo, and nothing else. */
  private readonly changes: ProductionChange[] = [];
  /** The automatic rollback's own changes. */
  private readonly undone: ProductionChange[] = [];
  private undoing = false;
  /** The check or step running, named in the record when it fails. */
  private step = "pre-checks";
  /** `<repository>:X.Y.Z` until the pre-checks resolved and verified it, then `<repository>@sha256:...`: what is deployed. */
  private image: string;
  private verified?: VerifiedImage;

  private readonly tagReference: string;

  constructor(
    private readonly p: Pipeline,
    private readonly options: ProductionRequest<Secret>,
    private readonly clock: Clock,
  ) {
    this.tagReference = options.tagReference;
    this.image = options.tagReference;
    this.cfg = p.config.environments.production;
    this.target = { environment: "production", namespace: this.cfg.namespace, kubeconfig: options.kubeconfig };
  }

  private deploymentName(colour: Colour): string {
    return colouredName(this.cfg.deployment, colour);
  }

  private serviceName(colour: Colour): string {
    return colouredName(this.cfg.service, colour);
  }

  /**
   * The tag's digest (crane digest), then that digest's signature and SBOM attestation (verifyImage, signed on
   * refs/tags/vX.Y.Z). Sets the image to deploy to the verified digest reference. Changes nothing.
   */
  private async resolveAndVerify(): Promise<VerifiedImage> {
    const tagged = this.tagReference;
    let found;
    try {
      found = await registryImageExistence(this.p, tagged, this.options.registry);
    } catch (e) {
      throw new PreCheckFailed("image exists", `pre-check: could not ask the registry whether ${tagged} exists: ${errorMessage(e)}`);
    }
    if (found.outcome === "unknown") {
      throw new PreCheckFailed(
        "image exists",
        `pre-check: cannot tell whether ${tagged} exists, the registry answered: ${found.answer}\nCheck --registry-username/--registry-password and the registry, then re-run.`,
      );
    }
    if (found.outcome === "absent") {
      throw new PreCheckFailed(
        "image exists",
        `pre-check: image ${tagged} does not exist in the registry (${found.answer}); publish the tag first (the tag's CI run pushes it)`,
      );
    }
    const parsed = parseImageReference(tagged);
    const repository = `${parsed.registry}/${parsed.repository}`;
    try {
      return await verifyImage(this.p, { reference: `${repository}@${found.digest}`, repository, digest: found.digest }, this.options.verification);
    } catch (e) {
      const why = e instanceof ImageRefused ? "refused" : "could not be verified";
      throw new PreCheckFailed("image signature", `pre-check: ${tagged} resolves to ${found.digest}, whose signature ${why}: ${errorMessage(e)}`);
    }
  }

  /** The image (digest, signature) and staging health, in parallel; a failure names its check. Changes nothing. */
  private async preChecks(): Promise<void> {
    const staging = this.p.config.environments.staging;
    const [image, stagingHealth] = await Promise.allSettled([
      this.resolveAndVerify(),
      smokeTest(this.clock, curlProbe(this.p, staging.url), healthPaths(staging.smoke.paths), staging.smoke.deadlineSeconds, `staging (${staging.url})`),
    ]);
    if (image.status === "rejected") throw image.reason;
    this.verified = image.value;
    this.image = image.value.reference;
    if (stagingHealth.status === "rejected") {
      throw new PreCheckFailed("staging healthy", `pre-check: staging does not answer healthy, refusing to promote:\n${errorMessage(stagingHealth.reason)}`);
    }
    this.log.push(`pre-checks passed: ${this.tagReference} is ${this.image}, ${image.value.summary}; staging healthy`);
  }

  private async main(): Promise<Record<string, unknown>> {
    if (!this.mainIngress) {
      this.mainIngress = await getObject(this.p, this.target, "ingress", this.cfg.ingress);
      if (!this.mainIngress) throw new Error(`production: Ingress ${this.cfg.ingress} does not exist (namespace ${this.cfg.namespace})`);
    }
    return this.mainIngress;
  }

  /** Records a change before making it (a failed kubectl may still have changed the object), then makes it. */
  private async mutate(change: ProductionChange, args: string[], input?: string): Promise<void> {
    (this.undoing ? this.undone : this.changes).push(change);
    try {
      await kubectlOk(this.p, this.target, args, input === undefined ? {} : { input });
    } catch (e) {
      change.failed = true;
      throw e;
    }
  }

  private async apply(manifest: Record<string, unknown>, detail: string): Promise<void> {
    const metadata = manifest.metadata as { name: string };
    const object = `${String(manifest.kind).toLowerCase()}/${metadata.name}`;
    await this.mutate({ change: "applied", object, detail }, ["apply", "-f", MANIFEST_PATH], JSON.stringify(manifest, null, 2));
  }

  private async removeCanary(detail: string): Promise<void> {
    const name = canaryIngressName(this.cfg.ingress);
    await this.mutate({ change: "deleted", object: `ingress/${name}`, detail }, ["delete", "ingress", name, "--ignore-not-found"]);
  }

  private async scale(colour: Colour, replicas: number): Promise<void> {
    const name = this.deploymentName(colour);
    await this.mutate({ change: "scaled", object: `deployment/${name}`, detail: `to ${replicas}` }, ["scale", `deployment/${name}`, `--replicas=${replicas}`]);
  }

  private async query(name: string, template: string, values: Parameters<typeof renderQuery>[1]): Promise<{ value: number | null; error?: string }> {
    const request = prometheusQueryRequest(this.options.prometheus, renderQuery(template, values));
    let text: string;
    if (request.kind === "api-proxy") {
      const out = await kubectl(this.p, this.target, ["get", "--raw", request.path], { namespaced: false });
      if (out.exitCode !== 0) return { value: null, error: `${name}: query through the API server proxy failed (exit ${out.exitCode}): ${tail(out.stderr, 3)}` };
      text = out.stdout;
    } else {
      let ctr = withRunNonce(dag.container().from(this.p.config.images.curl));
      const token = this.options.prometheusToken ? curlSecretArgs(PROMETHEUS_TOKEN_SECRET, "header", "Authorization: Bearer {{secret}}") : [];
      if (this.options.prometheusToken) ctr = withCurlSecret(ctr, PROMETHEUS_TOKEN_SECRET, this.options.prometheusToken);
      const out = await outcomeOf(runAllowingFailure(ctr, ["curl", "-sS", "--fail-with-body", "--max-time", "20", ...token, request.url]));
      if (out.exitCode !== 0) return { value: null, error: `${name}: Prometheus unreachable (curl exit ${out.exitCode}): ${tail(out.stderr || out.stdout, 3)}` };
      text = out.stdout;
    }
    try {
      return { value: singleValue(parsePrometheusResponse(text, name), name) };
    } catch (e) {
      return { value: null, error: errorMessage(e) };
    }
  }

  /** One sample per interval, for the window; waits in TypeScript between the (nonce-carrying) queries. */
  private async analyse(colour: Colour, weight: number): Promise<void> {
    const canary = this.cfg.canary;
    const queries = this.cfg.prometheus.queries;
    const port = ingressBackendPort(await this.main(), this.cfg.service);
    const values = {
      namespace: this.cfg.namespace,
      ingress: canaryIngressName(this.cfg.ingress),
      canaryService: this.serviceName(colour),
      canaryServicePort: port,
      canaryDeployment: this.deploymentName(colour),
      interval: `${canary.intervalSeconds}s`,
    };
    const samples: CanarySample[] = [];
    const lines: string[] = [];
    const limit = intervalsRequired(canary) + Math.max(canary.errorRate.consecutive, canary.latencyP95.consecutive);
    for (let interval = 1; interval <= limit; interval++) {
      await this.clock.sleep(canary.intervalSeconds * 1000);
      const at = this.clock.now();
      const [errorRate, latency, health] = await Promise.all([
        this.query("canary error rate", queries.errorRate, values),
        this.query("canary P95 latency", queries.latencyP95, values),
        this.query("canary health failures", queries.healthFailures, values),
      ]);
      samples.push({ at, errorRate: errorRate.value, latencyP95Seconds: latency.value, healthFailureRate: health.value });
      const errors = [errorRate.error, latency.error, health.error].filter(Boolean);
      lines.push(
        `  interval ${interval} (${isoTime(at)}): 5xx ${formatMetric(errorRate.value, "%")}, P95 ${formatMetric(latency.value, "s")}, health failures ${formatMetric(health.value, "%")}` +
          (errors.length ? ` [${errors.join("; ")}]` : ""),
      );
      const verdict = canaryVerdict(samples, canary);
      if (verdict.decision === "promote") {
        this.canaryReports.push({ weight, intervals: verdict.intervalsAnalysed, reason: verdict.reason ?? "promoted" });
        this.log.push(`canary ${weight} %: promote (${verdict.reason})`);
        return;
      }
      if (verdict.decision === "rollback") {
        throw new CanaryRollback(verdict, weight, `Samples (${this.options.prometheus.url ? this.options.prometheus.url : "Prometheus through the API server proxy"}):\n${lines.join("\n")}`);
      }
    }
    throw new CanaryRollback(
      { decision: "rollback", reason: `no verdict after ${limit} intervals`, breaches: [], intervalsAnalysed: samples.length, intervalsRequired: intervalsRequired(canary) },
      weight,
      lines.join("\n"),
    );
  }

  private async run(action: ProductionAction, live: Colour, liveImage: string | undefined): Promise<void> {
    switch (action.type) {
      case "blocked":
        throw new PreCheckFailed("production state", action.reason);
      case "remove-canary":
        await this.removeCanary(action.repair ?? (this.undoing ? "rollback" : "after the switch"));
        return;
      case "create-idle": {
        const source = await getObject(this.p, this.target, "deployment", this.deploymentName(live));
        if (!source) throw new Error(`production: the live Deployment ${this.deploymentName(live)} disappeared`);
        await this.apply(greenFromBlue(source, { colour: action.colour, image: action.image, container: this.cfg.container, name: this.cfg.deployment }), `image ${action.image}`);
        return;
      }
      case "wait-rollout": {
        const problem = await waitRollout(this.p, this.target, this.deploymentName(action.colour), this.cfg.rolloutTimeout);
        if (problem) {
          const evidence = await rolloutEvidence(this.p, this.target, this.deploymentName(action.colour));
          throw new Error(`rollout of ${this.deploymentName(action.colour)} (${this.image}) did not complete within ${this.cfg.rolloutTimeout} (${problem})\n${evidence}`);
        }
        return;
      }
      case "smoke-idle": {
        const name = this.serviceName(action.colour);
        const service = await getObject(this.p, this.target, "service", name);
        if (!service) throw new Error(`production: Service ${name} (the ${action.colour} colour's own Service) does not exist`);
        const ports = ((service.spec ?? {}) as { ports?: { name?: string; port?: number }[] }).ports ?? [];
        const port = ports[0]?.name ?? String(ports[0]?.port ?? 80);
        this.smoke = await smokeTest(this.clock, proxyProbe(this.p, this.target, name, port), this.cfg.smoke.paths, this.cfg.smoke.deadlineSeconds, `Service ${name}`);
        return;
      }
      case "set-canary":
        await this.apply(canaryIngress(await this.main(), action.weight, this.serviceName(action.colour)), `${action.weight} % to ${this.serviceName(action.colour)}`);
        return;
      case "analyse":
        await this.analyse(action.colour, action.weight);
        return;
      case "switch": {
        const liveDigest = await this.liveDigest(live, liveImage);
        await this.mutate({ change: "switched", object: `service/${this.cfg.service}`, detail: `from ${live} to ${action.colour}` }, [
          "patch",
          "service",
          this.cfg.service,
          "--type=strategic",
          "-p",
          switchPatch(action.colour, live, liveImage, liveDigest),
        ]);
        return;
      }
      case "scale-down-old":
        if (action.afterSeconds > 0) {
          this.log.push(`keeping ${action.colour} for ${action.afterSeconds}s (instant rollback) before scaling it down`);
          await this.clock.sleep(action.afterSeconds * 1000);
        }
        await this.scale(action.colour, 0);
        return;
      case "done":
        return;
    }
  }

  /** The digest the live colour runs: its digest reference, else its pods' imageID (a release deployed by tag). */
  private async liveDigest(live: Colour, liveImage: string | undefined): Promise<string | null> {
    const pinned = liveImage === undefined ? undefined : pinnedDigest(liveImage);
    if (pinned) return pinned;
    const deployment = await getObject(this.p, this.target, "deployment", this.deploymentName(live));
    return runningDigest(this.p, this.target, deployment, this.cfg.container);
  }

  /** Automatic rollback of this run's own changes (planUndo on what the cluster shows now). */
  private async rollBack(scope: UndoScope): Promise<{ ok: boolean; serviceColour?: Colour; text: string }> {
    this.undoing = true;
    try {
      const { observed } = await observe(this.p, this.target);
      for (const action of planUndo(observed, scope)) {
        if (action.type !== "done") await this.run(action, observed.serviceColour, observed.deployments[observed.serviceColour]?.image);
      }
      const text = this.undone.length
        ? `automatic rollback done: ${this.undone.map(describeChange).join(", ")}`
        : "automatic rollback: none of this run's changes needed undoing";
      return { ok: true, serviceColour: observed.serviceColour, text };
    } catch (e) {
      return {
        ok: false,
        text: `AUTOMATIC ROLLBACK FAILED after [${this.undone.map(describeChange).join(", ")}]: ${errorMessage(e)}; re-run deployProduction (it repairs) or rollback --environment production`,
      };
    } finally {
      this.undoing = false;
    }
  }

  private record(result: DeploymentRecord["result"], started: number, extra: Partial<DeploymentRecord> & { details: Record<string, unknown> }): DeploymentRecord {
    return {
      environment: "production",
      namespace: this.cfg.namespace,
      deployment: this.cfg.deployment,
      operation: "deploy-production",
      image: this.image,
      digest: this.verified?.digest ?? null,
      startedAt: isoTime(started),
      finishedAt: isoTime(this.clock.now()),
      durationSeconds: Math.round((this.clock.now() - started) / 1000),
      result,
      notification: "",
      ...extra,
      details: {
        tag: this.options.tag,
        tagReference: this.tagReference,
        ...(this.verified ? { verification: this.verified.summary } : {}),
        ...extra.details,
        changes: this.changes,
        log: this.log,
      },
    };
  }

  async execute(): Promise<string> {
    const started = this.clock.now();
    const version = this.options.tag;
    const notify = (status: "success" | "failure" | "rollback", reason?: string, details?: Record<string, string>) =>
      notifyQuietly(this.p, this.options.slackWebhook, {
        status,
        environment: "production",
        version,
        ...(this.options.runUrl ? { runUrl: this.options.runUrl } : {}),
        ...(reason ? { reason } : {}),
        ...(details ? { details } : {}),
      });
    const fail = (record: DeploymentRecord, text: string): never => {
      throw new Error(`deployProduction ${version}: ${text}\nSlack: ${record.notification}\nRecord: ${JSON.stringify(record)}`);
    };

    let live: Colour | undefined;
    let liveImage: string | undefined;
    let plan: ProductionAction[] = [];
    try {
      await this.preChecks();
      this.step = "observe production";
      const { observed } = await observe(this.p, this.target);
      this.step = "plan";
      const planned = productionState(observed, { targetImage: this.image, canarySteps: this.cfg.canary.steps, graceSeconds: this.cfg.canary.graceSeconds });
      live = planned.live;
      liveImage = observed.deployments[live]?.image;
      plan = planned.actions;
      this.log.push(`live colour ${planned.live} (${liveImage ?? "?"}); plan: ${plan.map(describeAction).join(" -> ")}`);
      for (const action of plan) {
        this.step = describeAction(action);
        this.log.push(this.step);
        await this.run(action, planned.live, liveImage);
      }
    } catch (e) {
      const message = errorMessage(e);
      const firstLine = message.split("\n")[0]!;
      const liveBefore = live ? { liveBefore: live } : {};
      const switchedByRun = this.changes.some((c) => c.change === "switched" && !c.failed);

      if (this.changes.length === 0 && !(e instanceof CanaryRollback)) {
        const check = e instanceof PreCheckFailed ? e.check : this.step;
        const record = this.record("failure", started, { details: { failedCheck: check, ...liveBefore, plan: plan.map(describeAction) } });
        record.notification = await notify("failure", `${check} failed, production unchanged: ${firstLine}`);
        fail(
          record,
          `${message}\nFailed before changing anything (check: ${check}): production is as this run found it, so there was nothing to undo.` +
            (live ? ` The Service still selects ${live} (${liveImage ?? "?"}).` : ""),
        );
      }

      if (switchedByRun || (live !== undefined && liveImage === this.image)) {
        // The release is live (this run switched, or an earlier run did): finishing failed, nothing to roll back.
        const record = this.record("failure", started, { details: { failedStep: this.step, ...liveBefore, plan: plan.map(describeAction) } });
        record.notification = await notify("failure", `${this.step}: ${firstLine}`);
        fail(
          record,
          `${this.image} is live, but finishing failed at ${this.step}: ${message}\n` +
            `No rollback was made. Re-run deployProduction --tag ${version} to finish (it removes the canary and scales the old colour down); ` +
            `to return to the previous release, rollback --environment production.`,
        );
      }

      const idle = otherColour(live!);
      const scope: UndoScope = {
        idle,
        appliedIdle: this.changes.some((c) => c.change === "applied" && c.object === `deployment/${this.deploymentName(idle)}`),
        appliedCanary: this.changes.some((c) => c.change === "applied" && c.object === `ingress/${canaryIngressName(this.cfg.ingress)}`),
        condemnedCanary: e instanceof CanaryRollback,
      };
      const undo = await this.rollBack(scope);
      const what = e instanceof CanaryRollback ? "canary analysis failed" : `the rollout failed at ${this.step} before the switch`;
      const rolledBack = undo.ok && this.undone.length > 0;
      const switchTried = this.changes.some((c) => c.change === "switched");
      const service = !undo.ok
        ? "Check the cluster now."
        : switchTried
          ? `The Service now selects ${undo.serviceColour}.`
          : `The Service was not switched by this run and still selects ${undo.serviceColour} (${liveImage ?? "?"}).`;
      const record = this.record(rolledBack ? "rolled-back" : "failure", started, {
        previousImage: liveImage ?? null,
        details: { failedStep: this.step, ...liveBefore, plan: plan.map(describeAction), undone: this.undone, canary: this.canaryReports },
      });
      record.notification = await notify(rolledBack ? "rollback" : "failure", `${what}: ${firstLine}`);
      const undid = !rolledBack
        ? ""
        : this.changes.length > 0
          ? ", rolled back this run's changes automatically"
          : ", withdrew the canary it analysed (an earlier run had set it up)";
      const changed = this.changes.length
        ? `This run changed: ${this.changes.map(describeChange).join(", ")}.`
        : "This run had changed nothing before the analysis failed.";
      fail(record, `${what}${undid}.\n${message}\n${changed}\n${undo.text}.\n${service}`);
    }

    const final = await observe(this.p, this.target);
    const nowLive = final.observed.serviceColour;
    const digest = (await runningDigest(this.p, this.target, final.raw[nowLive], this.cfg.container)) ?? this.verified?.digest ?? null;
    const record = this.record("success", started, {
      deployment: this.deploymentName(nowLive),
      digest,
      previousImage: live !== undefined && live !== nowLive ? (liveImage ?? null) : null,
      details: { liveBefore: live, liveAfter: nowLive, plan: plan.map(describeAction), canary: this.canaryReports, smoke: this.smoke },
    });
    record.notification = await notify("success", undefined, { Image: this.image, Colour: nowLive, ...(digest ? { Digest: digest } : {}) });
    return JSON.stringify(record, null, 2);
  }
}

/** Runs the blue-green rollout of a parsed request. */
export async function deployProduction(p: Pipeline, request: ProductionRequest<Secret>, clock: Clock): Promise<string> {
  return new ProductionRollout(p, request, clock).execute();
}

// ---------------------------------------------------------------------------------------------
// rollback --environment production

/**
 * Production rollback. During a canary (the canary Ingress exists): remove it and park the idle
 * colour; the live colour is untouched. Otherwise: switch the Service back to the other colour,
 * scaling it up first when the grace period already scaled it down. Refuses when that colour no
 * longer runs the release that was live before (the Service records it at each switch).
 */
export async function rollbackProduction(p: Pipeline, options: RollbackRequest<Secret>, clock: Clock): Promise<string> {
  const cfg = p.config.environments.production;
  const target: KubeTarget = { environment: "production", namespace: cfg.namespace, kubeconfig: options.kubeconfig };
  const started = clock.now();
  const { observed, service } = await observe(p, target);
  const live = observed.serviceColour;
  const previous = otherColour(live);
  const liveDeployment = observed.deployments[live];
  const previousDeployment = observed.deployments[previous];
  const steps: string[] = [];
  let image: string;
  let fromImage: string | null = liveDeployment?.image ?? null;

  const notify = (status: "rollback" | "failure", reason: string, details?: Record<string, string>) =>
    notifyQuietly(p, options.slackWebhook, {
      status,
      environment: "production",
      version: image ?? "(unknown)",
      ...(options.runUrl ? { runUrl: options.runUrl } : {}),
      reason,
      ...(details ? { details } : {}),
    });

  if (observed.canary) {
    // A rollout stopped mid-canary: the candidate is the idle colour, the live one stays.
    const candidate = previousDeployment?.image ?? "(none)";
    for (const action of planRollback(observed, candidate)) {
      if (action.type === "remove-canary") {
        await kubectlOk(p, target, ["delete", "ingress", canaryIngressName(cfg.ingress), "--ignore-not-found"]);
        steps.push("removed the canary Ingress");
      } else if (action.type === "scale-down-old") {
        await kubectlOk(p, target, ["scale", `deployment/${colouredName(cfg.deployment, action.colour)}`, "--replicas=0"]);
        steps.push(`scaled ${action.colour} (${candidate}) to 0`);
      }
    }
    image = liveDeployment?.image ?? "(unknown)";
    fromImage = candidate;
  } else {
    if (!previousDeployment) {
      throw new Error(`rollback: production has no ${previous} Deployment to switch back to; redeploy a previous version with deployProduction`);
    }
    const recorded = annotationsOf(service)[PREVIOUS_IMAGE_ANNOTATION];
    if (recorded && recorded !== previousDeployment.image) {
      throw new Error(
        `rollback: the ${previous} colour runs ${previousDeployment.image}, not ${recorded} (the release that was live before ${live}); ` +
          `switching to it would not restore the previous release. Redeploy the previous version with deployProduction --tag`,
      );
    }
    if (previousDeployment.image === liveDeployment?.image) {
      throw new Error(`rollback: both colours run ${previousDeployment.image}; there is no different previous release to return to`);
    }
    image = previousDeployment.image;
    if (!isReady(previousDeployment)) {
      const annotations = annotationsOf(service);
      const pull = scaleUpImage(image, annotations[PREVIOUS_IMAGE_ANNOTATION], annotations[PREVIOUS_DIGEST_ANNOTATION]);
      if (pull.kind === "refuse") {
        throw new Error(
          `rollback: refusing to scale ${previous} back up: ${pull.reason}. Nothing was changed; the Service still selects ${live}. ` +
            `Redeploy the previous release by digest with deployProduction --tag <its vX.Y.Z> (it resolves and verifies the digest).`,
        );
      }
      if (pull.kind === "re-pin") {
        // a parked colour (0 replicas): the new pod template starts no pod until the scale-up below
        await kubectlOk(p, target, ["set", "image", `deployment/${colouredName(cfg.deployment, previous)}`, `${cfg.container}=${pull.image}`]);
        steps.push(`pinned ${previous} from ${pull.from} to ${pull.image} (the digest it ran when it was live)`);
        image = pull.image;
      }
      const replicas = Math.max(1, liveDeployment?.replicas ?? 1);
      await kubectlOk(p, target, ["scale", `deployment/${colouredName(cfg.deployment, previous)}`, `--replicas=${replicas}`]);
      steps.push(`scaled ${previous} up to ${replicas}`);
      const problem = await waitRollout(p, target, colouredName(cfg.deployment, previous), cfg.rolloutTimeout);
      if (problem) {
        const evidence = await rolloutEvidence(p, target, colouredName(cfg.deployment, previous));
        const notification = await notify("failure", `rollback (${options.reason}): ${previous} did not become ready`);
        throw new Error(
          `rollback: ${previous} (${image}) did not become ready (${problem}), the Service still selects ${live}; reason: ${options.reason}\n${evidence}\nSlack: ${notification}`,
        );
      }
    }
    const liveDigest = liveDeployment?.image === undefined ? null : (pinnedDigest(liveDeployment.image) ?? (await runningDigest(p, target, await getObject(p, target, "deployment", colouredName(cfg.deployment, live)), cfg.container)));
    await kubectlOk(p, target, ["patch", "service", cfg.service, "--type=strategic", "-p", switchPatch(previous, live, liveDeployment?.image, liveDigest)]);
    steps.push(`switched Service ${cfg.service} from ${live} to ${previous}`);
  }

  const notification = await notify("rollback", options.reason, { From: fromImage ?? "(unknown)", To: image });
  const record: DeploymentRecord = {
    environment: "production",
    namespace: cfg.namespace,
    deployment: cfg.deployment,
    operation: "rollback",
    image,
    digest: pinnedDigest(image) ?? null,
    previousImage: fromImage,
    reason: options.reason,
    startedAt: isoTime(started),
    finishedAt: isoTime(clock.now()),
    durationSeconds: Math.round((clock.now() - started) / 1000),
    result: "success",
    details: { steps, liveBefore: live },
    notification,
  };
  return JSON.stringify(record, null, 2);
}
