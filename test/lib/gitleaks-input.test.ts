/**
 * Which history gitleaks scans, and a replay of how the engine loads a Directory argument's
 * `defaultPath` for the trees callers really have (a clone, a worktree, a tree without .git, a
 * remote module's checkout), built with real git. The replay follows dagger v0.21.8 (the newest
 * 0.21 tag; v0.21.9 is cut from backport-0.21):
 * - core/schema/modulesource.go localModuleSource: the context directory is found up from the
 *   module as the nearest `.git` of ANY type (core/host.go FindUpAll stats the name), else the
 *   directory of dagger.json.
 * - core/modfunc.go loadContextualArg -> core/modulesource.go LoadContextDir/loadContextFromSource:
 *   an absolute defaultPath is joined to the context directory and loaded with host.directory,
 *   `ignore` as its exclude patterns; every contextual argument is loaded, optional or not
 *   (core/typedef.go isContextual), before the function runs.
 * - engine/filesync/filesyncer.go snapshot stats the path (a missing one fails: NotFound), and
 *   engine/client/filesync.go DiffCopy opens it with internal/fsutil/fs.go NewFS, which refuses a
 *   non-directory (ENOTDIR).
 * - internal/fsutil/filter.go: exclude patterns match a path or any of its parents, the last
 *   matching pattern wins, `!` re-includes.
 * - A git module's context is `git(url).…tree()` with tree's default depth 1 and .git kept
 *   (core/schema/modulesource.go gitModuleSource, core/schema/git.go treeArgs, core/git.go
 *   doGitCheckout `git fetch --depth=1`), replayed here with the same git commands.
 */
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { CHECKOUT_GIT_ONLY, NO_HISTORY_NOTE, gitleaksInput, shallowHistoryMessage } from "../../.dagger/src/lib/gitleaks-input";
import { ConfigError } from "../../.dagger/src/lib/errors";

// ------------------------------------------------------------------ the engine's load, replayed

function findUpContext(moduleDir: string): string {
  for (let dir = moduleDir; ; dir = dirname(dir)) {
    if (existsSync(join(dir, ".git"))) return dir;
    if (dirname(dir) === dir) return moduleDir;
  }
}

function segmentMatches(pattern: string, segment: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
  return re.test(segment);
}

/** internal/fsutil/filter.go with patternmatcher: a pattern excludes a path when it matches the path or a parent; last match wins. */
function excluded(path: string, patterns: string[]): boolean {
  const segments = path.split("/");
  let out = false;
  for (const raw of patterns) {
    const negated = raw.startsWith("!");
    const pattern = (negated ? raw.slice(1) : raw).split("/");
    const matchesSelfOrParent = segments.some(
      (_, i) => i + 1 === pattern.length && pattern.every((p, j) => segmentMatches(p, segments[j])),
    );
    if (matchesSelfOrParent) out = !negated;
  }
  return out;
}

type Loaded = { ok: true; paths: Map<string, "file" | "dir"> } | { ok: false; error: string };

/** `@argument({ defaultPath, ignore })` of a Directory, for a local module at `moduleDir`. */
function loadDefaultPath(moduleDir: string, defaultPath: string, ignore: string[] = []): Loaded {
  const path = join(findUpContext(moduleDir), defaultPath);
  if (!existsSync(path)) return { ok: false, error: `stat path: lstat ${path}: no such file or directory` };
  if (!statSync(path).isDirectory()) return { ok: false, error: `stat ${path}: not a directory` };
  return loadTree(path, ignore);
}

function loadTree(root: string, ignore: string[]): Loaded {
  const paths = new Map<string, "file" | "dir">();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      const rel = relative(root, full).split("\\").join("/");
      const isDir = lstatSync(full).isDirectory();
      if (!excluded(rel, ignore)) paths.set(rel, isDir ? "dir" : "file");
      if (isDir) walk(full);
    }
  };
  walk(root);
  return { ok: true, paths };
}

/** What security.ts asks of the loaded checkout (Directory.exists / File.contents). */
function checkoutEntry(loaded: Map<string, "file" | "dir">, root: string) {
  const gitDirectory = loaded.has(".git/HEAD");
  const gitEntry = loaded.has(".git");
  const pointer = gitEntry && loaded.get(".git") === "file" ? readFileSync(join(root, ".git"), "utf8") : undefined;
  return { gitDirectory, gitEntry, pointer };
}

// ------------------------------------------------------------------ the trees callers have

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@localhost", "-c", "init.defaultBranch=main", ...args], { cwd, stdio: "pipe" }).toString().trim();

function serviceRepository(): string {
  const dir = mkdtempSync(join(tmpdir(), "observatory-ci-repo-"));
  writeFileSync(join(dir, "dagger.json"), JSON.stringify({ name: "observatory-ci", source: ".dagger" }));
  mkdirSync(join(dir, ".dagger"));
  git(dir, "init", "-q");
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", "one");
  writeFileSync(join(dir, "README.md"), "two\n");
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", "two");
  return dir;
}

function worktreeOf(repo: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), "observatory-ci-wt-")), "feature");
  git(repo, "worktree", "add", "-q", dir);
  return dir;
}

function treeWithoutGit(): string {
  const dir = mkdtempSync(join(tmpdir(), "observatory-ci-export-"));
  writeFileSync(join(dir, "dagger.json"), JSON.stringify({ name: "observatory-ci", source: ".dagger" }));
  mkdirSync(join(dir, ".dagger"));
  return dir;
}

