/**
 * The command-line flags the module sends, read from recorded plans: every exec's argv, and for
 * `sh -euc <script>` execs every command line of the script (with `"$@"` expanded to the exec's
 * positional arguments, `$(...)` substitutions read as commands of their own, `[ ... ]` as `test`, and
 * `$name` expanded to every value the script assigns to `name`), and for scanners both the module's
 * crash wrapper script and the command it wraps. Each flag is attributed to the command that parses it:
 * `cargo test`, `cargo test --` for the test harness; for the tools whose flags are per subcommand
 * (SUBCOMMANDS), the subcommand path: `kubectl get`, `kubectl rollout` (status and undo), `gh release create`,
 * `cosign verify`, `k6 run`. kubectl's global flags (`-n` before the verb) count for the verb.
 */
import { posix } from "node:path";
import type { ExecView } from "./recording-session";
import { isScanExec, toolArgs } from "./scan-wrapper";

export interface RecordedFlag {
  tool: string;
  flag: string;
}

const FLAG = /^(--?[A-Za-z][A-Za-z0-9-]*)(=.*)?$/;
const SHELL_WORDS = new Set(["if", "!", "while", "then", "else", "elif", "fi", "exec", "do", "done", "set", "export", "unset", "umask"]);
/** How many subcommand words name the command that parses the flags. */
const SUBCOMMANDS: Record<string, number> = { kubectl: 1, gh: 2, cosign: 1, k6: 1, crane: 1 };
/** kubectl global flags that take a value when written before the verb (k8s.io/cli-runtime genericclioptions). */
const KUBECTL_VALUE_FLAGS = new Set(["-n", "--namespace", "--context", "--kubeconfig"]);

type Vars = Map<string, string[]>;

function flagsOf(tool: string, words: string[]): RecordedFlag[] {
  return words.flatMap((w) => {
    const m = FLAG.exec(w.replace(/^["']|["']$/g, ""));
    return m ? [{ tool, flag: m[1]! }] : [];
  });
}

/** `cargo <sub> <flags> -- <harness flags>` -> flags of `cargo <sub>` and of `cargo <sub> --`. */
function cargoFlags(args: string[]): RecordedFlag[] {
  const sub = args.find((a) => !a.startsWith("-")) ?? "";
  const split = args.indexOf("--");
  const own = split === -1 ? args : args.slice(0, split);
  const passed = split === -1 ? [] : args.slice(split + 1);
  return [...flagsOf(`cargo ${sub}`, own), ...flagsOf(`cargo ${sub} --`, passed)];
}

/** `tool [global flags] sub1 .. subN <flags and operands>` -> flags of `tool sub1 .. subN`. */
function subcommandFlags(tool: string, depth: number, args: string[]): RecordedFlag[] {
  const path: string[] = [];
  const flags: string[] = [];
  let i = 0;
  for (; i < args.length && path.length < depth; i++) {
    const word = args[i]!;
    if (word.startsWith("-")) {
      flags.push(word);
      if (tool === "kubectl" && KUBECTL_VALUE_FLAGS.has(word)) i++;
      continue;
    }
    path.push(word);
  }
  return flagsOf([tool, ...path].join(" "), [...flags, ...args.slice(i)]);
}

function commandFlags(words: string[]): RecordedFlag[] {
  while (words.length && SHELL_WORDS.has(words[0]!)) words = words.slice(1);
  let [command, ...rest] = words;
  if (command === "[") {
    command = "test";
    if (rest.at(-1) === "]") rest = rest.slice(0, -1);
  }
  if (!command || command.includes("=") || /^["'$]/.test(command)) return [];
  const tool = posix.basename(command);
  if (tool === "cargo") return cargoFlags(rest);
  if (SUBCOMMANDS[tool] !== undefined) return subcommandFlags(tool, SUBCOMMANDS[tool], rest);
  if (tool === "find" && rest.includes("-exec")) {
    // find ... -exec COMMAND ... {} +
    const at = rest.indexOf("-exec");
    const end = rest.indexOf("{}", at);
    return [...flagsOf("find", rest.slice(0, at + 1)), ...commandFlags(rest.slice(at + 1, end === -1 ? undefined : end))];
  }
  if (tool === "timeout") {
    // timeout [flags] DURATION command...
    const at = rest.findIndex((w) => !w.startsWith("-"));
    return [...flagsOf("timeout", rest.slice(0, at)), ...commandFlags(rest.slice(at + 1))];
  }
  return flagsOf(tool, rest);
}

/** Every `name=value` (or `name="value"`) the script assigns, by name. */
function assignments(script: string): Vars {
  const vars: Vars = new Map();
  for (const m of script.matchAll(/(?:^|[\s;])([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|[^\s;"'$()]*)(?=[\s;]|$)/gm)) {
    const value = m[2]!.replace(/^["']|["']$/g, "");
    vars.set(m[1]!, [...(vars.get(m[1]!) ?? []), value]);
  }
  return vars;
}

/** The command lines of a shell script, with `$(...)` substitutions as lines of their own. */
function scriptCommands(script: string, positional: string[], vars: Vars): string[][] {
  const substitutions: string[] = [];
  let text = script;
  for (let inner = /\$\(([^()]*)\)/; inner.test(text); ) {
    text = text.replace(inner, (_, body: string) => {
      substitutions.push(body);
      return "$SUBSTITUTION";
    });
  }
  const lines = [text, ...substitutions].flatMap((part) => part.split(/\n|;|\|\||&&|\|/));
  return lines.map((line) =>
    line
      .trim()
      .split(/\s+/)
      .flatMap((w) => {
        if (w === '"$@"') return positional;
        const variable = /^"?\$([A-Za-z_][A-Za-z0-9_]*)"?$/.exec(w)?.[1];
        const values = variable === undefined ? undefined : vars.get(variable);
        return values ? values.flatMap((v) => v.split(/\s+/)).filter((v) => v !== "") : [w];
      }),
  );
}

function shellFlags(argv: string[]): RecordedFlag[] | undefined {
  const [command, option, script, , ...positional] = argv;
  if (!(command === "sh" || command === "/busybox/sh") || !option?.startsWith("-") || script === undefined) return undefined;
  const vars = assignments(script);
  return [...flagsOf("sh", [option]), ...scriptCommands(script, positional, vars).flatMap(commandFlags)];
}

export function recordedFlags(execs: ExecView[]): RecordedFlag[] {
  const found: RecordedFlag[] = [];
  for (const e of execs) {
    if (isScanExec(e.args)) {
      // the module's crash wrapper (its own utilities; `"$@"` is the scanner, read below)
      found.push(...shellFlags(e.args.slice(0, 3))!);
    }
    const argv = toolArgs(e);
    found.push(...(shellFlags(argv) ?? commandFlags(argv)));
  }
  const unique = new Map(found.map((f) => [`${f.tool} ${f.flag}`, f]));
  return [...unique.values()].sort((a, b) => `${a.tool} ${a.flag}`.localeCompare(`${b.tool} ${b.flag}`));
}
