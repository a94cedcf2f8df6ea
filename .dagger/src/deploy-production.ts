/**
 * Production: the blue-green rollout with an nginx-ingress canary and its automatic rollback. The decisions
 * are lib/deploy/bluegreen.ts (productionState, planUndo, planRollback); the pre-checks are production-checks.ts,
 * the canary analysis, the review of recent errors and the post-switch watch canary-analysis.ts, the manual
 * rollback production-rollback.ts. This file runs the planned actions with kubectl, waiting on the clock it is given.
 *
 * A run records each change it makes; when it fails, only those are undone (planUndo), and a failure
 * before its first change undoes nothing.
 *
 * Re-running after any interruption observes the cluster again and lets the planner continue or
 * repair: the Service always selects exactly one colour, and the other colour only gets traffic
 * through the canary Ingress once it runs the target image, is ready and passed the smoke test.
 */
import type { Secret } from "@dagger.io/dagger";
import type { Pipeline } from "./pipeline";
import type { VerifiedImage } from "./verify";
import { getObject, kubectlOk, MANIFEST_PATH, notifyQuietly, rolloutEvidence, runningDigest, smokeTest, waitRollout, type KubeTarget, type SmokeResult } from "./deploy-support";
import { analyseCanary, CanaryRollback, PostSwitchBreach, reviewLiveErrors, watchAfterSwitch, type CanaryContext, type CanaryReport, type WatchReport } from "./canary-analysis";
import { observe, proxyProbe } from "./production-cluster";
import { PreCheckFailed, productionPreChecks } from "./production-checks";
import { isoTime, type Clock } from "./lib/clock";
import { errorMessage } from "./lib/errors";
import type { ProductionRequest } from "./lib/deploy-args";
import { pinnedDigest } from "./lib/deploy-image";
import {
  canaryIngress,
  canaryIngressName,
  colouredName,
  describeAction,
  describeChange,
  greenFromBlue,
  otherColour,
  planRollback,
  planUndo,
  productionState,
  type Colour,
  type ProductionAction,
  type ProductionChange,
  type ObservedProduction,
  type UndoScope,
} from "./lib/deploy/bluegreen";
import type { DeploymentRecord } from "./lib/deploy/record";
import { switchPatch } from "./lib/deploy/service-switch";
import { pageResolve, pageTrigger } from "./alerts";
import { releaseFailureCondition, type PagedCondition } from "./lib/alerts/pagerduty";
import { errorReviewRecord, errorReviewRefusal, safeguardFacts, safeguardNotes, type ErrorReviewRecord } from "./lib/deploy/safeguards";
import { deployProductionArgo } from "./production-argo";

class ProductionRollout {
  private readonly cfg;
  private readonly target: KubeTarget;
  private readonly log: string[] = [];
  private mainIngress: Record<string, unknown> | null = null;
  private readonly canaryReports: CanaryReport[] = [];
  private smoke?: SmokeResult;
  private errorReview?: ErrorReviewRecord;
  private watch?: WatchReport;
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

  /** The pre-checks (image digest and signature, staging health): they change nothing. */
  private async preChecks(): Promise<void> {
    try {
      this.verified = await productionPreChecks(this.p, this.options, this.clock);
    } catch (e) {
      if (e instanceof PreCheckFailed && e.verified) this.verified = e.verified;
      throw e;
    } finally {
      if (this.verified) this.image = this.verified.reference;
    }
    this.log.push(`pre-checks passed: ${this.tagReference} is ${this.image}, ${this.verified.summary}; staging healthy`);
  }

  private get analysis(): CanaryContext {
    return { p: this.p, target: this.target, request: this.options, clock: this.clock };
  }

