/** Argument errors name the whole offending value and say what to do. */
import { describe, expect, it } from "vitest";
import { parseLoadTestArgs, parseTagsArgs } from "../../.dagger/src/lib/function-args";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const failure = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected a UsageError");
};

describe("argument messages", () => {
  it("a URL error shows the whole URL, credentials masked", () => {
    expect(failure(() => parseLoadTestArgs({ url: "ftp://staging.example/health?probe=1" }))).toBe(
      'loadTest --url: must be http(s), got ftp: (found "ftp://staging.example/health?probe=***"; expected an http(s) URL without credentials)',
    );
    const withCredentials = failure(() => parseLoadTestArgs({ url: "https://ci:hunter2@staging.example/x" }));
    expect(withCredentials).toContain('found "https://***@staging.example/x"');
    expect(withCredentials).not.toContain("hunter2");
  });

  it("an upper-case 40-hex commit is told to use lower case", () => {
    expect(failure(() => parseTagsArgs({ ref: "refs/heads/main", event: "push", commit: SHA.toUpperCase() }))).toBe(
      `tags --commit: is in upper case: use lower case (found "${SHA.toUpperCase()}"; expected 40 lowercase hexadecimal characters (GITHUB_SHA))`,
    );
    expect(failure(() => parseTagsArgs({ ref: "refs/heads/main", event: "push", commit: "abc" }))).toContain("tags --commit: is not a full commit SHA");
  });

  it("a ref that maps to no image tag is an error, not an empty list", () => {
    expect(failure(() => parseTagsArgs({ ref: "refs/tags/nightly", event: "push", commit: SHA }))).toMatch(
      /^tags --ref: maps to no image tag: .*\(found "refs\/tags\/nightly"; expected a branch, a pull-request ref or a semver tag like refs\/tags\/v1\.2\.3\)$/,
    );
    expect(parseTagsArgs({ ref: "refs/tags/v1.2.3", event: "push", commit: SHA }).tags.tags).toEqual(expect.arrayContaining(["1.2.3", "1.2"]));
  });

  it("--event must be an event that triggers GitHub workflows", () => {
    expect(failure(() => parseTagsArgs({ ref: "refs/heads/main", event: "pushh", commit: SHA }))).toMatch(/^tags --event: is not a GitHub event name \(found "pushh"; expected an event that triggers workflows/);
    for (const event of ["push", "pull_request", "workflow_dispatch", "schedule", "merge_group"]) {
      expect(parseTagsArgs({ ref: "refs/heads/main", event, commit: SHA }).tags.tags.length, event).toBeGreaterThan(0);
    }
  });

  it("--pr-number belongs to a pull-request event and agrees with a refs/pull ref", () => {
    expect(failure(() => parseTagsArgs({ ref: "refs/heads/main", event: "push", commit: SHA, prNumber: 7 }))).toBe(
      'tags --pr-number: is only read on pull_request and pull_request_target events, not on "push" (found "7"; expected no --pr-number, or a pull-request event)',
    );
    expect(failure(() => parseTagsArgs({ ref: "refs/pull/8/merge", event: "pull_request", commit: SHA, prNumber: 7 }))).toContain(
      "tags --pr-number: disagrees with --ref refs/pull/8/merge (pull request 8)",
    );
    expect(parseTagsArgs({ ref: "refs/pull/8/merge", event: "pull_request", commit: SHA, prNumber: 8 }).tags.tags).toContain("pr-8");
  });
});
