/**
 * PagerDuty Events API v2 events (POST https://events.pagerduty.com/v2/enqueue, answered 202). The field names
 * are those of PagerDuty/go-pagerduty v1.8.0 event_v2.go (V2Event: routing_key, event_action, dedup_key, client,
 * client_url, links, payload; V2Payload: summary, source, severity, timestamp, component, group, class,
 * custom_details). The routing key is a Secret: it is not part of what is built here, curl inserts it.
 *
 * One alert per condition: a release (`<source>/production/release/<tag>`), a failed rollback
 * (`<source>/<environment>/rollback`) or an environment's critical vulnerabilities
 * (`<source>/<environment>/critical-vulnerabilities`). A later event with the same key updates or resolves it.
 */

export type PagerDutySeverity = "critical" | "error" | "warning" | "info";

export interface PagerDutyTrigger {
  event_action: "trigger";
  dedup_key: string;
  client: string;
  client_url?: string;
  links?: { href: string; text: string }[];
  payload: {
    summary: string;
    source: string;
    severity: PagerDutySeverity;
    timestamp: string;
    component: string;
    group: string;
    class: string;
    custom_details: Record<string, unknown>;
  };
}

export interface PagerDutyResolve {
  event_action: "resolve";
  dedup_key: string;
}

/** An event without its routing key. */
export type PagerDutyEvent = PagerDutyTrigger | PagerDutyResolve;

/** What the alert is about; the kinds and their severities are the plan's paging rules. */
export type PagedCondition =
  | { kind: "deploy-failed"; tag: string; reason: string; productionChanged: boolean }
  | { kind: "auto-rollback"; tag: string; reason: string }
  | { kind: "auto-rollback-failed"; tag: string; reason: string }
  | { kind: "rollback-failed"; environment: string; reason: string }
  | { kind: "critical-vulnerabilities"; environment: string; target: string; findings: { id: string; package?: string; message: string }[] };

/** What a release that failed after its pre-checks pages: its automatic rollback, failed or done, or the failure itself. */
export function releaseFailureCondition(tag: string, reason: string, undo: { ok: boolean; text: string }, rolledBack: boolean, productionChanged: boolean): PagedCondition {
  if (!undo.ok) return { kind: "auto-rollback-failed", tag, reason: `${reason}; ${undo.text}` };
  return rolledBack ? { kind: "auto-rollback", tag, reason } : { kind: "deploy-failed", tag, reason, productionChanged };
}

const CLIENT = "observatory-ci";
const SUMMARY_MAX = 1024;
const DEDUP_KEY_MAX = 255;

/**
 * Severities: a failed automatic rollback leaves production in an unknown state (critical); a failed deploy that
 * changed production, a failed manual rollback and a critical vulnerability running in an environment need
 * someone now (error); an automatic rollback that worked, or a deploy refused before any change, left the old
 * release serving (warning).
 */
function severityOf(condition: PagedCondition): PagerDutySeverity {
  switch (condition.kind) {
    case "auto-rollback-failed":
      return "critical";
    case "deploy-failed":
      return condition.productionChanged ? "error" : "warning";
    case "auto-rollback":
      return "warning";
    case "rollback-failed":
    case "critical-vulnerabilities":
      return "error";
  }
}

export function dedupKey(source: string, condition: { kind: PagedCondition["kind"]; tag?: string; environment?: string }): string {
  const key =
    condition.kind === "rollback-failed"
      ? `${source}/${condition.environment}/rollback`
      : condition.kind === "critical-vulnerabilities"
        ? `${source}/${condition.environment}/critical-vulnerabilities`
        : `${source}/production/release/${condition.tag}`;
  return key.length <= DEDUP_KEY_MAX ? key : key.slice(0, DEDUP_KEY_MAX);
}

function oneLine(text: string, max: number): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

function summaryOf(service: string, condition: PagedCondition): string {
  switch (condition.kind) {
    case "deploy-failed":
      return `${service} ${condition.tag}: production deployment failed${condition.productionChanged ? "" : " (production unchanged)"}: ${condition.reason}`;
    case "auto-rollback":
      return `${service} ${condition.tag}: automatic rollback in production: ${condition.reason}`;
    case "auto-rollback-failed":
      return `${service} ${condition.tag}: AUTOMATIC ROLLBACK FAILED in production: ${condition.reason}`;
    case "rollback-failed":
      return `${service}: rollback of ${condition.environment} failed: ${condition.reason}`;
    case "critical-vulnerabilities":
      return `${service}: ${condition.findings.length} critical vulnerabilit${condition.findings.length === 1 ? "y" : "ies"} in ${condition.environment} (${condition.target})`;
  }
}

export interface TriggerContext {
  /** Where the condition is (payload.source): the cluster namespace or the repository. */
  source: string;
  service: string;
  now: Date;
  runUrl?: string;
}

export function triggerEvent(condition: PagedCondition, context: TriggerContext): PagerDutyTrigger {
  const environment = "environment" in condition ? condition.environment : "production";
  const details: Record<string, unknown> =
    condition.kind === "critical-vulnerabilities"
      ? { target: condition.target, findings: condition.findings.slice(0, 50).map((f) => `${f.id}${f.package ? ` (${f.package})` : ""}: ${oneLine(f.message, 200)}`) }
      : { reason: condition.reason, ...("tag" in condition ? { release: condition.tag } : {}) };
  return {
    event_action: "trigger",
    dedup_key: dedupKey(CLIENT, condition),
    client: CLIENT,
    ...(context.runUrl ? { client_url: context.runUrl, links: [{ href: context.runUrl, text: "Pipeline run" }] } : {}),
    payload: {
      summary: oneLine(summaryOf(context.service, condition), SUMMARY_MAX),
      source: context.source,
      severity: severityOf(condition),
      timestamp: context.now.toISOString(),
      component: context.service,
      group: environment,
      class: condition.kind,
      custom_details: details,
    },
  };
}

export function resolveEvent(condition: { kind: PagedCondition["kind"]; tag?: string; environment?: string }): PagerDutyResolve {
  return { event_action: "resolve", dedup_key: dedupKey(CLIENT, condition) };
}

/**
 * The request body as a curl `--expand-data` template: the event with `"routing_key":"{{<variable>:trim:json}}"`
 * first. curl 8.11.0 expands every `{{name}}` in the template (src/var.c varexpand), so a `{{` inside the event's
 * own text is written `\u007b{`: the same JSON string, with nothing for curl to expand.
 */
export function expandDataTemplate(event: PagerDutyEvent, variable: string): string {
  const body = JSON.stringify(event).replace(/\{(?=\{)/g, "\\u007b");
  return `{"routing_key":"{{${variable}:trim:json}}",${body.slice(1)}`;
}
