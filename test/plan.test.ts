/** `npm run plan` reads its command line like `dagger call` and tells the truth about the run. */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseCommandLine, runPlan } from "./support/plan-cli";
import { moduleFunctions } from "./support/module-functions";
import { GOOD } from "./support/module";

async function plan(...argv: string[]): Promise<{ status: number; out: string; last: string }> {
  const lines: string[] = [];
  const status = await runPlan(argv, (line) => lines.push(line));
  const out = lines.join("\n");
  return { status, out, last: out.trimEnd().split("\n").at(-1)! };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "observatory-ci-plan-"));
}

describe("npm run plan: the command line", () => {
  it("reads --flag value and --flag=value alike, and lists as dagger call does", () => {
    const spaced = parseCommandLine(["build", "--platform", "linux/arm64"]);
    const joined = parseCommandLine(["build", "--platform=linux/arm64"]);
    expect(spaced).toEqual(joined);
    expect(spaced.values.get("platform")).toEqual(["linux/arm64"]);
    expect(parseCommandLine(["--source", GOOD, "build-platforms", "--platforms", "linux/amd64", "--platforms=linux/arm64"]).values.get("platforms")).toEqual([
      "linux/amd64",
      "linux/arm64",
    ]);
  });

  it("knows every function the module registers, whoever added it", () => {
    for (const name of moduleFunctions().keys()) expect(() => parseCommandLine([name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), "--help-me"])).toThrow(/unknown flag --help-me/);
  });

  it("an unknown function is an error with the list of functions, not a stack trace", async () => {
    const { status, out } = await plan("nosuch");
    expect(status).toBe(2);
    expect(out).toMatch(/^error: unknown function "nosuch"\n\nusage: npm run plan -- \[--source <Directory>\] \[--config <File>\] \[--trust <Trust>\] \[--fail <string>\] <function> \[flags\]/);
    expect(out).toMatch(/^ {2}upload-coverage {2,}Uploads the Cobertura report/m);
    expect(out).not.toMatch(/\n\s+at /);
  });

  it("an unknown flag is an error with the function's usage", async () => {
    const { status, out } = await plan("clippy", "--platform", "linux/arm64");
    expect(status).toBe(2);
    expect(out).toBe(`error: clippy: unknown flag --platform\n\nusage: npm run plan -- [--source <Directory>] [--config <File>] [--trust <Trust>] [--fail <string>] clippy\n\nflags:\n${out.split("flags:\n")[1]}`);
    expect(out).toContain("  --source  The service's repository");
  });

  it("a missing required argument is an error naming it, with the usage", async () => {
    const { status, out } = await plan("upload-coverage", "--slug", "acme/obs");
    expect(status).toBe(2);
    expect(out).toMatch(/^error: upload-coverage: missing required --codecov-token, --commit\n\nusage: .* upload-coverage --codecov-token <Secret> --commit <string> --slug <string> \[--branch <string>\] \[--pull-request <string>\]/);
  });
});

