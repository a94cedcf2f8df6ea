/**
 * `doctor`: every adoption blocker of a repository in one pass, read from the source through the
 * Directory API (one glob, then the few files the checks need). No container starts: nothing is
 * compiled and no database runs, so it answers in seconds, and `ci` runs it first.
 */
import type { Directory, File } from "@dagger.io/dagger";
import { loadPipeline, type Pipeline } from "./pipeline";
import { parseConfig, type PipelineConfig } from "./lib/pipeline-config";
import { DEFAULT_DENY_CONFIG } from "./lib/config/security";
import { ConfigError, GateFailure } from "./lib/errors";
import { doctorFindings } from "./lib/doctor/index";
import { doctorTable, snapshotOf, under, type DoctorFinding } from "./lib/doctor/model";
import { checkLockfile } from "./lib/doctor/cargo";
import type { Trust } from "./lib/trust";

export interface DoctorReport {
  findings: DoctorFinding[];
  table: string;
  blockers: number;
}

/** The files a check reads, out of every path of the source. */
function neededFiles(paths: readonly string[], config: PipelineConfig): string[] {
  const { workspace, migrations } = config.paths;
  const { dockerfile, context } = config.image;
  const exact = new Set([
    ".gitignore",
    `${workspace}/.gitignore`,
    dockerfile,
    `${dockerfile}.dockerignore`,
    context === "." ? ".dockerignore" : `${context}/.dockerignore`,
    config.security.denyConfig ?? DEFAULT_DENY_CONFIG,
  ]);
  const migrationPrefix = `${migrations.replace(/\/$/, "")}/`;
  return paths.filter(
    (p) =>
      exact.has(p) ||
      p === "Cargo.toml" ||
      p.endsWith("/Cargo.toml") ||
      (p.startsWith(migrationPrefix) && p.endsWith(".sql")) ||
      (p.endsWith(".rs") && (/(^|\/)tests\//.test(p) || /(^|\/)src\/.*test/.test(p))),
  );
}

export async function doctorReport(source: Directory, configFile: File | undefined, trust: Trust): Promise<DoctorReport> {
  let config: PipelineConfig;
  let configOrigin = "defaults";
  let configError: string | undefined;
  try {
    const pipeline = await loadPipeline(source, configFile, trust);
    config = pipeline.config;
    configOrigin = pipeline.configOrigin;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    configError = e.message;
    config = parseConfig(undefined, "defaults");
  }
  const paths = (await source.glob("**/*")).filter((p) => !p.endsWith("/"));
  const contents = await Promise.all(neededFiles(paths, config).map(async (p) => [p, await source.file(p).contents()] as const));
  const snapshot = snapshotOf(Object.fromEntries(contents), paths);
  const findings = doctorFindings(snapshot, { config, configOrigin, configError });
  return { findings, table: doctorTable(findings), blockers: findings.filter((f) => f.verdict === "blocker").length };
}

/** Whether the lockfile exists, per loaded pipeline: the gates `ci` starts at once share one read. */
const lockfilePresence = new WeakMap<Pipeline, Promise<boolean>>();

/** doctor found no blocker for this pipeline's source, so its lockfile is there: the gates need not ask again. */
export function lockfileConfirmed(p: Pipeline): void {
  lockfilePresence.set(p, Promise.resolve(true));
}

/**
 * Every gate that runs cargo with --locked (or reads Cargo.lock) calls this before starting a container:
 * without a lockfile it fails with doctor's explanation instead of cargo's "cannot create the lock file".
 */
export async function requireLockfile(p: Pipeline, gate: string): Promise<void> {
  let lockfile = lockfilePresence.get(p);
  if (!lockfile) {
    lockfile = p.source.exists(under(p.config.paths.workspace, "Cargo.lock"));
    lockfilePresence.set(p, lockfile);
  }
  if (await lockfile) return;
  const { workspace } = p.config.paths;
  const around = [".gitignore", under(workspace, ".gitignore"), p.config.image.dockerfile];
  const files = await Promise.all(around.map(async (f) => [f, (await p.source.exists(f)) ? await p.source.file(f).contents() : undefined] as const));
  const present = Object.fromEntries(files.filter((entry): entry is readonly [string, string] => entry[1] !== undefined));
  const [finding] = checkLockfile(snapshotOf(present), workspace, p.config.image.dockerfile);
  throw new ConfigError(`${gate}: ${finding!.found}. Fix: ${finding!.fix}`);
}

/** The table; fails with it when there is a blocker (warnings do not fail). */
export async function doctor(source: Directory, configFile: File | undefined, trust: Trust): Promise<string> {
  const report = await doctorReport(source, configFile, trust);
  if (report.blockers) throw new GateFailure("doctor", `${report.blockers} blocker(s) found before any build:\n\n${report.table}`, `${report.blockers} blocker(s)`);
  return report.table;
}
