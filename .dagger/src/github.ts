/**
 * The GitHub issue client of the daily scan: comments on the open security issue or opens one,
 * with the token as a secret file of a pinned curl container.
 */
import { dag, type Container, type Secret } from "@dagger.io/dagger";
import { outcomeOf, runAllowingFailure, withRunNonce } from "./exec";
import type { Pipeline } from "./pipeline";
import { tail } from "./lib/errors";
import { curlSecretArgs, withCurlSecret } from "./deploy-support";

export const GITHUB_API = "https://api.github.com";
const ISSUE_LABELS = ["security", "critical"];

const ISSUE_TITLE = "Security scan: vulnerabilities in deployed images or dependencies";

const GITHUB_TOKEN_SECRET = "github-token";

export function githubCurl(p: Pipeline, token: Secret): Container {
  return withRunNonce(withCurlSecret(dag.container().from(p.config.images.curl), GITHUB_TOKEN_SECRET, token));
}

/** curl reads the token from its mounted secret file (deploy-support.ts withCurlSecret): it never is an argument. */
export const GITHUB_REQUEST_HEADERS = [
  ...curlSecretArgs(GITHUB_TOKEN_SECRET, "header", "Authorization: Bearer {{secret}}"),
  "-H", "Accept: application/vnd.github+json", "-H", "X-GitHub-Api-Version: 2022-11-28",
];
const CURL_GITHUB = ["curl", "--fail-with-body", "--silent", "--show-error", ...GITHUB_REQUEST_HEADERS];
const POST_JSON = ["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@/tmp/github-body.json"];

async function githubRequest(ctr: Container, curlArgs: string[], url: string, what: string): Promise<unknown> {
  const outcome = await outcomeOf(runAllowingFailure(ctr, [...curlArgs, url]));
  if (outcome.exitCode !== 0) {
    throw new Error(`scanDeployed: GitHub API ${what} failed (curl exit ${outcome.exitCode}): ${tail((outcome.stdout + "\n" + outcome.stderr).trim(), 10)}`);
  }
  try {
    return JSON.parse(outcome.stdout);
  } catch {
    throw new Error(`scanDeployed: GitHub API ${what} returned no JSON: ${tail(outcome.stdout, 5)}`);
  }
}

/** Comments on the open security issue, or opens one: exactly one write call per run. */
export async function reportToGitHub(p: Pipeline, token: Secret, repository: string, report: string): Promise<string> {
  const ctr = githubCurl(p, token);
  const repoUrl = `${GITHUB_API}/repos/${repository}`;
  const open = await githubRequest(ctr, CURL_GITHUB, `${repoUrl}/issues?labels=${ISSUE_LABELS.join(",")}&state=open&per_page=100`, "listing open security issues");
  const existing = Array.isArray(open)
    ? (open as Array<{ number?: unknown; pull_request?: unknown }>).find((i) => typeof i.number === "number" && i.pull_request === undefined)
    : undefined;
  const post = [...CURL_GITHUB, ...POST_JSON];
  if (existing) {
    const bodyCtr = ctr.withNewFile("/tmp/github-body.json", JSON.stringify({ body: report }));
    const answer = (await githubRequest(bodyCtr, post, `${repoUrl}/issues/${existing.number}/comments`, `commenting on issue #${existing.number}`)) as { html_url?: string };
    return `Commented on the open security issue #${existing.number}${answer.html_url ? `: ${answer.html_url}` : ""}.`;
  }
  const bodyCtr = ctr.withNewFile("/tmp/github-body.json", JSON.stringify({ title: ISSUE_TITLE, body: report, labels: ISSUE_LABELS }));
  const answer = (await githubRequest(bodyCtr, post, `${repoUrl}/issues`, "opening an issue")) as { number?: number; html_url?: string };
  return `Opened security issue #${answer.number ?? "?"}${answer.html_url ? `: ${answer.html_url}` : ""}.`;
}
