/**
 * A scripted Kubernetes cluster, Prometheus, public endpoints, Slack, registry and k6 for the
 * deployment tests. kubectl execs are answered from an in-memory object store that mutations
 * (set image, apply, patch, scale, delete, rollout undo) update, so a resumed run sees what the
 * interrupted one left. Every exec carries a nonce; each distinct exec is answered (and mutates)
 * once, however many leaves (stdout, stderr, exitCode) the module reads from it.
 */
import { readFileSync } from "node:fs";
import { dag } from "@dagger.io/dagger";
import type { ObservatoryCi } from "../../.dagger/src/index";
import { canarySecret, isRef, type ExecResult, type ExecView, type Script, type Step } from "../support/recording-session";
import { MANIFEST_PATH } from "../../.dagger/src/deploy-support";
import type { Clock } from "../../.dagger/src/lib/clock";
import { VERIFY_ATTESTATION, VERIFY_SIGNATURE } from "../../.dagger/src/verify";
import { attestationStdout, identityMismatch, NO_SIGNATURES, verifyStdout } from "../support/cosign-output";
import { PREVIOUS_COLOUR_ANNOTATION, PREVIOUS_DIGEST_ANNOTATION, PREVIOUS_IMAGE_ANNOTATION } from "../../.dagger/src/lib/deploy/service-switch";

export const DIGEST = `sha256:${"ab12".repeat(16)}`;
export const OLD_DIGEST = `sha256:${"cd34".repeat(16)}`;
export const REPO = "ghcr.io/acme/observatory/analytics-api";
/** The digest reference every deploy sets: what publish pushed, resolved and verified. */
export const PINNED = `${REPO}@${DIGEST}`;
export const publishIdentity = (githubRepository: string, ref: string) => `https://github.com/${githubRepository}/.github/workflows/ci.yml@${ref}`;

export const k6Fixture = (): any =>
  JSON.parse(readFileSync(new URL("../fixtures/reports/k6/handlesummary-data-http-simple.json", import.meta.url), "utf8"));
export const kubectlFixture = (name: string) => readFileSync(new URL(`../fixtures/reports/kubectl/${name}`, import.meta.url), "utf8");

type Json = any;

/**
 * crane digest's stderr lines, from go-containerregistry v0.20.2: pkg/crane/digest.go logs the failed HEAD
 * (log.LstdFlags prefix) and returns the GET's error; transport/error.go formats both; cobra v1.7.0 prints
 * the returned one as `Error: ...` and cmd/crane/main.go exits 1.
 */
export const manifestUrl = (tag: string) => `https://ghcr.io/v2/acme/observatory/analytics-api/manifests/${tag}`;
export const craneHead404 = (tag: string) =>
  `2025/06/02 10:00:00 HEAD request failed, falling back on GET: HEAD ${manifestUrl(tag)}: unexpected status code 404 Not Found (HEAD responses have no body, use GET for details)`;
export const craneFailure = (tag: string, answer: string): ExecResult => ({ exitCode: 1, stderr: `${craneHead404(tag)}\nError: GET ${manifestUrl(tag)}: ${answer}\n` });

/** A fake clock, passed to the module run (moduleRun's `clock`): sleeping advances time instantly and is recorded. */
export class FakeClock implements Clock {
  time = Date.parse("2025-06-02T10:00:00Z");
  sleeps: number[] = [];
  onSleep?: (ms: number, clock: FakeClock) => void;
  now = () => this.time;
  sleep = async (ms: number) => {
    this.sleeps.push(ms);
    this.time += ms;
    this.onSleep?.(ms, this);
  };
}

export function promVector(value: string | null): string {
  return JSON.stringify({
    status: "success",
    data: { resultType: "vector", result: value === null ? [] : [{ metric: {}, value: [1717322400.123, value] }] },
  });
}

export type Metric = "errorRate" | "latency" | "health";
export function metricOf(query: string): Metric {
  if (query.includes("histogram_quantile")) return "latency";
  if (query.includes("kube_deployment")) return "health";
  return "errorRate";
}

/** A query about the public Service's traffic (the pre-check's review, the post-switch watch), not the canary's. */
export const isLive = (query: string) => query.includes('canary=""');
export const healthyValue = (metric: Metric) => (metric === "errorRate" ? "0.002" : metric === "latency" ? "0.21" : "0");

