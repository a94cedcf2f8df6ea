/**
 * The event rules against the plan and today's GitHub Actions behaviour (.github/workflows/ci.yml, cd-dev.yml,
 * cd-staging.yml, cd-production.yml, rollback.yml, security-scan.yml): each row is what those files do for the
 * event, so a change of behaviour shows up as a changed row.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CI_GATES, parseEventPlanArgs, planAsEnv, planEvent, planSummary, renderPlan, type EventPlan, type EventPlanArgs } from "../../.dagger/src/lib/event-rules";
import { computeImageTags } from "../../.dagger/src/lib/tags";

const SHA = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
const plan = (args: Omit<EventPlanArgs, "system"> & { system?: string }): EventPlan =>
  planEvent(parseEventPlanArgs({ system: "github", ...args }).event);

interface Row {
  event: Omit<EventPlanArgs, "system">;
  trust: "trusted" | "untrusted";
  gates: boolean;
  coverage: boolean;
  publish?: string[];
  deploy?: { environment: string; image: string; approval: string; loadTest: boolean; githubRelease: boolean };
  refused?: string[];
}

const ALL = true;
const rows: [string, Row][] = [
  ["push to main: gates, publish, dev with main-<sha7>", {
    event: { kind: "push", ref: "main", commit: SHA }, trust: "trusted", gates: ALL, coverage: true,
    publish: ["main", "main-1a2b3c4"],
    deploy: { environment: "dev", image: "main-1a2b3c4", approval: "none", loadTest: false, githubRelease: false },
  }],
  ["push to release/1.4: staging, load test, then production approval", {
    event: { kind: "push", ref: "refs/heads/release/1.4", commit: SHA }, trust: "trusted", gates: ALL, coverage: true,
    publish: ["release-1.4", "release-1.4-1a2b3c4"],
    deploy: { environment: "staging", image: "release-1.4-1a2b3c4", approval: "after-load-test", loadTest: true, githubRelease: false },
  }],
  ["push to develop: gates only (ci.yml runs, publish's if is false)", {
    event: { kind: "push", ref: "develop", commit: SHA }, trust: "untrusted", gates: ALL, coverage: true, refused: ["publish"],
  }],
  ["push to feature/main: not main", {
    event: { kind: "push", ref: "feature/main", commit: SHA }, trust: "untrusted", gates: ALL, coverage: true, refused: ["publish"],
  }],
  ["tag v1.4.0: publish 1.4.0, 1.4, latest; production after approval, then the GitHub release", {
    event: { kind: "tag", ref: "v1.4.0", commit: SHA }, trust: "trusted", gates: ALL, coverage: true,
    publish: ["1.4.0", "1.4", "latest"],
    deploy: { environment: "production", image: "1.4.0", approval: "before-deploy", loadTest: false, githubRelease: true },
  }],
  ["tag v2.0.0-rc.1: published, never deployed (verify-tag's vX.Y.Z)", {
    event: { kind: "tag", ref: "refs/tags/v2.0.0-rc.1", commit: SHA }, trust: "trusted", gates: ALL, coverage: true,
    publish: ["2.0.0-rc.1"], refused: ["deploy"],
  }],
  ["tag v01.2.3: not strict semver, nothing published", {
    event: { kind: "tag", ref: "v01.2.3", commit: SHA }, trust: "untrusted", gates: ALL, coverage: true, refused: ["publish"],
  }],
  ["pull request: gates and coverage, untrusted, never publishes", {
    event: { kind: "pull_request", pullRequest: "42", commit: SHA }, trust: "untrusted", gates: ALL, coverage: true, refused: ["publish"],
  }],
  ["pull request from a fork: no coverage upload (no secrets)", {
    event: { kind: "pull_request", pullRequest: "42", commit: SHA, fork: "true" }, trust: "untrusted", gates: ALL, coverage: false,
    refused: ["coverage", "publish"],
  }],
  ["pull request whose head branch is main: still untrusted", {
    event: { kind: "pull_request", pullRequest: "7", ref: "main", commit: SHA }, trust: "untrusted", gates: ALL, coverage: true, refused: ["publish"],
  }],
  ["daily schedule: the deployed images' scan, no gates", {
    event: { kind: "schedule", schedule: "daily" }, trust: "trusted", gates: false, coverage: false,
  }],
  ["manual staging deploy names the image", {
    event: { kind: "manual", action: "deploy", environment: "staging", image: "release-1.4-1a2b3c4" }, trust: "trusted", gates: false, coverage: false,
    deploy: { environment: "staging", image: "release-1.4-1a2b3c4", approval: "after-load-test", loadTest: true, githubRelease: false },
  }],
  ["manual production deploy names the tag", {
    event: { kind: "manual", action: "deploy", environment: "production", ref: "v1.4.0" }, trust: "trusted", gates: false, coverage: false,
    deploy: { environment: "production", image: "1.4.0", approval: "before-deploy", loadTest: false, githubRelease: true },
  }],
];

describe("event rules: the plan's rules and today's GitHub behaviour", () => {
  it.each(rows)("%s", (_, row) => {
    const p = plan(row.event);
    expect(p.trust).toBe(row.trust);
    expect(p.gates).toEqual(row.gates ? [...CI_GATES] : []);
    expect(p.securityReports).toBe(row.gates);
    expect(p.coverage).toBe(row.coverage);
    expect(p.publish?.tags).toEqual(row.publish);
    if (row.deploy) expect(p.deploy).toMatchObject(row.deploy);
    else expect(p.deploy).toBeUndefined();
    expect(p.refusals.map((r) => r.what)).toEqual(row.refused ?? []);
    for (const refusal of p.refusals) expect(refusal.why.length).toBeGreaterThan(20);
  });

  it("publishes exactly the tags of lib/tags.ts (metadata-action's rules) with the ref and event releaseImage takes", () => {
    for (const [ref, kind] of [["refs/heads/main", "push"], ["refs/heads/release/2.0", "push"], ["refs/tags/v1.4.0", "tag"]] as const) {
      const p = plan({ kind, ref, commit: SHA });
      expect(p.publish).toEqual({ ref, event: "push", commit: SHA, tags: computeImageTags({ ref, event: "push", sha: SHA }).tags });
    }
  });

  it("deploys dev and staging with the <branch>-<sha7> tag publish pushed for the commit (the last metadata-action tag)", () => {
    for (const ref of ["main", "release/1.4"]) {
      const p = plan({ kind: "push", ref, commit: SHA });
      expect(p.deploy!.image).toBe(p.publish!.tags.at(-1));
      expect(p.deploy).toMatchObject({ commit: SHA, branch: ref });
    }
    expect(plan({ kind: "tag", ref: "v1.4.0", commit: SHA }).deploy).toMatchObject({ tag: "v1.4.0", commit: SHA });
  });

  it("trusts exactly what ci.yml's TRUST expression trusts, for pushes of release branches and tags", () => {
    const trust = (kind: "push" | "tag", ref: string) => plan({ kind, ref, commit: SHA }).trust;
    expect(trust("push", "release/1.4")).toBe("trusted");
    expect(trust("push", "releases/1.4")).toBe("untrusted");
    expect(trust("push", "mainline")).toBe("untrusted");
    expect(trust("tag", "v1.4.0")).toBe("trusted");
    expect(trust("tag", "1.4.0")).toBe("untrusted");
  });

  it.each([
    ["daily", ["scanDeployed"], { SCAN_DEPLOYED: "true", BENCHMARK: "false", CLEANUP: "false", METRICS: "false" }],
    ["weekly", ["benchmark", "cleanup", "metrics"], { SCAN_DEPLOYED: "false", BENCHMARK: "true", CLEANUP: "true", METRICS: "true" }],
  ] as const)("the %s schedule calls %j, and its env says so", (schedule, scheduled, env) => {
    const scheduledPlan = plan({ kind: "schedule", schedule });
    expect(scheduledPlan.scheduled).toEqual(scheduled);
    expect(scheduledPlan).toMatchObject({ trust: "trusted", gates: [], coverage: false, securityReports: false });
    const values = Object.fromEntries(planAsEnv(scheduledPlan).trim().split("\n").map((line) => line.split("=") as [string, string]));
    expect(values).toMatchObject({ ...env, RUN_GATES: "false", PUBLISH: "false", DEPLOY_ENVIRONMENT: "" });
  });

  it("runs the daily scan on manual scan runs too; rollback names its environment", () => {
    expect(plan({ kind: "manual", action: "scan" }).scheduled).toEqual(["scanDeployed"]);
    expect(plan({ kind: "schedule", schedule: "daily" }).scheduled).toEqual(["scanDeployed"]);
    expect(plan({ kind: "manual", action: "rollback", environment: "production" }).rollback).toEqual({ environment: "production" });
  });

  it("the gates are exactly those ci runs (index.ts's gates())", () => {
    const index = readFileSync(fileURLToPath(new URL("../../.dagger/src/index.ts", import.meta.url)), "utf8");
    const body = /private gates\([^)]*\)[^{]*\{\s*return \{([\s\S]*?)\n    \};/.exec(index)?.[1] ?? "";
    expect([...body.matchAll(/^\s+(\w+): \(\) =>/gm)].map((m) => m[1])).toEqual([...CI_GATES]);
  });
});

describe("event rules: arguments", () => {
  const refused = (args: Partial<EventPlanArgs>) => {
    try {
      parseEventPlanArgs({ kind: "push", system: "gitlab", ...args } as EventPlanArgs);
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error("accepted");
  };

  it("names every missing or wrong argument, with the function and the flag", () => {
    expect(refused({ kind: "push" })).toBe(
      "eventPlan --ref: is required for --kind push (expected the branch, e.g. main)\n" +
        "eventPlan --commit: is required for --kind push (expected the full commit SHA)",
    );
    expect(refused({ kind: "deploy", system: "bamboo" })).toMatch(/^eventPlan --kind: is not one of the choices \(found "deploy"; expected one of push, pull_request, tag, schedule, manual\)\neventPlan --system: /);
    expect(refused({ kind: "push", ref: "refs/tags/v1.0.0", commit: SHA })).toMatch(/^eventPlan --ref: is not a branch/);
    expect(refused({ kind: "tag", ref: "bad ref", commit: SHA })).toMatch(/^eventPlan --ref: it contains whitespace/);
    expect(refused({ kind: "pull_request", commit: SHA })).toMatch(/^eventPlan --pull-request: is required/);
    expect(refused({ kind: "schedule" })).toMatch(/^eventPlan --schedule: is required/);
    expect(refused({ kind: "manual" })).toMatch(/^eventPlan --action: is required/);
    expect(refused({ kind: "manual", action: "rollback" })).toMatch(/^eventPlan --environment: is required/);
    expect(refused({ kind: "manual", action: "deploy", environment: "dev" })).toMatch(/^eventPlan --environment: dev is deployed only from main/);
    expect(refused({ kind: "manual", action: "deploy", environment: "staging" })).toMatch(/^eventPlan --image: is required/);
    expect(refused({ kind: "manual", action: "deploy", environment: "staging", image: "x; rm -rf /" })).toMatch(/^eventPlan --image: is not an image reference/);
    expect(refused({ kind: "manual", action: "deploy", environment: "production", ref: "v2.0.0-rc.1" })).toMatch(/^eventPlan --ref: is not a release tag/);
    expect(refused({ kind: "pull_request", pullRequest: "0", commit: SHA })).toMatch(/^eventPlan --pull-request: is not a pull-request number/);
    expect(refused({ kind: "pull_request", pullRequest: "1", fork: "yes", commit: SHA })).toMatch(/^eventPlan --fork: is not one of the choices/);
    expect(refused({ commit: "abc", ref: "main" })).toMatch(/^eventPlan --commit: is not a full commit SHA/);
    expect(refused({ ref: "main", commit: SHA, format: "yaml" })).toMatch(/^eventPlan --format: is not one of the choices/);
  });

  it("treats blank optional values (an unset CI variable) as not given", () => {
    const request = parseEventPlanArgs({ kind: "schedule", system: "tekton", schedule: "daily", ref: "", commit: "", image: "", pullRequest: "", fork: "" });
    expect(request.event).toEqual({ kind: "schedule", system: "tekton", schedule: "daily" });
    expect(request.format).toBe("json");
  });
});

describe("event rules: output", () => {
  it("env: one KEY=VALUE line per decision, the values a CI system reads without quoting", () => {
    expect(planAsEnv(plan({ kind: "push", ref: "release/1.4", commit: SHA }))).toBe(
      [
        "TRUST=trusted", "RUN_GATES=true", "UPLOAD_COVERAGE=true", "SECURITY_REPORTS=true",
        "PUBLISH=true", "PUBLISH_REF=refs/heads/release/1.4", "PUBLISH_EVENT=push", "PUBLISH_TAGS=release-1.4,release-1.4-1a2b3c4",
        "DEPLOY_ENVIRONMENT=staging", "DEPLOY_IMAGE=release-1.4-1a2b3c4", `DEPLOY_COMMIT=${SHA}`, "DEPLOY_BRANCH=release/1.4", "DEPLOY_TAG=",
        "LOAD_TEST=true", "APPROVAL=after-load-test", "GITHUB_RELEASE=false", "ROLLBACK_ENVIRONMENT=", "SCAN_DEPLOYED=false",
        "BENCHMARK=false", "CLEANUP=false", "METRICS=false",
      ].join("\n") + "\n",
    );
    expect(planAsEnv(plan({ kind: "pull_request", pullRequest: "3", commit: SHA }))).toMatch(/^TRUST=untrusted\nRUN_GATES=true\n[\s\S]*PUBLISH=false\n/);
  });

  it("summary: what runs and why the rest does not", () => {
    expect(planSummary(plan({ kind: "tag", ref: "v2.0.0-rc.1", commit: SHA, system: "gitlab" }))).toBe(
      "gitlab: tag refs/tags/v2.0.0-rc.1 1a2b3c4 (trust: trusted)\n" +
        `- gates: ${CI_GATES.join(", ")}\n` +
        "- coverage upload: yes; security reports: yes\n" +
        "- publish and sign: 2.0.0-rc.1\n" +
        "- no deploy: v2.0.0-rc.1 is a pre-release: it is published, never deployed to production (vX.Y.Z only)\n",
    );
    expect(planSummary(plan({ kind: "tag", ref: "v1.4.0", commit: SHA }))).toContain("- deploy to production, after approval: 1.4.0, then GitHub release\n");
  });

  it("json: the plan itself", () => {
    const p = plan({ kind: "push", ref: "main", commit: SHA });
    expect(JSON.parse(renderPlan(p, "json"))).toEqual(p);
  });
});