  /**
   * The pre-check "review recent errors" on the live colour (it changes nothing): refuses with the figures unless
   * they are within the canary rules or --accept-recent-errors says why to release anyway.
   */
  private async reviewRecentErrors(live: Colour): Promise<void> {
    const review = await reviewLiveErrors(this.analysis, await this.main(), live);
    this.errorReview = errorReviewRecord(live, review, this.options.safeguards);
    const refusal = errorReviewRefusal(this.errorReview);
    if (refusal) throw new PreCheckFailed("recent errors", refusal);
    this.log.push(
      this.errorReview.accepted === undefined
        ? `recent errors of ${live} within the canary rules: ${this.errorReview.figures}`
        : `recent errors of ${live} ACCEPTED (--accept-recent-errors: ${this.errorReview.accepted}): ${this.errorReview.breaches.join("; ")}`,
    );
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
        this.smoke = await smokeTest(this.clock, proxyProbe(this.p, this.target, name, port), this.cfg.smoke.paths, this.cfg.smoke.deadlineSeconds, `Service ${name}`, this.cfg.smoke.metrics);
        return;
      }
      case "set-canary":
        await this.apply(canaryIngress(await this.main(), action.weight, this.serviceName(action.colour)), `${action.weight} % to ${this.serviceName(action.colour)}`);
        return;
      case "analyse": {
        const report = await analyseCanary(this.analysis, await this.main(), action.colour, action.weight);
        this.canaryReports.push(report);
        this.log.push(`canary ${report.weight} %: promote (${report.reason})`);
        return;
      }
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
          // The grace period is the post-switch watch: a breach switches back to this still scaled-up colour.
          const watched = otherColour(action.colour);
          this.log.push(`watching ${watched} with the canary rules for ${action.afterSeconds}s, keeping ${action.colour} scaled up (instant switch back)`);
          this.watch = await watchAfterSwitch(this.analysis, await this.main(), watched, action.afterSeconds);
          this.log.push(`post-switch watch of ${watched}: ${this.watch.reason}`);
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

