/**
 * Requests against a running environment: the smoke test (health and metrics, retried until a deadline on the
 * caller's clock) and the k6 load test with the configured stages and thresholds.
 */
import { dag } from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import type { Pipeline } from "./pipeline";
import { curlProbe, smokeTest } from "./deploy-support";
import type { Clock } from "./lib/clock";
import { ConfigError, UsageError, errorMessage, flagName, tail } from "./lib/errors";
import type { LoadTestRequest } from "./lib/function-args";
import type { SmokeRequest } from "./lib/deploy-args";
import { sourcePath } from "./lib/args";
import { DEFAULT_K6_SCRIPT, K6_SUMMARY_PATH, k6Options, missingThresholds, parseK6Summary, type K6Summary } from "./lib/deploy/k6";

// ---------------------------------------------------------------------------------------------
// smoke

export async function smoke(p: Pipeline, request: SmokeRequest, clock: Clock): Promise<string> {
  const cfg = p.config.environments[request.environment];
  // environments.<name>.url is an http(s) URL by the config schema.
  const base = request.url ?? cfg.url.replace(/\/+$/, "");
  const result = await smokeTest(clock, curlProbe(p, base), cfg.smoke.paths, cfg.smoke.deadlineSeconds, base, cfg.smoke.metrics);
  return `smoke test of ${base} passed: ${result.checked.join(", ")} (${result.attempts} attempt(s), ${result.seconds}s)`;
}

// ---------------------------------------------------------------------------------------------
// loadTest

const K6_SCRIPT_PATH = "/scripts/load.js";
const K6_EXPORT_PATH = "/out/summary-export.json";

export interface LoadTestResult {
  url: string;
  script: string;
  p95Ms: number;
  errorRate: number;
  requestsPerSecond: number;
  requests: number | null;
  thresholds: { metric: string; expression: string; ok: boolean }[];
}

function describeThresholds(summary: K6Summary): string {
  const stat = (metric: string) =>
    metric === "http_req_duration" ? ` (p95 ${summary.p95Ms.toFixed(1)} ms)` : metric === "http_req_failed" ? ` (error rate ${(summary.errorRate * 100).toFixed(2)} %)` : "";
  return summary.failedThresholds.map((t) => `${t.metric} ${t.expression}${stat(t.metric)}`).join("; ");
}

export async function loadTest(p: Pipeline, request: LoadTestRequest): Promise<string> {
  const cfg = p.config.environments.staging;
  // environments.staging.url is an http(s) URL by the config schema.
  const base = request.url ?? cfg.url.replace(/\/+$/, "");
  const scriptPath = request.script ?? cfg.loadTest.script;
  if (request.script === undefined && scriptPath !== undefined && !sourcePath.safeParse(scriptPath).success) {
    throw new ConfigError(`environments.staging.loadTest.script ${JSON.stringify(scriptPath)} must be a path inside the source directory (e.g. ci/load/staging.js)`);
  }
  if (scriptPath !== undefined && !(await p.source.exists(scriptPath))) {
    throw new UsageError({
      fn: "loadTest",
      flag: flagName("script"),
      problem: `names no file in the source directory${request.script === undefined ? " (from environments.staging.loadTest.script)" : ""}`,
      found: scriptPath,
      expected: "a k6 script in the source, e.g. ci/load/staging.js",
    });
  }
  let options;
  try {
    options = k6Options(cfg.loadTest.stages, cfg.loadTest.thresholds);
  } catch (e) {
    throw new ConfigError(`environments.staging.loadTest: ${errorMessage(e)}`);
  }

  let ctr = dag
    .container()
    .from(p.config.images.k6)
    .withDirectory("/out", dag.directory(), { owner: "k6" })
    .withEnvVariable("BASE_URL", base)
    .withEnvVariable("K6_OPTIONS", JSON.stringify(options))
    .withEnvVariable("API_PATH", cfg.loadTest.apiPath)
    .withEnvVariable("K6_NO_USAGE_REPORT", "true");
  ctr = scriptPath === undefined ? ctr.withNewFile(K6_SCRIPT_PATH, DEFAULT_K6_SCRIPT) : ctr.withFile(K6_SCRIPT_PATH, p.source.file(scriptPath));
  const ran = runAllowingFailure(withRunNonce(ctr), ["k6", "run", "--summary-export", K6_EXPORT_PATH, K6_SCRIPT_PATH]);
  const { exitCode, stdout, stderr } = await outcomeOf(ran);
  const scriptName = scriptPath ?? "built-in script";

  let summary: K6Summary | undefined;
  let summaryProblem = "";
  for (const path of [K6_SUMMARY_PATH, K6_EXPORT_PATH]) {
    try {
      summary = parseK6Summary(await ran.file(path).contents());
      break;
    } catch (e) {
      summaryProblem += `${path}: ${errorMessage(e)}; `;
    }
  }
  // k6 exit codes: 99 = a threshold failed; anything else non-zero = the test itself broke.
  if (exitCode === 99) {
    const which = summary && summary.failedThresholds.length > 0 ? describeThresholds(summary) : `(summary unreadable: ${summaryProblem})`;
    throw new Error(`loadTest: k6 thresholds failed against ${base}: ${which}\n${tail(stdout, 25)}`);
  }
  if (exitCode !== 0) {
    throw new Error(`loadTest: k6 failed (exit ${exitCode}) against ${base} with ${scriptName}:\n${tail(stderr || stdout, 30)}`);
  }
  if (!summary) throw new Error(`loadTest: k6 passed but its summary could not be read, refusing to report a result: ${summaryProblem}`);
  if (summary.failedThresholds.length > 0) {
    throw new Error(`loadTest: k6 exited 0 but its summary reports failed thresholds: ${describeThresholds(summary)}`);
  }
  const missing = missingThresholds(summary, options.thresholds);
  if (missing.length > 0) {
    throw new Error(
      `loadTest: ${scriptName} did not evaluate the configured threshold(s) ${missing.join("; ")} ` +
        "(environments.staging.loadTest.thresholds), so k6 passing proves nothing: export `options = JSON.parse(__ENV.K6_OPTIONS)` " +
        "in the script, or declare those thresholds in its options",
    );
  }
  const result: LoadTestResult = {
    url: base,
    script: scriptName,
    p95Ms: summary.p95Ms,
    errorRate: summary.errorRate,
    requestsPerSecond: summary.requestsPerSecond,
    requests: summary.requests,
    thresholds: summary.thresholds,
  };
  return JSON.stringify(result, null, 2);
}
