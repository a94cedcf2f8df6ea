/**
 * `npm run plan -- <function> [--arg=value ...] [--source=dir] [--fail=word]`
 *
 * A dry run without an engine: calls one module function against the recording session (every
 * exec succeeds, tarpaulin reports 95 %, unless --fail=<word> makes the execs whose command line
 * contains <word> exit 1) and prints the pipeline it sent, exec by exec: image, working
 * directory, caches, mounts, environment, secrets (by name), services and the command; then the
 * cold-plan summary: tools built from source, dependency builds per compiler-flag set.
 * Arguments typed Secret in the module become secrets holding the given text; File and Directory
 * arguments are host paths.
 */
import { resolve } from "node:path";
import { dag } from "@dagger.io/dagger";
import { ObservatoryCi } from "../.dagger/src/index";
import { describeChain, recordingSession, type ExecView } from "./support/recording-session";
import { GOOD, healthyScript } from "./support/module";
import { kebabToCamel, moduleFunctions, type Param } from "./support/module-functions";
import { coldPlanSummary } from "./support/cold-plan";

function argumentValue(param: Param, raw: string): unknown {
  switch (param.type) {
    case "Secret":
      return dag.setSecret(`plan-${param.name}`, raw);
    case "File":
      return dag.host().file(resolve(raw));
    case "Directory":
      return dag.host().directory(resolve(raw));
    case "number":
      return Number(raw);
    case "boolean":
      return raw !== "false";
    case "string[]":
      return raw.split(",");
    default:
      return raw;
  }
}

function printExec(e: ExecView, n: number): void {
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
  console.log(lines.join("\n"));
}

async function main(): Promise<void> {
  const [fnArg, ...rest] = process.argv.slice(2);
  const functions = moduleFunctions();
  if (!fnArg || fnArg === "--help") {
    console.log(`usage: npm run plan -- <function> [--arg=value ...] [--source=dir] [--fail=word]\nfunctions: ${[...functions.keys()].join(", ")}`);
    return;
  }
  const fnName = kebabToCamel(fnArg);
  const params = functions.get(fnName);
  if (!params) throw new Error(`unknown function ${fnArg}; the module has: ${[...functions.keys()].join(", ")}`);
  const flags = new Map(rest.map((a) => /^--([\w-]+)=(.*)$/s.exec(a)).filter((m): m is RegExpExecArray => !!m).map((m) => [kebabToCamel(m[1]), m[2]]));
  const source = resolve(flags.get("source") ?? GOOD);
  const fail = flags.get("fail");
  const config = flags.get("config");

  const session = await recordingSession(healthyScript({ exec: (e) => (fail && e.args.join(" ").includes(fail) ? { exitCode: 1, stderr: `(scripted failure of '${fail}')` } : undefined) }));
  let outcome = "";
  try {
    const result = await session.run(async () => {
      const ci = new ObservatoryCi(dag.host().directory(source), config ? dag.host().file(resolve(config)) : undefined);
      const args = params.map((p) => {
        const raw = flags.get(p.name);
        if (raw === undefined && !p.optional) throw new Error(`${fnArg} needs --${p.name.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}=<${p.type}>`);
        return raw === undefined ? undefined : argumentValue(p, raw);
      });
      const method = (ci as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[fnName];
      const value = await method.apply(ci, args);
      return value && typeof value === "object" && "_ctx" in value ? describeChain([]) || "(a Dagger object)" : value;
    });
    outcome = result === undefined ? "passes (returns nothing)" : `returns: ${typeof result === "string" ? result : JSON.stringify(result)}`;
  } catch (e) {
    outcome = `fails: ${(e as Error).message}`;
  } finally {
    await session.stop();
  }
  console.log(`# dagger call --source=${source} ${fnArg} (recorded, no engine)\n`);
  session.execs.forEach((e, i) => printExec(e, i + 1));
  console.log(`\n${coldPlanSummary(session.execs)}`);
  console.log(`\n${outcome}`);
}

await main();
