/**
 * Secrets in a process's command line inside a container. The query-level canary cannot see this:
 * `sh -c 'curl -H "Authorization: Bearer $TOKEN" ...'` with TOKEN a secret variable sends no secret
 * in any query, yet the shell expands it into curl's argv at run time, where `ps` and
 * /proc/<pid>/cmdline show it. Each recorded exec is checked for (1) a canary value in its argv and
 * (2) a shell script (`sh -c`) that expands a secret variable in the arguments of a program the shell
 * starts. Shell builtins (printf, [, test, echo, ...) run inside the shell and start no process.
 */

export interface ExecLike {
  args: string[];
  secretEnv: Record<string, string>;
}

const SHELLS = new Set(["sh", "bash", "ash", "dash", "/bin/sh", "/bin/bash", "/busybox/sh"]);

/** Builtins of busybox ash and dash (printf, test/[ and echo included): they start no process. */
const BUILTINS = new Set(["printf", "echo", "[", "test", "export", "unset", "read", "local", "set", ":", "true", "false", "cd", "umask", "return", "exit", "shift", "eval"]);

/** Words that start a compound command or prefix the real command. */
const PREFIXES = new Set(["if", "then", "else", "elif", "do", "while", "until", "!", "exec", "command", "{", "fi", "done", "}"]);

/** The `-c` script of a shell exec, or undefined. */
export function shellScript(args: string[]): string | undefined {
  if (!SHELLS.has(args[0])) return undefined;
  const flag = args.findIndex((arg, i) => i > 0 && /^-[a-z]*c[a-z]*$/.test(arg));
  return flag > 0 ? args[flag + 1] : undefined;
}

/** Simple commands of a script, roughly: split at newlines, `;`, `&&`, `||`, `|` and command substitutions. */
function simpleCommands(script: string): string[] {
  return script
    .split(/\n|;|&&|\|\||\||\$\(|`|\(|\)/)
    .map((segment) => segment.trim())
    .filter(Boolean);
}

/** The program a simple command starts (after prefixes and variable assignments), or undefined. */
function commandWord(command: string): string | undefined {
  const words = command.split(/\s+/);
  let i = 0;
  while (i < words.length && (PREFIXES.has(words[i]) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]))) i++;
  return words[i];
}

/** Names of secret variables a script expands into the argv of a program it starts. */
export function secretsExpandedIntoArgv(script: string, secretVariables: string[]): { variable: string; command: string }[] {
  const found: { variable: string; command: string }[] = [];
  for (const command of simpleCommands(script)) {
    const word = commandWord(command);
    if (word === undefined || BUILTINS.has(word)) continue;
    for (const variable of secretVariables) {
      if (new RegExp(`\\$\\{?${variable}(?![A-Za-z0-9_])`).test(command)) found.push({ variable, command });
    }
  }
  return found;
}

/** Problems in the recorded execs: a secret's value in an argv, or a secret variable a shell expands into one. */
export function secretArgvLeaks(execs: ExecLike[], secretValues: string[]): string[] {
  const problems: string[] = [];
  for (const exec of execs) {
    const line = exec.args.join(" ").slice(0, 200);
    for (const value of secretValues) {
      if (exec.args.some((arg) => arg.includes(value))) problems.push(`a secret value in the argv of: ${line}`);
    }
    const script = shellScript(exec.args);
    if (script === undefined) continue;
    for (const { variable, command } of secretsExpandedIntoArgv(script, Object.keys(exec.secretEnv))) {
      problems.push(`secret variable ${variable} expanded into the argv of \`${command.slice(0, 160)}\` (exec: ${line})`);
    }
  }
  return problems;
}