  /**
   * Automatic rollback on what the cluster shows now: planUndo of this run's own changes before the switch, or
   * planRollback (switch back to the still scaled-up old colour) after a breach in the post-switch watch.
   */
  private async rollBack(plan: (observed: ObservedProduction) => ProductionAction[]): Promise<{ ok: boolean; serviceColour?: Colour; text: string }> {
    this.undoing = true;
    try {
      const { observed } = await observe(this.p, this.target);
      let serviceColour = observed.serviceColour;
      for (const action of plan(observed)) {
        if (action.type !== "done") await this.run(action, observed.serviceColour, observed.deployments[observed.serviceColour]?.image);
        if (action.type === "switch") serviceColour = action.colour;
      }
      const text = this.undone.length
        ? `automatic rollback done: ${this.undone.map(describeChange).join(", ")}`
        : "automatic rollback: none of this run's changes needed undoing";
      return { ok: true, serviceColour, text };
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
        ...this.safeguardDetails(),
        ...extra.details,
        changes: this.changes,
        log: this.log,
      },
    };
  }

  /** The record's account of the safeguards: the hotfix, the review of recent errors, the post-switch watch. */
  private safeguardDetails(): Record<string, unknown> {
    const { hotfix, reason } = this.options.safeguards;
    const notes = safeguardNotes(safeguardFacts(this.options.safeguards, this.errorReview));
    return {
      ...(hotfix ? { hotfix: { reason } } : {}),
      ...(this.errorReview ? { errorReview: this.errorReview } : {}),
      ...(this.watch ? { postSwitchWatch: this.watch } : {}),
      ...(notes.length ? { releaseNotes: notes } : {}),
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
        details: { ...safeguardFacts(this.options.safeguards, this.errorReview), ...details },
      });
    const page = async (record: DeploymentRecord, condition: PagedCondition) => {
      if (!this.options.pagerdutyRoutingKey) return;
      record.details.pagerduty = await pageTrigger(this.p, this.options.pagerdutyRoutingKey, condition, `${this.cfg.namespace}/${this.cfg.deployment}`, this.options.runUrl);
    };
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
      const { hotfix, reason } = this.options.safeguards;
      const planned = productionState(observed, { targetImage: this.image, canarySteps: this.cfg.canary.steps, graceSeconds: this.cfg.canary.graceSeconds, hotfix });
      live = planned.live;
      liveImage = observed.deployments[live]?.image;
      plan = planned.actions;
      if (hotfix) this.log.push(`hotfix: no canary steps (${reason})`);
      if (liveImage !== this.image) {
        this.step = "review recent errors";
        await this.reviewRecentErrors(live);
      }
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

      if (this.changes.length === 0 && !(e instanceof CanaryRollback) && !(e instanceof PostSwitchBreach)) {
        const check = e instanceof PreCheckFailed ? e.check : this.step;
        const record = this.record("failure", started, { details: { phase: "pre-check", failedCheck: check, ...liveBefore, plan: plan.map(describeAction) } });
        record.notification = await notify("failure", `pre-check "${check}" failed, production unchanged: ${firstLine}`);
        await page(record, { kind: "deploy-failed", tag: version, reason: `${check}: ${firstLine}`, productionChanged: false });
        fail(
          record,
          `${message}\nFailed before changing anything (check: ${check}): production is as this run found it, so there was nothing to undo.` +
            (live ? ` The Service still selects ${live} (${liveImage ?? "?"}).` : ""),
        );
      }

      if (e instanceof PostSwitchBreach) {
        // The old colour is still scaled up during the watch: the Service goes back to it, the new colour is parked.
        const undo = await this.rollBack((observed) => planRollback(observed, this.image));
        const record = this.record(undo.ok ? "rolled-back" : "failure", started, {
          previousImage: liveImage ?? null,
          details: { failedStep: this.step, ...liveBefore, plan: plan.map(describeAction), undone: this.undone, canary: this.canaryReports },
        });
        record.notification = await notify(undo.ok ? "rollback" : "failure", `post-switch watch of ${e.colour} failed: ${firstLine}`);
        fail(
          record,
          `${this.image} went live on ${e.colour}, then broke the canary rules in the post-switch watch${undo.ok ? ", switched back automatically" : ""}.\n${message}\n${undo.text}.\n` +
            (undo.ok ? `The Service now selects ${undo.serviceColour}${undo.serviceColour === live ? ` (${liveImage ?? "?"})` : ""}.` : "Check the cluster now."),
        );
      }

      if (switchedByRun || (live !== undefined && liveImage === this.image)) {
        // The release is live (this run switched, or an earlier run did): finishing failed, nothing to roll back.
        const record = this.record("failure", started, { details: { phase: "finish", failedStep: this.step, ...liveBefore, plan: plan.map(describeAction) } });
        record.notification = await notify("failure", `finishing failed at ${this.step}, the release is live, no rollback: ${firstLine}`);
        await page(record, { kind: "deploy-failed", tag: version, reason: `${this.step}: ${firstLine}`, productionChanged: true });
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
      const undo = await this.rollBack((observed) => planUndo(observed, scope));
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
        details: {
          phase: e instanceof CanaryRollback ? "canary" : "rollout",
          failedStep: this.step,
          ...liveBefore,
          plan: plan.map(describeAction),
          undone: this.undone,
          canary: this.canaryReports,
        },
      });
      record.notification = await notify(rolledBack ? "rollback" : "failure", `${what}: ${firstLine}`);
      await page(record, releaseFailureCondition(version, `${what}: ${firstLine}`, undo, rolledBack, this.changes.length > 0));
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
    if (this.options.pagerdutyRoutingKey) record.details.pagerduty = await pageResolve(this.p, this.options.pagerdutyRoutingKey, { kind: "deploy-failed", tag: version });
    return JSON.stringify(record, null, 2);
  }
}

/** Runs the blue-green rollout of a parsed request. */
export async function deployProduction(p: Pipeline, request: ProductionRequest<Secret>, clock: Clock): Promise<string> {
  if (p.config.environments.production.strategy === "argo-rollouts") return deployProductionArgo(p, request, clock);
  return new ProductionRollout(p, request, clock).execute();
}
