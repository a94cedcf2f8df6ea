/**
 * The Cargo workspace as the gates will meet it: the lockfile every `--locked` run needs, the paths the
 * config names, and git dependencies that follow a branch.
 */
import type { DoctorFinding, SourceSnapshot } from "./model";
import { hasDirectory, hasFile, ok, under } from "./model";

/** Gates that run cargo with `--locked` (or read Cargo.lock directly: cargo audit --file Cargo.lock). */
const LOCKED_GATES = ["clippy", "doc", "unitTest", "integrationTest", "audit", "deny"];

/** Whether a .gitignore line ignores `path` (relative to the .gitignore's folder). Last match wins, `!` re-includes. */
function gitIgnores(gitignore: string, path: string): string | undefined {
  let ignoredBy: string | undefined;
  for (const raw of gitignore.replace(/^\uFEFF/, "").split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const negated = line.startsWith("!");
    const pattern = (negated ? line.slice(1) : line).replace(/\/$/, "");
    const anchored = pattern.includes("/");
    const regex = new RegExp(`^${pattern.replace(/^\//, "").replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*\*\/?/g, "\u0000").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]").replace(/\u0000/g, "(?:.*/)?")}$`);
    const candidates = anchored ? [path] : [path, ...path.split("/")];
    if (candidates.some((c) => regex.test(c))) ignoredBy = negated ? undefined : line;
  }
  return ignoredBy;
}

export function checkLockfile(source: SourceSnapshot, workspace: string, dockerfilePath: string): DoctorFinding[] {
  const check = "lockfile";
  const lockfile = under(workspace, "Cargo.lock");
  const dockerfile = source.read(dockerfilePath) ?? "";
  const broken = [...LOCKED_GATES.map((g) => `${g} (--locked)`), ...(/Cargo\.lock/.test(dockerfile) ? [`the image build (${dockerfilePath} copies Cargo.lock)`] : [])];
  const ignoring = [".gitignore", under(workspace, ".gitignore")]
    .filter((file, i, all) => all.indexOf(file) === i)
    .map((file) => {
      const text = source.read(file);
      const relative = file === ".gitignore" ? lockfile : "Cargo.lock";
      const pattern = text === undefined ? undefined : gitIgnores(text, relative);
      return pattern ? `${file} ignores it ("${pattern}")` : undefined;
    })
    .filter((x): x is string => x !== undefined);
  if (!hasFile(source, lockfile)) {
    return [{
      check,
      verdict: "blocker",
      found: `${lockfile} is missing${ignoring.length ? `, and ${ignoring.join("; ")}` : ""}: cargo refuses to create it under --locked, so these fail: ${broken.join(", ")}`,
      fix: `run \`cargo generate-lockfile\` (or any cargo build) in ${workspace}, ${ignoring.length ? "remove Cargo.lock from .gitignore, " : ""}and commit ${lockfile}`,
    }];
  }
  if (ignoring.length) {
    return [{
      check,
      verdict: "blocker",
      found: `${lockfile} is here but ${ignoring.join("; ")}: a fresh clone in CI has no lockfile, so these fail: ${broken.join(", ")}`,
      fix: `remove the pattern from .gitignore and commit ${lockfile} (\`git add -f ${lockfile}\`)`,
    }];
  }
  return [ok(check, `${lockfile} is present and not ignored`)];
}

/** Values of `key = [ ... ]` arrays, possibly over several lines (no nested arrays). */
function tomlArray(text: string, key: string): string[] | undefined {
  const m = new RegExp(`^\\s*${key}\\s*=\\s*\\[([^\\]]*)\\]`, "m").exec(text);
  return m ? [...m[1]!.matchAll(/"([^"]*)"/g)].map((x) => x[1]!) : undefined;
}

/** `[package] name` of a manifest. */
export function packageName(manifest: string): string | undefined {
  const section = /^\s*\[package\]([\s\S]*?)(?=^\s*\[|$(?![\s\S]))/m.exec(manifest);
  return section ? /^\s*name\s*=\s*"([^"]+)"/m.exec(section[1]!)?.[1] : undefined;
}

/** The workspace members' folders (globs like `crates/*` expanded over the source's manifests). */
export function workspaceMembers(source: SourceSnapshot, workspace: string): string[] {
  const manifest = source.read(under(workspace, "Cargo.toml")) ?? "";
  const patterns = tomlArray(manifest.split(/^\s*\[workspace\]/m)[1] ?? "", "members") ?? [];
  const manifests = source.paths.filter((p) => p.endsWith("/Cargo.toml")).map((p) => p.slice(0, -"/Cargo.toml".length));
  const base = workspace === "." ? "" : `${workspace}/`;
  return patterns.flatMap((pattern) => {
    const regex = new RegExp(`^${(base + pattern).replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")}$`);
    return manifests.filter((dir) => regex.test(dir));
  });
}

