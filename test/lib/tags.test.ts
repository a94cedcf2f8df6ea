import { describe, it, expect } from "vitest";
import {
  computeImageTags,
  parseStrictSemver,
  sanitizeTag,
  isValidTag,
  type GitRefInput,
} from "../../.dagger/src/lib/tags";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const SHORT = "0123456";
const LONG_BRANCH = `feature/${"a".repeat(150)}`;

interface Case {
  name: string;
  input: Partial<GitRefInput> & { ref: string };
  tags: string[];
  version?: string;
  latest?: boolean;
  dropped?: string[];
}

const cases: Case[] = [
  { name: "push to main", input: { ref: "refs/heads/main" }, tags: ["main", `main-${SHORT}`], version: "main", latest: false, dropped: [] },
  { name: "branch with slash, uppercase, underscore", input: { ref: "refs/heads/feature/JIRA-12_fix" }, tags: ["feature-JIRA-12_fix", `feature-JIRA-12_fix-${SHORT}`] },
  { name: "release branch with a dot", input: { ref: "refs/heads/release/1.2" }, tags: ["release-1.2", `release-1.2-${SHORT}`], version: "release-1.2" },
  { name: "dependabot branch", input: { ref: "refs/heads/dependabot/cargo/serde-1.0.200" }, tags: ["dependabot-cargo-serde-1.0.200", `dependabot-cargo-serde-1.0.200-${SHORT}`] },
  { name: "uppercase kept (only image names are lowercased)", input: { ref: "refs/heads/Feature/UPPER" }, tags: ["Feature-UPPER", `Feature-UPPER-${SHORT}`] },
  { name: "runs of invalid characters become one dash", input: { ref: "refs/heads/deps/bump+serde#1" }, tags: ["deps-bump-serde-1", `deps-bump-serde-1-${SHORT}`] },
  { name: "non-ASCII characters replaced", input: { ref: "refs/heads/fix/ümlaut" }, tags: ["fix-mlaut", `fix-mlaut-${SHORT}`] },
  {
    name: "very long branch cut to 128, sha tag keeps -<sha>",
    input: { ref: `refs/heads/${LONG_BRANCH}` },
    tags: [`feature-${"a".repeat(120)}`, `feature-${"a".repeat(112)}-${SHORT}`],
  },
  { name: "branch that looks like a version gets no semver tags", input: { ref: "refs/heads/v1.2.3" }, tags: ["v1.2.3", `v1.2.3-${SHORT}`] },
  { name: "workflow_dispatch on main", input: { ref: "refs/heads/main", event: "workflow_dispatch" }, tags: ["main", `main-${SHORT}`] },
  { name: "schedule on main (no type=schedule rule)", input: { ref: "refs/heads/main", event: "schedule" }, tags: ["main", `main-${SHORT}`] },
  { name: "pull request", input: { ref: "refs/pull/42/merge", event: "pull_request" }, tags: ["pr-42"], version: "pr-42", latest: false, dropped: [`-${SHORT}`] },
  { name: "pull_request_target uses the PR number", input: { ref: "refs/heads/main", event: "pull_request_target", prNumber: 7 }, tags: ["pr-7"] },
  { name: "release v1.2.3", input: { ref: "refs/tags/v1.2.3" }, tags: ["1.2.3", "1.2", "latest"], version: "1.2.3", latest: true, dropped: [`-${SHORT}`] },
  { name: "release event on a tag", input: { ref: "refs/tags/v3.0.1", event: "release" }, tags: ["3.0.1", "3.0", "latest"] },
  { name: "pre-release: only {{version}}, no latest", input: { ref: "refs/tags/v2.0.0-rc.1" }, tags: ["2.0.0-rc.1"], version: "2.0.0-rc.1", latest: false },
  { name: "semver without v", input: { ref: "refs/tags/1.2.3" }, tags: ["1.2.3", "1.2", "latest"] },
  { name: "major zero", input: { ref: "refs/tags/v0.1.0" }, tags: ["0.1.0", "0.1", "latest"] },
  { name: "build metadata left out of {{version}}", input: { ref: "refs/tags/v1.2.3+build.7" }, tags: ["1.2.3", "1.2", "latest"] },
  { name: "v1.2 is not semver: nothing publishable", input: { ref: "refs/tags/v1.2" }, tags: [], version: "", latest: false, dropped: [`-${SHORT}`] },
  { name: "leading zero is not strict semver", input: { ref: "refs/tags/v01.2.3" }, tags: [] },
  { name: "non-semver tag", input: { ref: "refs/tags/nightly-2024" }, tags: [], version: "" },
  { name: "tag with a slash is not semver", input: { ref: "refs/tags/release/v1.2.3" }, tags: [] },
  { name: "flavor latest=false", input: { ref: "refs/tags/v1.2.3", flavorLatest: "false" }, tags: ["1.2.3", "1.2"], latest: false },
  { name: "7-character SHA accepted as is", input: { ref: "refs/heads/main", sha: "abcdef1" }, tags: ["main", "main-abcdef1"] },
];

