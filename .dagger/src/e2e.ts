/**
 * The service's end-to-end suite against a deployed environment: a cargo integration-test target with
 * E2E_BASE_URL, or a k6 script with BASE_URL (environments.<env>.e2e). Each run carries a nonce: the environment
 * changes between runs even when the source does not.
 */
import { dag } from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import type { Pipeline } from "./pipeline";
import { cargoGateOutcome, rustWorkspace } from "./rust";
import { tail } from "./lib/errors";
import type { EndToEndConfig } from "./lib/config/environments";
import { qualityRunCommand, VERDICT_PATTERNS } from "./lib/test-run";

const K6_SCRIPT_PATH = "/scripts/e2e.js";

/** What passed, for the deployment record. */
export interface EndToEndResult {
  url: string;
  suite: string;
  summary: string;
}

/** Runs the configured suite against `url`; throws with the suite's output when it fails or proves nothing. */
export async function endToEnd(p: Pipeline, e2e: EndToEndConfig, url: string): Promise<EndToEndResult> {
  if (e2e.cargoTest !== undefined) {
    const suite = `cargo test --test ${e2e.cargoTest}`;
    const ctr = withRunNonce(rustWorkspace(p, { dependencies: "dev" }).withEnvVariable("E2E_BASE_URL", url));
    const args = ["test", "--locked", "--test", e2e.cargoTest, "--", "--test-threads=1"];
    const ran = ctr.withExec(qualityRunCommand(args, [VERDICT_PATTERNS.testsFailed, VERDICT_PATTERNS.compileError], { touch: true }));
    const { exitCode, stdout, stderr } = await cargoGateOutcome("e2e", ran, "end-to-end test");
    const passed = [...stdout.matchAll(/test result: ok\. (\d+) passed/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    if (exitCode !== 0) throw new Error(`${suite} against ${url} failed (exit ${exitCode}):\n${tail(stdout + "\n" + stderr, 40)}`);
    // a target whose tests are all #[ignore]d or filtered out exits 0 having checked nothing
    if (passed === 0) throw new Error(`${suite} against ${url} ran no test (exit 0, 0 passed): the suite proves nothing\n${tail(stdout, 20)}`);
    return { url, suite, summary: `${passed} passed` };
  }
  const script = e2e.k6Script!;
  const suite = `k6 ${script}`;
  if (!(await p.source.exists(script))) throw new Error(`${suite}: environments.*.e2e.k6Script names no file in the source directory`);
  const ctr = dag
    .container()
    .from(p.config.images.k6)
    .withEnvVariable("BASE_URL", url)
    .withEnvVariable("K6_NO_USAGE_REPORT", "true")
    .withFile(K6_SCRIPT_PATH, p.source.file(script));
  // k6 v0.54.0 errext/exitcodes/codes.go: ThresholdsHaveFailed is 99; any other non-zero exit is the script or k6 breaking
  const { exitCode, stdout, stderr } = await outcomeOf(runAllowingFailure(withRunNonce(ctr), ["k6", "run", K6_SCRIPT_PATH]));
  if (exitCode !== 0) {
    const what = exitCode === 99 ? "thresholds failed" : `k6 failed (exit ${exitCode})`;
    throw new Error(`${suite} against ${url}: ${what}:\n${tail(stderr || stdout, 30)}`);
  }
  return { url, suite, summary: "k6 passed" };
}
