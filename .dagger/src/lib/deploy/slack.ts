/**
 * Slack message payloads (chat.postMessage / incoming webhook body) for deployment notifications:
 * a plain-text fallback (`text`, shown in notifications) and Block Kit blocks.
 */
import { httpUrlProblem } from "./http-url";

/** A notification's status; on the command line `--status started` (enum member names, matched case-insensitively). */
export enum NotifyStatus {
  Started = "started",
  Success = "success",
  Failure = "failure",
  Rollback = "rollback",
}

export type DeploymentStatus = `${NotifyStatus}`;

export interface SlackMessageInput {
  status: DeploymentStatus;
  environment: string;
  version: string;
  runUrl?: string;
  reason?: string;
  /** Extra facts shown as fields (e.g. image digest, canary verdict); at most 10 are shown. */
  details?: Record<string, string>;
  /** What is deployed; defaults to "analytics-api". */
  service?: string;
  /** Who made the change (the commit's author or the run's actor). */
  author?: string;
  /** The commit deployed (40 hex); linked when `githubRepository` names where it lives. */
  commit?: string;
  githubRepository?: string;
  /** Where the environment answers, e.g. https://staging.api.llm-observatory.io. */
  environmentUrl?: string;
}

export interface SlackBlock {
  type: string;
  [key: string]: unknown;
}

export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

/** Slack's three control characters; everything user-supplied goes through this. */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

const STATUS: Record<DeploymentStatus, { emoji: string; verb: string }> = {
  started: { emoji: ":rocket:", verb: "started deploying" },
  success: { emoji: ":white_check_mark:", verb: "deployed" },
  failure: { emoji: ":x:", verb: "failed to deploy" },
  rollback: { emoji: ":rewind:", verb: "rolled back" },
};

/** A link target safe inside `<url|label>`: an http(s) URL without credentials, and no `|`, `<`, `>` left unencoded. */
export function linkTarget(url: string, what = "runUrl"): string {
  const problem = httpUrlProblem(url);
  if (problem) throw new Error(`${what} ${problem}: ${JSON.stringify(url)}`);
  return new URL(url).href.replace(/\|/g, "%7C").replace(/</g, "%3C").replace(/>/g, "%3E");
}

/** The notification's one-line summary, unescaped: "analytics-api v1.2.3 deployed to staging". */
export function deploymentHeadline(input: SlackMessageInput): string {
  const status = STATUS[input.status];
  if (!status) throw new Error(`unknown deployment status ${JSON.stringify(input.status)}`);
  const service = input.service ?? "analytics-api";
  return `${service} ${input.version} ${status.verb} ${input.status === "rollback" ? "in" : "to"} ${input.environment}`;
}

/** The commit's page on GitHub: https://github.com/<owner>/<name>/commit/<sha>. */
export function githubCommitUrl(githubRepository: string, sha: string): string {
  return `https://github.com/${githubRepository}/commit/${sha}`;
}

/** The short SHA, linked to the commit's page when the repository is known. */
function commitText(sha: string, githubRepository: string | undefined): string {
  const short = escapeSlack(sha.slice(0, 7));
  return githubRepository ? `<${linkTarget(githubCommitUrl(githubRepository, sha), "commit URL")}|${short}>` : short;
}

export function slackMessage(input: SlackMessageInput): SlackMessage {
  const summary = deploymentHeadline(input);
  const status = STATUS[input.status];
  const text = `${status.emoji} ${escapeSlack(summary)}${input.reason ? `: ${escapeSlack(truncate(input.reason, 300))}` : ""}`;

  const blocks: SlackBlock[] = [
    { type: "section", text: { type: "mrkdwn", text: `${status.emoji} *${escapeSlack(summary)}*` } },
  ];
  const fields = [
    { type: "mrkdwn", text: `*Environment*\n${escapeSlack(input.environment)}` },
    ...(input.environmentUrl ? [{ type: "mrkdwn", text: `*URL*\n<${linkTarget(input.environmentUrl, "environmentUrl")}>` }] : []),
    { type: "mrkdwn", text: `*Version*\n${escapeSlack(input.version)}` },
    ...(input.commit ? [{ type: "mrkdwn", text: `*Commit*\n${commitText(input.commit, input.githubRepository)}` }] : []),
    ...(input.author ? [{ type: "mrkdwn", text: `*Author*\n${escapeSlack(input.author)}` }] : []),
    ...Object.entries(input.details ?? {}).map(([key, value]) => ({
      type: "mrkdwn",
      text: truncate(`*${escapeSlack(key)}*\n${escapeSlack(value)}`, 2000),
    })),
  ].slice(0, 10);
  blocks.push({ type: "section", fields });
  if (input.reason) {
    const reason = escapeSlack(truncate(input.reason, 2800)).replace(/```/g, "'''");
    blocks.push({ type: "section", text: { type: "mrkdwn", text: `*Reason*\n\`\`\`${reason}\`\`\`` } });
  }
  if (input.runUrl) {
    blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: `<${linkTarget(input.runUrl)}|View the pipeline run>` }] });
  }
  return { text, blocks };
}
