/**
 * Dates for allowlist entries in tests that run the gates on the real clock: an entry lives at most
 * 90 days from `added` (lib/config/security.ts), so a far-future `expires` is no longer a valid fixture.
 */
import { utcDay } from "../../.dagger/src/lib/findings";

const DAY_MS = 86_400_000;

/** YYYY-MM-DD `offset` days from today (UTC). */
export function dayFromToday(offset: number): string {
  return utcDay(new Date(Date.now() + offset * DAY_MS));
}

/** An entry added 10 days ago that is valid for another 30 days. */
export function validDates(): { added: string; expires: string } {
  return { added: dayFromToday(-10), expires: dayFromToday(30) };
}
