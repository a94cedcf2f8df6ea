/**
 * Every Slack message the pipeline sends, from one builder: deployments (lib/deploy/slack.ts), failed pipelines
 * on main and release branches, the daily scan's findings, and the weekly delivery summary. Text a user or a tool
 * wrote goes through escapeSlack; links through linkTarget (http(s) only, no credentials).
 */
import { escapeSlack, linkTarget, slackMessage, type SlackBlock, type SlackMessage, type SlackMessageInput } from "../deploy/slack";
import type { MetricsReport } from "../metrics/report";

export interface ScanSummary {
  title: string;
  target: string;
  passed: boolean;
  critical: number;
  high: number;
}

export type SlackAlert =
  | ({ kind: "deployment" } & SlackMessageInput)
  | { kind: "pipeline-failed"; workflow: string; branch: string; commit?: string; runUrl: string; failedJobs?: string[] }
  | { kind: "security-findings"; day: string; scans: ScanSummary[]; issue?: string }
  | { kind: "weekly-summary"; report: MetricsReport };

function section(text: string): SlackBlock {
  return { type: "section", text: { type: "mrkdwn", text } };
}

function fields(entries: [string, string][]): SlackBlock {
  return { type: "section", fields: entries.slice(0, 10).map(([k, v]) => ({ type: "mrkdwn", text: `*${escapeSlack(k)}*\n${escapeSlack(v)}` })) };
}

function link(url: string, label: string): SlackBlock {
  return { type: "context", elements: [{ type: "mrkdwn", text: `<${linkTarget(url)}|${label}>` }] };
}

function duration(seconds: number | null): string {
  if (seconds === null) return "n/a";
  return seconds < 5400 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3600).toFixed(1)} h`;
}

function pipelineFailed(alert: Extract<SlackAlert, { kind: "pipeline-failed" }>): SlackMessage {
  const summary = `${alert.workflow} failed on ${alert.branch}`;
  const facts: [string, string][] = [["Workflow", alert.workflow], ["Branch", alert.branch]];
  if (alert.commit) facts.push(["Commit", alert.commit.slice(0, 12)]);
  if (alert.failedJobs?.length) facts.push(["Failed jobs", alert.failedJobs.join(", ")]);
  return {
    text: `:x: ${escapeSlack(summary)}`,
    blocks: [section(`:x: *${escapeSlack(summary)}*`), fields(facts), link(alert.runUrl, "View the pipeline run")],
  };
}

function securityFindings(alert: Extract<SlackAlert, { kind: "security-findings" }>): SlackMessage {
  const failed = alert.scans.filter((s) => !s.passed);
  const critical = alert.scans.reduce((n, s) => n + s.critical, 0);
  const summary = failed.length
    ? `Daily security scan (${alert.day}): findings in ${failed.map((s) => s.title).join(", ")}`
    : `Daily security scan (${alert.day}): no blocking finding`;
  const emoji = critical > 0 ? ":rotating_light:" : failed.length ? ":warning:" : ":white_check_mark:";
  const lines = alert.scans.map((s) => `${s.passed ? "passed" : "*failed*"}: ${escapeSlack(s.title)} (${escapeSlack(s.target)}): ${s.critical} critical, ${s.high} high`);
  const blocks = [section(`${emoji} *${escapeSlack(summary)}*`), section(lines.join("\n"))];
  if (alert.issue) blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: escapeSlack(alert.issue) }] });
  return { text: `${emoji} ${escapeSlack(summary)}`, blocks };
}

function weeklySummary(report: MetricsReport): SlackMessage {
  const d = report.dora;
  const production = d.deployments.production ?? { count: 0, perDay: 0, failed: 0, canaryAborts: 0, rollbacks: 0 };
  const title = `Delivery summary for ${report.repository}, ${report.window.start.slice(0, 10)} to ${report.window.end.slice(0, 10)}`;
  const cfr = d.changeFailureRate === null ? "n/a" : `${(d.changeFailureRate * 100).toFixed(1)} % (${d.failedChanges}/${d.changes})`;
  const environments = Object.entries(d.deployments)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([env, row]) => `${escapeSlack(env)}: ${row.count} deployed, ${row.failed} failed, ${row.canaryAborts} canary aborted, ${row.rollbacks} rolled back`);
  const pipelines = report.workflows.map((w) => `${escapeSlack(w.workflow)}: ${w.successRate === null ? "n/a" : `${(w.successRate * 100).toFixed(0)} %`} of ${w.counted} runs, P95 ${duration(w.duration.p95)}`);
  return {
    text: `:bar_chart: ${escapeSlack(title)}: ${production.count} production deploys, change failure rate ${cfr}`,
    blocks: [
      section(`:bar_chart: *${escapeSlack(title)}*`),
      fields([
        ["Production deploys", `${production.count} (${production.perDay}/day; target daily)`],
        ["Lead time P50", `${duration(d.leadTime.p50)} (target < 1 h)`],
        ["Time to restore P50", `${duration(d.timeToRestore.p50)} (target < 1 h)`],
        ["Change failure rate", `${cfr} (target < 15 %)`],
      ]),
      ...(environments.length ? [section(`*Deployments*\n${environments.join("\n")}`)] : []),
      ...(pipelines.length ? [section(`*Pipelines*\n${pipelines.join("\n")}`)] : []),
    ],
  };
}

export function slackAlert(alert: SlackAlert): SlackMessage {
  switch (alert.kind) {
    case "deployment": {
      const { kind: _, ...input } = alert;
      return slackMessage(input);
    }
    case "pipeline-failed":
      return pipelineFailed(alert);
    case "security-findings":
      return securityFindings(alert);
    case "weekly-summary":
      return weeklySummary(alert.report);
  }
}
