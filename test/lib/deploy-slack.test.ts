import { describe, expect, it } from "vitest";
import { escapeSlack, slackMessage } from "../../.dagger/src/lib/deploy/slack";

describe("slackMessage", () => {
  it("builds a success message with fallback text, fields and the run link", () => {
    const message = slackMessage({
      status: "success",
      environment: "production",
      version: "1.2.3",
      runUrl: "https://github.com/acme/observatory/actions/runs/42",
      details: { Image: "ghcr.io/acme/analytics-api@sha256:abc", Canary: "promoted after 10 intervals" },
    });
    expect(message.text).toBe(":white_check_mark: analytics-api 1.2.3 deployed to production");
    expect(message.blocks).toEqual([
      { type: "section", text: { type: "mrkdwn", text: ":white_check_mark: *analytics-api 1.2.3 deployed to production*" } },
      {
        type: "section",
        fields: [
          { type: "mrkdwn", text: "*Environment*\nproduction" },
          { type: "mrkdwn", text: "*Version*\n1.2.3" },
          { type: "mrkdwn", text: "*Image*\nghcr.io/acme/analytics-api@sha256:abc" },
          { type: "mrkdwn", text: "*Canary*\npromoted after 10 intervals" },
        ],
      },
      { type: "context", elements: [{ type: "mrkdwn", text: "<https://github.com/acme/observatory/actions/runs/42|View the pipeline run>" }] },
    ]);
  });

  it("carries what the plan's message shows: author, commit linked to its GitHub page, environment URL, run URL", () => {
    const sha = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
    const message = slackMessage({
      status: "success",
      environment: "staging",
      version: "v1.4.0",
      author: "Ada <ada@example.com>",
      commit: sha,
      githubRepository: "acme/observatory",
      environmentUrl: "https://staging.api.llm-observatory.io",
      runUrl: "https://github.com/acme/observatory/actions/runs/42",
    });
    expect((message.blocks[1] as any).fields).toEqual([
      { type: "mrkdwn", text: "*Environment*\nstaging" },
      { type: "mrkdwn", text: "*URL*\n<https://staging.api.llm-observatory.io/>" },
      { type: "mrkdwn", text: "*Version*\nv1.4.0" },
      { type: "mrkdwn", text: `*Commit*\n<https://github.com/acme/observatory/commit/${sha}|1a2b3c4>` },
      { type: "mrkdwn", text: "*Author*\nAda &lt;ada@example.com&gt;" },
    ]);
    expect(JSON.stringify(message)).toContain("<https://github.com/acme/observatory/actions/runs/42|View the pipeline run>");
  });

  it("shows the commit unlinked when the repository is unknown, and refuses an environment URL with credentials", () => {
    const message = slackMessage({ status: "started", environment: "dev", version: "1", commit: "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d" });
    expect((message.blocks[1] as any).fields[2]).toEqual({ type: "mrkdwn", text: "*Commit*\n1a2b3c4" });
    expect(() => slackMessage({ status: "started", environment: "dev", version: "1", environmentUrl: "https://u:p@dev.example" })).toThrow(/environmentUrl/);
  });

  it.each([
    ["started", ":rocket: analytics-api 1.2.3 started deploying to staging"],
    ["failure", ":x: analytics-api 1.2.3 failed to deploy to staging"],
    ["rollback", ":rewind: analytics-api 1.2.3 rolled back in staging"],
  ] as const)("words the %s status", (status, text) => {
    expect(slackMessage({ status, environment: "staging", version: "1.2.3" }).text).toBe(text);
  });

  it("escapes &, < and > everywhere user text goes, so nothing becomes a mention or a link", () => {
    const message = slackMessage({
      status: "rollback",
      environment: "prod <!channel>",
      version: "1.2.3&x",
      reason: "5xx error rate above 1% <@U123> & P95 > 2s",
      details: { "a<b": "c>d" },
    });
    const serialised = JSON.stringify(message);
    expect(serialised).not.toMatch(/<!channel>|<@U123>/);
    expect(message.text).toBe(":rewind: analytics-api 1.2.3&amp;x rolled back in prod &lt;!channel&gt;: 5xx error rate above 1% &lt;@U123&gt; &amp; P95 &gt; 2s");
    expect(message.blocks[2]).toEqual({
      type: "section",
      text: { type: "mrkdwn", text: "*Reason*\n```5xx error rate above 1% &lt;@U123&gt; &amp; P95 &gt; 2s```" },
    });
    expect((message.blocks[1] as any).fields[2].text).toBe("*a&lt;b*\nc&gt;d");
  });

  it("keeps long reasons within Slack's limits and at most 10 fields", () => {
    const details = Object.fromEntries(Array.from({ length: 15 }, (_, index) => [`k${index}`, "v"]));
    const message = slackMessage({ status: "failure", environment: "dev", version: "1", reason: "x".repeat(10_000), details });
    expect((message.blocks[1] as any).fields).toHaveLength(10);
    expect(((message.blocks[2] as any).text.text as string).length).toBeLessThanOrEqual(3000);
    expect(message.text.length).toBeLessThan(400);
  });

  it("encodes link delimiters in the run URL and rejects non-http URLs", () => {
    const message = slackMessage({ status: "started", environment: "dev", version: "1", runUrl: "https://ci.example/run?a=1|b>c" });
    expect((message.blocks.at(-1) as any).elements[0].text).toBe("<https://ci.example/run?a=1%7Cb%3Ec|View the pipeline run>");
    expect(() => slackMessage({ status: "started", environment: "dev", version: "1", runUrl: "javascript:alert(1)" })).toThrow("runUrl must be http(s)");
    expect(() => slackMessage({ status: "started", environment: "dev", version: "1", runUrl: "not a url" })).toThrow("runUrl is not a URL");
  });

  it("rejects an unknown status", () => {
    expect(() => slackMessage({ status: "ok" as never, environment: "dev", version: "1" })).toThrow('unknown deployment status "ok"');
  });

  it("escapes the three control characters only", () => {
    expect(escapeSlack("a & b < c > d *e* _f_")).toBe("a &amp; b &lt; c &gt; d *e* _f_");
  });
});