/**
 * Prometheus answering per metric and interval (1-based: the n-th query of that metric), for the canary's queries
 * and, separately, for the live traffic's (healthy unless `live` says otherwise).
 */
export function prometheusBy(values: (metric: Metric, interval: number) => string | null, live: (metric: Metric, interval: number) => string | null = healthyValue) {
  const counts: Record<Metric, number> = { errorRate: 0, latency: 0, health: 0 };
  const liveCounts: Record<Metric, number> = { errorRate: 0, latency: 0, health: 0 };
  return (query: string) => {
    const metric = metricOf(query);
    return isLive(query) ? promVector(live(metric, ++liveCounts[metric])) : promVector(values(metric, ++counts[metric]));
  };
}

export const HEALTHY_BODY = '{"status":"healthy","version":"1.4.0"}';
export const METRICS_BODY =
  "# HELP http_requests_total Requests served.\n# TYPE http_requests_total counter\n" +
  'http_requests_total{method="GET",status="200"} 1027\nprocess_start_time_seconds 1717322400\n';

function deploymentObject(name: string, namespace: string, image: string, replicas: number, labels: Record<string, string>): Json {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace, labels: { app: "analytics-api", ...labels }, generation: 1, uid: `uid-${name}`, resourceVersion: "100" },
    spec: {
      replicas,
      selector: { matchLabels: { app: "analytics-api", ...labels } },
      template: {
        metadata: { labels: { app: "analytics-api", ...labels } },
        spec: { containers: [{ name: "analytics-api", image, ports: [{ name: "http", containerPort: 8080 }] }] },
      },
    },
    status: {},
  };
}

function readyStatus(d: Json): Json {
  const n = d.spec.replicas;
  return {
    observedGeneration: d.metadata.generation,
    replicas: n,
    updatedReplicas: n,
    readyReplicas: n,
    availableReplicas: n,
    conditions: [
      { type: "Available", status: "True", reason: "MinimumReplicasAvailable" },
      { type: "Progressing", status: "True", reason: "NewReplicaSetAvailable" },
    ],
  };
}

export interface ClusterOptions {
  namespace: string;
}

export class FakeCluster {
  /** `${kind}/${name}` -> object */
  objects = new Map<string, Json>();
  /** kubectl argument lists (without "kubectl" and -n <ns>) in the order they ran, each once. */
  commands: string[][] = [];
  /** Every request the public endpoint / Prometheus / Slack / registry received. */
  curls: string[] = [];
  slack: { payload: Json; secretFiles: Record<string, string> }[] = [];
  history = new Map<string, string[]>();
  /** Images whose rollout never completes. */
  failingImages = new Set<string>();
  /** When true every kubectl call fails as if the API server were unreachable. */
  down = false;
  /** Answers a Prometheus query (PromQL text, call index) with a response body, or a failed exec. */
  prometheus: (query: string, n: number) => string | ExecResult = () => promVector("0");
  prometheusCalls = 0;
  /** Public endpoints: URL -> [status, body]. */
  http: (url: string) => { status: number; body: string } | ExecResult = (url) =>
    url.endsWith("/health") ? { status: 200, body: HEALTHY_BODY } : url.endsWith("/metrics") ? { status: 200, body: METRICS_BODY } : { status: 404, body: "not found" };
  imageExists = true;
  /** Whether the colour Services answer /health through the API server proxy. */
  colourHealthy = true;
  /** What crane digest answers, instead of the imageExists default. */
  registryAnswer?: ExecResult;
  /** What crane digest resolves a tag to (default DIGEST). */
  tags = new Map<string, string>();
  /** The digest a pod of a tag-named Deployment reports in its imageID (default DIGEST). */
  runningDigests = new Map<string, string>();
  /**
   * The certificate subject that signed each digest; a digest not listed is signed by exactly the signer cosign
   * is asked for (the success path), one in `unsigned` has no signature, one in `unattested` no SBOM attestation.
   */
  signers = new Map<string, string>();
  /**
   * The commit each digest's signing run built (its certificate's GitHub workflow SHA); a digest not
   * listed was built from whatever commit cosign is asked for.
   */
  builtFrom = new Map<string, string>();
  unsigned = new Set<string>();
  unattested = new Set<string>();
  /** Every image reference cosign was asked to verify, in order (signature checks only). */
  verified: string[] = [];
  k6: { exitCode: number; summary?: Json; stdout?: string; stderr?: string } = { exitCode: 0 };
  gh: ExecResult = { stdout: "https://github.com/acme/observatory/releases/tag/v1.4.0\n" };
  private memo = new Map<string, ExecResult>();

