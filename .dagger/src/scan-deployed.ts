/**
 * The daily scan of what runs in each environment: the image each Deployment runs (Trivy) and the
 * source's dependencies (cargo audit), as one Markdown report, with findings sent to one GitHub issue.
 */
import type { Container, Secret } from "@dagger.io/dagger";
import type { Pipeline } from "./pipeline";
import { WRITE_DOCKER_CONFIG, withDockerConfig } from "./registry";
import { GateFailure, errorMessage, tail } from "./lib/errors";
import { REPORTS_DIR, runTrivy, scanDay, trivyBase, trivyReport, trivyScanArgs } from "./scan";
import { withRunNonce } from "./exec";
import { requireContainerImage } from "./lib/deploy/deployment-image";
import type { ScanDeployedRequest } from "./lib/function-args";
import { renderDailyReport, type ScanSection } from "./lib/daily-report";
import type { Environment } from "./lib/deploy/environment";
import { colouredName, liveColour } from "./lib/deploy/bluegreen";
import { parseImageReference } from "./lib/image-ref";
import { kubectl, postSlack } from "./deploy-support";
import { scanAudit, verdictOf } from "./security";
import { reportToGitHub } from "./github";
import { pageScanFindings } from "./alerts";
import { slackAlert } from "./lib/alerts/slack-alerts";

interface DeployedImage {
  environment: Environment;
  namespace: string;
  deployment: string;
  container: string;
  image: string;
}

async function kubectlJson(p: Pipeline, kubeconfig: Secret, environment: Environment, args: string[], what: string): Promise<unknown> {
  // the shared kubectl container: pinned image, kubeconfig as a secret file, a nonce on every read
  const outcome = await kubectl(p, { environment, namespace: "", kubeconfig }, args, { namespaced: false });
  if (outcome.exitCode !== 0) {
    throw new Error(
      `scanDeployed: environment ${environment}: cannot read ${what} (kubectl ${args.join(" ")} exited ${outcome.exitCode}): ${tail(outcome.stderr.trim() || outcome.stdout.trim(), 10)}`,
    );
  }
  try {
    return JSON.parse(outcome.stdout);
  } catch {
    throw new Error(`scanDeployed: environment ${environment}: kubectl returned no JSON for ${what}: ${tail(outcome.stdout, 5)}`);
  }
}

/** The image of the configured container in a Deployment's pod template. */
async function deployedImage(p: Pipeline, kubeconfig: Secret, environment: Environment): Promise<DeployedImage> {
  const env = p.config.environments[environment];
  let deployment = env.deployment;
  if (environment === "production" && p.config.environments.production.strategy === "argo-rollouts") {
    // Argo Rollouts: the Rollout's pod template is the release the controller rolls out; once it is Healthy,
    // every pod runs it (during a canary, it is the new image, the one not yet proven)
    const where = `rollout ${deployment} in namespace ${env.namespace}`;
    const rollout = await kubectlJson(p, kubeconfig, environment, ["get", "rollout", deployment, "-n", env.namespace, "-o", "json"], where);
    const image = requireContainerImage(rollout, env.container, `scanDeployed: environment ${environment}: ${where}`);
    return { environment, namespace: env.namespace, deployment, container: env.container, image };
  }
  if (environment === "production") {
    // Blue-green: the Service's colour selector says which of <deployment>-blue/-green is live.
    const service = await kubectlJson(p, kubeconfig, environment, ["get", "service", env.service, "-n", env.namespace, "-o", "json"], `service ${env.service} in namespace ${env.namespace}`);
    try {
      deployment = colouredName(env.deployment, liveColour(service));
    } catch (e) {
      throw new Error(`scanDeployed: environment ${environment}: ${errorMessage(e)}`);
    }
  }
  const where = `deployment ${deployment} in namespace ${env.namespace}`;
  const json = await kubectlJson(p, kubeconfig, environment, ["get", "deployment", deployment, "-n", env.namespace, "-o", "json"], where);
  const running = requireContainerImage(json, env.container, `scanDeployed: environment ${environment}: ${where}`);
  return { environment, namespace: env.namespace, deployment, container: env.container, image: running };
}

