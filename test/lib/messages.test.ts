/**
 * Golden files of every message kind, in both renderings (test/golden/<kind>.md and
 * <kind>.slack.json): a wording change shows as a diff of these files.
 * `UPDATE_GOLDEN=1 npx vitest run test/lib/messages.test.ts` rewrites them after a deliberate change.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderMarkdown, renderSlack, type Message, type MessageKind } from "../../.dagger/src/lib/messages";
import { parseGitleaks, securityVerdict, type AllowlistEntry } from "../../.dagger/src/lib/findings";
import { GateFailure, UsageError } from "../../.dagger/src/lib/errors";
import { runGates } from "../../.dagger/src/lib/summary";

const today = new Date("2026-11-29T02:00:00Z");
const report = (path: string) => readFileSync(new URL(`../fixtures/reports/${path}`, import.meta.url), "utf8");

const allowlist: AllowlistEntry[] = [
  { id: "generic-api-key", reason: "test fixture key", added: "2026-11-01", expires: "2027-01-15", tool: "gitleaks", path: "nowhere" },
];
const gitleaksVerdict = securityVerdict("gitleaks", parseGitleaks(report("gitleaks/baseline-real-scan.json"), "gitleaks.json"), { today, allowlist });

async function ciOutcomes() {
  let clock = 0;
  return runGates(
    {
      fmt: async () => ({ figure: "formatted" }),
      clippy: async () => {
        throw new GateFailure(
          "clippy",
          "cargo clippy -D warnings failed (exit 101), lints: clippy::needless-return:\nerror: unneeded `return` statement\n   --> services/analytics-api/src/lib.rs:209:9\n    = note: `-D clippy::needless-return` implied by `-D warnings`\nerror: could not compile `analytics-api` (lib) due to 1 previous error",
          "1 error (clippy::needless-return)",
        );
      },
      gitleaks: async () => {
        throw new GateFailure("gitleaks", gitleaksVerdict.details, gitleaksVerdict.summary, "markdown");
      },
      uploadCoverage: async () => {
        throw new UsageError({ fn: "uploadCoverage", flag: "--commit", problem: "must be lower case", found: "ABCDEF0123456789ABCDEF0123456789ABCDEF01" });
      },
    },
    () => (clock += 1500),
  );
}

async function messageOf(kind: MessageKind): Promise<Message> {
  switch (kind) {
    case "ci-summary":
      return { kind, outcomes: await ciOutcomes() };
    case "gate-report":
      return { kind, verdict: gitleaksVerdict };
    case "deployment":
      return {
        kind,
        deployment: {
          status: "rollback",
          environment: "production",
          version: "v1.4.2",
          author: "ada",
          commit: "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
          githubRepository: "llm-observatory/analytics-api",
          environmentUrl: "https://api.llm-observatory.io",
          reason: "canary 5xx rate 3.2 % > 1 % for 2 min",
          runUrl: "https://github.com/llm-observatory/analytics-api/actions/runs/42",
          details: { image: "ghcr.io/llm-observatory/analytics-api@sha256:" + "a".repeat(64) },
        },
      };
  }
}

function golden(name: string, actual: string): void {
  const url = new URL(`../golden/${name}`, import.meta.url);
  if (process.env.UPDATE_GOLDEN === "1") writeFileSync(url, actual);
  expect(existsSync(url), `test/golden/${name} is missing: run with UPDATE_GOLDEN=1 and review it`).toBe(true);
  expect(actual).toBe(readFileSync(url, "utf8"));
}

const KINDS: MessageKind[] = ["ci-summary", "gate-report", "deployment"];

describe("one renderer, golden files per message kind", () => {
  for (const kind of KINDS) {
    it(`${kind} as Markdown`, async () => {
      golden(`${kind}.md`, `${renderMarkdown(await messageOf(kind))}\n`);
    });
    it(`${kind} as Slack blocks`, async () => {
      const slack = renderSlack(await messageOf(kind));
      expect(slack.text.length).toBeGreaterThan(0);
      golden(`${kind}.slack.json`, `${JSON.stringify(slack, null, 2)}\n`);
    });
  }

  it("the failed ci summary has no table inside a code fence", async () => {
    const markdown = renderMarkdown(await messageOf("ci-summary"));
    for (const fence of markdown.matchAll(/^(`{3,})text\n([\s\S]*?)\n\1$/gm)) expect(fence[2]).not.toMatch(/^\|.*\|$/m);
    expect(markdown).toMatch(/^### gitleaks\n\n#### gitleaks: failed\n\n\*\*Why it failed:\*\*/m);
  });
});
