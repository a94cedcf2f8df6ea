/** What a failed `cargo clippy -- -D warnings` run reports on stderr: the lints and how many diagnostics. */

export interface ClippyDiagnostics {
  /** Lint names as clippy prints them in the note (`clippy::needless-return`), first seen first. */
  lints: string[];
  /** Diagnostics clippy denied; cargo's own "could not compile" summary lines are not counted. */
  errors: number;
}

/**
 * Clippy 0.1.95 names a lint denied through `-D warnings` in the note
 * "`-D clippy::needless-return` implied by `-D warnings`" and a lint denied by default in
 * "`#[deny(clippy::x)]` on by default"; `-D warnings` itself is the switch, not a lint.
 * Cargo 0.96 closes each failed target with "error: could not compile `crate` (target) due to N
 * previous error(s)", once per target (lib and lib test share the same diagnostics).
 */
export function clippyDiagnostics(stderr: string): ClippyDiagnostics {
  const lints: string[] = [];
  for (const m of stderr.matchAll(/`-D ([\w:-]+)` implied by `-D warnings`|`#\[deny\(([\w:-]+)\)\]` on by default/g)) {
    const lint = m[1] ?? m[2];
    if (!lints.includes(lint)) lints.push(lint);
  }
  const errors = stderr.split("\n").filter((line) => /^error(?:\[\w+\])?: /.test(line) && !/^error: (could not compile|aborting due to)/.test(line)).length;
  return { lints, errors };
}