export interface ConfiguredPaths {
  workspace: string;
  service: string;
  package: string;
  migrations: string;
}

/** The resolved paths, each with whether it exists; the service must be a workspace member whose package is paths.package. */
export function checkPaths(source: SourceSnapshot, paths: ConfiguredPaths): DoctorFinding[] {
  const check = "paths";
  const findings: DoctorFinding[] = [];
  const rootManifest = under(paths.workspace, "Cargo.toml");
  const described = [
    `workspace ${paths.workspace} (${hasFile(source, rootManifest) ? "Cargo.toml found" : "NO Cargo.toml"})`,
    `service ${paths.service} (${hasDirectory(source, paths.service) ? "exists" : "MISSING"})`,
    `package ${paths.package}`,
    `migrations ${paths.migrations} (${hasDirectory(source, paths.migrations) ? "exists" : "MISSING"})`,
  ].join("; ");
  if (!hasFile(source, rootManifest)) {
    findings.push({ check, verdict: "blocker", found: `paths.workspace = "${paths.workspace}": ${rootManifest} does not exist`, fix: "set paths.workspace to the folder holding the workspace's Cargo.toml" });
  }
  const serviceManifest = source.read(under(paths.service, "Cargo.toml"));
  if (serviceManifest === undefined) {
    findings.push({ check, verdict: "blocker", found: `paths.service = "${paths.service}": no Cargo.toml there`, fix: "set paths.service to the service crate's folder (e.g. services/analytics-api)" });
  } else {
    const name = packageName(serviceManifest);
    if (name !== paths.package) {
      findings.push({ check, verdict: "blocker", found: `paths.package = "${paths.package}" but ${paths.service}/Cargo.toml names the package ${JSON.stringify(name ?? "(none)")}`, fix: `set paths.package to "${name ?? "the [package] name"}"` });
    }
    const members = workspaceMembers(source, paths.workspace);
    if (hasFile(source, rootManifest) && members.length && !members.includes(paths.service) && paths.service !== paths.workspace) {
      findings.push({ check, verdict: "blocker", found: `${paths.service} is not a member of the workspace ${rootManifest} (members: ${members.join(", ")})`, fix: `add "${paths.service}" to [workspace] members, or fix paths.service` });
    }
  }
  if (!findings.length) return [ok(check, `resolved: ${described}`)];
  return findings.map((f, i) => (i === 0 ? { ...f, found: `${f.found} (resolved: ${described})` } : f));
}

/** Git dependencies in every manifest that follow a branch (or the default branch) instead of a rev or tag. */
export function checkGitDependencies(source: SourceSnapshot): DoctorFinding[] {
  const check = "dependencies";
  const findings: DoctorFinding[] = [];
  for (const path of source.paths.filter((p) => p === "Cargo.toml" || p.endsWith("/Cargo.toml"))) {
    const text = source.read(path);
    if (text === undefined) continue;
    const specs: { name: string; body: string }[] = [];
    for (const m of text.matchAll(/^\s*([\w-]+)\s*=\s*\{([^}]*\bgit\s*=[^}]*)\}/gm)) specs.push({ name: m[1]!, body: m[2]! });
    for (const m of text.matchAll(/^\s*\[(?:[\w.-]*\.)?(?:dev-|build-)?dependencies\.([\w-]+)\]([\s\S]*?)(?=^\s*\[|$(?![\s\S]))/gm)) {
      if (/^\s*git\s*=/m.test(m[2]!)) specs.push({ name: m[1]!, body: m[2]! });
    }
    for (const { name, body } of specs) {
      if (/\brev\s*=|\btag\s*=/.test(body)) continue;
      const branch = /\bbranch\s*=\s*"([^"]+)"/.exec(body)?.[1];
      findings.push({
        check,
        verdict: "warning",
        found: `${path}: ${name} follows ${branch ? `the branch "${branch}"` : "the repository's default branch"}: Cargo.lock pins today's commit, and the next \`cargo update\` silently takes whatever the branch holds then`,
        fix: `pin it: ${name} = { git = "...", rev = "<full commit sha>" } (or tag = "...")`,
      });
    }
  }
  return findings.length ? findings : [ok(check, "no git dependency follows a branch")];
}
