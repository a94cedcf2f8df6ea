/**
 * `doctor`'s findings: one row per check with a verdict, what was found and the fix. The checks are
 * pure functions over a snapshot of the source's files, read once through the engine's Directory API.
 */
import { markdownTable, markdownText } from "../markdown";

export type Verdict = "ok" | "blocker" | "warning";

export interface DoctorFinding {
  /** The check's name: lockfile, migrations, deny.toml, Dockerfile, tests, dependencies, config, paths, scope... */
  check: string;
  verdict: Verdict;
  found: string;
  /** What to change; empty when nothing has to. */
  fix: string;
}

/** The files of the source doctor reads: every path (relative, `/`-separated), and the contents of those it needs. */
export interface SourceSnapshot {
  /** Every file path in the source (directories are implied by their files). */
  paths: readonly string[];
  /** Contents of a file doctor read; undefined when it does not exist or was not read. */
  read(path: string): string | undefined;
}

export function snapshotOf(files: Record<string, string>, otherPaths: readonly string[] = []): SourceSnapshot {
  const paths = [...new Set([...Object.keys(files), ...otherPaths])].sort();
  return { paths, read: (path) => files[path] };
}

export function hasFile(source: SourceSnapshot, path: string): boolean {
  return source.paths.includes(path);
}

export function hasDirectory(source: SourceSnapshot, path: string): boolean {
  const prefix = path === "." || path === "" ? "" : `${path.replace(/\/$/, "")}/`;
  return source.paths.some((p) => p.startsWith(prefix));
}

/** `a/b` joined under a directory that may be ".". */
export function under(dir: string, path: string): string {
  return dir === "." || dir === "" ? path : `${dir.replace(/\/$/, "")}/${path}`;
}

export function ok(check: string, found: string): DoctorFinding {
  return { check, verdict: "ok", found, fix: "" };
}

const VERDICT_LABEL: Record<Verdict, string> = { ok: "✅ ok", blocker: "⛔ blocker", warning: "⚠️ warning" };

/** The table doctor prints, then a verdict line. */
export function doctorTable(findings: readonly DoctorFinding[]): string {
  const rows = findings.map((f) => [markdownText(f.check), VERDICT_LABEL[f.verdict], markdownText(f.found, 2000), markdownText(f.fix, 2000)]);
  const blockers = findings.filter((f) => f.verdict === "blocker").length;
  const warnings = findings.filter((f) => f.verdict === "warning").length;
  const verdict = blockers
    ? `**${blockers} blocker(s), ${warnings} warning(s): the gates would fail for these reasons; fix the blockers first.**`
    : `**No blocker${warnings ? `, ${warnings} warning(s)` : ""}.**`;
  const columns = ["check", "verdict", "found", "fix"].map((header) => ({ header }));
  return [...markdownTable(columns, rows), "", verdict].join("\n");
}
