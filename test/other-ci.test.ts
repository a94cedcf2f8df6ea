/**
 * The CI files for GitLab CI, Jenkins, CircleCI, Azure Pipelines and Tekton (ci/other-ci), checked offline:
 * - GitLab, CircleCI and Azure Pipelines against each system's published JSON schema (test/fixtures/ci-schemas,
 *   sources in its SOURCES.md), Tekton with @ibm/tekton-lint and the Tekton v1 shapes, Jenkins by its structure;
 * - every `dagger call` of every CI file (GitHub Actions included) against the module's functions: names, flags,
 *   required arguments, secrets passed as env://;
 * - every system runs the stages GitHub Actions runs, and takes its decisions from eventPlan.
 */
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv from "ajv";
import { parse, parseAllDocuments } from "yaml";
import { kebabToCamel, moduleFunctions, type Param } from "./support/module-functions";
import { parseWorkflowYaml, type YamlMap } from "./support/workflow-yaml";
import { planAsEnv, planEvent } from "../.dagger/src/lib/event-rules";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const OTHER = join(ROOT, "ci/other-ci");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

const FILES = {
  gitlab: ["ci/other-ci/gitlab-ci.yml"],
  jenkins: ["ci/other-ci/Jenkinsfile"],
  circleci: ["ci/other-ci/circleci/config.yml", "ci/other-ci/circleci/continue.yml"],
  azure: ["ci/other-ci/azure-pipelines.yml", "ci/other-ci/azure-pipelines-dagger.yml"],
  tekton: ["ci/other-ci/tekton/tasks.yaml", "ci/other-ci/tekton/pipelines.yaml"],
} as const;
type System = keyof typeof FILES;
const SYSTEMS = Object.keys(FILES) as System[];

/** The decisions eventPlan hands a CI system, by their env-format names. */
const PLAN_KEYS = planAsEnv(planEvent({ kind: "schedule", system: "gitlab", schedule: "daily" }))
  .trim()
  .split("\n")
  .map((line) => line.split("=")[0]!);

// ---------------------------------------------------------------------------------------------------------
// dagger call lines

interface Call {
  where: string;
  text: string;
}

/** Lines that run `dagger call`, outside comments; Jenkins' `sh '...'` and a trailing redirect removed. */
function callsInText(file: string): Call[] {
  const calls: Call[] = [];
  read(file).split("\n").forEach((line, index) => {
    const code = line.replace(/^\s*(#|\/\/).*$/, "");
    const at = code.indexOf("dagger call ");
    if (at < 0) return;
    let text = code.slice(at).trim();
    // `sh '[VAR=$(...); ]dagger call ...'`: a value the shell computes first (the commit's author, the deployed image)
    if (/sh '([^']*; )?$/.test(code.slice(0, at))) text = text.slice(0, text.lastIndexOf("'"));
    text = text.replace(/\s+>\s*\S+$/, "");
    calls.push({ where: `${file}:${index + 1}`, text });
  });
  return calls;
}

/** GitHub Actions: the `args` of each dagger-for-github step whose verb is call. */
function githubCalls(): Call[] {
  const dir = join(ROOT, ".github/workflows");
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .flatMap((name) => {
      const jobs = parseWorkflowYaml(readFileSync(join(dir, name), "utf8"), name).jobs as Record<string, YamlMap>;
      return Object.entries(jobs).flatMap(([id, job]) =>
        ((job.steps ?? []) as YamlMap[])
          .filter((step) => String(step.uses ?? "").startsWith("dagger/dagger-for-github@"))
          .map((step) => step.with as YamlMap)
          .filter((inputs) => inputs.verb === "call")
          .map((inputs) => ({ where: `${name} ${id}`, text: `dagger call ${String(inputs.args).replace(/\s+/g, " ").trim()}` })),
      );
    });
}

/** Shell words: quotes removed, variables kept as written (`"$TRUST"` -> `$TRUST`). */
function words(text: string): string[] {
  const out: string[] = [];
  let current = "";
  let quote: string | undefined;
  let started = false;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      started = true;
    } else if (/\s/.test(ch)) {
      if (started || current) out.push(current);
      current = "";
      started = false;
    } else current += ch;
  }
  if (quote) throw new Error(`unbalanced quote in: ${text}`);
  if (started || current) out.push(current);
  return out;
}

