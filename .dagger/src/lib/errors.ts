/** A gate that ran and said no: the message is what the user needs to fix it. */
export class GateFailure extends Error {
  constructor(
    readonly gate: string,
    /** What went wrong, without the gate's name: a headline line, then tool output (or Markdown). */
    readonly detail: string,
    /** The key figure of the failed run (e.g. "85.0 % < 90 %"), shown in the ci summary. */
    readonly figure?: string,
    /** `markdown` when `detail` is Markdown (a findings report), shown as such in a job summary; else plain tool output. */
    readonly format: "text" | "markdown" = "text",
  ) {
    super(`${gate}: ${detail}`);
    this.name = "GateFailure";
  }
}

/** Invalid input (configuration, arguments) found before any container starts. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export interface UsageProblem {
  /** The module function, as `dagger call` names it in camelCase (`deployProduction`). */
  fn: string;
  /** The argument, as the CLI spells it (`--registry-username`). */
  flag: string;
  problem: string;
  /** The value given; leave it out for secrets. */
  found?: string;
  expected?: string;
}

/** `function --flag: problem (found "value"; expected ...)`. */
export function usageMessage({ fn, flag, problem, found, expected }: UsageProblem): string {
  const facts = [found !== undefined ? `found ${JSON.stringify(found)}` : "", expected ? `expected ${expected}` : ""].filter(Boolean);
  return `${fn} ${flag}: ${problem}${facts.length ? ` (${facts.join("; ")})` : ""}`;
}

/**
 * Bad arguments, found before anything was started: callers never roll back on it, there is nothing to
 * undo, and `ci` shows it as a usage error, not as a failed gate. The message has one line per bad argument,
 * each `function --flag: problem (found "value"; expected ...)`, so every mistake is named at once.
 */
export class UsageError extends ConfigError {
  readonly fn: string;
  /** The first bad argument's flag. */
  readonly flag: string;
  readonly problems: readonly UsageProblem[];
  constructor(problems: UsageProblem | readonly UsageProblem[]) {
    const all = Array.isArray(problems) ? (problems as readonly UsageProblem[]) : [problems as UsageProblem];
    if (all.length === 0) throw new Error("UsageError needs at least one problem");
    super(all.map(usageMessage).join("\n"));
    this.name = "UsageError";
    this.problems = all;
    this.fn = all[0]!.fn;
    this.flag = all[0]!.flag;
  }
}

/** `registryUsername` -> `--registry-username`. */
export function flagName(argument: string): string {
  return `--${argument.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * The shape of the SDK's ExecError. Inside the engine the bundled SDK does not export the class
 * (dagger v0.21.8 sdk/typescript/runtime/tsutils/module/index.ts lists what it exports; the
 * registration test loads the module on that layout), so a failed exec is recognised by its
 * fields, not by `instanceof`.
 */
export interface ExecFailure {
  message: string;
  exitCode: number;
  stdout: string;
  stderr: string;
}

export function isExecFailure(e: unknown): e is ExecFailure {
  return (
    typeof e === "object" &&
    e !== null &&
    typeof (e as ExecFailure).exitCode === "number" &&
    typeof (e as ExecFailure).stdout === "string" &&
    typeof (e as ExecFailure).stderr === "string"
  );
}

/** The last `lines` lines of a tool's output, for an error message that stays readable. */
export function tail(text: string, lines = 40): string {
  const all = text.trimEnd().split("\n");
  const kept = all.slice(-lines).join("\n");
  return all.length > lines ? `[... ${all.length - lines} earlier lines omitted]\n${kept}` : kept;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