describe("npm run plan: the run", () => {
  it("a failing function exits non-zero and its last line says it fails", async () => {
    const { status, last, out } = await plan("clippy", "--fail=clippy");
    expect(status).toBe(1);
    expect(last).toBe("clippy fails");
    // the gate's own command failed, not the setup step that installs clippy
    expect(out).toMatch(/\$ rustup component add rustfmt clippy\n/);
    expect(out).toContain("clippy: cargo clippy -D warnings failed (exit 101)");
  }, 120_000);

  it("--config is read like dagger call's: the canned 95 % fails a 99 % threshold", async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir, "pipeline.json"), JSON.stringify({ coverage: { threshold: 99 } }));
      const { status, out, last } = await plan("--config", join(dir, "pipeline.json"), "unit-test");
      expect(status).toBe(1);
      expect(out).toMatch(/95(\.0)? %/);
      expect(last).toBe("unit-test fails");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("marks its figures as canned", async () => {
    const { out } = await plan("fmt");
    expect(out).toContain("tool outputs are canned");
    expect(out).toContain("figures in the result are canned, not measured");
  }, 120_000);

  it("build shows the Docker build it would run, and returns a Container, not SDK internals", async () => {
    const { status, out } = await plan("build", "--platform", "linux/arm64");
    expect(status).toBe(0);
    expect(out).toMatch(/returns a Container, built by:\n {4}host\.directory\(path: "[^"]+", exclude: \[[^\]]*"\*\*\/node_modules"[^\]]*\]\)\n {6}\.dockerBuild\(dockerfile: "services\/analytics-api\/Dockerfile", platform: "linux\/arm64"\)\n\nbuild passes$/);
    expect(out).not.toMatch(/_ctx|_queryTree|\[object Object\]/);
  }, 120_000);

  it("loads --source with the module's ignore list: a dangling symlink under node_modules breaks nothing", async () => {
    const dir = tempDir();
    try {
      cpSync(GOOD, dir, { recursive: true });
      mkdirSync(join(dir, "node_modules", ".bin"), { recursive: true });
      symlinkSync(join(dir, "nowhere"), join(dir, "node_modules", ".bin", "dangling"));
      const { status, last } = await plan("--source", dir, "fmt");
      expect(last).toBe("fmt passes (returns nothing)");
      expect(status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

});

/**
 * Real waits of a second or more that ended during a run: a preview that waited on a real clock (a rollout
 * poll, a canary interval) has one fire; the fake clock's sleeps never reach setTimeout (the client's long
 * request timeouts are armed but never fire).
 */
async function planWithoutRealWaits(...argv: string[]): Promise<{ status: number; out: string; last: string; realWaits: number[]; elapsedMs: number }> {
  const realSetTimeout = globalThis.setTimeout;
  const realWaits: number[] = [];
  globalThis.setTimeout = ((handler: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const waited = (...a: unknown[]) => {
      if ((ms ?? 0) >= 1_000) realWaits.push(ms!);
      handler(...a);
    };
    return realSetTimeout(waited, ms, ...args);
  }) as typeof setTimeout;
  const started = Date.now();
  try {
    return { ...(await plan(...argv)), realWaits, elapsedMs: Date.now() - started };
  } finally {
    globalThis.setTimeout = realSetTimeout;
  }
}

const KUBECONFIG = ["--kubeconfig", "kubeconfig-text"];
const REPOSITORY = ["--github-repository", "acme/observatory"];

describe("npm run plan: the deploy family previews a successful run on the fake cluster and the fake clock", () => {
  const family: [string, string[], RegExp, RegExp][] = [
    ["smoke", ["--environment", "dev"], /^smoke passes and returns "smoke test of https:\/\/dev\.api\.llm-observatory\.io passed/, /# fake cluster: namespace llm-observatory-dev only/],
    [
      "deploy",
      ["--environment", "dev", ...KUBECONFIG, "--image", "ghcr.io/acme/observatory/analytics-api:main-1a2b3c4", ...REPOSITORY],
      /^deploy passes/,
      /\$ kubectl .*set image deployment\/analytics-api/,
    ],
    ["image-exists", ["--reference", "ghcr.io/acme/observatory/analytics-api:1.4.0"], /^image-exists passes and returns true$/, /crane\/debug:[\s\S]*exec crane digest "\$1"' image-exists ghcr\.io\/acme\/observatory\/analytics-api:1\.4\.0/],
    [
      "deploy-production",
      ["--tag", "v1.4.0", ...KUBECONFIG, ...REPOSITORY],
      /^deploy-production passes/,
      // green gets the release, the canary is analysed, the Service switches, blue is scaled down
      /1\.3\.0 live on blue, green idle[\s\S]*\$ kubectl .*patch service analytics-api[\s\S]*scale deployment\/analytics-api-blue --replicas=0[\s\S]*waited 15× on the fake clock, 900 s in all, none of it real/,
    ],
    [
      "rollback",
      ["--environment", "production", ...KUBECONFIG, "--reason", "error budget burn"],
      /^rollback passes/,
      /1\.3\.0 kept on blue \(scaled down\)[\s\S]*scale deployment\/analytics-api-blue --replicas=3[\s\S]*patch service analytics-api/,
    ],
    ["rollback", ["--environment", "staging", ...KUBECONFIG], /^rollback passes/, /\$ kubectl .*rollout undo deployment\/analytics-api/],
    ["load-test", [], /^load-test passes/, /\$ k6 run[\s\S]*"p95Ms": 30\.0256841[\s\S]*"errorRate": 0\.001/],
    [
      "scan-deployed",
      KUBECONFIG,
      /^scan-deployed passes/,
      /namespaces llm-observatory-dev, llm-observatory-staging, llm-observatory [\s\S]*No blocking finding in any environment\.[\s\S]*\| production \(trivy\) \| `ghcr\.io\/acme\/observatory\/analytics-api:1\.3\.0 \(llm-observatory\/analytics-api-blue\)` \| passed/,
    ],
  ];

  it.each(family)("%s %j", async (fn, flags, last, shows) => {
    const run = await planWithoutRealWaits(fn, ...flags);
    expect(run.last, run.out.slice(-2000)).toMatch(last);
    expect(run.status).toBe(0);
    expect(run.out).toMatch(shows);
    expect(run.realWaits, "no real waits: the fake clock stands in").toEqual([]);
    expect(run.elapsedMs).toBeLessThan(60_000);
  }, 120_000);

  it("load-test's k6 evaluates the configured thresholds against its figures: a P95 under 10 ms fails the canned 30 ms", async () => {
    const dir = tempDir();
    try {
      const config = join(dir, "pipeline.json");
      writeFileSync(config, JSON.stringify({ environments: { staging: { loadTest: { thresholds: { http_req_duration: ["p(95)<10"] } } } } }));
      const { status, out, last } = await plan("--config", config, "load-test");
      expect(out).toContain("k6 thresholds failed");
      expect(out).toContain("p(95)<10");
      expect(last).toBe("load-test fails");
      expect(status).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
