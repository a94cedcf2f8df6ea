/**
 * What gitleaks scans: the git history (`gitleaks git`) or the working tree (`gitleaks dir`).
 *
 * The history reaches the module in one of two ways. `--git-dir` is a `.git` directory the caller
 * names. Without it, the `checkout` argument is the module's context directory filtered down to
 * its `.git` entry: its default path is the context root, which always exists, so the argument
 * always loads. A default path of `/.git` itself would fail the call before the function runs
 * whenever `.git` is missing or is a file (dagger v0.21.8 core/modfunc.go loadContextualArg ->
 * core/modulesource.go LoadContextDir -> host.directory, whose internal/fsutil/fs.go NewFS
 * refuses a missing path and a non-directory).
 */
import { UsageError } from "./errors";

/**
 * `ignore` of the `checkout` argument: everything but `.git` (a directory with its contents, or
 * the file of a worktree or submodule). The patterns match the last-wins, parent-aware way of
 * dagger v0.21.8 internal/fsutil/filter.go (the v0.21 docs' `["*", "!analytics"]` example).
 */
export const CHECKOUT_GIT_ONLY = ["*", "!.git"];

/** What the filtered checkout holds. */
export interface CheckoutGitEntry {
  /** `.git/HEAD` exists: `.git` is a repository's git directory. */
  gitDirectory: boolean;
  /** `.git` exists at all (a directory, or a file). */
  gitEntry: boolean;
  /** The contents of `.git` when it is a file ("gitdir: <path>"). */
  pointer?: string;
}

export type HistoryOrigin = "--git-dir" | "checkout";

export type GitleaksInput =
  | { mode: "git"; origin: HistoryOrigin }
  | { mode: "dir"; note: string };

/** The summary note of a working-tree scan. */
export const NO_HISTORY_NOTE = "no git history: scanned the working tree";

const WORKTREE_HINT = 'the repository\'s git directory (in a worktree or submodule: --git-dir="$(git rev-parse --git-common-dir)")';

/**
 * Chooses the scan. An explicit `--git-dir` wins. A `.git` directory in the checkout is the
 * history. No `.git` at all (a tarball, an exported tree) is a working-tree scan, said so in the
 * summary. A `.git` FILE (git worktree, submodule) means a history exists that the module cannot
 * load from the context: scanning only the working tree would silently drop it, so it is an error
 * that names `--git-dir`.
 */
export function gitleaksInput(explicitGitDir: boolean, checkout: CheckoutGitEntry | undefined, fn = "gitleaks"): GitleaksInput {
  if (explicitGitDir) return { mode: "git", origin: "--git-dir" };
  if (checkout?.gitDirectory) return { mode: "git", origin: "checkout" };
  if (checkout?.gitEntry) {
    const points = checkout.pointer?.trim() ? ` (it points to ${JSON.stringify(checkout.pointer.trim())})` : "";
    throw new UsageError({
      fn,
      flag: "--git-dir",
      problem: `is needed: .git in the caller's checkout is a file${points}, as in a git worktree or submodule, so its history cannot be loaded from there`,
      expected: WORKTREE_HINT,
    });
  }
  return { mode: "dir", note: NO_HISTORY_NOTE };
}

/** The error for a git directory without HEAD: only an explicit `--git-dir` can be one. */
export function notAGitDir(fn = "gitleaks"): UsageError {
  return new UsageError({ fn, flag: "--git-dir", problem: "has no HEAD: it is not a repository's .git directory", expected: "a .git directory, e.g. --git-dir=.git" });
}

/**
 * Why a shallow history is refused, and what to do. The default history is the module's context:
 * for a module called remotely (`dagger -m github.com/...`) that is the engine's depth-1 checkout
 * of the module's own repository (dagger v0.21.8 core/schema/modulesource.go gitModuleSource:
 * `tree` with its default depth 1, .git kept; core/git.go doGitCheckout `fetch --depth=1`),
 * never the caller's history.
 */
export function shallowHistoryMessage(origin: HistoryOrigin): string {
  const clone =
    "a history scan would silently miss older commits. " +
    "Clone the full history (actions/checkout with `fetch-depth: 0`, or `git fetch --unshallow`) and run again";
  if (origin === "--git-dir") return `the repository is a shallow clone (.git/shallow exists in --git-dir): ${clone}.`;
  return (
    `the repository is a shallow clone (.git/shallow exists in the module's context directory): ${clone}. ` +
    "When the module is called remotely (dagger -m github.com/...), that history is the module repository's own " +
    "depth-1 checkout, not yours: pass your history with --git-dir=.git."
  );
}
