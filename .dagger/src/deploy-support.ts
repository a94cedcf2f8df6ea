/**
 * What every deployment function shares: kubectl with the kubeconfig as a mounted Secret, the smoke test
 * (waiting on the caller's clock), and Slack notifications.
 */
import { dag, ReturnType, type Container, type Secret } from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce, type ExecOutcome } from "./exec";
import type { Pipeline } from "./pipeline";
import type { Clock } from "./lib/clock";
import { errorMessage, tail } from "./lib/errors";
import { describeRolloutFailure, parseRolloutStatus } from "./lib/deploy/rollout";
import { backoffMs, digestFromImageId, isHealthyBody, prometheusTextProblem, type MetricsExpectation } from "./lib/deploy/smoke";
import type { SlackMessage, SlackMessageInput } from "./lib/deploy/slack";
import { renderSlack } from "./lib/messages";

// ---------------------------------------------------------------------------------------------
// kubectl

export const KUBECONFIG_PATH = "/run/secrets/kubeconfig";
/** Manifests go in as a file (`kubectl apply -f <this>`), never as an argument. */
export const MANIFEST_PATH = "/run/observatory-ci/manifest.json";

/** Which cluster and namespace an operation is about, for error messages. */
export interface KubeTarget {
  environment: string;
  namespace: string;
  kubeconfig: Secret;
}

/** A tmpfs that lasts for one exec: the decoded kubeconfig never lands in a layer. */
export const DECODED_KUBECONFIG_DIR = "/run/observatory-ci/kube";

/**
 * kubectl's entrypoint: the kubeconfig Secret holds the YAML (or JSON) itself, or its base64 (the plan's
 * DEV_KUBECONFIG...). Base64 has no ':', every kubeconfig (YAML or JSON) has one, so a file without any is
 * decoded, inside the container, into the per-exec tmpfs, and kubectl reads that. busybox
 * `base64 -d` skips characters outside the alphabet instead of failing (mirror/busybox 1_36_1
 * coreutils/uudecode.c), hence the check of the decoded text before kubectl runs.
 */
export const KUBECONFIG_ENTRYPOINT = [
  'given="$KUBECONFIG"',
  `if ! grep -q : "$given"; then`,
  `  if ! base64 -d "$given" > ${DECODED_KUBECONFIG_DIR}/config 2>/dev/null || ! grep -q : ${DECODED_KUBECONFIG_DIR}/config; then`,
  '    echo "the kubeconfig secret is neither a kubeconfig nor its base64" >&2; exit 2',
  "  fi",
  `  export KUBECONFIG=${DECODED_KUBECONFIG_DIR}/config`,
  "fi",
  'exec "$@"',
].join("\n");

function kubectlBase(p: Pipeline, kubeconfig: Secret): Container {
  return dag
    .container()
    .from(p.config.images.kubectl)
    .withMountedSecret(KUBECONFIG_PATH, kubeconfig)
    .withEnvVariable("KUBECONFIG", KUBECONFIG_PATH)
    .withMountedTemp(DECODED_KUBECONFIG_DIR)
    // with useEntrypoint the engine prepends it to the exec's args (dagger v0.21.8 core/schema/container.go,
    // withExec useEntrypoint; v0.21.9 is cut from backport-0.21): decoding and kubectl are one exec, one tmpfs
    .withEntrypoint(["sh", "-euc", KUBECONFIG_ENTRYPOINT, "kubeconfig"]);
}

/**
 * One kubectl command in the target namespace (`-n` is added). Every call carries a nonce: cluster
 * state changes under the pipeline, so a read must never be answered from the engine's cache.
 * A non-zero exit is returned, not thrown.
 */
export async function kubectl(p: Pipeline, target: KubeTarget, args: string[], options: { input?: string; namespaced?: boolean } = {}): Promise<ExecOutcome> {
  let ctr = kubectlBase(p, target.kubeconfig);
  if (options.input !== undefined) ctr = ctr.withNewFile(MANIFEST_PATH, options.input);
  const namespace = options.namespaced === false ? [] : ["-n", target.namespace];
  return outcomeOf(withRunNonce(ctr).withExec(["kubectl", ...namespace, ...args], { expect: ReturnType.Any, useEntrypoint: true }));
}

/** kubectl that must succeed: the error names the environment, the namespace, the command and kubectl's stderr. */
export async function kubectlOk(p: Pipeline, target: KubeTarget, args: string[], options: { input?: string; namespaced?: boolean } = {}): Promise<string> {
  const outcome = await kubectl(p, target, args, options);
  if (outcome.exitCode !== 0) {
    throw new Error(
      `kubectl ${args.join(" ")} failed in ${target.environment} (namespace ${target.namespace}, exit ${outcome.exitCode}):\n${tail(outcome.stderr || outcome.stdout, 20)}`,
    );
  }
  return outcome.stdout;
}

