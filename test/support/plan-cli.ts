/**
 * `npm run plan`: a dry run of one module function without an engine, read like `dagger call`.
 *
 * The function runs against the recording session: every exec succeeds with canned tool output
 * (tarpaulin 95 %, 3 passing tests, clean scanner reports), Kubernetes, the registry, cosign, k6 and
 * the public endpoints are the tests' fake cluster, and time is a fake clock (no real waits). The
 * functions and their arguments are read from the module's registration in index.ts. After the execs
 * comes the cold-plan summary: tools built from source, dependency builds per compiler-flag set.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { dag, type Directory, type File } from "@dagger.io/dagger";
import { ObservatoryCi } from "../../.dagger/src/index";
import type { Clock } from "../../.dagger/src/lib/clock";
import type { Trust } from "../../.dagger/src/lib/trust";
import { parseConfig } from "../../.dagger/src/lib/pipeline-config";
import { describeChain, recordingSession, type ExecResult, type ExecView, type Script } from "./recording-session";
import { GOOD, healthyScript, isTestRun, testVerdict } from "./module";
import { isScanExec, toolArgs } from "./scan-wrapper";
import { camelToKebab, kebabToCamel, moduleConstructor, moduleFunctions, moduleFunctionSummaries, type Param } from "./module-functions";
import { coldPlanSummary } from "./cold-plan";
import { bootstrappedProduction, FakeClock, FakeCluster, healthyValue, k6RunFor, namespacedScript, OLD_DIGEST, prometheusBy, promotedProduction, REPO } from "../session/deploy-fake-cluster";

/** The plan tool's own flags, besides the constructor's (`--source`, `--config`, `--trust`). */
const PLAN_FLAGS: Param[] = [{ name: "fail", type: "string", optional: true, description: "Make the function's own tool command (its program or subcommand is <word>) fail." }];

export class PlanUsageError extends Error {}

export interface PlanCall {
  fn: string;
  /** Raw values by camelCase name; lists gather repeated flags. */
  values: Map<string, string[]>;
}

function flagOf(p: Param): string {
  const value = p.type === "boolean" ? "" : ` <${p.type}>`;
  return p.optional ? `[--${camelToKebab(p.name)}${value}]` : `--${camelToKebab(p.name)}${value}`;
}

/** The usage of one function, or of the tool with the list of functions. */
export function usage(fn?: string): string {
  const ctor = moduleConstructor().params;
  const common = [...ctor, ...PLAN_FLAGS].map((p) => `[--${camelToKebab(p.name)} <${p.type}>]`).join(" ");
  const functions = moduleFunctions();
  const params = fn ? functions.get(fn) : undefined;
  if (!fn || !params) {
    const summaries = moduleFunctionSummaries();
    const width = Math.max(...[...functions.keys()].map((n) => camelToKebab(n).length));
    return [
      `usage: npm run plan -- ${common} <function> [flags]`,
      "",
      "functions:",
      ...[...functions.keys()].map((name) => `  ${camelToKebab(name).padEnd(width)}  ${summaries.get(name) ?? ""}`),
    ].join("\n");
  }
  const lines = [`usage: npm run plan -- ${common} ${camelToKebab(fn)}${params.map((p) => ` ${flagOf(p)}`).join("")}`];
  const described = [...params, ...ctor, ...PLAN_FLAGS].filter((p) => p.description);
  if (described.length) {
    lines.push("", "flags:");
    for (const p of described) lines.push(`  --${camelToKebab(p.name)}  ${p.description}`);
  }
  return lines.join("\n");
}

/**
 * The command line as the Dagger CLI reads it: `--flag value` and `--flag=value`, a boolean flag
 * alone is true, list flags take comma-separated values or repeat; constructor flags may come
 * before or after the function.
 */
export function parseCommandLine(argv: readonly string[]): PlanCall {
  const functions = moduleFunctions();
  const ctor = [...moduleConstructor().params, ...PLAN_FLAGS];
  let fn: string | undefined;
  const values = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (!word.startsWith("--")) {
      if (fn !== undefined) throw new PlanUsageError(`${camelToKebab(fn)}: unexpected argument ${JSON.stringify(word)} (flags are --name value or --name=value)\n\n${usage(fn)}`);
      fn = kebabToCamel(word);
      if (!functions.has(fn)) throw new PlanUsageError(`unknown function ${JSON.stringify(word)}\n\n${usage()}`);
      continue;
    }
    const [rawName, inline] = word.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const name = kebabToCamel(rawName);
    const param = [...(fn ? functions.get(fn)! : []), ...ctor].find((p) => p.name === name);
    if (!param) {
      const where = fn ? camelToKebab(fn) : "npm run plan";
      throw new PlanUsageError(`${where}: unknown flag --${rawName}\n\n${usage(fn)}`);
    }
    let value = inline;
    if (value === undefined && param.type === "boolean") value = "true";
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined || value.startsWith("--")) throw new PlanUsageError(`--${rawName} needs a value (<${param.type}>)\n\n${usage(fn)}`);
      i++;
    }
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  if (fn === undefined) throw new PlanUsageError(`no function given\n\n${usage()}`);
  const missing = functions.get(fn)!.filter((p) => !p.optional && !values.has(p.name));
  if (missing.length) {
    throw new PlanUsageError(`${camelToKebab(fn)}: missing required ${missing.map((p) => `--${camelToKebab(p.name)}`).join(", ")}\n\n${usage(fn)}`);
  }
  return { fn, values };
}