/**
 * Registry credentials reach only the configured registry (`image.registry`). Trivy 0.57 sends
 * TRIVY_USERNAME/TRIVY_PASSWORD to every registry it contacts, the vulnerability database's included
 * (aquasecurity/trivy v0.57.1 pkg/remote/remote.go authOptions; pkg/oci/artifact.go uses the same
 * options); a docker config.json keyed to one host is only read for that host (the DefaultKeychain that
 * authOptions tries last). An image from another registry is scanned without credentials.
 */
function registryOf(reference: string): string | undefined {
  try {
    return parseImageReference(reference).registry;
  } catch {
    return undefined;
  }
}

export function trivyImageRun(p: Pipeline, target: string, reportPath: string, auth: { username?: string; password?: Secret }): Container {
  const registry = p.config.image.registry;
  const trivyArgs = ["image", "--image-src", "remote", ...trivyScanArgs(p, reportPath), target];
  const authenticated = Boolean(auth.username && auth.password) && registryOf(target) === registry;
  // A new vulnerability can appear for an unchanged image: the daily scan always runs.
  const ctr = withRunNonce(authenticated ? withDockerConfig(trivyBase(p), registry, auth.username, auth.password) : trivyBase(p));
  const command = authenticated ? ["sh", "-euc", `${WRITE_DOCKER_CONFIG}\nexec trivy "$@"`, "trivy", ...trivyArgs] : ["trivy", ...trivyArgs];
  return runTrivy(ctr, reportPath, command);
}

/**
 * The daily scan: the image each environment runs (Trivy) and the source's dependencies (cargo
 * audit), as one Markdown report; with a token, findings go to one GitHub issue.
 */
export async function scanDeployed(p: Pipeline, request: ScanDeployedRequest<Secret>): Promise<string> {
  const day = scanDay();
  const images = await Promise.all(request.environments.map((environment) => deployedImage(p, request.kubeconfig, environment)));
  const auth = { username: request.registry?.username, password: request.registry?.password };
  const [auditReport, ...imageReports] = await Promise.all([
    scanAudit(p, "scanDeployed (cargo audit)", { fresh: true }),
    ...images.map((deployed) =>
      trivyReport(
        `scanDeployed (trivy, ${deployed.environment})`,
        trivyImageRun(p, deployed.image, `${REPORTS_DIR}/trivy-image-${deployed.environment}.json`, auth),
        `${REPORTS_DIR}/trivy-image-${deployed.environment}.json`,
        `image ${deployed.image} of ${deployed.environment}`,
      ),
    ),
  ]);
  const sections: ScanSection[] = [
    ...images.map((deployed, i) => ({
      title: `${deployed.environment} (trivy)`,
      target: `${deployed.image} (${deployed.namespace}/${deployed.deployment})`,
      verdict: verdictOf(p, "trivy", imageReports[i]),
    })),
    { title: "source (cargo audit)", target: "Cargo.lock", verdict: verdictOf(p, "cargo-audit", auditReport) },
  ];
  const report = renderDailyReport(sections, day);
  const blocked = sections.filter((s) => !s.verdict.passed).map((s) => s.title);
  const paged = await pageScanFindings(
    p,
    request.pagerdutyRoutingKey,
    [...images.map((d, i) => ({ environment: d.environment, target: d.image, verdict: sections[i]!.verdict })), { environment: "source", target: "Cargo.lock", verdict: sections[sections.length - 1]!.verdict }],
    request.runUrl,
  );
  // the issue is opened or updated (and Slack told) first: the failed run is what alerts, the issue is what stays
  const issue = blocked.length > 0 && request.github ? await reportToGitHub(p, request.github.token, request.github.repository, report) : undefined;
  if (blocked.length > 0 && request.slackWebhook) {
    const scans = sections.map((s) => ({ title: s.title, target: s.target, passed: s.verdict.passed, critical: s.verdict.counts.critical, high: s.verdict.counts.high }));
    await postSlack(p, request.slackWebhook, slackAlert({ kind: "security-findings", day, scans, ...(issue ? { issue } : {}) }), "scanDeployed");
  }
  const footer = [issue, ...paged.map((line) => `PagerDuty: ${line}`)].filter(Boolean);
  const text = footer.length ? `${report}\n${footer.join("\n")}\n` : report;
  if (blocked.length === 0) return text;
  throw new GateFailure("scanDeployed", `blocking findings in ${blocked.join(", ")}\n\n${text}`);
}
