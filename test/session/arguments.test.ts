/**
 * Every function's arguments are parsed at the boundary: each invalid-argument class (bad format, bad enum
 * value, missing half of a pair, conflicting pair) fails with one UsageError listing every bad argument, a line
 * each in the one format, before any container is even described to the engine.
 */
import { describe, expect, it } from "vitest";
import { dag, type Secret } from "@dagger.io/dagger";
import type { ObservatoryCi } from "../../.dagger/src/index";
import { UsageError } from "../../.dagger/src/lib/errors";
import type { SbomFormat } from "../../.dagger/src/lib/sbom";
import type { NotifyStatus } from "../../.dagger/src/lib/deploy/slack";
import { Environment } from "../../.dagger/src/lib/deploy/environment";
import { canarySecret } from "../support/recording-session";
import { failureOf, startPerTest } from "../support/module";

const start = startPerTest();
const s = (name: string): Secret => dag.setSecret(name, canarySecret(name));
const SHA = "0123456789abcdef0123456789abcdef01234567";
const DIGEST = `ghcr.io/acme/obs/analytics-api@sha256:${"a".repeat(64)}`;
/** `function --flag: problem (found "value"; expected ...)`, the parenthesis optional. */
const LINE = /^[a-zA-Z]+ --[a-z][a-z-]*: [^\n]+$/;
/** Fields that describe or run a container. */
const CONTAINER_FIELDS = new Set(["from", "withExec", "dockerBuild", "asTarball", "publish", "asService", "stdout", "sync"]);

type Case = [name: string, call: (ci: ObservatoryCi) => Promise<unknown>, flags: string[]];

const CASES: Record<string, Case[]> = {
  uploadCoverage: [
    ["bad formats", (ci) => ci.uploadCoverage(s("codecov"), "abc", "x", undefined, "0"), ["--commit", "--slug", "--pull-request"]],
    ["missing secret", (ci) => ci.uploadCoverage(undefined as unknown as Secret, SHA, "acme/obs"), ["--codecov-token"]],
  ],
  scanDeployed: [
    ["bad enum, bad format, missing pairs", (ci) => ci.scanDeployed(s("kube"), undefined, "x", ["qa"], "a b"),
      ["--github-token", "--github-repository", "--environments", "--registry-username", "--registry-password"]],
  ],
  build: [["bad platform", (ci) => ci.build("amd64"), ["--platform"]]],
  buildPlatforms: [["bad and repeated platforms", (ci) => ci.buildPlatforms(["linux", "linux/amd64", "linux/amd64"]), ["--platforms", "--platforms"]]],
  imageTarball: [["bad platform", (ci) => ci.imageTarball(["x"]), ["--platforms"]]],
  sbom: [["bad enum and platform", (ci) => ci.sbom("spdx" as SbomFormat, "x"), ["--format", "--platform"]]],
  tags: [
    ["bad formats", (ci) => Promise.resolve(ci.tags("main", "Push", "abc", 0)), ["--ref", "--event", "--commit", "--pr-number"]],
    ["missing pair on pull_request_target", (ci) => Promise.resolve(ci.tags("refs/heads/main", "pull_request_target", SHA)), ["--pr-number"]],
  ],
  publish: [
    ["bad formats", (ci) => ci.publish("a b", s("pw"), "main", "push", "abc", undefined, "x", "not a host", "UP", ["x"]),
      ["--registry-username", "--ref", "--commit", "--github-repository", "--registry", "--image-repository", "--platforms"]],
    ["no tag to push", (ci) => ci.publish("u", s("pw"), "refs/tags/nightly", "push", SHA, undefined, "acme/obs"), ["--ref"]],
  ],
  sign: [
    ["bad formats, missing and conflicting pairs", (ci) => ci.sign("ghcr.io/acme/obs:1", "octocat", undefined, s("oidc"), s("key"), undefined, "spdx" as SbomFormat),
      ["--digest-ref", "--registry-password", "--oidc-token", "--sbom-format"]],
    ["half of the request pair", (ci) => ci.sign(DIGEST, undefined, undefined, undefined, undefined, undefined, undefined, s("url")), ["--oidc-request-token"]],
    ["a key password without a key", (ci) => ci.sign(DIGEST, undefined, undefined, s("oidc"), undefined, s("kpw")), ["--key-password"]],
  ],
  imageExists: [["bad reference, missing pair", (ci) => ci.imageExists("ghcr.io/Acme/App:1", undefined, s("pw")), ["--reference", "--registry-username"]]],
  releaseImage: [
    ["bad ref, no signer", (ci) => ci.releaseImage("u", s("pw"), "main", "push", SHA, "acme/obs"), ["--ref", "--oidc-token"]],
    ["conflicting signers", (ci) => ci.releaseImage("u", s("pw"), "refs/heads/main", "push", SHA, "acme/obs", s("oidc"), undefined, undefined, undefined, undefined, undefined, undefined, s("url"), s("tok")),
      ["--oidc-request-url"]],
  ],
  notify: [
    ["bad enum, empty, URL with credentials", (ci) => ci.notify(s("slack"), "ok" as NotifyStatus, " ", "1.2.3", "https://user:hunter2@hooks.example/x?token=abc"),
      ["--status", "--environment", "--run-url"]],
  ],
  release: [["bad tag and repository, missing secret", (ci) => ci.release("v01.2.3", undefined as unknown as Secret, "x"), ["--tag", "--github-token", "--github-repository"]]],
  loadTest: [["bad URL and path", (ci) => ci.loadTest("ftp://x", "../x.js"), ["--url", "--script"]]],
  deploy: [
    ["production, a foreign image with a commit, bad formats, missing pair", (ci) =>
      ci.deploy("production" as Environment, s("kube"), `ghcr.io/evil/app@sha256:${"a".repeat(64)}`, "abc", undefined, "acme/obs", undefined, "ftp://x", "a b"),
      ["--environment", "--image", "--commit", "--commit", "--commit", "--run-url", "--registry-username", "--registry-password"]],
    ["no image, no repository, missing secret", (ci) => ci.deploy(Environment.Dev, undefined as unknown as Secret), ["--kubeconfig", "--image", "--github-repository"]],
    ["a moving tag, a branch dev does not deploy from", (ci) => ci.deploy(Environment.Dev, s("kube"), "latest", undefined, "feature/x", "acme/obs"), ["--image", "--branch"]],
  ],
  deployProduction: [
    ["bad tag and formats, token over http, missing secret and pair", (ci) =>
      ci.deployProduction("v01.2.3", undefined as unknown as Secret, "a b", undefined, "acme/obs", "http://prom.example", s("token"), undefined, "x"),
      ["--tag", "--kubeconfig", "--registry-username", "--registry-password", "--prometheus-url", "--run-url"]],
    ["no repository, a stray public key", (ci) =>
      ci.deployProduction("v1.2.3", s("kube"), undefined, undefined, undefined, undefined, undefined, undefined, undefined, s("pub")),
      ["--github-repository", "--public-key"]],
    ["--hotfix with a blank --reason (an unset CI variable)", (ci) =>
      ci.deployProduction("v1.2.3", s("kube"), undefined, undefined, "acme/obs", undefined, undefined, undefined, undefined, undefined, undefined, undefined, true, undefined, "  "),
      ["--reason"]],
    ["--accept-recent-errors without --reason", (ci) =>
      ci.deployProduction("v1.2.3", s("kube"), undefined, undefined, "acme/obs", undefined, undefined, undefined, undefined, undefined, undefined, undefined, false, true),
      ["--reason"]],
    ["--reason without --hotfix or --accept-recent-errors", (ci) =>
      ci.deployProduction("v1.2.3", s("kube"), undefined, undefined, "acme/obs", undefined, undefined, undefined, undefined, undefined, undefined, undefined, false, false, "INC-42"),
      ["--reason"]],
  ],
  rollback: [["bad enum and URL, missing secret", (ci) => ci.rollback("qa" as Environment, undefined as unknown as Secret, "x", undefined, "nope"), ["--environment", "--kubeconfig", "--run-url"]]],
  smoke: [["bad URL and enum", (ci) => ci.smoke("ftp://x", "qa" as Environment), ["--url", "--environment"]]],
  verifyImage: [
    ["a tag for production without its release tag, a stray branch, missing pair, stray key", (ci) =>
      ci.verifyImage("ghcr.io/acme/obs/analytics-api:1.4.0", Environment.Production, "acme/obs", undefined, "release/1", "u", undefined, s("pub")),
      ["--image", "--tag", "--branch", "--registry-password", "--public-key"]],
    ["bad enum, bad formats", (ci) => ci.verifyImage(DIGEST, "qa" as Environment, "x", "1.2", undefined, "a:b", s("pw")), ["--environment", "--github-repository", "--tag", "--registry-username"]],
  ],
};