function argumentValue(param: Param, raw: string[]): unknown {
  const last = raw[raw.length - 1]!;
  switch (param.type) {
    case "Secret":
      return dag.setSecret(`plan-${param.name}`, last);
    case "File":
      return dag.host().file(resolve(last));
    case "Directory":
      return dag.host().directory(resolve(last));
    case "number": {
      const n = Number(last);
      if (last.trim() === "" || !Number.isFinite(n)) throw new PlanUsageError(`--${camelToKebab(param.name)}: ${JSON.stringify(last)} is not a number`);
      return n;
    }
    case "boolean":
      if (last !== "true" && last !== "false") throw new PlanUsageError(`--${camelToKebab(param.name)}: ${JSON.stringify(last)} is not true or false`);
      return last === "true";
    case "string[]":
      return raw.flatMap((v) => v.split(","));
    default:
      return last;
  }
}

/** The words naming what an exec runs: the tool inside a scanner wrapper, cargo inside a classified run. */
function commandWords(e: ExecView): string[] {
  // a classified run is `sh -euc <script> cargo <subcommand> ...`: the script runs "$@"
  if (isTestRun(e)) return e.args.slice(3, 5);
  const args = isScanExec(e.args) ? toolArgs(e) : e.args;
  if (args[0] === "sh" && args[1] === "-c") return [];
  return args.slice(0, 2).map((w) => w.split("/").pop()!);
}

/**
 * `--fail=<word>`: the execs whose own command is <word> (its program or subcommand: `clippy` is
 * `cargo clippy`, not `rustup component add clippy`) fail; a cargo gate's run reports the failure
 * as cargo's, the way a real one does.
 */
function failing(word: string): (e: ExecView) => ExecResult | undefined {
  return (e) => {
    if (!commandWords(e).includes(word)) return undefined;
    const note = `(plan: scripted failure of '${word}')`;
    return isTestRun(e) ? testVerdict(101, "", note) : { exitCode: 1, stderr: note };
  };
}

/** What the preview runs against: one script answering for its fake clusters, and a line saying what they hold. */
interface Preview {
  script: Script;
  described: string;
}

const LIVE = `${REPO}:1.3.0`;

/** A healthy release: 5xx rate 0.2 %, P95 210 ms, no failing health checks, on every query. */
const healthyPrometheus = prometheusBy(healthyValue);

/** A dev (main builds) or staging (releases) namespace running one release, after an earlier one (a revision for rollout undo). */
function singleColour(namespace: string, env: string): FakeCluster {
  const [previous, current] = env === "staging" ? ["1.3.0", "1.4.0"] : ["main-9f8e7d6", "main-0a0b0c0"];
  const cluster = new FakeCluster({ namespace });
  cluster.addDeployment("analytics-api", `${REPO}:${current}`, 1);
  cluster.history.set("analytics-api", [`${REPO}:${previous}`, `${REPO}:${current}`]);
  return cluster;
}

/** Production as bootstrapped after 1.3.0 on blue (green idle), healthy. */
function bootstrapped(namespace: string): FakeCluster {
  const cluster = bootstrappedProduction(namespace);
  cluster.runningDigests.set(LIVE, OLD_DIGEST);
  cluster.prometheus = healthyPrometheus;
  return cluster;
}

/**
 * The fake cluster prepared for the function and its arguments, as the configuration names the
 * environments: deployProduction gets production running 1.3.0 on blue with green idle; rollback a
 * previous release to return to (production: blue kept after a promotion to green; dev/staging: an
 * earlier revision); scanDeployed every environment's namespace; loadTest a k6 that evaluates the
 * thresholds it is given.
 */
