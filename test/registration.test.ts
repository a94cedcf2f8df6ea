/**
 * Registration as the engine does it: the SDK's exported `entrypoint` scans the module's files
 * with the TypeScript compiler and registers every type and function over the session. The
 * recording session answers `currentFunctionCall.parentName` with "" (the registration call).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { prepareEngineLayout } from "./support/engine-layout";
import { isRef, recordingSession, type RecordingSession, type Step } from "./support/recording-session";

const TSX = import.meta.resolve("tsx");
const RUNNER = fileURLToPath(new URL("./support/run-entrypoint.ts", import.meta.url));


interface RegisteredArg {
  name: string;
  type: string;
  optional: boolean;
  defaultPath?: string;
  defaultValue?: string;
  ignore?: string[];
}
interface RegisteredFunction {
  name: string;
  returns: string;
  check: boolean;
  cache?: string;
  description: string;
  args: RegisteredArg[];
}

/** The type a typeDef chain describes: "String", "Void", "Directory", "[String]", "Environment"... */
function typeName(chain: Step[]): string {
  let name = "?";
  for (const step of chain) {
    if (step.field === "withKind") name = String(step.args.kind).replace(/_KIND$/, "").toLowerCase();
    if (step.field === "withObject" || step.field === "withEnum" || step.field === "withInterface") name = String(step.args.name);
    if (step.field === "withListOf" && isRef(step.args.elementType)) name = `[${typeName(step.args.elementType.$ref)}]`;
  }
  return name;
}

function isOptional(chain: Step[]): boolean {
  return chain.some((s) => s.field === "withOptional" && s.args.optional === true);
}

function registeredFunction(chain: Step[]): RegisteredFunction {
  const head = chain[0];
  const fn: RegisteredFunction = {
    name: String(head.args.name),
    returns: isRef(head.args.returnType) ? typeName(head.args.returnType.$ref) : "?",
    check: false,
    description: "",
    args: [],
  };
  for (const step of chain.slice(1)) {
    if (step.field === "withCheck") fn.check = true;
    if (step.field === "withCachePolicy") fn.cache = String(step.args.policy);
    if (step.field === "withDescription") fn.description = String(step.args.description);
    if (step.field === "withArg" && isRef(step.args.typeDef)) {
      fn.args.push({
        name: String(step.args.name),
        type: typeName(step.args.typeDef.$ref),
        optional: isOptional(step.args.typeDef.$ref),
        defaultPath: step.args.defaultPath as string | undefined,
        defaultValue: step.args.defaultValue as string | undefined,
        ignore: step.args.ignore as string[] | undefined,
      });
    }
  }
  return fn;
}

let session: RecordingSession;
let functions: Map<string, RegisteredFunction>;
let constructorArgs: RegisteredArg[];
let enums: Map<string, string[]>;
/** Cache time-to-live per function, when set. */
let ttls: Map<string, string>;

beforeAll(async () => {
  session = await recordingSession({
    leaf: (field) => {
      if (field === "parentName") return "";
      if (field === "returnValue") return null;
      return undefined;
    },
  });
  // The entrypoint imports the module's .ts files itself, so it runs under tsx like in the engine,
  // on the engine's layout of the module.
  const layout = prepareEngineLayout();
  await session.withSessionEnv(() =>
    promisify(execFile)(process.execPath, ["--import", TSX, RUNNER, ...layout.files], { cwd: layout.root, env: process.env, timeout: 90_000 }),
  );
  const registration = session.queries.find((q) => q.chain[0]?.field === "module" && q.leaf === "id");
  if (!registration) throw new Error("the entrypoint registered no module");
  functions = new Map();
  constructorArgs = [];
  enums = new Map();
  ttls = new Map();
  for (const step of registration.chain) {
    if (step.field === "withObject" && isRef(step.args.object)) {
      const objectChain = step.args.object.$ref;
      expect(objectChain.find((s) => s.field === "withObject")?.args.name).toBe("ObservatoryCi");
      for (const s of objectChain) {
        if (s.field === "withFunction" && isRef(s.args.function)) {
          const fn = registeredFunction(s.args.function.$ref);
          functions.set(fn.name, fn);
          const ttl = s.args.function.$ref.find((f) => f.field === "withCachePolicy")?.args.timeToLive;
          if (typeof ttl === "string") ttls.set(fn.name, ttl);
        }
        if (s.field === "withConstructor" && isRef(s.args.function)) constructorArgs = registeredFunction(s.args.function.$ref).args;
      }
    }
    if (step.field === "withEnum" && isRef(step.args.enum)) {
      const chain = step.args.enum.$ref;
      const name = String(chain.find((s) => s.field === "withEnum")?.args.name);
      enums.set(name, chain.filter((s) => s.field === "withEnumMember").map((s) => String(s.args.value ?? s.args.name)));
    }
  }
  const returned = session.queries.find((q) => q.leaf === "returnValue");
  expect(returned?.chain[1].args.value).toMatch(/^"rec-id:\d+"$/);
}, 120_000);

