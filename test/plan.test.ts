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

  it("smoke runs against the fake endpoints on the fake clock, without real waits", async () => {
    const started = Date.now();
    const { status, last } = await plan("smoke", "--environment", "dev");
    expect(last).toMatch(/^smoke passes and returns "smoke test of https:\/\/dev\.api\.llm-observatory\.io passed/);
    expect(status).toBe(0);
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 120_000);

  it("deploy previews against the fake cluster", async () => {
    const { status, out, last } = await plan(
      "deploy", "--environment", "dev", "--kubeconfig", "kubeconfig-text",
      "--image", "ghcr.io/acme/observatory/analytics-api:main-1a2b3c4", "--github-repository", "acme/observatory",
    );
    expect(out).toMatch(/\$ kubectl .*set image deployment\/analytics-api/);
    expect(status, last).toBe(0);
    expect(last).toBe("deploy passes");
  }, 120_000);
});
