/**
 * The deploy family's argument schemas (lib/function-args.ts): parsed with the configuration they are checked
 * against, every bad argument in one UsageError, before anything starts.
 */
import { describe, expect, it } from "vitest";
import { UsageError } from "../../.dagger/src/lib/errors";
import { parseConfig } from "../../.dagger/src/lib/pipeline-config";
import { parseDeployArgs, parseDeployProductionArgs, parseVerifyImageArgs, type DeployContext } from "../../.dagger/src/lib/deploy-args";
import { Environment } from "../../.dagger/src/lib/deploy/environment";

const SECRET = { secret: "registry" };
const KUBE = { secret: "kubeconfig" };
const REPO = "ghcr.io/acme/observatory/analytics-api";
const DIGEST = `sha256:${"ab".repeat(32)}`;
const context = (config: object = {}): DeployContext => ({ config: parseConfig(JSON.stringify(config), "ci/pipeline.json"), configOrigin: "ci/pipeline.json" });

function problem(parse: () => unknown): UsageError {
  try {
    parse();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return e as UsageError;
  }
  throw new Error("expected a UsageError");
}

/** The arguments in the function's order (as index.ts passes them): problems are listed in that order. */
function inOrder<T extends object>(order: (keyof T)[], defaults: Partial<T>, args: Partial<T>): T {
  return Object.fromEntries(order.map((key) => [key, key in args ? args[key] : defaults[key]])) as T;
}

type ProductionArgs = Parameters<typeof parseDeployProductionArgs>[1];
const PRODUCTION_ORDER: (keyof ProductionArgs)[] = [
  "tag", "kubeconfig", "registryUsername", "registryPassword", "githubRepository", "prometheusUrl", "prometheusToken", "slackWebhook", "runUrl", "publicKey", "commit",
];
const production = (args: Partial<ProductionArgs>, config: object = {}) =>
  parseDeployProductionArgs(context(config), inOrder(PRODUCTION_ORDER, { tag: "v1.4.0", kubeconfig: KUBE, githubRepository: "acme/observatory" }, args));

describe("parseDeployProductionArgs", () => {
  it("parses a full request: the tag's reference in the configured repository, the signer on the tag, the Prometheus endpoint", () => {
    const request = production({ registryUsername: "ci-bot", registryPassword: SECRET, prometheusUrl: "https://prom.example/", prometheusToken: SECRET, runUrl: "https://ci.example/7" });
    expect(request).toMatchObject({
      tag: "v1.4.0",
      tagReference: `${REPO}:1.4.0`,
      registry: { username: "ci-bot", password: SECRET },
      prometheus: { url: "https://prom.example", service: "prometheus-server", namespace: "monitoring", port: 80 },
      prometheusToken: SECRET,
      runUrl: "https://ci.example/7",
    });
    expect(request.verification).toMatchObject({
      fn: "deployProduction",
      registry: { username: "ci-bot", password: SECRET },
      policy: { mode: "keyless", identity: "https://github.com/acme/observatory/.github/workflows/ci.yml@refs/tags/v1.4.0" },
    });
    expect(production({ tag: "v2.0.0-rc.1" }).tagReference).toBe(`${REPO}:2.0.0-rc.1`);
    expect(production({}).prometheus.url).toBeUndefined();
  });

  it.each([
    [{ tag: "1.4" }, 'deployProduction --tag: is not a release tag (found "1.4"; expected vX.Y.Z'],
    [{ tag: "v01.2.3" }, 'deployProduction --tag: is not a release tag (found "v01.2.3"'],
    [
      { registryUsername: "ci bot", registryPassword: SECRET },
      'deployProduction --registry-username: is not a valid registry user name (found "ci bot"; expected a registry user name without spaces, control characters or ":")',
    ],
    // a blank user (an unset CI variable) is no user: the password alone is the problem
    [{ registryUsername: "", registryPassword: SECRET }, "deployProduction --registry-username: is missing: --registry-password needs it"],
    [{ registryUsername: "ci-bot" }, "deployProduction --registry-password: is missing: --registry-username needs it"],
    [{ registryPassword: SECRET }, "deployProduction --registry-username: is missing"],
    [{ prometheusUrl: "ftp://prom" }, 'deployProduction --prometheus-url: must be http(s), got ftp: (found "ftp://prom"; expected an http(s) URL without credentials)'],
    [{ runUrl: "not a url" }, 'deployProduction --run-url: is not a URL (found "not a url"'],
    [{ prometheusToken: SECRET }, "deployProduction --prometheus-token: needs --prometheus-url"],
    [{ githubRepository: undefined }, "deployProduction --github-repository: is required when image.repository does not name the image repository"],
  ])("%j", (args, message) => {
    const error = problem(() => production(args));
    expect(error.message).toContain(message);
    expect(error.message).toMatch(/^deployProduction --[a-z-]+: /);
    expect(error.fn).toBe("deployProduction");
  });

  it("lists every bad argument at once, in the function's order", () => {
    const error = problem(() => production({ tag: "1.4", registryUsername: "ci bot", prometheusUrl: "http://prom.example", prometheusToken: SECRET, runUrl: "x" }));
    expect(error.problems.map((p) => p.flag)).toEqual(["--tag", "--registry-username", "--registry-password", "--prometheus-url", "--run-url"]);
  });

  it("reads the configuration: the Prometheus URL, key-based signing", () => {
    const http = { environments: { production: { prometheus: { url: "http://prom.internal:9090" } } } };
    expect(problem(() => production({ prometheusToken: SECRET }, http)).message).toContain(
      "deployProduction --prometheus-url: sends the --prometheus-token bearer token over plain http, refused (environments.production.prometheus.url)",
    );
    expect(production({}, http).prometheus.url).toBe("http://prom.internal:9090");
    const keyed = { image: { sign: { keyless: false } } };
    expect(problem(() => production({}, keyed)).message).toContain("deployProduction --public-key: is required: image.sign.keyless is false");
    expect(production({ publicKey: SECRET }, keyed).verification).toMatchObject({ policy: { mode: "key" }, publicKey: SECRET });
  });

  it("never prints a secret's value", () => {
    const error = problem(() => production({ prometheusToken: { token: "token-value" }, registryPassword: { password: "hunter2" } }));
    expect(error.message).not.toContain("hunter2");
    expect(error.message).not.toContain("token-value");
  });
});

