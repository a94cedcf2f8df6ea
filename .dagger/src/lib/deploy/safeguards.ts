/**
 * The release safeguards an operator can waive (--hotfix, --accept-recent-errors), and how a production run
 * reports them: the pre-check's refusal, the record, the Slack fields and the release-notes lines.
 */
import type { ErrorReview } from "./canary";

/** What the operator waived, and why: recorded in the record, the release notes and Slack. */
export interface ReleaseSafeguards {
  /** --hotfix: no canary steps; smoke test, post-switch watch and automatic rollback still run. */
  hotfix: boolean;
  /** --accept-recent-errors: the pre-check's review of the live colour's recent errors reports but does not refuse. */
  acceptRecentErrors: boolean;
  /** --reason, non-blank whenever one of the above is set. */
  reason?: string;
}

/** The pre-check's review of the live colour, as the record keeps it. */
export interface ErrorReviewRecord {
  colour: string;
  figures: string;
  withinRules: boolean;
  breaches: string[];
  /** Set when the breaches were accepted with --accept-recent-errors: the operator's reason. */
  accepted?: string;
}

export function errorReviewRecord(colour: string, review: ErrorReview & { errors: string[] }, safeguards: ReleaseSafeguards): ErrorReviewRecord {
  const breaches = [...review.breaches, ...review.errors.map((error) => `query failed: ${error}`)];
  return {
    colour,
    figures: review.figures,
    withinRules: review.withinRules,
    breaches,
    ...(!review.withinRules && safeguards.acceptRecentErrors && safeguards.reason ? { accepted: safeguards.reason } : {}),
  };
}

/** Whether the release is refused, and the message that says why with the figures. */
export function errorReviewRefusal(review: ErrorReviewRecord): string | null {
  if (review.withinRules || review.accepted !== undefined) return null;
  return (
    `pre-check: the live colour ${review.colour} breaks the canary rules, refusing to release on top of it:\n` +
    review.breaches.map((line) => `  - ${line}\n`).join("") +
    `Figures: ${review.figures}.\n` +
    `Investigate the live release first; to release anyway (e.g. the fix for these errors), re-run with --accept-recent-errors --reason "..." (recorded in the record, the release notes and Slack).`
  );
}

/** The waived safeguards as label -> text: Slack fields, and the release notes' lines. */
export function safeguardFacts(safeguards: ReleaseSafeguards, review?: ErrorReviewRecord): Record<string, string> {
  const facts: Record<string, string> = {};
  if (safeguards.hotfix) facts.Hotfix = `canary steps skipped: ${safeguards.reason}`;
  if (review?.accepted !== undefined) facts["Recent errors accepted"] = `${review.accepted} (${review.breaches.join("; ")})`;
  return facts;
}

/** Markdown lines for the release notes: what this release skipped or accepted, and why. Empty when nothing was waived. */
export function safeguardNotes(facts: Record<string, string>): string[] {
  const entries = Object.entries(facts);
  if (entries.length === 0) return [];
  return ["### Release safeguards waived", "", ...entries.map(([label, text]) => `- **${label}**: ${text}`)];
}
