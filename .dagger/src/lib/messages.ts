/**
 * The one renderer of what people read: the `ci` job summary, a security gate's report and the
 * deployment notifications. A message is data tagged with its kind; `renderMarkdown` gives the
 * Markdown (job summary, error message, issue body), `renderSlack` the Slack payload (fallback text
 * and Block Kit blocks). Each kind has golden files under test/golden/, so wording changes show as diffs.
 */
import { failureReport, summaryTable, type GateOutcome } from "./summary";
import type { SecurityVerdict } from "./findings/gate";
import { deploymentHeadline, escapeSlack, githubCommitUrl, slackMessage, type SlackBlock, type SlackMessage, type SlackMessageInput } from "./deploy/slack";
import { markdownText } from "./markdown";

export type Message =
  /** Every gate of `ci`: the table, and each failure below it when one failed. */
  | { kind: "ci-summary"; outcomes: GateOutcome[] }
  /** One scanner's verdict: why it failed, the blocking findings, the allowlist's state. */
  | { kind: "gate-report"; verdict: SecurityVerdict }
  /** A deployment's start, success, failure or rollback. */
  | { kind: "deployment"; deployment: SlackMessageInput };

export type MessageKind = Message["kind"];

export function renderMarkdown(message: Message): string {
  switch (message.kind) {
    case "ci-summary":
      return message.outcomes.some((o) => !o.passed) ? failureReport(message.outcomes) : summaryTable(message.outcomes);
    case "gate-report":
      return message.verdict.details;
    case "deployment": {
      const d = message.deployment;
      const headline = `${deploymentHeadline(d)}${d.reason ? `: ${d.reason}` : ""}`;
      const facts = [
        ["environment", d.environment],
        ...(d.environmentUrl ? [["url", d.environmentUrl]] : []),
        ["version", d.version],
        ...(d.author ? [["author", d.author]] : []),
        ...Object.entries(d.details ?? {}),
      ];
      const commit = d.commit && (d.githubRepository ? `[${d.commit.slice(0, 7)}](${githubCommitUrl(d.githubRepository, d.commit)})` : d.commit.slice(0, 7));
      return [
        `### ${markdownText(headline, 300)}`,
        "",
        ...facts.map(([key, value]) => `- **${markdownText(key, 80)}**: ${markdownText(value, 500)}`),
        ...(commit ? [`- **commit**: ${commit}`] : []),
        ...(d.runUrl ? ["", `[View the pipeline run](${d.runUrl})`] : []),
      ].join("\n");
    }
  }
}

function section(text: string): SlackBlock {
  return { type: "section", text: { type: "mrkdwn", text: text.length > 3000 ? `${text.slice(0, 2999)}…` : text } };
}

export function renderSlack(message: Message): SlackMessage {
  switch (message.kind) {
    case "deployment":
      return slackMessage(message.deployment);
    case "ci-summary": {
      const failed = message.outcomes.filter((o) => !o.passed);
      const headline = failed.length
        ? `:x: ci: ${failed.length} of ${message.outcomes.length} gates failed`
        : `:white_check_mark: ci: all ${message.outcomes.length} gates passed`;
      const lines = message.outcomes.map((o) => `${o.passed ? "✅" : o.usage ? "⛔" : "❌"} *${escapeSlack(o.gate)}*${o.figure ? `: ${escapeSlack(o.figure)}` : ""}`);
      return { text: headline, blocks: [section(`*${headline}*`), section(lines.join("\n"))] };
    }
    case "gate-report": {
      const v = message.verdict;
      const headline = `${v.passed ? ":white_check_mark:" : ":x:"} ${v.tool}: ${escapeSlack(v.summary)}`;
      return { text: headline, blocks: [section(headline)] };
    }
  }
}