describe("parseDeployArgs", () => {
  type DeployArgs = Parameters<typeof parseDeployArgs>[1];
  const order: (keyof DeployArgs)[] = [
    "environment", "kubeconfig", "image", "commit", "branch", "githubRepository", "slackWebhook", "runUrl", "registryUsername", "registryPassword", "publicKey",
  ];
  const deploy = (args: Partial<DeployArgs>, config: object = {}) =>
    parseDeployArgs(context(config), inOrder(order, { environment: Environment.Dev, kubeconfig: KUBE, githubRepository: "acme/observatory" }, args));

  it("takes a blank optional flag as not given (a CI variable unset on this trigger), a blank required one is still refused", () => {
    // cd-staging.yml passes --image "$IMAGE" --commit "$COMMIT" --branch "$BRANCH": one side is empty on each trigger
    const pushed = deploy({ environment: Environment.Staging, image: "", commit: "1a2b3c4d5e6f70811223344556677889900aabbc", branch: "release/1.4" });
    expect(pushed.image).toMatchObject({ kind: "commit-tag", tag: "release-1.4-1a2b3c4" });
    const manual = deploy({ environment: Environment.Staging, image: `${REPO}@${DIGEST}`, commit: "", branch: " " });
    expect(manual.image).toMatchObject({ kind: "digest" });
    expect(problem(() => deploy({ image: "", commit: "", branch: "" })).message).toContain("deploy --image: is missing");
    expect(problem(() => production({ tag: "" })).message).toMatch(/^deployProduction --tag: /);
  });

  it("pins the signing run's commit when --commit is given", () => {
    const sha = "1a2b3c4d5e6f70811223344556677889900aabbc";
    expect(deploy({ commit: sha, branch: "main" }).verification.policy).toMatchObject({ workflowSha: sha });
    expect(production({ commit: sha }).verification.policy).toMatchObject({ workflowSha: sha });
    expect(production({}).verification.policy).not.toHaveProperty("workflowSha");
  });

  it("reads --image by digest or commit tag, or --commit on --branch; the signer is main for dev, --branch for staging", () => {
    expect(deploy({ image: `${REPO}@${DIGEST}` }).image).toEqual({ kind: "digest", image: { reference: `${REPO}@${DIGEST}`, repository: REPO, digest: DIGEST } });
    expect(deploy({ image: "main-1a2b3c4" }).image).toEqual({ kind: "commit-tag", reference: `${REPO}:main-1a2b3c4`, repository: REPO, tag: "main-1a2b3c4" });
    const sha = "1a2b3c4d5e6f70811223344556677889900aabbc";
    expect(deploy({ commit: sha, branch: "main" }).image).toMatchObject({ kind: "commit-tag", tag: "main-1a2b3c4" });
    expect(deploy({ image: "main-1a2b3c4" }).verification.policy).toMatchObject({ identity: "https://github.com/acme/observatory/.github/workflows/ci.yml@refs/heads/main" });
    const staging = deploy({ environment: Environment.Staging, commit: sha, branch: "release/1.4" });
    expect(staging.verification.policy).toMatchObject({ identity: "https://github.com/acme/observatory/.github/workflows/ci.yml@refs/heads/release/1.4" });
  });

  it("lists every bad argument at once, the configuration-dependent ones included", () => {
    const error = problem(() =>
      deploy({ environment: "production", image: "ghcr.io/evil/app@" + DIGEST, commit: "abc", runUrl: "ftp://x", registryUsername: "a b" }),
    );
    expect(error.problems.map((p) => p.flag)).toEqual(["--environment", "--image", "--commit", "--commit", "--commit", "--run-url", "--registry-username", "--registry-password"]);
    expect(error.message).toContain('deploy --image: is not from the configured repository ghcr.io/acme/observatory/analytics-api');
    expect(error.message).toContain("deploy --environment: is production, which deployProduction --tag vX.Y.Z deploys");
  });

  it("--image without a repository says how to pass a full reference, with deploy's own flag; --image with --commit is an error", () => {
    for (const image of ["analytics-api:main-1a2b3c4", `analytics-api@${DIGEST}`, `main-1a2b3c4@${DIGEST}`]) {
      const error = problem(() => deploy({ image }));
      expect(error.message, image).toBe(
        `deploy --image: names no repository: give the full reference, or the bare digest or commit tag (the repository is image.registry / image.repository) (found ${JSON.stringify(image)}; expected ${REPO}@sha256:<64 hex>, ${REPO}:<branch>-<sha7>, sha256:<64 hex> or <branch>-<sha7>)`,
      );
    }
    expect(deploy({ image: DIGEST }).image).toMatchObject({ kind: "digest", image: { reference: `${REPO}@${DIGEST}` } });
    const sha = "1a2b3c4d5e6f70811223344556677889900aabbc";
    expect(problem(() => deploy({ image: "main-1a2b3c4", commit: sha, branch: "main" })).message).toContain("deploy --commit: conflicts with --image");
  });

  it("refuses a branch the environment's images are not signed on", () => {
    const sha = "1a2b3c4d5e6f70811223344556677889900aabbc";
    expect(problem(() => deploy({ commit: sha, branch: "feature/x" })).message).toBe(
      'deploy --branch: dev deploys images that the publish job of main signed (found "feature/x"; expected main (or no --branch with --image))',
    );
    expect(problem(() => deploy({ environment: Environment.Staging, commit: sha, branch: "main" })).message).toContain(
      'deploy --branch: is not a release/* branch: staging images are signed by the publish job of one (found "main"',
    );
  });
});

describe("parseVerifyImageArgs", () => {
  type VerifyArgs = Parameters<typeof parseVerifyImageArgs>[1];
  const order: (keyof VerifyArgs)[] = ["image", "environment", "githubRepository", "tag", "branch", "registryUsername", "registryPassword", "publicKey"];
  const verify = (args: Partial<VerifyArgs>, config: object = {}) =>
    parseVerifyImageArgs(context(config), inOrder(order, { image: `${REPO}@${DIGEST}`, environment: Environment.Dev, githubRepository: "acme/observatory" }, args));

  it("accepts a publish line and drops its tag", () => {
    expect(verify({ image: `${REPO}:1.4.0@${DIGEST}` }).image.reference).toBe(`${REPO}@${DIGEST}`);
  });

  it("lists every bad argument at once", () => {
    const error = problem(() => verify({ image: `${REPO}:1.4.0`, environment: Environment.Production, branch: "release/1", registryUsername: "u", publicKey: SECRET }));
    expect(error.problems.map((p) => p.flag)).toEqual(["--image", "--tag", "--branch", "--registry-password", "--public-key"]);
  });
});
