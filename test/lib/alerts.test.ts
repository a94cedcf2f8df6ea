import { describe, expect, it } from "vitest";
import { expandDataTemplate, resolveEvent, triggerEvent, type PagedCondition } from "../../.dagger/src/lib/alerts/pagerduty";
import { slackAlert } from "../../.dagger/src/lib/alerts/slack-alerts";
import { slackMessage } from "../../.dagger/src/lib/deploy/slack";
import type { MetricsReport } from "../../.dagger/src/lib/metrics/report";

const context = { source: "llm-observatory/analytics-api", service: "analytics-api", now: new Date("2026-11-20T09:15:00Z"), runUrl: "https://github.com/acme/observatory/actions/runs/42" };

describe("PagerDuty events", () => {
  it("pages a failed automatic rollback at the highest severity, keyed by the release", () => {
    const event = triggerEvent({ kind: "auto-rollback-failed", tag: "v1.3.0", reason: "canary analysis failed: error rate 4 %; kubectl delete failed" }, context);
    expect(event).toEqual({
      event_action: "trigger",
      dedup_key: "observatory-ci/production/release/v1.3.0",
      client: "observatory-ci",
      client_url: "https://github.com/acme/observatory/actions/runs/42",
      links: [{ href: "https://github.com/acme/observatory/actions/runs/42", text: "Pipeline run" }],
      payload: {
        summary: "analytics-api v1.3.0: AUTOMATIC ROLLBACK FAILED in production: canary analysis failed: error rate 4 %; kubectl delete failed",
        source: "llm-observatory/analytics-api",
        severity: "critical",
        timestamp: "2026-11-20T09:15:00.000Z",
        component: "analytics-api",
        group: "production",
        class: "auto-rollback-failed",
        custom_details: { reason: "canary analysis failed: error rate 4 %; kubectl delete failed", release: "v1.3.0" },
      },
    });
  });

  it.each<[PagedCondition, string, string]>([
    [{ kind: "auto-rollback", tag: "v1.3.0", reason: "canary analysis failed" }, "warning", "analytics-api v1.3.0: automatic rollback in production: canary analysis failed"],
    [{ kind: "deploy-failed", tag: "v1.3.0", reason: "staging health: HTTP 503", productionChanged: false }, "warning", "analytics-api v1.3.0: production deployment failed (production unchanged): staging health: HTTP 503"],
    [{ kind: "deploy-failed", tag: "v1.3.0", reason: "scale down blue", productionChanged: true }, "error", "analytics-api v1.3.0: production deployment failed: scale down blue"],
    [{ kind: "rollback-failed", environment: "staging", reason: "manual rollback: no previous revision" }, "error", "analytics-api: rollback of staging failed: manual rollback: no previous revision"],
  ])("gives %o its severity and summary", (condition, severity, summary) => {
    const event = triggerEvent(condition, { ...context, runUrl: undefined });
    expect(event.payload).toMatchObject({ severity, summary, class: condition.kind });
    expect(event).not.toHaveProperty("client_url");
  });

  it("pages critical vulnerabilities once per environment and lists the findings", () => {
    const condition: PagedCondition = {
      kind: "critical-vulnerabilities",
      environment: "production",
      target: "ghcr.io/acme/observatory/analytics-api@sha256:" + "a".repeat(64),
      findings: [{ id: "CVE-2024-45337", package: "golang.org/x/crypto@v0.30.0", message: "Misuse of ServerConfig.PublicKeyCallback\nmay cause authorization bypass" }],
    };
    const event = triggerEvent(condition, context);
    expect(event.dedup_key).toBe("observatory-ci/production/critical-vulnerabilities");
    expect(event.payload).toMatchObject({
      summary: `analytics-api: 1 critical vulnerability in production (${condition.target})`,
      severity: "error",
      group: "production",
      custom_details: { target: condition.target, findings: ["CVE-2024-45337 (golang.org/x/crypto@v0.30.0): Misuse of ServerConfig.PublicKeyCallback may cause authorization bypass"] },
    });
  });

  it("resolves with the trigger's key", () => {
    expect(resolveEvent({ kind: "deploy-failed", tag: "v1.3.0" })).toEqual({ event_action: "resolve", dedup_key: "observatory-ci/production/release/v1.3.0" });
    expect(resolveEvent({ kind: "critical-vulnerabilities", environment: "dev" })).toEqual({ event_action: "resolve", dedup_key: "observatory-ci/dev/critical-vulnerabilities" });
  });

  it("writes the routing key as a curl variable and leaves curl nothing else to expand", () => {
    const event = triggerEvent({ kind: "auto-rollback", tag: "v1.3.0", reason: "template {{name}} and {{{x}}}" }, context);
    const template = expandDataTemplate(event, "pagerduty_routing_key");
    expect(template.startsWith('{"routing_key":"{{pagerduty_routing_key:trim:json}}","event_action":"trigger",')).toBe(true);
    const rest = template.replace("{{pagerduty_routing_key:trim:json}}", "R0UTING");
    expect(rest).not.toContain("{{");
    expect(JSON.parse(rest)).toEqual({ routing_key: "R0UTING", ...event });
  });
});