function previewFor(fn: string, environment: string | undefined, configText: string | undefined): Preview {
  const environments = parseConfig(configText, "plan").environments as Record<string, { namespace: string }>;
  const namespaceOf = (env: string) => environments[env]!.namespace;
  const env = environment?.toLowerCase() ?? "dev";
  if (fn === "scanDeployed") {
    const clusters = ["dev", "staging", "production"].map((e) => (e === "production" ? bootstrapped(namespaceOf(e)) : singleColour(namespaceOf(e), e)));
    return {
      script: namespacedScript(clusters),
      described: `namespaces ${clusters.map((c) => c.options.namespace).join(", ")} (dev, staging, production), each running one release`,
    };
  }
  if (fn === "deployProduction") {
    const cluster = bootstrapped(namespaceOf("production"));
    return { script: cluster.script(), described: `namespace ${cluster.options.namespace} (production): 1.3.0 live on blue, green idle` };
  }
  if (fn === "rollback" && env === "production") {
    const cluster = promotedProduction(namespaceOf("production"));
    cluster.prometheus = healthyPrometheus;
    return {
      script: cluster.script(),
      described: `namespace ${cluster.options.namespace} (production): v1.4.0 live on green, 1.3.0 kept on blue (scaled down) as the release to return to`,
    };
  }
  const cluster = env === "production" ? bootstrapped(namespaceOf(env)) : singleColour(namespaceOf(env), env);
  const script = cluster.script();
  if (fn === "loadTest") {
    return {
      script: {
        ...script,
        exec: (view) => {
          // k6 evaluates the thresholds the run hands it in K6_OPTIONS, as a real run does
          if (view.args[0] === "k6" && view.env.K6_OPTIONS) cluster.k6 = k6RunFor(JSON.parse(view.env.K6_OPTIONS).thresholds ?? {});
          return script.exec?.(view);
        },
      },
      described: "k6 measures the k6 fixture run with 0.1 % failed requests and evaluates the thresholds it is given",
    };
  }
  const what = fn === "rollback" ? `: ${cluster.history.get("analytics-api")!.at(-1)}, after ${cluster.history.get("analytics-api")![0]} (the revision rollout undo returns to)` : env === "production" ? ": 1.3.0 live on blue, green idle" : "";
  return { script, described: `namespace ${cluster.options.namespace} only (the environment of --environment, dev by default)${what}` };
}

/** The scripted failure first, then the fake cluster, then the canned tools; scanners always get the canned clean reports. */
function composed(first: (e: ExecView) => ExecResult | undefined, cluster: Script, rest: Script): Script {
  return {
    // the fake cluster answers every exec of a deployment run (it carries the run's nonce), the scanner's too
    exec: (e, ...more) => first(e) ?? (isScanExec(e.args) ? undefined : cluster.exec?.(e, ...more)) ?? rest.exec?.(e, ...more),
    file: (path, exec, chain) => cluster.file?.(path, exec, chain) ?? rest.file?.(path, exec, chain),
    leaf: rest.leaf,
  };
}

function printExec(e: ExecView, n: number, print: (line: string) => void): void {
  const lines = [`[${n}] ${e.image ?? "(scratch)"}${e.workdir ? `  workdir ${e.workdir}` : ""}${e.user ? `  user ${e.user}` : ""}`];
  const add = (label: string, entries: string[]) => entries.length && lines.push(`    ${label.padEnd(9)}${entries.join("\n" + " ".repeat(13))}`);
  add("caches", Object.entries(e.caches).map(([p, k]) => `${p} <- cache ${k}${e.cacheSharing[p] ? ` (${e.cacheSharing[p]})` : ""}`));
  add("mounts", Object.entries(e.mounts).map(([p, s]) => `${p} <- ${s.length > 100 ? s.slice(0, 100) + "…" : s}`));
  add("env", Object.entries(e.env).map(([k, v]) => `${k}=${v}`));
  add("secrets", [
    ...Object.entries(e.secretEnv).map(([k, s]) => `$${k} <- secret ${s}`),
    ...Object.entries(e.secretFiles).map(([p, s]) => `${p} <- secret ${s}`),
    ...Object.entries(e.registryAuth).map(([r, a]) => `registry ${r}: ${a.username} / secret ${a.secret}`),
  ]);
  add("services", Object.entries(e.services).map(([alias, s]) => `${alias} -> ${s.image} ports ${s.exposedPorts.join(",")}${s.healthcheck ? ` healthcheck ${s.healthcheck.join(" ")}` : ""}${Object.keys(s.labels).length ? ` ${JSON.stringify(s.labels)}` : ""}`));
  const opts = Object.keys(e.opts).length ? `  ${JSON.stringify(e.opts)}` : "";
  lines.push(`    $ ${e.args.map((a) => (/^[\w./:=@,+-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(" ")}${opts}`);
  print(lines.join("\n"));
}

