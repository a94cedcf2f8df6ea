/**
 * The command-line flags the module sends, read from recorded plans: every exec's argv, and for
 * `sh -euc <script>` execs every command line of the script (with `"$@"` expanded), and for scanners
 * the command inside the module's crash wrapper. Each flag is attributed to the tool
 * that receives it (`cargo test`, `cargo test --` for the test harness, `trivy`, `timeout`...).
 */
import { posix } from "node:path";
import type { ExecView } from "./recording-session";
import { toolArgs } from "./scan-wrapper";

export interface RecordedFlag {
  tool: string;
  flag: string;
}

const FLAG = /^(--?[A-Za-z][A-Za-z0-9-]*)(=.*)?$/;
const SHELL_WORDS = new Set(["if", "!", "then", "else", "fi", "exec", "do", "done", "set", "export", "unset", "umask"]);

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

function commandFlags(words: string[]): RecordedFlag[] {
  while (words.length && SHELL_WORDS.has(words[0]!)) words = words.slice(1);
  const [command, ...rest] = words;
  if (!command || command.includes("=") || command.startsWith("$") || command.startsWith("[")) return [];
  const tool = posix.basename(command);
  if (tool === "cargo") return cargoFlags(rest);
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

export function recordedFlags(execs: ExecView[]): RecordedFlag[] {
  const found: RecordedFlag[] = [];
  for (const e of execs) {
    // a scanner runs under the module's crash wrapper: its flags are those of the command it wraps
    const argv = toolArgs(e);
    const [command, ...args] = argv;
    if ((command === "sh" || command === "/busybox/sh") && args[0]?.startsWith("-")) {
      found.push(...flagsOf("sh", [args[0]]));
      const script = args[1] ?? "";
      // positional parameters: `exec trivy "$@"` receives the argv after $0 (args[2])
      const positional = args.slice(3);
      for (const line of script.split(/\n|;|\|\||&&|\|/)) {
        const words = line.trim().split(/\s+/).flatMap((w) => (w === '"$@"' ? positional : [w]));
        found.push(...commandFlags(words));
      }
      continue;
    }
    found.push(...commandFlags(argv));
  }
  const unique = new Map(found.map((f) => [`${f.tool} ${f.flag}`, f]));
  return [...unique.values()].sort((a, b) => `${a.tool} ${a.flag}`.localeCompare(`${b.tool} ${b.flag}`));
}
