/**
 * Runs the module's scanner wrapper (lib/scanner-exit.ts) for real, under a local POSIX shell, with a
 * stub in place of the scanner: the stub prints the scripted stdout/stderr, writes the scripted report
 * at a temporary path standing for the report path, and exits with the scripted code. Session tests
 * script what the TOOL did; the exec's result is what the wrapper really makes of it.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SCAN_WRAPPER, SCAN_WRAPPER_ARGC } from "../../.dagger/src/lib/scanner-exit";
import type { ExecResult, ExecView, Script } from "./recording-session";

export interface ToolRun {
  exitCode?: number;
  stdout?: string;
  stderr?: string;
}

const STUB = 'printf %s "$STUB_OUT"; printf %s "$STUB_ERR" >&2; [ -z "$STUB_WRITE" ] || printf %s "$STUB_REPORT" >"$STUB_REPORT_PATH"; exit "$STUB_CODE"';

const results = new Map<string, ExecResult>();

/** True for an exec that runs a scanner under the wrapper. */
export function isScanExec(args: readonly string[]): boolean {
  return args[0] === "sh" && args[1] === "-c" && args[2] === SCAN_WRAPPER;
}

/** The scanner's own command line of a wrapped exec (the exec's args otherwise). */
export function toolArgs(e: { args: string[] }): string[] {
  return isScanExec(e.args) ? e.args.slice(SCAN_WRAPPER_ARGC) : e.args;
}

/**
 * The wrapper's result for a tool run. `report` is the file the tool wrote at the wrapper's report path
 * (undefined: none); for a report on stdout or stderr it is the tool's output itself.
 */
export function runScanWrapper(args: readonly string[], tool: ToolRun, report: string | undefined, shell = "sh"): Required<Pick<ExecResult, "exitCode" | "stdout" | "stderr">> {
  if (!isScanExec(args)) throw new Error(`not a wrapped scanner exec: ${args.join(" ")}`);
  const key = JSON.stringify([args, tool, report, shell]);
  const cached = results.get(key);
  if (cached) return cached as Required<Pick<ExecResult, "exitCode" | "stdout" | "stderr">>;
  const dir = mkdtempSync(join(tmpdir(), "observatory-ci-scan-"));
  try {
    const reportArg = args[7]!;
    const reportPath = reportArg.startsWith("/") ? join(dir, "report") : reportArg;
    const params = [...args.slice(3, 7), reportPath, ...args.slice(8, SCAN_WRAPPER_ARGC)];
    const run = spawnSync(shell, ["-c", SCAN_WRAPPER, ...params, "sh", "-c", STUB], {
      encoding: "utf8",
      // stdin not a socket: bash would take itself for a remote shell and read ~/.bashrc
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        TMPDIR: dir,
        STUB_OUT: tool.stdout ?? "",
        STUB_ERR: tool.stderr ?? "",
        STUB_WRITE: report === undefined ? "" : "yes",
        STUB_REPORT: report ?? "",
        STUB_REPORT_PATH: reportPath,
        STUB_CODE: String(tool.exitCode ?? 0),
      },
    });
    if (run.error) throw run.error;
    // the wrapper names the report path it was given: map the stand-in back to the exec's path
    const named = (text: string) => text.split(reportPath).join(reportArg);
    const result = { exitCode: run.status ?? 128, stdout: named(run.stdout), stderr: named(run.stderr) };
    results.set(key, result);
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A session script in which the inner script answers for the scanner (it sees the tool's own command
 * line) and the wrapper really runs on that answer; the report comes from the inner script's files.
 */
export function withScanWrapper(script: Script): Script {
  return {
    ...script,
    exec: (e: ExecView) => {
      if (!isScanExec(e.args)) return script.exec?.(e);
      const tool = script.exec?.({ ...e, args: toolArgs(e) }) ?? {};
      const reportArg = e.args[7]!;
      const report = reportArg.startsWith("/") ? script.file?.(reportArg, e, e.chain) : undefined;
      return { ...runScanWrapper(e.args, tool, report), delayMs: tool.delayMs };
    },
  };
}
