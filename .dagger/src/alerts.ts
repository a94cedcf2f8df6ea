/**
 * Sending alerts: Slack messages built by lib/alerts/slack-alerts.ts, and PagerDuty Events API v2 events built by
 * lib/alerts/pagerduty.ts (Slack posts go through deploy-support.ts postSlack). The webhook URL and the routing key are Secrets mounted as files; curl inserts them
 * (deploy-support.ts withCurlSecret), so neither is ever in argv, the environment or a message.
 */
import { dag, type Secret } from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import type { Pipeline } from "./pipeline";
import { withCurlSecret } from "./deploy-support";
import { errorMessage, tail } from "./lib/errors";
import type { SecurityVerdict } from "./lib/findings";
import type { RollbackRequest } from "./lib/deploy-args";
import { expandDataTemplate, resolveEvent, triggerEvent, type PagedCondition, type PagerDutyEvent } from "./lib/alerts/pagerduty";

export const PAGERDUTY_ENQUEUE_URL = "https://events.pagerduty.com/v2/enqueue";
const PAGERDUTY_SECRET = "pagerduty-routing-key";
const SERVICE = "analytics-api";

/**
 * One event to PagerDuty. The body is a curl `--expand-data` template whose routing_key curl reads from the
 * mounted secret; PagerDuty answers 202 (go-pagerduty v1.8.0 event_v2.go checks http.StatusAccepted) and 429
 * when rate limited, which curl retries (`--retry` treats 429 as transient, docs/cmdline-opts/retry.md).
 */
export async function sendPagerDuty(p: Pipeline, routingKey: Secret, event: PagerDutyEvent): Promise<string> {
  const variable = PAGERDUTY_SECRET.replace(/-/g, "_");
  const ctr = withCurlSecret(dag.container().from(p.config.images.curl), PAGERDUTY_SECRET, routingKey);
  const args = [
    "curl", "-sS", "--fail-with-body", "--max-time", "20", "--retry", "3",
    "-H", "Content-Type: application/json",
    "--variable", `${variable}@/run/secrets/${PAGERDUTY_SECRET}`,
    "--expand-data", expandDataTemplate(event, variable),
    PAGERDUTY_ENQUEUE_URL,
  ];
  const { exitCode, stdout, stderr } = await outcomeOf(runAllowingFailure(withRunNonce(ctr), args));
  if (exitCode !== 0) throw new Error(`PagerDuty ${event.event_action} ${event.dedup_key} failed (curl exit ${exitCode}): ${tail(stderr || stdout, 5)}`);
  return `PagerDuty ${event.event_action} ${event.dedup_key}`;
}

/** Paging from inside a deployment or a scan: never fails it, says what happened. */
export async function pageQuietly(p: Pipeline, routingKey: Secret | undefined, event: PagerDutyEvent): Promise<string> {
  if (!routingKey) return "not paged (no --pagerduty-routing-key)";
  try {
    return await sendPagerDuty(p, routingKey, event);
  } catch (e) {
    return `paging failed: ${errorMessage(e)}`;
  }
}

/** Triggers the condition's alert; `source` is where it is (the namespace, the image). */
export function pageTrigger(p: Pipeline, routingKey: Secret | undefined, condition: PagedCondition, source: string, runUrl?: string): Promise<string> {
  return pageQuietly(p, routingKey, triggerEvent(condition, { source, service: SERVICE, now: new Date(), ...(runUrl ? { runUrl } : {}) }));
}

export function pageResolve(p: Pipeline, routingKey: Secret | undefined, condition: Parameters<typeof resolveEvent>[0]): Promise<string> {
  return pageQuietly(p, routingKey, resolveEvent(condition));
}

/**
 * A rollback pages when it fails (the environment may be serving a broken release) and resolves that alert when
 * a later rollback of the environment succeeds. The rollback's own result and error are unchanged.
 */
export async function pagedRollback(p: Pipeline, request: RollbackRequest<Secret>, run: () => Promise<string>): Promise<string> {
  const condition = { kind: "rollback-failed" as const, environment: request.environment };
  let result: string;
  try {
    result = await run();
  } catch (e) {
    const paged = await pageTrigger(p, request.pagerdutyRoutingKey, { ...condition, reason: `${request.reason}: ${errorMessage(e).split("\n")[0]}` }, request.environment, request.runUrl);
    throw new Error(`${errorMessage(e)}\nPagerDuty: ${paged}`);
  }
  if (request.pagerdutyRoutingKey) await pageResolve(p, request.pagerdutyRoutingKey, condition);
  return result;
}

/**
 * The daily scan's critical findings, one alert per scanned environment (and one for the source's dependencies):
 * triggered while the scan finds a critical vulnerability there, resolved by the first scan that finds none.
 */
export async function pageScanFindings(p: Pipeline, routingKey: Secret | undefined, scans: { environment: string; target: string; verdict: SecurityVerdict }[], runUrl?: string): Promise<string[]> {
  if (!routingKey) return [];
  return Promise.all(
    scans.map(({ environment, target, verdict }) => {
      const critical = verdict.blocking.filter((f) => f.severity === "critical");
      if (critical.length === 0) return pageResolve(p, routingKey, { kind: "critical-vulnerabilities", environment });
      const findings = critical.map((f) => ({ id: f.id, message: f.message, ...(f.package ? { package: f.package } : {}) }));
      return pageTrigger(p, routingKey, { kind: "critical-vulnerabilities", environment, target, findings }, target, runUrl);
    }),
  );
}