const CANNED =
  "(recorded, no engine: tool outputs are canned — every exec succeeds, tarpaulin reports 95 %, cargo test 3 passed, scanners report clean, " +
  "the cluster, registry and endpoints are a fake; figures in the result are canned, not measured)";

/** Runs the command line; returns the exit status (0 passes, 1 fails, 2 a usage error). */
export async function runPlan(argv: readonly string[], print: (line: string) => void = console.log): Promise<number> {
  if (argv.length === 0 || argv.includes("--help") || argv.includes("-h")) {
    const fn = argv.map(kebabToCamel).find((w) => moduleFunctions().has(w));
    print(usage(fn));
    return argv.length === 0 ? 2 : 0;
  }
  let call: PlanCall;
  try {
    call = parseCommandLine(argv);
  } catch (e) {
    if (!(e instanceof PlanUsageError)) throw e;
    print(`error: ${e.message}`);
    return 2;
  }
  const { fn, values } = call;
  const params = moduleFunctions().get(fn)!;
  const one = (name: string) => values.get(name)?.at(-1);
  const source = resolve(one("source") ?? GOOD);
  const config = one("config");
  const fail = one("fail");
  const clock = new FakeClock();
  const preview = previewFor(fn, one("environment"), config ? readFileSync(resolve(config), "utf8") : undefined);
  const session = await recordingSession(composed(fail ? failing(fail) : () => undefined, preview.script, healthyScript()));
  let outcome: string;
  let status = 0;
  try {
    const result = await session.run(async () => {
      const sourceDir: Directory = dag.host().directory(source, { exclude: moduleConstructor().sourceIgnore });
      const configFile: File | undefined = config ? dag.host().file(resolve(config)) : undefined;
      const OnFakeClock = class extends ObservatoryCi {
        protected override clock(): Clock {
          return clock;
        }
      };
      const ci = new OnFakeClock(sourceDir, configFile, one("trust") as Trust | undefined);
      const args = params.map((p) => (values.has(p.name) ? argumentValue(p, values.get(p.name)!) : undefined));
      const method = (ci as unknown as Record<string, (...a: unknown[]) => unknown>)[fn]!;
      return describeResult(await method.apply(ci, args), session.queries);
    });
    const name = camelToKebab(fn);
    if (result === undefined) outcome = `${name} passes (returns nothing)`;
    else if (!result.includes("\n")) outcome = `${name} passes and returns ${result}`;
    else outcome = `returns ${result}\n\n${name} passes`;
  } catch (e) {
    if (e instanceof PlanUsageError) {
      print(`error: ${e.message}\n\n${usage(fn)}`);
      await session.stop();
      return 2;
    }
    outcome = `${(e as Error).message}\n\n${camelToKebab(fn)} fails`;
    status = 1;
  } finally {
    await session.stop();
  }
  const shown = argv.map((a) => (/^[\w./:=@,+-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(" ");
  print(`# dagger call ${shown}\n# ${CANNED}\n# fake cluster: ${preview.described}\n`);
  session.execs.forEach((e, i) => printExec(e, i + 1, print));
  // tools built from source and dependency builds per compiler-flag set, as a cold engine would run them
  print(`\n${coldPlanSummary(session.execs)}`);
  if (clock.sleeps.length) print(`\n(waited ${clock.sleeps.length}× on the fake clock, ${Math.round(clock.sleeps.reduce((a, b) => a + b, 0) / 1000)} s in all, none of it real)`);
  print(`\n${outcome}`);
  return status;
}

/** What a function returned, as what it is: a value, or a Dagger object by the pipeline that builds it. */
async function describeResult(value: unknown, queries: { chain: { field: string }[]; leaf: string }[]): Promise<string | undefined> {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) {
    const items = await Promise.all(value.map((v) => describeResult(v, queries)));
    return items.some((i) => i?.includes("\n")) ? `a list of ${items.length}:\n${items.map((i, n) => `  [${n}] ${i}`).join("\n")}` : JSON.stringify(value);
  }
  if (typeof value === "object" && typeof (value as { id?: unknown }).id === "function") {
    const kind = value.constructor.name;
    await (value as { id(): Promise<string> }).id();
    const query = [...queries].reverse().find((q) => q.leaf === "id");
    return `a ${kind}, built by:\n    ${describeChain((query?.chain ?? []) as never).replace(/\.id$/, "").replace(/\)\.(?=[a-zA-Z]+\()/g, ")\n      .")}`;
  }
  return typeof value === "string" ? (value.includes("\n") ? `this text:\n${value}` : JSON.stringify(value)) : JSON.stringify(value);
}