  constructor(readonly options: ClusterOptions) {}

  put(obj: Json): void {
    this.objects.set(`${obj.kind.toLowerCase()}/${obj.metadata.name}`, obj);
  }

  get(kind: string, name: string): Json {
    return this.objects.get(`${kind}/${name}`);
  }

  addDeployment(name: string, image: string, replicas: number, labels: Record<string, string> = {}, ready = true): Json {
    const d = deploymentObject(name, this.options.namespace, image, replicas, labels);
    if (ready) d.status = readyStatus(d);
    this.put(d);
    this.history.set(name, [image]);
    return d;
  }

  addService(name: string, selector: Record<string, string>): void {
    this.put({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: this.options.namespace, labels: { app: "analytics-api" } },
      spec: { type: "ClusterIP", selector: { app: "analytics-api", ...selector }, ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }] },
    });
  }

  addIngress(name: string, host: string): void {
    this.put({
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { name, namespace: this.options.namespace, labels: { app: "analytics-api" }, resourceVersion: "7" },
      spec: {
        ingressClassName: "nginx",
        tls: [{ hosts: [host], secretName: "analytics-api-tls" }],
        rules: [{ host, http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "analytics-api", port: { number: 80 } } } }] } }],
      },
    });
  }

  image(name: string): string | undefined {
    return this.get("deployment", name)?.spec.template.spec.containers[0].image;
  }

  script(): Script {
    return {
      exec: (view) => {
        const nonce = view.env.OBSERVATORY_CI_RUN;
        if (nonce === undefined) return this.answer(view);
        const key = JSON.stringify([nonce, view.image, view.args]);
        if (!this.memo.has(key)) this.memo.set(key, this.answer(view) ?? {});
        return this.memo.get(key);
      },
      file: (path, view) => {
        if (view?.args[0] === "k6" && this.k6.summary && path === "/out/summary.json") return JSON.stringify(this.k6.summary);
        return undefined;
      },
    };
  }

  private answer(view: ExecView): ExecResult | undefined {
    const [tool] = view.args;
    if (tool === "kubectl") return this.kubectl(view);
    if (tool === "curl" && view.secretFiles["/run/secrets/slack-webhook"]) {
      const payload = newFile(view.chain, "/payload.json");
      this.slack.push({ payload: JSON.parse(payload ?? "null"), secretFiles: view.secretFiles });
      return { stdout: "ok" };
    }
    if (tool === "curl" && view.args[view.args.length - 1].includes("/api/v1/query?")) {
      const url = new URL(view.args[view.args.length - 1]);
      this.curls.push(url.href);
      return this.promAnswer(url.searchParams.get("query") ?? "");
    }
    if (tool === "curl") {
      const url = view.args[view.args.length - 1];
      this.curls.push(url);
      const r = this.http(url);
      if ("status" in r && typeof r.status === "number") return { stdout: `${r.body}\n${r.status}` };
      return r as ExecResult;
    }
    if (tool === "/busybox/sh") {
      if (this.registryAnswer) return this.registryAnswer;
      const tag = String(view.args.at(-1)).split(":").at(-1)!;
      return this.imageExists
        ? { stdout: `${this.tags.get(tag) ?? DIGEST}\n` }
        : { exitCode: 1, stderr: `${craneHead404(tag)}\nError: GET ${manifestUrl(tag)}: MANIFEST_UNKNOWN: manifest unknown; map[Tag:${tag}]` };
    }
    if (tool === "sh" && (view.args[3] === VERIFY_SIGNATURE || view.args[3] === VERIFY_ATTESTATION)) return this.cosign(view.args.slice(3));
    if (tool === "k6") return { exitCode: this.k6.exitCode, stdout: this.k6.stdout ?? "k6 load test summary\n", stderr: this.k6.stderr ?? "" };
    if (tool === "sh" && view.args[3] === "gh-release") return this.gh;
    return undefined;
  }

  /** cosign verify / verify-attestation against the fake registry's signatures (keyless: identity or regexp). */
  private cosign([marker, ...args]: string[]): ExecResult {
    const reference = args.at(-1)!;
    const digest = reference.slice(reference.indexOf("@") + 1);
    const repository = reference.slice(0, reference.indexOf("@"));
    const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
    const identity = flag("--certificate-identity");
    const pattern = flag("--certificate-identity-regexp");
    if (marker === VERIFY_SIGNATURE) this.verified.push(reference);
    if (this.unsigned.has(digest)) return { exitCode: 10, stderr: NO_SIGNATURES };
    const expected = identity ?? pattern!.slice(1, -1).replace(/\\(.)/g, "$1").replace("refs/heads/release/.+", "refs/heads/release/1.4");
    const subject = this.signers.get(digest) ?? expected;
    const accepted = identity !== undefined ? subject === identity : new RegExp(pattern!).test(subject);
    if (!accepted) return { exitCode: 12, stderr: identityMismatch(subject) };
    // cosign v2.4.1 pkg/cosign/verify.go CheckCertificatePolicy: a VerificationFailure, so no signature matches (exit 12)
    const commit = flag("--certificate-github-workflow-sha");
    if (commit !== undefined && (this.builtFrom.get(digest) ?? commit) !== commit) {
      const message = "no matching signatures: expected GitHub Workflow SHA not found in certificate";
      return { exitCode: 12, stderr: `Error: ${message}\nmain.go:74: error during command execution: ${message}\n` };
    }
    if (marker === VERIFY_SIGNATURE) return { stdout: verifyStdout(subject, digest, repository) };
    if (this.unattested.has(digest)) return { exitCode: 1, stderr: "Error: none of the attestations matched the predicate type: https://spdx.dev/Document, found: https://slsa.dev/provenance/v0.2\n" };
    return { stdout: attestationStdout(undefined, digest, repository) };
  }

  private promAnswer(query: string): ExecResult {
    const r = this.prometheus(query, this.prometheusCalls++);
    return typeof r === "string" ? { stdout: r } : r;
  }

  private kubectl(view: ExecView): ExecResult {
    let args = view.args.slice(1);
    if (args[0] === "-n") args = args.slice(2);
    this.commands.push(args);
    if (this.down) return { exitCode: 1, stderr: "The connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port?" };
    const ok = (stdout = ""): ExecResult => ({ stdout });
    const notFound = (kind: string, name: string): ExecResult => ({ exitCode: 1, stderr: `Error from server (NotFound): ${kind}s "${name}" not found` });
    const [verb] = args;

    if (verb === "get" && args[1] === "--raw") {
      const path = args[2];
      if (path.includes("/proxy/api/v1/query")) {
        const query = new URLSearchParams(path.slice(path.indexOf("?") + 1)).get("query") ?? "";
        return this.promAnswer(query);
      }
      const url = `proxy:${path}`;
      this.curls.push(url);
      if (path.endsWith("/proxy/health")) return this.colourHealthy ? ok(HEALTHY_BODY) : { exitCode: 1, stderr: "Error from server (ServiceUnavailable): the server is currently unable to handle the request" };
      if (path.endsWith("/proxy/metrics")) return ok(METRICS_BODY);
      return { exitCode: 1, stderr: "Error from server (NotFound): the server could not find the requested resource" };
    }
    if (verb === "get" && args[1] === "pods") {
      const selector = Object.fromEntries(args[3].split(",").map((kv) => kv.split("=")));
      const d = [...this.objects.values()].find(
        (o) => o.kind === "Deployment" && Object.entries(selector).every(([k, v]) => o.spec.selector.matchLabels[k] === v),
      );
      const items = d
        ? Array.from({ length: d.status.readyReplicas ?? 0 }, (_, i) => ({
            metadata: { name: `${d.metadata.name}-5d8f-${i}` },
            status: { containerStatuses: [{ name: "analytics-api", imageID: `${REPO}@${this.runningDigestOf(d.spec.template.spec.containers[0].image)}` }] },
          }))
        : [];
      return ok(JSON.stringify({ kind: "List", items }));
    }
    if (verb === "get" && args[1] === "events") {
      return ok(JSON.stringify({ kind: "List", items: this.events() }));
    }
    if (verb === "get") {
      const [, kind, name] = args;
      const obj = this.get(kind, name);
      if (!obj) return args.includes("--ignore-not-found") ? ok("") : notFound(kind, name);
      return ok(JSON.stringify(obj));
    }
    if (verb === "set" && args[1] === "image") {
      const name = args[2].replace("deployment/", "");
      const d = this.get("deployment", name);
      if (!d) return notFound("deployment", name);
      const [container, image] = args[3].split("=");
      d.spec.template.spec.containers.find((c: Json) => c.name === container).image = image;
      d.metadata.generation++;
      this.history.get(name)!.push(image);
      return ok(`deployment.apps/${name} image updated`);
    }
    if (verb === "rollout" && args[1] === "status") {
      const name = args[2].replace("deployment/", "");
      const d = this.get("deployment", name);
      if (!d) return notFound("deployment", name);
      if (this.failingImages.has(d.spec.template.spec.containers[0].image)) {
        d.status = {
          observedGeneration: d.metadata.generation,
          replicas: d.spec.replicas + 1,
          updatedReplicas: 1,
          readyReplicas: d.spec.replicas,
          availableReplicas: d.spec.replicas,
          unavailableReplicas: 1,
          conditions: [
            { type: "Available", status: "True", reason: "MinimumReplicasAvailable" },
            { type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: `ReplicaSet "${name}-7c9d" has timed out progressing.` },
          ],
        };
        return { exitCode: 1, stdout: kubectlFixture("rollout-status-failure-progress-deadline.txt").replace(/nginx/g, name) };
      }
      d.status = readyStatus(d);
      return ok(`deployment "${name}" successfully rolled out\n`);
    }
    if (verb === "rollout" && args[1] === "undo") {
      const name = args[2].replace("deployment/", "");
      const d = this.get("deployment", name);
      const history = this.history.get(name)!;
      if (history.length < 2) return { exitCode: 1, stderr: `error: no rollout history found for deployment "${name}"` };
      history.pop();
      d.spec.template.spec.containers[0].image = history[history.length - 1];
      d.metadata.generation++;
      return ok(`deployment.apps/${name} rolled back`);
    }
    if (verb === "apply") {
      const manifest = JSON.parse(newFile(view.chain, MANIFEST_PATH) ?? "null");
      if (!manifest) return { exitCode: 1, stderr: "error: no objects passed to apply" };
      const key = `${manifest.kind.toLowerCase()}/${manifest.metadata.name}`;
      const existing = this.objects.get(key);
      const obj = JSON.parse(JSON.stringify(manifest));
      obj.metadata.namespace = this.options.namespace;
      if (obj.kind === "Deployment") {
        obj.metadata.generation = (existing?.metadata.generation ?? 0) + 1;
        obj.status = existing ? { ...existing.status, observedGeneration: existing.metadata.generation } : {};
        const history = this.history.get(obj.metadata.name) ?? [];
        history.push(obj.spec.template.spec.containers[0].image);
        this.history.set(obj.metadata.name, history);
      }
      this.objects.set(key, obj);
      return ok(`${manifest.kind.toLowerCase()}/${manifest.metadata.name} ${existing ? "configured" : "created"}`);
    }
    if (verb === "scale") {
      const name = args[1].replace("deployment/", "");
      const d = this.get("deployment", name);
      if (!d) return notFound("deployment", name);
      d.spec.replicas = Number(args[2].replace("--replicas=", ""));
      d.metadata.generation++;
      d.status = d.spec.replicas === 0 ? readyStatus(d) : { ...d.status, observedGeneration: d.metadata.generation - 1 };
      return ok(`deployment.apps/${name} scaled`);
    }
    if (verb === "patch") {
      const [, kind, name] = args;
      const obj = this.get(kind, name);
      if (!obj) return notFound(kind, name);
      const patch = JSON.parse(args[args.indexOf("-p") + 1]);
      merge(obj, patch);
      return ok(`${kind}/${name} patched`);
    }
    if (verb === "delete") {
      const [, kind, name] = args;
      const existed = this.objects.delete(`${kind}/${name}`);
      return existed || args.includes("--ignore-not-found") ? ok(existed ? `${kind} "${name}" deleted` : "") : notFound(kind, name);
    }
    return { exitCode: 1, stderr: `fake cluster: unsupported kubectl ${args.join(" ")}` };
  }

  private events(): Json[] {
    return [...this.objects.values()]
      .filter((o) => o.kind === "Deployment" && this.failingImages.has(o.spec.template.spec.containers[0].image))
      .flatMap((d) => [
        {
          type: "Warning",
          reason: "Failed",
          count: 4,
          lastTimestamp: "2025-06-02T10:03:00Z",
          message: `Failed to pull image "${d.spec.template.spec.containers[0].image}": not found`,
          involvedObject: { kind: "Pod", name: `${d.metadata.name}-7c9d-x2b4q` },
        },
        {
          type: "Warning",
          reason: "BackOff",
          count: 9,
          lastTimestamp: "2025-06-02T10:04:00Z",
          message: "Back-off pulling image",
          involvedObject: { kind: "Pod", name: `${d.metadata.name}-7c9d-x2b4q` },
        },
      ]);
  }

  private runningDigestOf(image: string): string {
    return image.includes("@") ? image.split("@")[1] : (this.runningDigests.get(image) ?? DIGEST);
  }

  /** Every object, in a stable order: compare two snapshots to prove nothing changed. */
  snapshot(): string {
    return JSON.stringify([...this.objects.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** kubectl commands that changed something, as text. */
  mutations(): string[] {
    return this.commands
      .filter(([verb, sub]) => ["set", "apply", "patch", "scale", "delete"].includes(verb) || (verb === "rollout" && sub === "undo"))
      .map((args) => args.join(" "));
  }
}

function merge(target: Json, patch: Json): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v && typeof v === "object" && !Array.isArray(v) && target[k] && typeof target[k] === "object") merge(target[k], v);
    else target[k] = v;
  }
}

