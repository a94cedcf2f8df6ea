/** Running a tool whose exit status the module interprets itself. */
import { ReturnType, type Container } from "@dagger.io/dagger";
import { isExecFailure, type ExecFailure } from "./lib/errors";

export interface ExecOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `args` with `expect: ANY`, so a non-zero exit is data rather than an exception: the gate
 * decides what it means and can still read the reports the tool wrote. The engine caches such an
 * exec whatever its exit code, so scanners use scan.ts's `runScanner` instead, whose crash fails the exec.
 */
export function runAllowingFailure(container: Container, args: string[]): Container {
  return container.withExec(args, { expect: ReturnType.Any });
}

export async function outcomeOf(ran: Container): Promise<ExecOutcome> {
  const [exitCode, stdout, stderr] = await Promise.all([ran.exitCode(), ran.stdout(), ran.stderr()]);
  return { exitCode, stdout, stderr };
}

/**
 * The outcome of an exec that fails only for a crash (a wrapped scanner, a classified cargo run): the
 * engine does not cache a failed exec, and `crash` turns it into the gate's error.
 */
export async function outcomeUnlessCrashed(ran: Container, crash: (failure: ExecFailure) => Error): Promise<ExecOutcome> {
  try {
    return await outcomeOf(ran);
  } catch (e) {
    if (!isExecFailure(e)) throw e;
    throw crash(e);
  }
}

/** An env var whose value changes every call: an exec that must really run again (a poll, a push). */
export function withRunNonce(container: Container): Container {
  return container.withEnvVariable("OBSERVATORY_CI_RUN", `${Date.now()}-${Math.random().toString(36).slice(2, 10)}`);
}