describe("computeImageTags (docker/metadata-action v5 rules)", () => {
  it.each(cases)("$name", ({ input, tags, version, latest, dropped }) => {
    const result = computeImageTags({ event: "push", sha: SHA, ...input });
    expect(result.tags).toEqual(tags);
    for (const tag of result.tags) expect(tag.length).toBeLessThanOrEqual(128);
    if (version !== undefined) expect(result.version).toBe(version);
    if (latest !== undefined) expect(result.latest).toBe(latest);
    if (dropped !== undefined) expect(result.dropped.map((d) => d.tag)).toEqual(dropped);
  });

  it("reports the short sha, the ref and the PR details", () => {
    const result = computeImageTags({ ref: "refs/pull/42/merge", event: "pull_request", sha: SHA, baseRef: "main", headRef: "feature/x" });
    expect(result.shortSha).toBe(SHORT);
    expect(result.ref).toEqual({ kind: "pull_request", name: "42" });
    expect(result.pullRequest).toEqual({ number: 42, baseRef: "main", headRef: "feature/x" });
    expect(result.dropped[0]!.reason).toContain("{{branch}} is empty for refs/pull/42/merge");
  });

  it.each([
    [{ ref: "" }, /invalid git ref "": it is empty/],
    [{ ref: "main" }, /invalid git ref "main": it does not start with refs\//],
    [{ ref: "refs/heads/" }, /invalid git ref "refs\/heads\/": nothing follows refs\/heads\//],
    [{ ref: "refs/tags/" }, /nothing follows refs\/tags\//],
    [{ ref: "refs/pull/abc/merge" }, /"refs\/pull\/abc\/merge": a pull-request ref must be refs\/pull\/<number>\/merge/],
    [{ ref: "refs/pull/42/head" }, /refs\/pull\/<number>\/merge/],
    [{ ref: "refs/remotes/origin/main" }, /only refs\/heads\/\*, refs\/tags\/\* and refs\/pull\/<n>\/merge/],
    [{ ref: "refs/heads/my branch" }, /whitespace/],
    [{ ref: "refs/heads/main", sha: "xyz1234" }, /invalid commit SHA "xyz1234": expected 7 to 40 hexadecimal/],
    [{ ref: "refs/heads/main", sha: "abc12" }, /invalid commit SHA "abc12"/],
    [{ ref: "refs/heads/main", sha: `${SHA}0` }, /invalid commit SHA/],
    [{ ref: "refs/heads/main", event: "" }, /invalid GitHub event name ""/],
    [{ ref: "refs/heads/main", event: "pull_request_target" }, /pull_request_target runs with GITHUB_REF="refs\/heads\/main"/],
  ] as const)("rejects %j", (override, message) => {
    expect(() => computeImageTags({ event: "push", sha: SHA, ...override })).toThrow(message);
  });
});

describe("helpers", () => {
  it("parses strict semver like node-semver's valid()", () => {
    expect(parseStrictSemver("v1.2.3")).toEqual({ major: "1", minor: "2", patch: "3", prerelease: undefined });
    expect(parseStrictSemver("2.0.0-rc.1")?.prerelease).toBe("rc.1");
    for (const bad of ["v1.2", "1.2.3.4", "=1.2.3", "V1.2.3", "1.2.3-01", "1.2.3-", "1.2.3+"]) {
      expect(parseStrictSemver(bad), bad).toBeUndefined();
    }
  });

  it("sanitizes and validates tags", () => {
    expect(sanitizeTag("a/b//c d")).toBe("a-b-c-d");
    expect(isValidTag("-abc")).toBe(false);
    expect(isValidTag(".abc")).toBe(false);
    expect(isValidTag("a".repeat(128))).toBe(true);
    expect(isValidTag("a".repeat(129))).toBe(false);
  });
});