/** `kubectl get <kind> <name> -o json --ignore-not-found`: the object, or null when it does not exist. */
export async function getObject(p: Pipeline, target: KubeTarget, kind: string, name: string): Promise<Record<string, unknown> | null> {
  const text = await kubectlOk(p, target, ["get", kind, name, "-o", "json", "--ignore-not-found"]);
  if (text.trim() === "") return null;
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`kubectl get ${kind} ${name} in ${target.environment} (namespace ${target.namespace}) printed no JSON: ${errorMessage(e)}`);
  }
}

/** The image of `container` in a Deployment object. */
export { containerImage } from "./lib/deploy/deployment-image";

/** A failed rollout, explained: the Deployment's conditions and the recent events of it, its ReplicaSets and Pods. */
export async function rolloutEvidence(p: Pipeline, target: KubeTarget, deployment: string): Promise<string> {
  const [object, events] = await Promise.all([
    kubectl(p, target, ["get", "deployment", deployment, "-o", "json"]),
    kubectl(p, target, ["get", "events", "-o", "json"]),
  ]);
  if (object.exitCode !== 0) return `(could not read deployment ${deployment}: ${tail(object.stderr, 3)})`;
  try {
    return describeRolloutFailure(object.stdout, events.exitCode === 0 ? events.stdout : undefined);
  } catch (e) {
    return `(could not describe deployment ${deployment}: ${errorMessage(e)})`;
  }
}

/** `kubectl rollout status` with a timeout; returns null when complete, else the kubectl verdict. */
export async function waitRollout(p: Pipeline, target: KubeTarget, deployment: string, timeout: string): Promise<string | null> {
  const out = await kubectl(p, target, ["rollout", "status", `deployment/${deployment}`, `--timeout=${timeout}`]);
  const result = parseRolloutStatus(`${out.stdout}\n${out.stderr}`, out.exitCode);
  return result.complete ? null : `${result.reason}: ${result.message}`;
}

