import type { Finding, ScannerName } from "./model";

/** An accepted risk: a finding the team decided to live with, for a reason, until a date. */
export interface AllowlistEntry {
  /** Rule or advisory id; also matches a finding's aliases (a RUSTSEC advisory's CVE id). */
  id: string;
  reason: string;
  /** Last day (UTC, YYYY-MM-DD) the entry is valid. */
  expires: string;
  /** Only findings of this scanner; any scanner when absent. */
  tool?: ScannerName;
  /** Only findings in this file, or under this directory. */
  path?: string;
}

export interface AcceptedFinding {
  finding: Finding;
  entry: AllowlistEntry;
}

export interface AllowlistOutcome {
  /** Findings no valid entry accepts, whatever their severity (the gate decides which severities fail). */
  blocking: Finding[];
  accepted: AcceptedFinding[];
  /** Entries past their expiry day: they accept nothing and fail the gate until renewed or removed. */
  expired: AllowlistEntry[];
  /** Valid entries that matched no finding: reported so they get cleaned up, never failing. */
  stale: AllowlistEntry[];
}

/** YYYY-MM-DD of a date in UTC. */
export function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** An entry is valid through its expiry day, compared in UTC. */
export function isExpired(entry: AllowlistEntry, today: Date): boolean {
  return utcDay(today) > entry.expires;
}

export function entryMatches(entry: AllowlistEntry, finding: Finding): boolean {
  if (entry.tool !== undefined && entry.tool !== finding.tool) return false;
  if (entry.id !== finding.id && !(finding.aliases ?? []).includes(entry.id)) return false;
  if (entry.path !== undefined) {
    if (finding.location === undefined) return false;
    const path = withoutDotSlash(finding.location.path);
    const wanted = withoutDotSlash(entry.path).replace(/\/+$/, "");
    if (path !== wanted && !path.startsWith(`${wanted}/`)) return false;
  }
  return true;
}

function withoutDotSlash(path: string): string {
  return path.replace(/^(\.\/)+/, "");
}

/** Splits findings into accepted and blocking; an expired entry accepts nothing. */
export function applyAllowlist(
  findings: readonly Finding[],
  entries: readonly AllowlistEntry[],
  today: Date,
): AllowlistOutcome {
  const expired = entries.filter((entry) => isExpired(entry, today));
  const valid = entries.filter((entry) => !isExpired(entry, today));
  const used = new Set<AllowlistEntry>();
  const outcome: AllowlistOutcome = { blocking: [], accepted: [], expired, stale: [] };
  for (const finding of findings) {
    const entry = valid.find((candidate) => entryMatches(candidate, finding));
    if (entry) {
      used.add(entry);
      outcome.accepted.push({ finding, entry });
    } else {
      outcome.blocking.push(finding);
    }
  }
  outcome.stale = valid.filter((entry) => !used.has(entry));
  return outcome;
}

/** How an entry is named in reports: `CVE-1 [trivy, path Cargo.lock] until 2025-01-31`. */
export function describeEntry(entry: AllowlistEntry): string {
  const scope = [entry.tool, entry.path === undefined ? undefined : `path ${entry.path}`].filter(Boolean);
  return `${entry.id}${scope.length > 0 ? ` [${scope.join(", ")}]` : ""} until ${entry.expires}`;
}
