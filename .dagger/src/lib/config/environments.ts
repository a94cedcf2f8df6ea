import { z } from "zod";
import { isDuration, parseDurationSeconds } from "../deploy/duration";
import { Environment } from "../deploy/environment";
import { QUERY_PLACEHOLDERS, queryPlaceholders } from "../deploy/prometheus";

export { Environment } from "../deploy/environment";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A Kubernetes object name usable as a DNS label (namespaces, Services; Deployments get a `-blue`/`-green` suffix). */
function kubernetesName(what: string, defaultValue: string) {
  return z
    .string()
    .max(63, `${what} must be at most 63 characters (a DNS label)`)
    .regex(DNS_LABEL, `${what} must be a DNS label: lower-case letters, digits and '-', starting and ending alphanumeric`)
    .default(defaultValue);
}

const durationString = (defaultValue: string) =>
  z
    .string()
    .refine(isDuration, { message: 'expected a duration such as "90s", "5m" or "1h30m" (units h, m, s)' })
    .refine((text) => !isDuration(text) || parseDurationSeconds(text) > 0, { message: "duration must be positive" })
    .default(defaultValue);

const httpUrl = z.url({ protocol: /^https?$/, error: "expected an absolute http(s) URL" });

const smokeSchema = z
  .strictObject({
    paths: z
      .array(z.string().regex(/^\//, "smoke paths start with '/'"))
      .min(1, "at least one smoke path is needed")
      .default(["/health", "/metrics"])
      .describe("Paths requested after the rollout; each must answer HTTP 200 or the deployment fails."),
    deadlineSeconds: z
      .number()
      .int()
      .positive()
      .default(120)
      .describe("How long the smoke test retries a failing path before it gives up (new pods may still be warming up)."),
    metrics: z
      .enum(["samples", "reachable"])
      .default("samples")
      .describe('What a /metrics path must show: "samples" (valid Prometheus text with at least one sample) or "reachable" (HTTP 200 and valid Prometheus text, possibly empty: a service that records no metric yet).'),
  })
  .prefault({})
  .describe("Smoke test run against the environment after each rollout.");

function environmentFields(defaults: { namespace: string; url: string; rolloutTimeout: string }) {
  return {
    namespace: kubernetesName("namespace", defaults.namespace).describe("Kubernetes namespace of the environment."),
    deployment: kubernetesName("deployment", "analytics-api").describe(
      "Deployment running the Analytics API. In production this is the base name: the colours are `<deployment>-blue` and `<deployment>-green`.",
    ),
    service: kubernetesName("service", "analytics-api").describe(
      "Service routing the public traffic. In production its `color` selector picks the live colour; `<service>-blue`/`<service>-green` select one colour each (canary and smoke targets).",
    ),
    container: kubernetesName("container", "analytics-api").describe(
      "Name of the container in the Deployment's pod template whose image is replaced.",
    ),
    url: httpUrl.default(defaults.url).describe("Public base URL of the environment (smoke and load tests target it)."),
    rolloutTimeout: durationString(defaults.rolloutTimeout).describe(
      "Maximum wait for `kubectl rollout status` (kubectl duration syntax).",
    ),
    smoke: smokeSchema,
  };
}

const DEFAULT_ERROR_RATE_QUERY =
  'sum(rate(nginx_ingress_controller_requests{namespace="{{namespace}}",canary="{{namespace}}-{{canaryService}}-{{canaryServicePort}}",status=~"5.."}[{{interval}}]))' +
  " / " +
  'sum(rate(nginx_ingress_controller_requests{namespace="{{namespace}}",canary="{{namespace}}-{{canaryService}}-{{canaryServicePort}}"}[{{interval}}]))';

const DEFAULT_LATENCY_P95_QUERY =
  'histogram_quantile(0.95, sum by (le) (rate(nginx_ingress_controller_request_duration_seconds_bucket{namespace="{{namespace}}",canary="{{namespace}}-{{canaryService}}-{{canaryServicePort}}"}[{{interval}}])))';

export const DEFAULT_HEALTH_FAILURES_QUERY =
  '1 - sum(kube_deployment_status_replicas_available{namespace="{{namespace}}",deployment="{{canaryDeployment}}"})' +
  " / " +
  'sum(kube_deployment_spec_replicas{namespace="{{namespace}}",deployment="{{canaryDeployment}}"})';

// ingress-nginx (controller-v1.15.1 rootfs/etc/nginx/lua/monitor.lua) labels each request with `service` (the
// Ingress backend's Service, `$service_name` in template/nginx.tmpl) and `canary` (`$proxy_alternative_upstream_name`,
// set to "" for each location and filled by balancer.lua only for requests routed to the canary backend). So the
// public Service's traffic, which reaches the colour the Service selects, is `service="<service>",canary=""`.
const DEFAULT_LIVE_ERROR_RATE_QUERY =
  'sum(rate(nginx_ingress_controller_requests{namespace="{{namespace}}",service="{{service}}",canary="",status=~"5.."}[{{interval}}]))' +
  " / " +
  'sum(rate(nginx_ingress_controller_requests{namespace="{{namespace}}",service="{{service}}",canary=""}[{{interval}}]))';

const DEFAULT_LIVE_LATENCY_P95_QUERY =
  'histogram_quantile(0.95, sum by (le) (rate(nginx_ingress_controller_request_duration_seconds_bucket{namespace="{{namespace}}",service="{{service}}",canary=""}[{{interval}}])))';

const promqlTemplate = (defaultValue: string) =>
  z
    .string()
    .min(1)
    .superRefine((template, context) => {
      const unknown = queryPlaceholders(template).filter((name) => !(QUERY_PLACEHOLDERS as readonly string[]).includes(name));
      if (unknown.length > 0) {
        context.addIssue({
          code: "custom",
          message: `unknown placeholder(s) ${unknown.map((name) => `{{${name}}}`).join(", ")}; available: ${QUERY_PLACEHOLDERS.map((name) => `{{${name}}}`).join(", ")}`,
        });
      }
    })
    .default(defaultValue);

const fraction = (defaultValue: number) => z.number().min(0).max(1).default(defaultValue);
const consecutive = (defaultValue: number) => z.number().int().min(1).default(defaultValue);

const canarySchema = z
  .strictObject({
    steps: z
      .array(z.number().int().min(1, "a canary weight is at least 1 (%)").max(99, "a canary weight is at most 99 (%); 100 is the switch"))
      .min(1, "at least one canary step is needed")
      .refine((steps) => steps.every((weight, index) => index === 0 || weight > steps[index - 1]), {
        message: "canary steps must be strictly increasing",
      })
      .default([5])
      .describe("Traffic weights (%) sent to the new colour through the nginx canary Ingress, one analysis window each."),
    intervalSeconds: z.number().int().positive().default(60).describe("Seconds between two canary analyses (one Prometheus sample per interval)."),
    windowSeconds: z
      .number()
      .int()
      .positive()
      .default(600)
      .describe("How long each canary step is analysed; windowSeconds / intervalSeconds healthy intervals promote it."),
    errorRate: z
      .strictObject({
        threshold: fraction(0.01).describe("Maximum ratio of 5xx responses (0.01 = 1 %)."),
        consecutive: consecutive(2).describe("Consecutive intervals above the threshold that trigger a rollback."),
      })
      .prefault({})
      .describe("Rollback on the canary's 5xx rate."),
    latencyP95: z
      .strictObject({
        thresholdSeconds: z.number().positive().default(2).describe("Maximum 95th percentile request duration, in seconds."),
        consecutive: consecutive(5).describe("Consecutive intervals above the threshold that trigger a rollback."),
      })
      .prefault({})
      .describe("Rollback on the canary's P95 latency."),
    healthFailures: z
      .strictObject({
        threshold: fraction(0.5).describe("Maximum ratio of canary replicas failing their health checks; one interval above it rolls back."),
      })
      .prefault({})
      .describe("Rollback on failing health checks of the new colour."),
    graceSeconds: z
      .number()
      .int()
      .min(0)
      .default(300)
      .describe("After the switch, how long the old colour keeps running (instant rollback) before it is scaled to zero."),
  })
  .superRefine((canary, context) => {
    if (canary.windowSeconds < canary.intervalSeconds) {
      context.addIssue({ code: "custom", path: ["windowSeconds"], message: "windowSeconds must be at least intervalSeconds" });
      return;
    }
    const intervals = Math.floor(canary.windowSeconds / canary.intervalSeconds);
    for (const [rule, count] of [
      ["errorRate", canary.errorRate.consecutive],
      ["latencyP95", canary.latencyP95.consecutive],
    ] as const) {
      if (count > intervals) {
        context.addIssue({
          code: "custom",
          path: [rule, "consecutive"],
          message: `${count} consecutive intervals can never happen in a window of ${intervals} intervals (${canary.windowSeconds}s / ${canary.intervalSeconds}s)`,
        });
      }
    }
  })
  .prefault({})
  .describe("Canary analysis of the production blue-green rollout.");

const prometheusSchema = z
  .strictObject({
    url: httpUrl
      .optional()
      .describe(
        "Base URL of the Prometheus HTTP API reachable from the pipeline. When absent, Prometheus is reached through the cluster's API server proxy (service/namespace/port below).",
      ),
    service: kubernetesName("Prometheus service", "prometheus-server").describe("Prometheus Service name (API server proxy)."),
    namespace: kubernetesName("Prometheus namespace", "monitoring").describe("Namespace of the Prometheus Service."),
    port: z.number().int().min(1).max(65535).default(80).describe("Port of the Prometheus Service."),
    queries: z
      .strictObject({
        errorRate: promqlTemplate(DEFAULT_ERROR_RATE_QUERY).describe(
          "PromQL instant query returning ONE series: the canary's ratio of 5xx responses over {{interval}}. The default reads ingress-nginx's `nginx_ingress_controller_requests`, whose `canary` label is `<namespace>-<service>-<port>` of the canary backend for requests routed to it. With no canary traffic it returns an empty result or NaN, which the analysis treats as missing data (rollback).",
        ),
        latencyP95: promqlTemplate(DEFAULT_LATENCY_P95_QUERY).describe(
          "PromQL instant query returning ONE series: the canary's P95 request duration in seconds. The default reads ingress-nginx's `nginx_ingress_controller_request_duration_seconds_bucket` with the same `canary` label.",
        ),
        healthFailures: promqlTemplate(DEFAULT_HEALTH_FAILURES_QUERY).describe(
          "PromQL instant query returning ONE series: the ratio (0..1) of the new colour's replicas failing health checks. The default uses kube-state-metrics (`kube_deployment_status_replicas_available` / `kube_deployment_spec_replicas`).",
        ),
        liveErrorRate: promqlTemplate(DEFAULT_LIVE_ERROR_RATE_QUERY).describe(
          "PromQL instant query returning ONE series: the ratio of 5xx responses of the public Service's traffic (the colour it selects) over {{interval}}. Judged by the canary's errorRate rule in the pre-check (over errorReview.windowSeconds) and in the post-switch watch. The default selects ingress-nginx requests to {{service}} that the canary did not take (`canary=\"\"`).",
        ),
        liveLatencyP95: promqlTemplate(DEFAULT_LIVE_LATENCY_P95_QUERY).describe(
          "PromQL instant query returning ONE series: the P95 request duration (seconds) of the public Service's traffic over {{interval}}. Judged by the canary's latencyP95 rule in the pre-check and the post-switch watch.",
        ),
      })
      .prefault({})
      .describe(
        "Canary and live-traffic queries, overridable for other metric sources. Placeholders: {{namespace}}, {{ingress}} (the canary Ingress), {{service}} (the public Service), {{canaryService}}, {{canaryServicePort}} (the port as the Ingress backend names it), {{canaryDeployment}} (the colour analysed: the canary, or the new live colour after the switch), {{interval}} (e.g. 1m).",
      ),
  })
  .prefault({})
  .describe("Where and how the canary metrics are read.");

const loadTestSchema = z
  .strictObject({
    script: z
      .string()
      .min(1)
      .optional()
      .describe("k6 script path inside the source directory (e.g. ci/load/staging.js). When absent, the module's built-in script runs."),
    apiPath: z
      .string()
      .regex(/^\//, "apiPath starts with '/'")
      .default("/metrics")
      .describe("Endpoint the built-in script requests besides /health on each iteration; point it at a real API route."),
    stages: z
      .array(
        z.strictObject({
          duration: z.string().refine(isDuration, { message: 'expected a k6 duration such as "30s" or "1m"' }).describe("Stage length."),
          target: z.number().int().min(0).describe("Virtual users at the end of the stage."),
        }),
      )
      .min(1)
      .default([
        { duration: "1m", target: 50 },
        { duration: "3m", target: 100 },
        { duration: "1m", target: 0 },
      ])
      .describe("k6 ramping stages."),
    thresholds: z
      .record(z.string().min(1), z.array(z.string().min(1)).min(1))
      .default({ http_req_duration: ["p(95)<500"], http_req_failed: ["rate<0.01"] })
      .describe("k6 thresholds (metric -> expressions); any failing threshold fails the deployment."),
  })
  .prefault({})
  .describe("k6 load test run against staging after the smoke test.");

const e2eSchema = z
  .strictObject({
    cargoTest: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, "a cargo test target name (tests/<name>.rs), e.g. e2e")
      .optional()
      .describe("cargo integration-test target run against the environment (`cargo test --test <name>`), with E2E_BASE_URL set to the environment's URL."),
    k6Script: z
      .string()
      .min(1)
      .refine((path) => !path.startsWith("/") && !path.split("/").includes(".."), { message: "a path inside the source directory, e.g. ci/e2e/smoke.js" })
      .optional()
      .describe("k6 script in the source run against the environment (BASE_URL set to its URL); a failed check threshold fails it."),
  })
  .refine((e2e) => (e2e.cargoTest === undefined) !== (e2e.k6Script === undefined), { message: "set exactly one of cargoTest and k6Script" })
  .optional()
  .describe("The service's end-to-end suite, run against the environment after each deploy (a failure rolls the deploy back); staging's also runs as a production pre-check.");

export const environmentsConfigSchema = z
  .strictObject({
    dev: z
      .strictObject({
        ...environmentFields({
          namespace: "llm-observatory-dev",
          url: "https://dev.api.llm-observatory.io",
          rolloutTimeout: "5m",
        }),
        e2e: e2eSchema,
      })
      .prefault({})
      .describe("Development: deployed automatically from main."),
    staging: z
      .strictObject({
        ...environmentFields({
          namespace: "llm-observatory-staging",
          url: "https://staging.api.llm-observatory.io",
          rolloutTimeout: "10m",
        }),
        loadTest: loadTestSchema,
        e2e: e2eSchema,
      })
      .prefault({})
      .describe("Staging: release branches, with a load test."),
    production: z
      .strictObject({
        ...environmentFields({
          namespace: "llm-observatory",
          url: "https://api.llm-observatory.io",
          rolloutTimeout: "10m",
        }),
        ingress: kubernetesName("ingress", "analytics-api").describe(
          "The public Ingress; its canary copy is `<ingress>-canary`.",
        ),
        strategy: z
          .enum(["pipeline", "argo-rollouts"])
          .default("pipeline")
          .describe(
            "Who runs the release: `pipeline` (blue-green Deployments and the canary analysis in the CI job) or `argo-rollouts` (a Rollout `<deployment>` and the AnalysisTemplate of ci/k8s/overlays/argo-rollouts, run by the Argo Rollouts controller; the job sets the image and follows its status).",
          ),
        canary: canarySchema,
        errorReview: z
          .strictObject({
            windowSeconds: z
              .number()
              .int()
              .min(60)
              .default(900)
              .describe("How far back the pre-check reviews the live colour's 5xx rate and P95 (liveErrorRate/liveLatencyP95 against the canary's thresholds)."),
          })
          .prefault({})
          .describe("Pre-check \"review recent errors\": a release is refused while the live colour breaks the canary rules (override: --accept-recent-errors --reason)."),
        prometheus: prometheusSchema,
      })
      .prefault({})
      .describe("Production: blue-green with a canary analysed on Prometheus metrics."),
  })
  .prefault({})
  .describe("Deployment targets.");

export type EnvironmentsConfig = z.output<typeof environmentsConfigSchema>;
export type EnvironmentConfig = EnvironmentsConfig[Environment];
export type CanaryConfig = EnvironmentsConfig["production"]["canary"];
export type PrometheusConfig = EnvironmentsConfig["production"]["prometheus"];
export type LoadTestConfig = EnvironmentsConfig["staging"]["loadTest"];
export type EndToEndConfig = NonNullable<EnvironmentsConfig["staging"]["e2e"]>;
