import type { Finding, ScannerName } from "./model";

/** The longest an allowlist entry may live: `expires` at most this many days after `added`. */
export const MAX_ALLOWLIST_DAYS = 90;

/** An accepted risk: a finding the team decided to live with, for a reason, until a date. */
export interface AllowlistEntry {
  /** Rule or advisory id; also matches a finding's aliases (a RUSTSEC advisory's CVE id). */
  id: string;
  reason: string;
  /** Day (UTC, YYYY-MM-DD) the entry was added. */
  added: string;
  /** Last day (UTC, YYYY-MM-DD) the entry is valid, at most MAX_ALLOWLIST_DAYS after `added`. */
  expires: string;
  /** Only findings of this scanner; any scanner when absent. */
  tool?: ScannerName;
  /** Only findings in this file, or under this directory. */
  path?: string;
}

export interface InvalidEntry {
  entry: AllowlistEntry;
  problem: string;
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
  /** Entries that cannot be valid today (added after today, or outside the 90-day rule): they accept nothing and fail the gate. */
  invalid: InvalidEntry[];
  /** Valid entries that matched no finding: reported so they get cleaned up, never failing. */
  stale: AllowlistEntry[];
}

/** YYYY-MM-DD of a date in UTC. */
export function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** Whole days from `from` to `to` (YYYY-MM-DD, UTC); negative when `to` is earlier. */
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000);
}

/**
 * Why an entry cannot accept anything today, or undefined. The config schema refuses the span rules
 * already; they are checked again here for entries that reach the gate another way. An `added` day
 * after today is judged only here: the schema has no today.
 */
export function invalidEntryProblem(entry: AllowlistEntry, today: Date): string | undefined {
  const day = utcDay(today);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(entry.added ?? "") || Number.isNaN(Date.parse(`${entry.added}T00:00:00Z`))) {
    return `added ${JSON.stringify(entry.added ?? null)} is not a date written YYYY-MM-DD`;
  }
  if (entry.added > day) return `added ${entry.added} is after today (${day})`;
  const days = daysBetween(entry.added, entry.expires);
  if (days < 0) return `expires ${entry.expires} is before added ${entry.added}`;
  if (days > MAX_ALLOWLIST_DAYS) return `expires ${entry.expires} is ${days} days after added ${entry.added} (at most ${MAX_ALLOWLIST_DAYS})`;
  return undefined;
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

/** Splits findings into accepted and blocking; an expired or invalid entry accepts nothing. */
export function applyAllowlist(
  findings: readonly Finding[],
  entries: readonly AllowlistEntry[],
  today: Date,
): AllowlistOutcome {
  const invalid: InvalidEntry[] = [];
  for (const entry of entries) {
    const problem = invalidEntryProblem(entry, today);
    if (problem !== undefined) invalid.push({ entry, problem });
  }
  const usable = entries.filter((entry) => !invalid.some((i) => i.entry === entry));
  const expired = usable.filter((entry) => isExpired(entry, today));
  const valid = usable.filter((entry) => !isExpired(entry, today));
  const used = new Set<AllowlistEntry>();
  const outcome: AllowlistOutcome = { blocking: [], accepted: [], expired, invalid, stale: [] };
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

/**
 * Entries that cannot accept anything today, one line each naming the entry and its place in the
 * configuration (`security.allowlist.N`): expired, or added after today. Known as soon as the
 * configuration is read, so the scanning functions refuse it before any scanner runs.
 */
export function allowlistDayProblems(entries: readonly AllowlistEntry[], today: Date): string[] {
  const day = utcDay(today);
  return entries.flatMap((entry, index) => {
    const problem = isExpired(entry, today)
      ? `expired on ${entry.expires} (today is ${day}): renew it after a review (new added and expires) or remove it`
      : invalidEntryProblem(entry, today);
    return problem === undefined ? [] : [`security.allowlist.${index} ${describeEntry(entry)}: ${problem}`];
  });
}
