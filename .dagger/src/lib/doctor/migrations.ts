/**
 * The migrations folder as the pinned sqlx-cli (TOOLS.sqlxCli, 0.8.2) reads it. Rules from
 * launchbadge/sqlx v0.8.2:
 * - sqlx-core/src/migrate/source.rs `resolve_blocking`: only files directly in the folder; the name is
 *   split at the first `_`; without a `_` or not ending in `.sql` the file is silently ignored; otherwise
 *   the part before `_` must parse as an i64 ("error parsing migration filename ...; expected integer
 *   version prefix"), which fails the whole run. A file whose text starts with `-- no-transaction` runs
 *   outside a transaction.
 * - sqlx-core/src/migrate/migration_type.rs: `.up.sql` / `.down.sql` make a reversible pair, anything
 *   else `.sql` is a simple migration.
 * - sqlx-core/src/migrate/migrator.rs `run_direct`: down migrations are skipped; every up migration not
 *   yet applied is applied, so two up migrations with one version both run and the second insert into
 *   `_sqlx_migrations` (sqlx-postgres/src/migrate.rs: `version BIGINT PRIMARY KEY`) fails.
 * - sqlx-postgres/src/migrate.rs `apply`: without `no_tx` the script runs in one transaction.
 */
import type { DoctorFinding, SourceSnapshot } from "./model";
import { hasDirectory, ok } from "./model";

/** Statements PostgreSQL refuses inside a transaction block, as TimescaleDB migrations write them. */
const NON_TRANSACTIONAL: { pattern: RegExp; what: string }[] = [
  { pattern: /create\s+materialized\s+view[\s\S]*?with\s*\(\s*timescaledb\.continuous/i, what: "a TimescaleDB continuous aggregate (CREATE MATERIALIZED VIEW ... WITH (timescaledb.continuous))" },
  { pattern: /create\s+(unique\s+)?index\s+concurrently/i, what: "CREATE INDEX CONCURRENTLY" },
  { pattern: /drop\s+index\s+concurrently/i, what: "DROP INDEX CONCURRENTLY" },
  { pattern: /\bvacuum\b/i, what: "VACUUM" },
  { pattern: /create\s+database/i, what: "CREATE DATABASE" },
];

/** SQL without comments, so a commented-out statement is not taken for one. */
function withoutComments(sql: string): string {
  return sql.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/--[^\n]*/g, " ");
}

interface Parsed {
  file: string;
  version: bigint;
  kind: "simple" | "up" | "down";
}

export function checkMigrations(source: SourceSnapshot, folder: string): DoctorFinding[] {
  const check = "migrations";
  if (!hasDirectory(source, folder)) {
    return [{ check, verdict: "blocker", found: `paths.migrations = "${folder}" does not exist in the source`, fix: `set paths.migrations in ci/pipeline.json to the folder sqlx migrate run reads (e.g. crates/storage/migrations)` }];
  }
  const prefix = `${folder.replace(/\/$/, "")}/`;
  const files = source.paths.filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes("/")).map((p) => p.slice(prefix.length));
  const findings: DoctorFinding[] = [];
  const parsed: Parsed[] = [];
  for (const file of files) {
    const [head, rest] = splitOnce(file);
    if (rest === undefined || !rest.endsWith(".sql")) {
      if (file.endsWith(".sql")) {
        findings.push({ check, verdict: "warning", found: `${prefix}${file}: no "_" in the name, so sqlx ignores it without a word: it never runs`, fix: `rename it <version>_<description>.sql (e.g. sqlx migrate add) or move it out of ${folder}` });
      }
      continue;
    }
    if (!/^[+-]?\d+$/.test(head) || !fitsI64(head)) {
      findings.push({ check, verdict: "blocker", found: `${prefix}${file}: sqlx migrate run fails on it ("error parsing migration filename ...; expected integer version prefix"): "${head}" is not an integer version`, fix: `rename it <integer version>_<description>.sql, or move it out of ${folder} (seed data, notes)` });
      continue;
    }
    const kind = rest.endsWith(".up.sql") ? "up" : rest.endsWith(".down.sql") ? "down" : "simple";
    parsed.push({ file, version: BigInt(head), kind });
    const sql = source.read(`${prefix}${file}`) ?? "";
    if (kind !== "down" && !sql.startsWith("-- no-transaction")) {
      const body = withoutComments(sql);
      const offending = NON_TRANSACTIONAL.filter((s) => s.pattern.test(body)).map((s) => s.what);
      if (offending.length) {
        findings.push({ check, verdict: "blocker", found: `${prefix}${file}: ${offending.join(", ")} cannot run inside a transaction, and sqlx runs this file in one`, fix: `make "-- no-transaction" the file's very first line (sqlx reads it only there), or move the statement to its own migration that starts with it` });
      }
    }
  }
  const byVersion = new Map<string, Parsed[]>();
  for (const m of parsed) byVersion.set(String(m.version), [...(byVersion.get(String(m.version)) ?? []), m]);
  for (const [version, group] of byVersion) {
    const ups = group.filter((m) => m.kind !== "down");
    const downs = group.filter((m) => m.kind === "down");
    if (ups.length > 1) {
      findings.push({ check, verdict: "blocker", found: `version ${version} is used by ${ups.map((m) => m.file).join(" and ")}: sqlx applies both and the second fails on _sqlx_migrations' primary key`, fix: "give each migration its own version (sqlx migrate add picks a new one)" });
    }
    if (downs.length && !group.some((m) => m.kind === "up")) {
      findings.push({ check, verdict: "warning", found: `${downs.map((m) => m.file).join(", ")}: a .down.sql without its .up.sql of version ${version}: sqlx migrate run skips down migrations, so nothing of it is applied`, fix: `add ${version}_<description>.up.sql, or remove the stray .down.sql` });
    }
    if (group.some((m) => m.kind === "up") && !downs.length) {
      findings.push({ check, verdict: "warning", found: `${group.find((m) => m.kind === "up")!.file}: an .up.sql without its .down.sql: migrate run applies it, sqlx migrate revert cannot undo it`, fix: `add the matching ${version}_<description>.down.sql` });
    }
  }
  if (!parsed.some((m) => m.kind !== "down")) {
    findings.push({ check, verdict: "warning", found: `${folder} holds no migration sqlx would apply`, fix: "check paths.migrations" });
  }
  return findings.length ? findings : [ok(check, `${parsed.length} migration(s) in ${folder}, all readable by sqlx-cli`)];
}

function splitOnce(name: string): [string, string | undefined] {
  const at = name.indexOf("_");
  return at < 0 ? [name, undefined] : [name.slice(0, at), name.slice(at + 1)];
}

function fitsI64(digits: string): boolean {
  const value = BigInt(digits);
  return value >= -(2n ** 63n) && value < 2n ** 63n;
}