interface ParsedCall {
  constructorFlags: Map<string, string>;
  fn: string;
  flags: Map<string, string>;
  chain: string[];
}

const CONSTRUCTOR = new Set(["source", "config", "trust"]);

function parseCall(call: Call): ParsedCall {
  // bash's ${NAME:+--flag "$NAME"} passes the flag only when NAME is set (cd-production.yml's --reason): read it as the flag
  const tokens = words(call.text.replace(/\$\{([A-Z_]+):\+(--[a-z-]+) "\$\1"\}/g, '$2 "$$$1"'));
  if (tokens[0] !== "dagger" || tokens[1] !== "call") throw new Error(`${call.where}: not a dagger call`);
  let i = 2;
  const constructorFlags = new Map<string, string>();
  for (; i < tokens.length && tokens[i]!.startsWith("--"); i++) {
    const match = /^--([a-z-]+)=(.*)$/.exec(tokens[i]!);
    if (!match) throw new Error(`${call.where}: constructor flag ${tokens[i]} must be written --name=value`);
    constructorFlags.set(kebabToCamel(match[1]!), match[2]!);
  }
  const fn = kebabToCamel(tokens[i++] ?? "");
  const flags = new Map<string, string>();
  for (; i < tokens.length && tokens[i]!.startsWith("--"); i++) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(tokens[i]!);
    if (!match) throw new Error(`${call.where}: flag ${tokens[i]}`);
    const value = match[2] ?? tokens[++i];
    if (value === undefined) throw new Error(`${call.where}: ${tokens[i - 1]} has no value`);
    flags.set(kebabToCamel(match[1]!), value);
  }
  // a variable alone (GitHub's $PR_ARG) expands to optional flags the event may or may not have
  const chain = tokens.slice(i).filter((token) => !/^\$[A-Z_]+$/.test(token));
  return { constructorFlags, fn, flags, chain };
}

const FUNCTIONS = moduleFunctions();

/** What is wrong with a call against the module's registered functions, or [] when nothing is. */
function callProblems(call: Call): string[] {
  const parsed = parseCall(call);
  const problems: string[] = [];
  for (const name of parsed.constructorFlags.keys()) if (!CONSTRUCTOR.has(name)) problems.push(`unknown constructor flag --${name}`);
  const params: Param[] | undefined = FUNCTIONS.get(parsed.fn);
  if (!params) return [`${call.where}: no function ${parsed.fn}`];
  const byName = new Map(params.map((p) => [p.name, p]));
  for (const [flag, value] of parsed.flags) {
    const param = byName.get(flag);
    if (!param) {
      problems.push(`${parsed.fn} has no argument ${flag}`);
      continue;
    }
    const isSecret = param.type === "Secret";
    if (isSecret && !/^env:\/\/[A-Za-z_][A-Za-z0-9_]*$/.test(value)) problems.push(`${parsed.fn} --${flag} is a secret: pass env://NAME, not ${value}`);
    if (!isSecret && value.startsWith("env://")) problems.push(`${parsed.fn} --${flag} is not a secret but gets ${value}`);
  }
  for (const param of params) {
    if (!param.optional && !parsed.flags.has(param.name)) problems.push(`${parsed.fn} misses its required --${param.name}`);
  }
  if (parsed.chain.length > 0 && !(parsed.chain[0] === "export" && /^--path=\S+$/.test(parsed.chain[1] ?? "") && parsed.chain.length === 2)) {
    problems.push(`${parsed.fn} is followed by ${parsed.chain.join(" ")} (only export --path=<dir> is chained)`);
  }
  return problems.map((p) => `${call.where}: ${p}`);
}

const otherCalls = Object.fromEntries(SYSTEMS.map((system) => [system, FILES[system].flatMap(callsInText)])) as Record<System, Call[]>;
const allCalls = [...githubCalls(), ...SYSTEMS.flatMap((system) => otherCalls[system])];