/** Contents of the last `withNewFile(path)` of a chain. */
export function newFile(chain: Step[], path: string): string | undefined {
  const step = [...chain].reverse().find((s) => s.field === "withNewFile" && s.args.path === path);
  return step ? String(step.args.contents) : undefined;
}

/** The secret names a chain refers to (withSecretVariable / withMountedSecret). */
export function secretNames(chain: Step[]): string[] {
  const out: string[] = [];
  for (const step of chain) {
    for (const value of Object.values(step.args)) {
      if (isRef(value)) {
        const s = value.$ref.find((x) => x.field === "setSecret");
        if (s) out.push(String(s.args.name));
      }
    }
  }
  return out;
}

/**
 * Production as the kustomize overlay bootstraps it, after a 1.3.0 release on blue: both colours'
 * Deployments (green idle), the live Service and one per colour, the public Ingress.
 */
export function bootstrappedProduction(namespace = "llm-observatory"): FakeCluster {
  const live = `${REPO}:1.3.0`;
  const cluster = new FakeCluster({ namespace });
  cluster.addDeployment("analytics-api-blue", live, 3, { color: "blue" });
  cluster.addDeployment("analytics-api-green", live, 0, { color: "green" });
  cluster.addService("analytics-api", { color: "blue" });
  cluster.addService("analytics-api-blue", { color: "blue" });
  cluster.addService("analytics-api-green", { color: "green" });
  cluster.addIngress("analytics-api", "api.llm-observatory.io");
  return cluster;
}

