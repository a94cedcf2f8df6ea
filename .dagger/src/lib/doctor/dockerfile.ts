/**
 * The Dockerfile's COPY/ADD sources against the build context after `.dockerignore`: the image build
 * (Directory.dockerBuild) drops ignored files before the Dockerfile sees them (dagger v0.21.8
 * core/schema/directory.go `applyDockerIgnore`, the Dockerfile-specific `<Dockerfile>.dockerignore` first).
 * Pattern semantics from moby/patternmatcher v0.6.1: ignorefile/ignorefile.go `ReadAll` (`#` comments,
 * trimmed, `filepath.Clean`, a leading `/` dropped, `!` re-includes) and patternmatcher.go (`*` and `?`
 * never cross `/`, `**` any number of directories; `MatchesOrParentMatches`: a pattern also matches when it
 * matches a parent directory, and the last matching pattern decides).
 */
import { posix } from "node:path";
import type { DoctorFinding, SourceSnapshot } from "./model";
import { ok, under } from "./model";

interface IgnorePattern {
  pattern: string;
  exclusion: boolean;
  regex: RegExp;
}

function globRegex(pattern: string): RegExp {
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*" && pattern[i + 1] === "*") {
      i++;
      if (pattern[i + 1] === "/") i++;
      out += i + 1 >= pattern.length ? ".*" : "(.*/)?";
    } else if (ch === "*") out += "[^/]*";
    else if (ch === "?") out += "[^/]";
    else if (ch === "\\" && i + 1 < pattern.length) out += `\\${pattern[++i]}`;
    else if (ch === "[" || ch === "]") out += ch;
    else out += ch.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

function parseDockerignore(text: string): IgnorePattern[] {
  const patterns: IgnorePattern[] = [];
  for (const raw of text.replace(/^\uFEFF/, "").split(/\r?\n/)) {
    if (raw.startsWith("#")) continue;
    let line = raw.trim();
    if (!line) continue;
    const exclusion = line.startsWith("!");
    if (exclusion) line = line.slice(1).trim();
    if (!line) continue;
    line = posix.normalize(line).replace(/\/$/, "");
    if (line.length > 1 && line.startsWith("/")) line = line.slice(1);
    patterns.push({ pattern: `${exclusion ? "!" : ""}${line}`, exclusion, regex: globRegex(line) });
  }
  return patterns;
}

/** The pattern that excludes `file` (relative to the context), or undefined when the build sees it. */
function ignoredBy(patterns: readonly IgnorePattern[], file: string): string | undefined {
  const parents = file.split("/").slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join("/"));
  let matched: string | undefined;
  for (const p of patterns) {
    if (p.exclusion !== (matched !== undefined)) continue;
    const match = p.regex.test(file) || parents.some((dir) => p.regex.test(dir));
    if (match) matched = p.exclusion ? undefined : p.pattern;
  }
  return matched;
}

/** Sources of every COPY/ADD that reads the build context (not `--from`, not a URL), with its line. */
function contextSources(dockerfile: string): { source: string; line: number }[] {
  const out: { source: string; line: number }[] = [];
  const lines = dockerfile.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let instruction = lines[i]!;
    while (/\\\s*$/.test(instruction) && i + 1 < lines.length) instruction = instruction.replace(/\\\s*$/, " ") + lines[++i];
    const m = /^\s*(COPY|ADD)\s+(.*)$/i.exec(instruction);
    if (!m) continue;
    let rest = m[2]!.trim();
    const flags: string[] = [];
    while (rest.startsWith("--")) {
      const flag = /^--\S+/.exec(rest)![0];
      flags.push(flag);
      rest = rest.slice(flag.length).trim();
    }
    if (flags.some((f) => /^--from=/i.test(f))) continue;
    let args: string[];
    if (rest.startsWith("[")) {
      try {
        args = JSON.parse(rest) as string[];
      } catch {
        continue;
      }
    } else args = rest.split(/\s+/).filter(Boolean);
    if (rest.startsWith("<<")) continue; // heredoc: no context file
    for (const source of args.slice(0, -1)) {
      if (/^(https?:\/\/|git@)/.test(source) || source.startsWith("$")) continue;
      out.push({ source, line: start + 1 });
    }
  }
  return out;
}

export function checkDockerfile(source: SourceSnapshot, dockerfilePath: string, context: string): DoctorFinding[] {
  const check = "Dockerfile";
  const text = source.read(dockerfilePath);
  if (text === undefined) {
    return [{ check, verdict: "blocker", found: `image.dockerfile = "${dockerfilePath}" does not exist in the source`, fix: "set image.dockerfile in ci/pipeline.json to the service's Dockerfile" }];
  }
  const specific = source.read(`${dockerfilePath}.dockerignore`);
  const ignorePath = specific !== undefined ? `${dockerfilePath}.dockerignore` : under(context, ".dockerignore");
  const patterns = parseDockerignore(specific ?? source.read(ignorePath) ?? "");
  const prefix = context === "." ? "" : `${context.replace(/\/$/, "")}/`;
  const inContext = source.paths.filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length));
  const findings: DoctorFinding[] = [];
  for (const { source: wanted, line } of contextSources(text)) {
    const cleaned = posix.normalize(wanted).replace(/^\.\/?/, "").replace(/\/$/, "");
    const regex = /[*?[]/.test(cleaned) ? globRegex(cleaned) : undefined;
    const matches = cleaned === "" ? inContext : inContext.filter((p) => (regex ? regex.test(p) || regex.test(p.split("/").slice(0, cleaned.split("/").length).join("/")) : p === cleaned || p.startsWith(`${cleaned}/`)));
    const where = `${dockerfilePath}:${line}: ${wanted}`;
    if (!matches.length) {
      findings.push({ check, verdict: "blocker", found: `${where} is not in the build context (${context}): the image build fails on it`, fix: `commit ${under(context, cleaned)}, or remove it from the COPY/ADD` });
      continue;
    }
    const seen = matches.filter((p) => ignoredBy(patterns, p) === undefined);
    if (!seen.length) {
      findings.push({ check, verdict: "blocker", found: `${where} exists but ${ignorePath} excludes it (pattern "${ignoredBy(patterns, matches[0]!)}"): the build does not see it`, fix: `remove that pattern from ${ignorePath}, or add "!${cleaned}" after it` });
    }
  }
  return findings.length ? findings : [ok(check, `every COPY/ADD source of ${dockerfilePath} is in the build context after ${ignorePath}`)];
}