describe("arguments are parsed at the boundary", () => {
  for (const [fn, cases] of Object.entries(CASES)) {
    for (const [name, call, flags] of cases) {
      it(`${fn}: ${name}`, async () => {
        const r = await start();
        const err = await failureOf(r.call(call));
        expect(err).toBeInstanceOf(UsageError);
        const lines = err.message.split("\n");
        for (const line of lines) expect(line).toMatch(LINE);
        expect(lines.map((line) => line.split(":")[0])).toEqual(flags.map((flag) => `${fn} ${flag}`));
        expect(r.session.execs).toEqual([]);
        const containers = r.session.queries.flatMap((q) => q.chain.filter((step) => CONTAINER_FIELDS.has(step.field)).map((step) => step.field));
        expect(containers).toEqual([]);
        expect(r.session.secretLeaks([err.message])).toEqual([]);
      });
    }
  }

  it("shows the whole URL with its user info and query values masked", async () => {
    const r = await start();
    const err = await failureOf(r.call((ci) => ci.notify(s("slack"), "ok" as NotifyStatus, "dev", "1", "https://user:hunter2@hooks.example/x?token=abc")));
    expect(err.message).toContain('notify --run-url: must not carry credentials (found "https://***@hooks.example/x?token=***"');
    expect(err.message).not.toMatch(/hunter2|token=abc|user:/);
  });

  it("accepts what the enums register (their values, as the SDK passes them)", async () => {
    const r = await start();
    const outcome = await r.call((ci) => ci.notify(s("slack"), "success" as NotifyStatus, "dev", "1")).catch((e: unknown) => e);
    expect(outcome).not.toBeInstanceOf(UsageError);
    expect(r.session.execsMatching("curl").length).toBe(1);
  });
});