describe("Slack alerts", () => {
  it("delegates deployments to the deployment message", () => {
    const input = { status: "success" as const, environment: "production", version: "v1.3.0", details: { Colour: "green" } };
    expect(slackAlert({ kind: "deployment", ...input })).toEqual(slackMessage(input));
  });

  it("announces a failed pipeline run", () => {
    expect(
      slackAlert({ kind: "pipeline-failed", workflow: "ci", branch: "release/1.3", commit: "c".repeat(40), runUrl: "https://github.com/acme/observatory/actions/runs/42", failedJobs: ["tests", "security <gate>"] }),
    ).toEqual({
      text: ":x: ci failed on release/1.3",
      blocks: [
        { type: "section", text: { type: "mrkdwn", text: ":x: *ci failed on release/1.3*" } },
        {
          type: "section",
          fields: [
            { type: "mrkdwn", text: "*Workflow*\nci" },
            { type: "mrkdwn", text: "*Branch*\nrelease/1.3" },
            { type: "mrkdwn", text: "*Commit*\ncccccccccccc" },
            { type: "mrkdwn", text: "*Failed jobs*\ntests, security &lt;gate&gt;" },
          ],
        },
        { type: "context", elements: [{ type: "mrkdwn", text: "<https://github.com/acme/observatory/actions/runs/42|View the pipeline run>" }] },
      ],
    });
  });

  it("summarises the daily scan's findings", () => {
    const message = slackAlert({
      kind: "security-findings",
      day: "2026-11-20",
      scans: [
        { title: "production (trivy)", target: "ghcr.io/acme/observatory/analytics-api@sha256:abc", passed: false, critical: 1, high: 2 },
        { title: "source (cargo audit)", target: "Cargo.lock", passed: true, critical: 0, high: 0 },
      ],
      issue: "Opened security issue #7: https://github.com/acme/observatory/issues/7.",
    });
    expect(message).toEqual({
      text: ":rotating_light: Daily security scan (2026-11-20): findings in production (trivy)",
      blocks: [
        { type: "section", text: { type: "mrkdwn", text: ":rotating_light: *Daily security scan (2026-11-20): findings in production (trivy)*" } },
        {
          type: "section",
          text: {
            type: "mrkdwn",
            text: "*failed*: production (trivy) (ghcr.io/acme/observatory/analytics-api@sha256:abc): 1 critical, 2 high\npassed: source (cargo audit) (Cargo.lock): 0 critical, 0 high",
          },
        },
        { type: "context", elements: [{ type: "mrkdwn", text: "Opened security issue #7: https://github.com/acme/observatory/issues/7." }] },
      ],
    });
  });

  it("builds the weekly delivery summary", () => {
    const report: MetricsReport = {
      repository: "acme/observatory",
      window: { start: "2026-11-23T00:00:00.000Z", end: "2026-11-30T00:00:00.000Z", days: 7 },
      dora: {
        deployments: { production: { count: 3, perDay: 0.429, failed: 0, canaryAborts: 1, rollbacks: 1 }, dev: { count: 12, perDay: 1.714, failed: 1, canaryAborts: 0, rollbacks: 0 } },
        leadTime: { count: 9, p50: 2700, p95: 86_400 },
        changes: 3,
        failedChanges: 1,
        changeFailureRate: 0.3333,
        timeToRestore: { count: 1, p50: 1500, p95: 1500 },
        unrestored: 0,
        leadTimeUnmeasured: [],
      },
      workflows: [{ workflow: "ci", counted: 20, succeeded: 18, conclusions: { success: 18, failure: 2 }, successRate: 0.9, duration: { count: 20, p50: 420, p95: 560 }, queue: { count: 20, p50: 5, p95: 30 }, failedOnProtectedBranches: 1 }],
      jobs: [],
      artifacts: [],
      notes: [],
    };
    expect(slackAlert({ kind: "weekly-summary", report })).toEqual({
      text: ":bar_chart: Delivery summary for acme/observatory, 2026-11-23 to 2026-11-30: 3 production deploys, change failure rate 33.3 % (1/3)",
      blocks: [
        { type: "section", text: { type: "mrkdwn", text: ":bar_chart: *Delivery summary for acme/observatory, 2026-11-23 to 2026-11-30*" } },
        {
          type: "section",
          fields: [
            { type: "mrkdwn", text: "*Production deploys*\n3 (0.429/day; target daily)" },
            { type: "mrkdwn", text: "*Lead time P50*\n45 min (target &lt; 1 h)" },
            { type: "mrkdwn", text: "*Time to restore P50*\n25 min (target &lt; 1 h)" },
            { type: "mrkdwn", text: "*Change failure rate*\n33.3 % (1/3) (target &lt; 15 %)" },
          ],
        },
        { type: "section", text: { type: "mrkdwn", text: "*Deployments*\ndev: 12 deployed, 1 failed, 0 canary aborted, 0 rolled back\nproduction: 3 deployed, 0 failed, 1 canary aborted, 1 rolled back" } },
        { type: "section", text: { type: "mrkdwn", text: "*Pipelines*\nci: 90 % of 20 runs, P95 9 min" } },
      ],
    });
  });

  it("refuses a run link that is not http(s)", () => {
    expect(() => slackAlert({ kind: "pipeline-failed", workflow: "ci", branch: "main", runUrl: "javascript:alert(1)" })).toThrow(/runUrl/);
  });
});