/** core/git.go doGitCheckout: init, fetch --depth=1 <url> <sha>:<tmpref>, checkout. */
function remoteModuleCheckout(repo: string): string {
  const dir = mkdtempSync(join(tmpdir(), "observatory-ci-remote-"));
  const sha = git(repo, "rev-parse", "HEAD");
  git(dir, "init", "-q");
  git(dir, "fetch", "-q", "-u", "--depth=1", `file://${repo}`, `${sha}:refs/dagger.tmp/x`);
  git(dir, "checkout", "-q", sha);
  return dir;
}

// ------------------------------------------------------------------ tests

describe("the engine's defaultPath load, replayed on real trees", () => {
  it("defaultPath /.git (the old default) fails before the function runs without .git or with a .git file", () => {
    const repo = serviceRepository();
    expect(loadDefaultPath(repo, "/.git").ok).toBe(true);
    const noGit = loadDefaultPath(treeWithoutGit(), "/.git");
    expect(noGit).toMatchObject({ ok: false, error: expect.stringContaining("no such file or directory") });
    const worktree = loadDefaultPath(worktreeOf(repo), "/.git");
    expect(worktree).toMatchObject({ ok: false, error: expect.stringContaining("not a directory") });
  });

  it("the checkout default (/ reduced to .git) loads for every tree and holds only .git", () => {
    const repo = serviceRepository();
    for (const dir of [repo, worktreeOf(repo), treeWithoutGit()]) {
      const loaded = loadDefaultPath(dir, "/", CHECKOUT_GIT_ONLY);
      expect(loaded.ok, dir).toBe(true);
      if (!loaded.ok) continue;
      for (const path of loaded.paths.keys()) expect(path === ".git" || path.startsWith(".git/"), path).toBe(true);
    }
  });

  it("a clone's history is scanned; a tree without .git is a working-tree scan; a worktree fails naming --git-dir", () => {
    const repo = serviceRepository();
    const clone = loadDefaultPath(repo, "/", CHECKOUT_GIT_ONLY);
    if (!clone.ok) throw new Error(clone.error);
    expect(gitleaksInput(false, checkoutEntry(clone.paths, repo))).toEqual({ mode: "git", origin: "checkout" });

    const exported = treeWithoutGit();
    const none = loadDefaultPath(exported, "/", CHECKOUT_GIT_ONLY);
    if (!none.ok) throw new Error(none.error);
    expect(gitleaksInput(false, checkoutEntry(none.paths, exported))).toEqual({ mode: "dir", note: NO_HISTORY_NOTE });

    const wt = worktreeOf(repo);
    const file = loadDefaultPath(wt, "/", CHECKOUT_GIT_ONLY);
    if (!file.ok) throw new Error(file.error);
    expect(file.paths.get(".git")).toBe("file");
    const entry = checkoutEntry(file.paths, wt);
    expect(() => gitleaksInput(false, entry)).toThrow(ConfigError);
    expect(() => gitleaksInput(false, entry)).toThrow(/--git-dir="\$\(git rev-parse --git-common-dir\)"/);
    expect(() => gitleaksInput(false, entry)).toThrow(`${realpathSync(repo)}/.git/worktrees/feature`);
    // what the error tells the user to pass is the history of every branch: gitleaks 8.21.2 runs
    // `git log -p -U0 --full-history --all` (sources/git.go), and the common dir holds every ref
    const common = git(wt, "rev-parse", "--path-format=absolute", "--git-common-dir");
    expect(common).toBe(join(realpathSync(repo), ".git"));
  });

  it("a remote module's context .git is the module's own shallow checkout: refused, naming --git-dir", () => {
    const checkout = remoteModuleCheckout(serviceRepository());
    const loaded = loadTree(checkout, CHECKOUT_GIT_ONLY);
    if (!loaded.ok) throw new Error(loaded.error);
    expect(gitleaksInput(false, checkoutEntry(loaded.paths, checkout))).toEqual({ mode: "git", origin: "checkout" });
    expect(loaded.paths.has(".git/shallow")).toBe(true); // what security.ts tests before any container
    expect(shallowHistoryMessage("checkout")).toMatch(/dagger -m github\.com\/.*--git-dir=\.git/);
  });
});

describe("gitleaksInput", () => {
  it("an explicit --git-dir wins over whatever the checkout holds", () => {
    expect(gitleaksInput(true, { gitDirectory: false, gitEntry: true, pointer: "gitdir: /x" })).toEqual({ mode: "git", origin: "--git-dir" });
    expect(gitleaksInput(true, undefined)).toEqual({ mode: "git", origin: "--git-dir" });
  });

  it("no checkout and no --git-dir is a working-tree scan", () => {
    expect(gitleaksInput(false, undefined)).toEqual({ mode: "dir", note: "no git history: scanned the working tree" });
  });

  it("names the function that failed", () => {
    expect(() => gitleaksInput(false, { gitDirectory: false, gitEntry: true }, "securityReports")).toThrow(/^securityReports --git-dir: is needed: \.git in the caller's checkout is a file, as in/);
  });

  it("the shallow message names --git-dir for the default history, not for an explicit one", () => {
    expect(shallowHistoryMessage("--git-dir")).toContain("fetch-depth: 0");
    expect(shallowHistoryMessage("--git-dir")).not.toContain("dagger -m");
    expect(shallowHistoryMessage("checkout")).toContain("fetch-depth: 0");
  });
});