afterAll(async () => {
  await session?.stop();
});

describe("registration through the SDK entrypoint", () => {
  it("registers the constructor with the source as a contextual directory, an optional config file and the trust level", () => {
    expect(constructorArgs.map((a) => a.name)).toEqual(["source", "config", "trust"]);
    const [source, config] = constructorArgs;
    expect(source).toMatchObject({ type: "Directory", defaultPath: "/" });
    expect(source.ignore).toEqual(expect.arrayContaining(["**/target", "**/node_modules", ".git", ".dagger/sdk"]));
    expect(config).toMatchObject({ type: "File", optional: true });
  });

  it("registers every gate as a function and a check", () => {
    for (const gate of ["fmt", "clippy", "doc", "unitTest", "integrationTest"]) {
      const fn = functions.get(gate);
      expect(fn, gate).toBeDefined();
      expect(fn!.check, `${gate} is a check`).toBe(true);
      expect(fn!.returns, `${gate} returns nothing`).toBe("void");
      expect(fn!.description.length, `${gate} has a description`).toBeGreaterThan(10);
    }
    expect(functions.get("integrationTest")!.args).toEqual([expect.objectContaining({ name: "jwtSecret", type: "Secret", optional: true })]);
  });

  it("registers ci, reports and uploadCoverage, which are not checks", () => {
    expect(functions.get("ci")).toMatchObject({ returns: "string", check: false });
    expect(functions.get("reports")).toMatchObject({ returns: "Directory", check: false });
    const upload = functions.get("uploadCoverage")!;
    expect(upload).toMatchObject({ returns: "string", check: false, cache: "Never" });
    expect(upload.args.map((a) => [a.name, a.type, a.optional])).toEqual([
      ["codecovToken", "Secret", false],
      ["commit", "string", false],
      ["slug", "string", false],
      ["branch", "string", true],
      ["pullRequest", "string", true],
      ["gitService", "string", true],
      ["report", "File", true],
    ]);
  });

  it("registers exactly the module's functions, with their checks and cache policies", () => {
    // name -> [is a check, cache policy]; the SDK registers Default (with the TTL when set) unless cache is "never"
    const expected: Record<string, [boolean, string | "Default"]> = {
      fmt: [true, "Default"],
      clippy: [true, "Default"],
      doc: [true, "Default"],
      unitTest: [true, "Default"],
      integrationTest: [true, "Default"],
      ci: [false, "Default"],
      doctor: [false, "Default"],
      reports: [false, "Default"],
      uploadCoverage: [false, "Never"],
      audit: [true, "Default"],
      deny: [true, "Default"],
      trivyFs: [true, "Default"],
      semgrep: [true, "Default"],
      gitleaks: [true, "Default"],
      securityReports: [false, "Default"],
      scanDeployed: [false, "Never"],
      benchmark: [false, "Never"],
      cleanup: [false, "Never"],
      build: [false, "Default"],
      buildPlatforms: [false, "Default"],
      imageTarball: [false, "Default"],
      imageSize: [true, "Default"],
      trivyImage: [true, "Default"],
      trivyImageSarif: [false, "Default"],
      sbom: [false, "Default"],
      tags: [false, "Default"],
      publish: [false, "Never"],
      sign: [false, "Never"],
      imageExists: [false, "Never"],
      releaseImage: [false, "Never"],
      verifyImage: [false, "Never"],
      deploy: [false, "Never"],
      smoke: [false, "Never"],
      loadTest: [false, "Never"],
      deployProduction: [false, "Never"],
      rollback: [false, "Never"],
      notify: [false, "Never"],
      release: [false, "Never"],
      eventPlan: [false, "Default"],
      codeQualityReport: [false, "Default"],
      metrics: [false, "Never"],
      notifyPipelineFailure: [false, "Never"],
    };
    expect([...functions.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const [name, [isCheck, cache]] of Object.entries(expected)) {
      expect([name, functions.get(name)!.check, functions.get(name)!.cache]).toEqual([name, isCheck, cache]);
      expect(functions.get(name)!.description.length, `${name} has a description`).toBeGreaterThan(10);
    }
  });

  it("registers every verdict that depends on a moving database or a date with a 24 h cache", () => {
    // Every verdict that depends on a moving advisory database or on today's date (allowlist expiry) expires
    // daily: the engine's default function cache would replay it for 7 days. ci too: its table holds them all.
    const daily = ["audit", "deny", "trivyFs", "semgrep", "gitleaks", "securityReports", "trivyImage", "trivyImageSarif", "ci"];
    for (const name of daily) expect([name, functions.get(name)!.cache, ttls.get(name)]).toEqual([name, "Default", "24h"]);
    // scanDeployed scans what runs right now: never cached at all
    expect(functions.get("scanDeployed")!.cache).toBe("Never");
  });

  it("gives gitleaks/ci/securityReports a --git-dir without default and a checkout that always loads, reduced to .git", () => {
    // A defaultPath of /.git fails the argument load before the function runs when .git is missing or a
    // file (dagger v0.21.8 core/modfunc.go loadContextualArg); the context root "/" always exists.
    for (const name of ["ci", "gitleaks", "securityReports"]) {
      const args = functions.get(name)!.args;
      expect(args.map((a) => a.name), name).toEqual(["gitDir", "checkout"]);
      const [gitDir, checkout] = args;
      expect(gitDir, name).toMatchObject({ type: "Directory", optional: true, defaultPath: undefined, ignore: undefined });
      expect(checkout, name).toMatchObject({ type: "Directory", optional: true, defaultPath: "/", ignore: ["*", "!.git"] });
    }
  });

  it("registers the Trust enum as the constructor's --trust, untrusted unless the caller says otherwise", () => {
    expect(enums.get("Trust")).toEqual(["untrusted", "trusted"]);
    const trust = constructorArgs.find((a) => a.name === "trust");
    // The SDK registers a module enum's default by member name (sdk/typescript/src/module/entrypoint/register.ts
    // getDefaultValueFromArg, dagger v0.21.8); the CLI matches --trust=trusted to a member name case-insensitively
    // (cmd/dagger/flags.go enumValue.Set), so workflows write the lower-case value.
    expect(trust).toMatchObject({ type: "Trust", optional: false, defaultValue: JSON.stringify("Untrusted") });
  });

  it("registers the Environment enum and uses it for deploy, smoke and rollback", () => {
    expect(enums.get("Environment")).toEqual(["dev", "staging", "production"]);
    expect(functions.get("deploy")!.args.find((a) => a.name === "environment")).toMatchObject({ type: "Environment", optional: false });
    expect(functions.get("rollback")!.args.find((a) => a.name === "environment")).toMatchObject({ type: "Environment", optional: false });
    expect(functions.get("smoke")!.args.find((a) => a.name === "environment")).toMatchObject({ type: "Environment", optional: true });
    expect(functions.get("verifyImage")!.args.find((a) => a.name === "environment")).toMatchObject({ type: "Environment", optional: false });
  });

  it("registers SbomFormat and NotifyStatus as enums for sbom, sign and notify", () => {
    // The CLI takes a member by its name, SCREAMING_SNAKE_CASE in the engine, matched case-insensitively
    // (dagger v0.21.8 core/gqlformat.go gqlEnumMemberName, cmd/dagger/flags.go enumValue.Set): --format spdx_json.
    expect(enums.get("SbomFormat")).toEqual(["spdx-json", "cyclonedx-json"]);
    expect(enums.get("NotifyStatus")).toEqual(["started", "success", "failure", "rollback"]);
    expect(functions.get("sbom")!.args.find((a) => a.name === "format")).toMatchObject({ type: "SbomFormat", optional: true });
    expect(functions.get("sign")!.args.find((a) => a.name === "sbomFormat")).toMatchObject({ type: "SbomFormat", optional: true });
    expect(functions.get("notify")!.args.find((a) => a.name === "status")).toMatchObject({ type: "NotifyStatus", optional: false });
  });

  it("registers benchmark's baseline as an optional Directory or File, and cleanup's --apply as an optional flag", () => {
    expect(functions.get("benchmark")).toMatchObject({ returns: "Directory", check: false, cache: "Never" });
    expect(functions.get("benchmark")!.args.map((a) => [a.name, a.type, a.optional])).toEqual([
      ["baseline", "Directory", true],
      ["baselineFile", "File", true],
    ]);
    expect(functions.get("cleanup")).toMatchObject({ returns: "string", cache: "Never" });
    expect(functions.get("cleanup")!.args.find((a) => a.name === "apply")).toMatchObject({ type: "boolean", optional: true });
  });

  it("registers MetricsFormat as an enum for metrics", () => {
    expect(enums.get("MetricsFormat")).toEqual(["markdown", "json", "prometheus"]);
    expect(functions.get("metrics")!.args.find((a) => a.name === "format")).toMatchObject({ type: "MetricsFormat", optional: true });
  });

  it("gives one concept one flag name", () => {
    const names = (fn: string) => functions.get(fn)!.args.map((a) => a.name);
    for (const fn of ["publish", "releaseImage"]) {
      expect(names(fn), fn).toEqual(expect.arrayContaining(["registryUsername", "registryPassword", "commit", "githubRepository", "imageRepository"]));
    }
    for (const fn of ["sign", "imageExists"]) expect(names(fn), fn).toEqual(expect.arrayContaining(["registryUsername", "registryPassword"]));
    expect(names("tags")).toEqual(["ref", "event", "commit", "prNumber"]);
    expect(names("release")).toEqual(["tag", "githubToken", "githubRepository", "image", "commit"]);
    expect(names("notify")).toEqual(["slackWebhook", "status", "environment", "version", "runUrl", "reason", "author", "commit", "githubRepository"]);
    expect(names("cleanup")).toEqual(["kubeconfig", "githubToken", "githubRepository", "environments", "apply", "registryUsername", "registryPassword"]);
    expect(names("scanDeployed")).toEqual([
      "kubeconfig", "githubToken", "githubRepository", "environments", "registryUsername", "registryPassword", "slackWebhook", "pagerdutyRoutingKey", "runUrl",
    ]);
    expect(names("deploy")).toEqual([
      "environment", "kubeconfig", "image", "commit", "branch", "githubRepository", "slackWebhook", "runUrl", "registryUsername", "registryPassword", "publicKey",
    ]);
    expect(names("deployProduction")).toEqual([
      "tag", "kubeconfig", "registryUsername", "registryPassword", "githubRepository", "prometheusUrl", "prometheusToken", "slackWebhook", "runUrl", "publicKey", "commit",
      "pagerdutyRoutingKey",
      "hotfix", "acceptRecentErrors", "reason",
    ]);
    expect(names("verifyImage")).toEqual(["image", "environment", "githubRepository", "tag", "branch", "registryUsername", "registryPassword", "publicKey"]);
    expect(names("rollback")).toEqual(["environment", "kubeconfig", "reason", "slackWebhook", "runUrl", "pagerdutyRoutingKey"]);
    expect(names("metrics")).toEqual(["githubToken", "githubRepository", "days", "format", "records", "pushgatewayUrl", "slackWebhook", "rollbackWorkflow", "maxJobRuns"]);
    expect(names("smoke")).toEqual(["url", "environment"]);
    const ambiguous = [...functions.values()].flatMap((f) =>
      f.args.filter((a) => ["repository", "username", "password", "token", "webhook", "sha", "env"].includes(a.name)).map((a) => `${f.name} --${a.name}`),
    );
    expect(ambiguous).toEqual([]);
  });

  it("takes every credential as a Secret", () => {
    const credential = /token|password|kubeconfig|webhook|secret|^key$/i;
    const plain = [...functions.values()].flatMap((f) => f.args.filter((a) => credential.test(a.name) && a.type !== "Secret").map((a) => `${f.name}.${a.name}: ${a.type}`));
    expect(plain).toEqual([]);
  });

  it("marks every function with side effects cache: never, and no gate", () => {
    const never = [...functions.values()].filter((f) => f.cache === "Never").map((f) => f.name);
    for (const name of never) expect(functions.get(name)!.check, `${name} is not a check`).toBe(false);
    expect(never).toContain("uploadCoverage");
  });
});

export { functions, enums };
