/** The arguments of `metrics` and `notifyPipelineFailure` (lib/args.ts explains the parsing). */
import { z } from "zod";
import { githubRepository, httpUrl, nonEmpty, parseArgs, secret, sourcePath } from "../args";

/** How `metrics` prints its figures; on the command line `--format prometheus`. */
export enum MetricsFormat {
  Markdown = "markdown",
  Json = "json",
  Prometheus = "prometheus",
}

export interface MetricsRequest<S, D> {
  githubToken: S;
  githubRepository: string;
  days: number;
  format: MetricsFormat;
  records?: D;
  pushgatewayUrl?: string;
  slackWebhook?: S;
  rollbackWorkflow: string;
  maxJobRuns: number;
}

export function parseMetricsArgs<S, D>(args: {
  githubToken: S;
  githubRepository: string;
  days?: number;
  format?: MetricsFormat | string;
  records?: D;
  pushgatewayUrl?: string;
  slackWebhook?: S;
  rollbackWorkflow?: string;
  maxJobRuns?: number;
}): MetricsRequest<S, D> {
  const schema = z.object({
    githubToken: secret<S>(),
    githubRepository,
    days: z.number().int().min(1).max(400).optional(),
    format: z.enum(MetricsFormat).optional(),
    records: z.custom<D>((value) => value !== undefined && value !== null).optional(),
    pushgatewayUrl: httpUrl.optional(),
    slackWebhook: secret<S>().optional(),
    rollbackWorkflow: sourcePath.optional(),
    maxJobRuns: z.number().int().min(0).max(1000).optional(),
  });
  const parsed = parseArgs("metrics", schema, args);
  return {
    githubToken: parsed.githubToken,
    githubRepository: parsed.githubRepository,
    days: parsed.days ?? 30,
    format: parsed.format ?? MetricsFormat.Markdown,
    ...(parsed.records !== undefined ? { records: parsed.records } : {}),
    ...(parsed.pushgatewayUrl !== undefined ? { pushgatewayUrl: parsed.pushgatewayUrl.replace(/\/+$/, "") } : {}),
    ...(parsed.slackWebhook !== undefined ? { slackWebhook: parsed.slackWebhook } : {}),
    rollbackWorkflow: parsed.rollbackWorkflow ?? ".github/workflows/rollback.yml",
    maxJobRuns: parsed.maxJobRuns ?? 100,
  };
}

export interface PipelineFailureRequest<S> {
  slackWebhook: S;
  workflow: string;
  branch: string;
  runUrl: string;
  commit?: string;
  failedJobs: string[];
}

export function parsePipelineFailureArgs<S>(args: { slackWebhook: S; workflow: string; branch: string; runUrl: string; commit?: string; failedJobs?: string[] }): PipelineFailureRequest<S> {
  const schema = z.object({
    slackWebhook: secret<S>(),
    workflow: nonEmpty("the workflow's name"),
    branch: nonEmpty("a branch name"),
    runUrl: httpUrl,
    commit: nonEmpty("a commit SHA").optional(),
    failedJobs: z.array(z.string()).optional(),
  });
  const parsed = parseArgs("notifyPipelineFailure", schema, args);
  return {
    slackWebhook: parsed.slackWebhook,
    workflow: parsed.workflow,
    branch: parsed.branch,
    runUrl: parsed.runUrl,
    ...(parsed.commit !== undefined ? { commit: parsed.commit } : {}),
    failedJobs: parsed.failedJobs ?? [],
  };
}