/** The cosign verify and verify-attestation execs of a session, in order (verify.ts runs them as `cosign-verify*`). */
export function cosignVerifications(session: { execs: ExecView[] }): ExecView[] {
  return session.execs.filter((e) => e.args[0] === "sh" && String(e.args[3]).startsWith("cosign-verify"));
}

/**
 * Production after deployProduction promoted v1.4.0 from blue to green: green serves the verified digest,
 * blue is scaled down on 1.3.0 (pods of that tag ran OLD_DIGEST), and the live Service records blue, its
 * image and digest as what a rollback returns to.
 */
export function promotedProduction(namespace = "llm-observatory"): FakeCluster {
  const previous = `${REPO}:1.3.0`;
  const cluster = new FakeCluster({ namespace });
  cluster.runningDigests.set(previous, OLD_DIGEST);
  cluster.addDeployment("analytics-api-blue", previous, 0, { color: "blue" });
  cluster.addDeployment("analytics-api-green", PINNED, 3, { color: "green" });
  cluster.addService("analytics-api", { color: "green" });
  cluster.get("service", "analytics-api").metadata.annotations = {
    [PREVIOUS_COLOUR_ANNOTATION]: "blue",
    [PREVIOUS_IMAGE_ANNOTATION]: previous,
    [PREVIOUS_DIGEST_ANNOTATION]: OLD_DIGEST,
  };
  cluster.addService("analytics-api-blue", { color: "blue" });
  cluster.addService("analytics-api-green", { color: "green" });
  cluster.addIngress("analytics-api", "api.llm-observatory.io");
  return cluster;
}

