/**
 * deny.toml keys the pinned cargo-deny (TOOLS.cargoDeny, 0.18.9) no longer accepts, each with its
 * replacement. From EmbarkStudios/cargo-deny 0.18.9:
 * - src/advisories/cfg.rs: `vulnerability`, `unsound`, `notice` and `severity-threshold` are read with
 *   `deprecated(...)` and reported as `DeprecationReason::Removed` (PR 611); `unmaintained` is now a
 *   `Scope` (src/cfg.rs: all, workspace, transitive, none), so a lint level such as "warn" fails to parse.
 * - src/licenses/cfg.rs: `unlicensed`, `allow-osi-fsf-free`, `copyleft`, `default`, `deny` likewise Removed.
 * - src/diag/general.rs `From<Deprecated> for Diagnostic`: Removed is `Severity::Error` (the check fails),
 *   Moved/Renamed a warning.
 * - src/root_cfg.rs: top-level `targets`, `exclude`, `features`, `all-features`, `no-default-features`,
 *   `exclude-dev` moved to [graph], `feature-depth` to [output] (warnings).
 * - src/bans/cfg.rs: [bans] `allow-build-scripts` moved to [bans.build] (a warning).
 */
import type { DoctorFinding } from "./model";
import { ok } from "./model";

interface RetiredKey {
  table: string;
  key: string;
  removed: boolean;
  replacement: string;
}

const ADVISORY_FIX = "delete it (cargo-deny PR 611): every advisory not listed in [advisories] ignore = [{ id, reason }] is an error";
const LICENSE_FIX = 'delete it (cargo-deny PR 611): list the accepted licenses in allow = ["MIT", "Apache-2.0", ...]; every other license is denied';

const RETIRED: RetiredKey[] = [
  ...["vulnerability", "unsound", "notice", "severity-threshold"].map((key) => ({ table: "advisories", key, removed: true, replacement: ADVISORY_FIX })),
  ...["unlicensed", "allow-osi-fsf-free", "copyleft", "default", "deny"].map((key) => ({ table: "licenses", key, removed: true, replacement: LICENSE_FIX })),
  ...["targets", "exclude", "features", "all-features", "no-default-features", "exclude-dev"].map((key) => ({
    table: "",
    key,
    removed: false,
    replacement: `move it under [graph]`,
  })),
  { table: "", key: "feature-depth", removed: false, replacement: "move it under [output]" },
  { table: "bans", key: "allow-build-scripts", removed: false, replacement: "move it to [bans.build] allow-build-scripts" },
];

const UNMAINTAINED_SCOPES = ["all", "workspace", "transitive", "none"];

/** Top-level keys of each table in a TOML document (`[a.b]` headers give table "a.b"; dotted keys are kept whole). */
function tomlKeys(text: string): { table: string; key: string; value: string; line: number }[] {
  const keys: { table: string; key: string; value: string; line: number }[] = [];
  let table = "";
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.replace(/^\uFEFF/, "").trim();
    const header = /^\[\[?\s*([^\]]+?)\s*\]\]?/.exec(line);
    if (header) {
      table = header[1]!.replace(/\s+/g, "").replace(/"/g, "");
      return;
    }
    const pair = /^("[^"]+"|[A-Za-z0-9_.-]+)\s*=\s*(.*)$/.exec(line);
    if (pair) keys.push({ table, key: pair[1]!.replace(/"/g, ""), value: pair[2]!.replace(/\s+#.*$/, "").trim(), line: index + 1 });
  });
  return keys;
}

export function checkDenyConfig(text: string, path: string): DoctorFinding[] {
  const check = "deny.toml";
  const findings: DoctorFinding[] = [];
  for (const { table, key, value, line } of tomlKeys(text)) {
    const [first, ...rest] = key.split(".");
    const fullTable = rest.length ? [table, first].filter(Boolean).join(".") : table;
    const leaf = rest.length ? rest.join(".") : key;
    const retired = RETIRED.find((r) => r.table === fullTable && r.key === leaf);
    if (retired) {
      const where = `${path}:${line}: ${fullTable ? `[${fullTable}] ` : ""}${leaf}`;
      findings.push({
        check,
        verdict: retired.removed ? "blocker" : "warning",
        found: retired.removed ? `${where} was removed in cargo-deny 0.18 (an error: cargo deny check fails)` : `${where} moved (cargo-deny warns)`,
        fix: retired.replacement,
      });
      continue;
    }
    if (fullTable === "advisories" && leaf === "unmaintained") {
      const scope = value.replace(/^["']|["']$/g, "");
      if (!UNMAINTAINED_SCOPES.includes(scope)) {
        findings.push({ check, verdict: "blocker", found: `${path}:${line}: [advisories] unmaintained = ${value}: cargo-deny 0.18 reads a scope here, not a lint level, and fails to parse it`, fix: `unmaintained = "workspace" (or "all", "transitive", "none")` });
      }
    }
  }
  return findings.length ? findings : [ok(check, `${path}: no key removed or moved in cargo-deny 0.18`)];
}