/** The digest the Deployment's pods run, from their container statuses; null when not one digest. */
export async function runningDigest(p: Pipeline, target: KubeTarget, deployment: Record<string, unknown> | null, container: string): Promise<string | null> {
  const labels = (deployment as { spec?: { selector?: { matchLabels?: Record<string, string> } } } | null)?.spec?.selector?.matchLabels;
  if (!labels || Object.keys(labels).length === 0) return null;
  const selector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",");
  const out = await kubectl(p, target, ["get", "pods", "-l", selector, "-o", "json"]);
  if (out.exitCode !== 0) return null;
  try {
    const pods = (JSON.parse(out.stdout) as { items?: { status?: { containerStatuses?: { name?: string; imageID?: string }[] } }[] }).items ?? [];
    const digests = new Set(
      pods.flatMap((pod) => (pod.status?.containerStatuses ?? []).filter((c) => c.name === container).map((c) => digestFromImageId(c.imageID ?? ""))),
    );
    return digests.size === 1 ? [...digests][0] : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Smoke test

export interface ProbeResult {
  /** HTTP status; null when no response (connection refused, timeout, proxy error). */
  status: number | null;
  body: string;
  error?: string;
}

export type Probe = (path: string) => Promise<ProbeResult>;

export interface SmokeResult {
  target: string;
  attempts: number;
  seconds: number;
  checked: string[];
}

/** A probe through the public URL, with curl in its pinned image (one nonce-carrying exec per request). */
export function curlProbe(p: Pipeline, baseUrl: string): Probe {
  const base = baseUrl.replace(/\/+$/, "");
  return async (path) => {
    const ctr = withRunNonce(dag.container().from(p.config.images.curl));
    // curl exits 0 on any HTTP status; the status is appended on its own last line.
    const { exitCode, stdout, stderr } = await outcomeOf(
      runAllowingFailure(ctr, ["curl", "-sS", "--max-time", "10", "--write-out", "\\n%{http_code}", `${base}${path}`]),
    );
    if (exitCode !== 0) return { status: null, body: "", error: `curl exit ${exitCode}: ${tail(stderr || stdout, 3)}` };
    const cut = stdout.lastIndexOf("\n");
    const status = Number(stdout.slice(cut + 1).trim());
    return { status: Number.isInteger(status) && status > 0 ? status : null, body: cut >= 0 ? stdout.slice(0, cut) : "" };
  };
}

function judge(path: string, result: ProbeResult, metrics: MetricsExpectation): string | null {
  if (result.status === null) return result.error ?? "no response";
  if (result.status !== 200) return `HTTP ${result.status}${result.body ? `: ${result.body.trim().slice(0, 200)}` : ""}`;
  if (/health/.test(path) && !isHealthyBody(result.body)) return `HTTP 200 but the body does not say healthy: ${JSON.stringify(result.body.trim().slice(0, 200))}`;
  if (/metrics/.test(path)) {
    const problem = prometheusTextProblem(result.body, metrics);
    if (problem) return `HTTP 200 but not Prometheus text format (${problem})`;
  }
  return null;
}

/**
 * Requests every path until each one passed once, retrying the failing ones with exponential
 * backoff until the deadline (new pods may still be warming up). No fixed sleeps: it stops as soon
 * as everything passed.
 */
export async function smokeTest(
  clock: Clock,
  probe: Probe,
  paths: readonly string[],
  deadlineSeconds: number,
  target: string,
  metrics: MetricsExpectation = "samples",
): Promise<SmokeResult> {
  const started = clock.now();
  const deadline = started + deadlineSeconds * 1000;
  let pending = [...paths];
  const failures = new Map<string, string>();
  for (let attempt = 0; ; attempt++) {
    const results = await Promise.all(pending.map(async (path) => [path, judge(path, await probe(path), metrics)] as const));
    pending = [];
    for (const [path, problem] of results) {
      if (problem === null) failures.delete(path);
      else {
        failures.set(path, problem);
        pending.push(path);
      }
    }
    if (pending.length === 0) {
      return { target, attempts: attempt + 1, seconds: Math.round((clock.now() - started) / 1000), checked: [...paths] };
    }
    const remaining = deadline - clock.now();
    if (remaining <= 0) {
      throw new Error(
        `smoke test of ${target} failed after ${attempt + 1} attempt(s) over ${deadlineSeconds}s:\n` +
          [...failures].map(([path, problem]) => `  ${path}: ${problem}`).join("\n"),
      );
    }
    await clock.sleep(backoffMs(attempt, remaining));
  }
}

// ---------------------------------------------------------------------------------------------
// Secrets for curl

/**
 * A secret curl needs (a token, a webhook URL) goes in as a mounted file and is expanded by curl
 * itself: `--variable name@file` reads it and `--expand-<option>` inserts `{{name:trim}}` (curl 8.3.0+,
 * docs/cmdline-opts/variable.md; the pinned curl is 8.11.0). Neither argv nor the environment holds
 * it, and no shell is involved. The file belongs to the image's unprivileged curl_user.
 */
export function withCurlSecret(ctr: Container, name: string, secret: Secret): Container {
  return ctr.withMountedSecret(`/run/secrets/${name}`, secret, { owner: "curl_user" });
}

/** curl arguments that set `option` to `template`, where `{{secret}}` is the mounted secret `name`. */
export function curlSecretArgs(name: string, option: "url" | "header", template: string): string[] {
  const variable = name.replace(/-/g, "_");
  return ["--variable", `${variable}@/run/secrets/${name}`, `--expand-${option}`, template.replace("{{secret}}", `{{${variable}:trim}}`)];
}

// ---------------------------------------------------------------------------------------------
// Slack

export const SLACK_WEBHOOK_SECRET = "slack-webhook";

/**
 * Posts one message to a Slack incoming webhook; throws with curl's answer when Slack refuses it. The JSON is built
 * in TypeScript and written as a file; curl reads the URL from the mounted secret.
 */
export async function postSlack(p: Pipeline, webhook: Secret, message: SlackMessage, what: string): Promise<string> {
  const ctr = withCurlSecret(dag.container().from(p.config.images.curl).withNewFile("/payload.json", JSON.stringify(message)), SLACK_WEBHOOK_SECRET, webhook);
  const args = [
    "curl", "-sS", "--fail-with-body", "--max-time", "20", "--retry", "3", "--retry-all-errors",
    "-H", "Content-Type: application/json", "--data", "@/payload.json",
    ...curlSecretArgs(SLACK_WEBHOOK_SECRET, "url", "{{secret}}"),
  ];
  const { exitCode, stdout, stderr } = await outcomeOf(runAllowingFailure(withRunNonce(ctr), args));
  if (exitCode !== 0) throw new Error(`${what}: Slack webhook call failed (curl exit ${exitCode}): ${tail(stderr || stdout, 5)}`);
  return `sent to Slack: ${message.text.slice(0, 120)}`;
}

/** A deployment's message (lib/messages.ts renderSlack), posted. */
export async function sendSlack(p: Pipeline, webhook: Secret, input: SlackMessageInput): Promise<string> {
  await postSlack(p, webhook, renderSlack({ kind: "deployment", deployment: input }), "notify");
  return `sent ${input.status} for ${input.environment} ${input.version}`;
}

/** A notification from inside a deployment: never fails the deployment, says what happened. */
export async function notifyQuietly(p: Pipeline, webhook: Secret | undefined, input: SlackMessageInput): Promise<string> {
  if (!webhook) return "not sent (no --slack-webhook)";
  try {
    return await sendSlack(p, webhook, input);
  } catch (e) {
    return `failed: ${errorMessage(e)}`;
  }
}