describe("every dagger call of every CI file matches the module's functions", () => {
  it("finds the calls of every system", () => {
    expect(githubCalls().length).toBeGreaterThanOrEqual(10);
    for (const system of SYSTEMS) expect(otherCalls[system].length, system).toBeGreaterThanOrEqual(12);
  });

  it("names registered functions and arguments, gives every required one, passes secrets as env://", () => {
    expect(allCalls.flatMap(callProblems).join("\n")).toBe("");
  });

  it("every notify tells Slack the author, the commit and the run, and every release names the image by digest and the commit", () => {
    const parsedCalls = allCalls.map((call) => ({ where: call.where, call: parseCall(call) }));
    const notifies = parsedCalls.filter(({ call }) => call.fn === "notify");
    const releases = parsedCalls.filter(({ call }) => call.fn === "release");
    // GitHub's two failure notices plus each system's two (ci failed on main, the staging load test), except Tekton,
    // whose one observatory-notify Task both Pipeline tasks run; one release each
    expect(notifies.length).toBe(2 + (SYSTEMS.length - 1) * 2 + 1);
    expect(releases.length).toBe(1 + SYSTEMS.length);
    const tektonUses = (taskRef: string) =>
      read("ci/other-ci/tekton/pipelines.yaml").split(/\n    - name: /).filter((task) => task.includes(`taskRef: { name: ${taskRef} }`));
    expect(tektonUses("observatory-notify").length).toBe(2);
    for (const task of tektonUses("observatory-notify")) expect(task).toMatch(/name: author, value: \S[\s\S]*name: commit, value: \S[\s\S]*name: github-repository, value: \S/);
    expect(tektonUses("observatory-github-release").map((task) => /name: image, value: \$\(tasks\.deploy-production\.results\.image\)/.test(task) && /name: commit, value: \S/.test(task))).toEqual([true]);
    const missing = (flags: string[]) => ({ where, call }: { where: string; call: ParsedCall }) =>
      flags.filter((flag) => !call.flags.has(flag)).map((flag) => `${where}: ${call.fn} has no --${flag}`);
    expect(notifies.flatMap(missing(["author", "commit", "githubRepository", "runUrl"]))).toEqual([]);
    expect(releases.flatMap(missing(["image", "commit"]))).toEqual([]);
    // the released image is the one deploy-production deployed: its record, handed on by each system
    for (const system of SYSTEMS) {
      const text = FILES[system].map(read).join("\n");
      expect(text, system).toMatch(/deploy-production [^\n]*> ?(\S*deployment-record\.json)/);
      expect(text, system).toMatch(/jq -[rj] '?\.image'? \S*deployment-record\.json/);
    }
  });

  it("the checker catches a renamed argument, a missing required one and a secret passed as a value", () => {
    const problems = (text: string) => callProblems({ where: "probe", text });
    expect(problems('dagger call --trust="$TRUST" upload-coverage --codecov-token env://T --commit "$C" --slug a/b')).toEqual([]);
    expect(problems('dagger call upload-coverage --codecov-tokn env://T --commit "$C" --slug a/b')).toEqual([
      "probe: uploadCoverage has no argument codecovTokn",
      "probe: uploadCoverage misses its required --codecovToken",
    ]);
    expect(problems('dagger call upload-coverage --codecov-token "$TOKEN" --commit c --slug a/b')).toEqual([
      "probe: uploadCoverage --codecovToken is a secret: pass env://NAME, not $TOKEN",
    ]);
    expect(problems("dagger call deploy-everything")).toEqual(["probe: no function deployEverything"]);
    expect(() => parseCall({ where: "probe", text: "dagger call --trust trusted ci" })).toThrow("must be written --name=value");
  });

  it("outside GitHub Actions, no file sets TRUST itself: it is the plan's (untrusted for pull and merge requests)", () => {
    for (const system of SYSTEMS) {
      for (const file of FILES[system]) expect(read(file), file).not.toMatch(/\bTRUST\s*[:=]\s*["']?(un)?trusted|TRUST = /);
    }
  });

  it("outside GitHub Actions, every call but eventPlan runs at the trust level the plan decided, never a literal", () => {
    for (const system of SYSTEMS) {
      for (const call of otherCalls[system]) {
        const parsed = parseCall(call);
        if (parsed.fn === "eventPlan") expect(parsed.constructorFlags.size, call.where).toBe(0);
        else expect(parsed.constructorFlags.get("trust"), call.where).toBe("$TRUST");
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// stages

/** Stages a system runs: the functions it calls; for deploy, the environments it deploys to. */
function stages(calls: Call[], tektonDeployTargets: string[] = []): Set<string> {
  const out = new Set<string>();
  for (const call of calls) {
    const parsed = parseCall(call);
    out.add(parsed.fn);
    const environment = parsed.flags.get("environment");
    if (parsed.fn === "deploy" && environment && !environment.startsWith("$")) out.add(`deploy:${environment}`);
  }
  for (const target of tektonDeployTargets) out.add(`deploy:${target}`);
  return out;
}

/** Tekton passes the environment to its one deploy Task as a Pipeline param. */
function tektonDeployTargets(): string[] {
  const pipelines = parseAllDocuments(read("ci/other-ci/tekton/pipelines.yaml")).map((d) => d.toJS() as TektonDoc);
  return pipelines.flatMap((p) =>
    (p.spec.tasks ?? [])
      .filter((t) => t.taskRef?.name === "observatory-deploy")
      .map((t) => String(t.params?.find((param) => param.name === "environment")?.value)),
  );
}

describe("every system runs the stages GitHub Actions runs", () => {
  const github = stages(githubCalls());

  it("GitHub's stages are the chain's", () => {
    for (const stage of ["ci", "uploadCoverage", "securityReports", "releaseImage", "deploy:dev", "deploy:staging", "loadTest", "smoke", "deployProduction", "release", "rollback", "scanDeployed"]) {
      expect(github, stage).toContain(stage);
    }
  });

  it.each(SYSTEMS)("%s runs every one of them, and asks eventPlan first", (system) => {
    const own = stages(otherCalls[system], system === "tekton" ? tektonDeployTargets() : []);
    expect([...github].filter((stage) => !own.has(stage))).toEqual([]);
    expect(own).toContain("eventPlan");
  });

  it.each(SYSTEMS)("%s writes no branch or tag rule of its own (they are eventPlan's)", (system) => {
    for (const file of FILES[system]) {
      const code = read(file).split("\n").filter((line) => !/^\s*(#|\/\/)/.test(line)).join("\n");
      expect(code, file).not.toMatch(/release\/\*(?!\*)|release\/\.|\^release|refs\/tags\/v|\^v\[?0|'main'|"main"|== ?main\b|CI_DEFAULT_BRANCH/);
    }
  });

  it.each(SYSTEMS)("%s reads only decisions eventPlan makes", (system) => {
    const text = FILES[system].map(read).join("\n");
    const used = new Set<string>();
    // Tekton: the plan Task's results; other Tasks' results (the fetched commit, the deployed image) are not decisions
    for (const m of text.matchAll(/decide\.([A-Z_]+)|tasks\.plan\.results\.([a-z-]+)\b|pipeline\.parameters\.([a-z-]+)|env\.([A-Z_]+) ==|"\$([A-Z_]+)" = /g)) {
      const name = (m[1] ?? m[4] ?? m[5] ?? (m[2] ?? m[3])!.toUpperCase().replace(/-/g, "_"))!;
      used.add(name);
    }
    const ownInputs = new Set(["MANUAL_ACTION", "MANUAL_ENVIRONMENT", "MANUAL_IMAGE", "MANUAL_TAG", "MANUAL_REASON", "REASON", "SCHEDULE", "PATH", "BUILD_REASON", "EVENT_KIND"]);
    const planned = [...used].filter((name) => !ownInputs.has(name));
    expect(planned.length, system).toBeGreaterThan(3);
    expect(planned.filter((name) => !PLAN_KEYS.includes(name)), system).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// schemas

const SCHEMAS = join(ROOT, "test/fixtures/ci-schemas");
function validator(file: string) {
  // unicodeRegExp off: Azure's schema has patterns (`\:`) that only non-unicode RegExps accept; formats
  // are not checked (ajv-formats is not a dependency), as the systems' own editors do not check them either
  const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false, validateFormats: false, logger: false });
  return ajv.compile(JSON.parse(readFileSync(join(SCHEMAS, file), "utf8")) as object);
}
function errorsOf(validate: ReturnType<typeof validator>, document: unknown): string[] {
  return validate(document) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

describe("GitLab CI: GitLab's published CI schema", () => {
  const validate = validator("gitlab-ci.json");
  const pipeline = parse(read("ci/other-ci/gitlab-ci.yml")) as Record<string, Record<string, unknown>>;

  it("gitlab-ci.yml is valid", () => {
    expect(errorsOf(validate, pipeline)).toEqual([]);
  });

  it("the schema refuses what GitLab refuses (so a pass means something)", () => {
    expect(errorsOf(validate, { ...pipeline, ci: { ...pipeline.ci, when: "sometimes" } }).length).toBeGreaterThan(0);
    expect(errorsOf(validate, { ...pipeline, ci: { ...pipeline.ci, artifacts: { reprots: {} } } }).length).toBeGreaterThan(0);
  });

  it('every job that reads the git history (ci, security-reports: gitleaks) sets GIT_DEPTH: "0"', () => {
    // GitLab clones shallow by default (the project's "Git shallow clone" depth); GIT_DEPTH 0 fetches the whole
    // history (https://docs.gitlab.com/ci/runners/configure_runners/#shallow-cloning), which gitleaks needs
    const readsHistory = Object.entries(pipeline).filter(([, job]) =>
      Array.isArray(job?.script) && (job.script as string[]).some((line) => /dagger call .*\s(ci|security-reports|gitleaks)(\s|$)/.test(line)),
    );
    expect(readsHistory.map(([name]) => name).sort()).toEqual(["ci", "security-reports"]);
    for (const [name, job] of readsHistory) expect((job.variables as Record<string, unknown>)?.GIT_DEPTH, name).toBe("0");
  });

  it("hands the plan to later jobs as a dotenv report, and production waits for a manual run in its environment", () => {
    expect(pipeline.plan!.artifacts).toEqual({ reports: { dotenv: "plan.env" } });
    const production = pipeline["deploy-production"]!;
    expect(production.environment).toMatchObject({ name: "production" });
    expect((production.rules as Record<string, unknown>[]).every((rule) => rule.when === "manual" && rule.allow_failure === false)).toBe(true);
  });
});

describe("CircleCI: the CircleCI YAML language server's config schema", () => {
  const validate = validator("circleciconfig.json");
  it.each(FILES.circleci)("%s is valid", (file) => {
    expect(errorsOf(validate, parse(read(file)))).toEqual([]);
  });

  it("the schema refuses an unknown job key", () => {
    const config = parse(read("ci/other-ci/circleci/continue.yml")) as { jobs: Record<string, object> };
    expect(errorsOf(validate, { ...config, jobs: { ...config.jobs, ci: { ...config.jobs.ci, stesp: [] } } }).length).toBeGreaterThan(0);
  });

  it("continue.yml declares one parameter per decision of the plan, plus the rollback reason", () => {
    const parameters = Object.keys((parse(read("ci/other-ci/circleci/continue.yml")) as { parameters: object }).parameters);
    expect(parameters.sort()).toEqual([...PLAN_KEYS.map((k) => k.toLowerCase().replace(/_/g, "-")), "reason"].sort());
  });

  it("production and staging's production gate wait on approval jobs", () => {
    const workflows = (parse(read("ci/other-ci/circleci/continue.yml")) as { workflows: Record<string, { jobs: Record<string, Record<string, unknown>>[] }> }).workflows;
    const approvals = (name: string) => workflows[name]!.jobs.flatMap((entry) => Object.entries(entry)).filter(([, job]) => job?.type === "approval").map(([id]) => id);
    expect(approvals("production")).toEqual(["hold-production"]);
    expect(approvals("staging")).toEqual(["approve-production"]);
  });
});

describe("Azure Pipelines: the published pipeline schema", () => {
  const validate = validator("azure-pipelines.json");
  // Azure reads every YAML scalar as a string, and its schema says so (timeoutInMinutes is a string there)
  const azureYaml = (file: string) => parse(read(file), { schema: "failsafe" }) as unknown;
  it.each(FILES.azure)("%s is valid", (file) => {
    expect(errorsOf(validate, azureYaml(file)).slice(0, 30).join("\n")).toBe("");
  });

  it("the schema refuses an unknown stage key", () => {
    const pipeline = azureYaml("ci/other-ci/azure-pipelines.yml") as { stages: object[] };
    expect(errorsOf(validate, { ...pipeline, stages: [{ stage: "X", jobz: [] }] }).length).toBeGreaterThan(0);
  });

  it("deploys run as deployment jobs in the environment whose approvals and checks gate them", () => {
    const pipeline = parse(read("ci/other-ci/azure-pipelines.yml")) as { stages: { stage?: string; jobs?: { deployment?: string; environment?: string }[] }[] };
    const deployments = pipeline.stages.flatMap((s) => s.jobs ?? []).filter((j) => j.deployment).map((j) => [j.deployment, j.environment]);
    expect(deployments).toEqual([
      ["deploy_dev", "dev"],
      ["deploy_staging", "staging"],
      ["approve_production", "production-approval"],
      ["deploy_production", "production"],
    ]);
  });
}, 60_000);

// ---------------------------------------------------------------------------------------------------------
// Jenkins

/** The Jenkinsfile without comments and string contents, for brace counting. */
function groovyStructure(text: string): string {
  return text
    .replace(/\/\/[^\n]*/g, "")
    .replace(/'(?:[^'\\\n]|\\.)*'/g, "''")
    .replace(/"(?:[^"\\\n]|\\.)*"/g, '""');
}

describe("Jenkins: the declarative pipeline's structure", () => {
  const text = read("ci/other-ci/Jenkinsfile");
  const structure = groovyStructure(text);

  it("is one pipeline block with balanced braces, an agent and stages", () => {
    let depth = 0;
    for (const ch of structure) {
      if (ch === "{") depth++;
      if (ch === "}") depth--;
      expect(depth).toBeGreaterThanOrEqual(0);
    }
    expect(depth).toBe(0);
    expect(structure.trimStart()).toMatch(/^pipeline \{/);
    expect(structure).toMatch(/\n  agent \{ label '' \}/);
    expect(structure).toMatch(/\n  stages \{/);
  });

  it("every stage has steps or parallel stages, and names are unique", () => {
    const names = [...text.matchAll(/stage\('([^']+)'\) \{/g)].map((m) => m[1]);
    expect(new Set(names).size).toBe(names.length);
    const bodies = text.split(/stage\('[^']+'\) \{/).slice(1);
    for (const [i, body] of bodies.entries()) expect(body, names[i]).toMatch(/^[\s\S]*?\b(steps|parallel) \{/);
    expect(names).toEqual(expect.arrayContaining(["Plan", "CI", "Coverage", "Security reports", "Publish", "Deploy dev", "Deploy staging", "Approve for production", "Deploy production", "Rollback", "Daily scan"]));
  });

  it("production and the production approval wait on an input only release managers answer, evaluated after when", () => {
    for (const stage of ["Approve for production", "Deploy production"]) {
      const body = text.split(`stage('${stage}') {`)[1]!.split(/\n    stage\(/)[0]!;
      expect(body, stage).toMatch(/beforeInput true/);
      expect(body, stage).toMatch(/input \{\s*message '[^']+'\s*submitter 'release-managers'\s*\}/);
    }
  });

  it("runs every dagger call in a single-quoted sh (the shell expands secrets, never Groovy)", () => {
    const shells = [...text.matchAll(/\bsh\s*(\(?\s*)(['"])(.*)$/gm)].filter((m) => m[3]!.includes("dagger"));
    expect(shells.length).toBeGreaterThan(10);
    expect(shells.filter((m) => m[2] !== "'").map((m) => m[0])).toEqual([]);
  });

  it("every credential it binds is listed in its header", () => {
    const header = text.split("pipeline {")[0]!;
    const ids = new Set([...text.matchAll(/credentials\('([^']+)'\)|credentialsId: ['"]([^'"$]+)/g)].map((m) => m[1] ?? m[2]));
    for (const id of ids) expect(header, id).toContain(id!.replace(/-$/, ""));
    expect(ids.size).toBeGreaterThan(5);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Tekton

interface TektonParam {
  name: string;
  type?: string;
  default?: string;
  value?: unknown;
}
interface TektonDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    params?: TektonParam[];
    workspaces?: { name: string; workspace?: string }[];
    results?: { name: string }[];
    steps?: { name: string; image: string; script?: string; env?: { name: string; value?: string; valueFrom?: Record<string, Record<string, unknown>> }[] }[];
    tasks?: {
      name: string;
      taskRef?: { name: string };
      params?: TektonParam[];
      runAfter?: string[];
      when?: { input: string; operator: string; values: string[] }[];
      workspaces?: { name: string; workspace: string }[];
    }[];
  };
}

/** @ibm/tekton-lint 1.1.0 (offline: it fetches only Tasks referenced from Tekton Hub or bundles, which these files do not use). */
function tektonLint(files: string[]): { rule: string; message: string; level: string }[] {
  const cli = fileURLToPath(import.meta.resolve("@ibm/tekton-lint/dist/lint.js"));
  const out = execFileSync(process.execPath, [cli, "--format", "json", "--color", "false", ...files], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return JSON.parse(out.trim() || "[]") as { rule: string; message: string; level: string }[];
}

describe("Tekton: @ibm/tekton-lint", () => {
  it("finds no problem in tasks.yaml and pipelines.yaml", () => {
    expect(tektonLint(FILES.tekton.map((f) => join(ROOT, f)))).toEqual([]);
  });

  it("finds a missing Task and an undefined result (so a pass means something)", () => {
    const dir = mkdtempSync(join(tmpdir(), "observatory-ci-tekton-"));
    try {
      const broken = read("ci/other-ci/tekton/pipelines.yaml")
        .replace("name: observatory-load-test }", "name: observatory-load-tst }")
        .replace("$(tasks.plan.results.publish-ref)", "$(tasks.plan.results.publish-rfe)");
      writeFileSync(join(dir, "pipelines.yaml"), broken);
      const rules = tektonLint([join(ROOT, FILES.tekton[0]), join(dir, "pipelines.yaml")]).map((p) => p.rule);
      expect(rules).toEqual(expect.arrayContaining(["no-missing-resource", "no-undefined-result"]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Tekton: Pipelines v1 shapes of the Tasks and Pipelines", () => {
  const load = (file: string) =>
    parseAllDocuments(read(file)).map((d) => {
      expect(d.errors).toEqual([]);
      return d.toJS() as TektonDoc;
    });
  const tasks = load("ci/other-ci/tekton/tasks.yaml");
  const pipelines = load("ci/other-ci/tekton/pipelines.yaml");
  const taskByName = new Map(tasks.map((t) => [t.metadata.name, t]));
  const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
  const refs = (text: string, kind: string) => [...text.matchAll(new RegExp(`\\$\\(${kind}\\.([a-z0-9-]+)`, "g"))].map((m) => m[1]!);

  it("every document is a tekton.dev/v1 Task or Pipeline with a DNS-label name", () => {
    expect(tasks.every((t) => t.apiVersion === "tekton.dev/v1" && t.kind === "Task")).toBe(true);
    expect(pipelines.every((p) => p.apiVersion === "tekton.dev/v1" && p.kind === "Pipeline")).toBe(true);
    for (const doc of [...tasks, ...pipelines]) expect(doc.metadata.name).toMatch(DNS_LABEL);
    expect(pipelines.map((p) => p.metadata.name)).toEqual(["observatory-ci", "observatory-production", "observatory-rollback", "observatory-daily-scan", "observatory-weekly"]);
  });

  it("Tasks: steps have a name, a pinned image and a script; every $(params.x) and secret name is a declared param", () => {
    for (const task of tasks) {
      const declared = new Set((task.spec.params ?? []).map((p) => p.name));
      const workspaces = new Set((task.spec.workspaces ?? []).map((w) => w.name));
      for (const step of task.spec.steps ?? []) {
        expect(step.name).toMatch(DNS_LABEL);
        expect(step.image, task.metadata.name).toMatch(/^[a-z0-9./-]+:[0-9][\w.-]*$/);
        expect(step.script, task.metadata.name).toMatch(/^#!\/bin\/sh\nset -eu\n/);
        // params reach the script through env only
        expect(refs(step.script ?? "", "params"), task.metadata.name).toEqual([]);
        const text = JSON.stringify(step);
        for (const p of refs(text, "params")) expect(declared, `${task.metadata.name}: $(params.${p})`).toContain(p);
        for (const w of refs(text, "workspaces")) expect(workspaces, `${task.metadata.name}: workspace ${w}`).toContain(w);
        for (const env of step.env ?? []) {
          const secret = env.valueFrom?.secretKeyRef;
          if (secret) expect(String(secret.name), `${task.metadata.name} ${env.name}`).toMatch(/^\$\(params\.[a-z-]+\)$/);
        }
      }
    }
  });

  it("observatory-event-plan declares one result per decision of the plan", () => {
    const results = taskByName.get("observatory-event-plan")!.spec.results!.map((r) => r.name);
    expect(results).toEqual(PLAN_KEYS.map((k) => k.toLowerCase().replace(/_/g, "-")));
  });

  it("Pipelines: task refs, params, results, runAfter, when and workspaces all resolve", () => {
    for (const pipeline of pipelines) {
      const where = pipeline.metadata.name;
      const pipelineParams = new Set((pipeline.spec.params ?? []).map((p) => p.name));
      const pipelineWorkspaces = new Set((pipeline.spec.workspaces ?? []).map((w) => w.name));
      const pipelineTasks = new Map((pipeline.spec.tasks ?? []).map((t) => [t.name, t]));
      expect(pipelineTasks.size, where).toBe(pipeline.spec.tasks!.length);
      for (const t of pipeline.spec.tasks!) {
        const task = taskByName.get(t.taskRef!.name);
        expect(task, `${where} ${t.name}: Task ${t.taskRef!.name}`).toBeDefined();
        const taskParams = task!.spec.params ?? [];
        const given = new Set((t.params ?? []).map((p) => p.name));
        for (const name of given) expect(taskParams.map((p) => p.name), `${where} ${t.name} param ${name}`).toContain(name);
        for (const p of taskParams.filter((p) => p.default === undefined)) expect(given, `${where} ${t.name} needs ${p.name}`).toContain(p.name);
        for (const after of t.runAfter ?? []) expect(pipelineTasks.has(after), `${where} ${t.name} runAfter ${after}`).toBe(true);
        for (const when of t.when ?? []) {
          expect(["in", "notin"]).toContain(when.operator);
          expect(Array.isArray(when.values) && when.values.length > 0).toBe(true);
        }
        const text = JSON.stringify(t);
        for (const p of refs(text, "params")) expect(pipelineParams, `${where} ${t.name}: $(params.${p})`).toContain(p);
        for (const m of text.matchAll(/\$\(tasks\.([a-z0-9-]+)\.results\.([a-z0-9-]+)\)/g)) {
          const producer = pipelineTasks.get(m[1]!);
          expect(producer, `${where} ${t.name}: task ${m[1]}`).toBeDefined();
          const results = taskByName.get(producer!.taskRef!.name)!.spec.results ?? [];
          expect(results.map((r) => r.name), `${where} ${t.name}: ${m[0]}`).toContain(m[2]);
        }
        const bound = new Map((t.workspaces ?? []).map((w) => [w.name, w.workspace]));
        for (const w of task!.spec.workspaces ?? []) {
          expect(bound.has(w.name), `${where} ${t.name} binds ${w.name}`).toBe(true);
          expect(pipelineWorkspaces, `${where} ${t.name}`).toContain(bound.get(w.name));
        }
      }
    }
  });

  it("every stage Task of the ci pipeline runs only when the plan says so", () => {
    const ci = pipelines.find((p) => p.metadata.name === "observatory-ci")!;
    const gated = ci.spec.tasks!.filter((t) => !["fetch-source", "plan"].includes(t.name));
    expect(gated.filter((t) => !(t.when ?? []).some((w) => w.input.startsWith("$(tasks.plan.results."))).map((t) => t.name)).toEqual([]);
  });
});

it("ci/other-ci holds the five systems' files and nothing else", () => {
  const listed = new Set(Object.values(FILES).flat().map((f) => f.replace("ci/other-ci/", "")));
  const present = readdirSync(OTHER, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(OTHER.length + 1));
  expect(present.sort()).toEqual([...listed].sort());
});