/**
 * One script for clusters in several namespaces (dev, staging and production as the configuration names
 * them): a kubectl exec goes to the cluster of its `-n` namespace, every other exec to the first cluster.
 */
export function namespacedScript(clusters: readonly FakeCluster[]): Script {
  const scripts = new Map(clusters.map((c) => [c.options.namespace, c.script()] as const));
  const first = clusters[0]!.script();
  const scriptOf = (view: ExecView | undefined): Script => {
    if (view?.args[0] !== "kubectl") return first;
    const n = view.args.indexOf("-n");
    return (n > 0 ? scripts.get(view.args[n + 1]!) : undefined) ?? first;
  };
  return {
    exec: (view) => scriptOf(view).exec?.(view),
    file: (path, view, chain) => scriptOf(view).file?.(path, view, chain),
  };
}

/**
 * A passing k6 run for the thresholds it was given (K6_OPTIONS): the fixture's measured figures with 0.1 %
 * failed requests, each threshold (`aggregation op value`, e.g. `p(95)<500`, `rate<0.01`) evaluated against
 * its metric's values the way k6 reports it in the summary; k6 exits 99 when one fails.
 */
export function k6RunFor(thresholds: Record<string, readonly string[]>): { exitCode: number; summary: Json } {
  const summary = k6Fixture();
  summary.metrics.http_req_failed.values.rate = 0.001;
  for (const metric of Object.values(summary.metrics) as Json[]) delete metric.thresholds;
  let failed = false;
  for (const [name, expressions] of Object.entries(thresholds)) {
    const metric = summary.metrics[name];
    const evaluated: Record<string, { ok: boolean }> = {};
    for (const expression of expressions) {
      const m = /^\s*([\w()."]+)\s*(<=|>=|==|!=|<|>)\s*(-?[\d.]+)\s*$/.exec(expression);
      const value = m && metric ? Number(metric.values[m[1]!]) : NaN;
      const limit = m ? Number(m[3]) : NaN;
      const op = m?.[2];
      const ok =
        Number.isFinite(value) &&
        (op === "<" ? value < limit : op === "<=" ? value <= limit : op === ">" ? value > limit : op === ">=" ? value >= limit : op === "==" ? value === limit : value !== limit);
      evaluated[expression] = { ok };
      failed ||= !ok;
    }
    if (metric) metric.thresholds = evaluated;
  }
  return { exitCode: failed ? 99 : 0, summary };
}

/** How a test calls deployProduction: v1.4.0 by the ci-bot, with a Slack webhook unless `slack: false`. */
export interface ProductionCall {
  registryUsername?: string;
  prometheusUrl?: string;
  prometheusToken?: boolean;
  slack?: boolean;
  commit?: string;
  pagerduty?: boolean;
  hotfix?: boolean;
  acceptRecentErrors?: boolean;
  reason?: string;
}

export const PRODUCTION_RUN_URL = "https://github.com/acme/observatory/actions/runs/7";

/** deployProduction with the tests' canary secrets, arguments by name (the function's are positional). */
export function callDeployProduction(ci: ObservatoryCi, call: ProductionCall = {}): Promise<string> {
  return ci.deployProduction(
    "v1.4.0",
    dag.setSecret("kubeconfig", canarySecret("kubeconfig")),
    call.registryUsername ?? "ci-bot",
    dag.setSecret("registry-password", canarySecret("registry")),
    "acme/observatory",
    call.prometheusUrl,
    call.prometheusToken ? dag.setSecret("prometheus-token", canarySecret("prom")) : undefined,
    call.slack === false ? undefined : dag.setSecret("slack-webhook", `https://hooks.slack.com/services/T0/B0/${canarySecret("slack")}`),
    PRODUCTION_RUN_URL,
    undefined,
    call.commit,
    call.pagerduty ? dag.setSecret("pagerduty-routing-key", canarySecret("pagerduty")) : undefined,
    call.hotfix,
    call.acceptRecentErrors,
    call.reason,
  );
}

/** The record a failed deployProduction carries on its `Record: ` line. */
export function recordOf(err: Error): any {
  const line = err.message.split("\n").find((l) => l.startsWith("Record: "));
  if (!line) throw new Error(`no record in: ${err.message}`);
  return JSON.parse(line.slice("Record: ".length));
}
