/** The `ci` summary: one row per gate, rendered as a Markdown table. */
import { errorMessage, GateFailure, UsageError } from "./errors";
import { markdownTable, markdownText } from "./markdown";

export interface GateReport {
  /** Key figure of a passing run, e.g. "92.3 % (≥ 90 %)" or "0 findings". */
  figure?: string;
}

export interface GateOutcome {
  gate: string;
  passed: boolean;
  durationMs: number;
  figure: string;
  /** The failure message (empty when passed). */
  error: string;
  /** Failed on bad input before anything started (a UsageError): fix the call, not the code. */
  usage?: boolean;
}

/**
 * Runs every gate at once and waits for all of them: one failure neither cancels nor hides
 * another (Promise.allSettled semantics, with timing per gate).
 */
export async function runGates(
  gates: Record<string, () => Promise<GateReport>>,
  now: () => number = Date.now,
): Promise<GateOutcome[]> {
  return Promise.all(
    Object.entries(gates).map(async ([gate, run]): Promise<GateOutcome> => {
      const started = now();
      try {
        const report = await run();
        return { gate, passed: true, durationMs: now() - started, figure: report.figure ?? "", error: "" };
      } catch (e) {
        const figure = e instanceof GateFailure ? (e.figure ?? "") : "";
        const outcome: GateOutcome = { gate, passed: false, durationMs: now() - started, figure, error: errorMessage(e) };
        return e instanceof UsageError ? { ...outcome, usage: true } : outcome;
      }
    }),
  );
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 100) / 10;
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

export function summaryTable(outcomes: GateOutcome[]): string {
  const rows = outcomes.map((o) => [
    markdownText(o.gate, Infinity),
    o.passed ? "✅ pass" : o.usage ? "⛔ usage error" : "❌ fail",
    formatDuration(o.durationMs),
    markdownText(o.figure, Infinity),
  ]);
  const failed = outcomes.filter((o) => !o.passed).length;
  const verdict = failed
    ? `**${failed} of ${outcomes.length} gates failed.**`
    : `**All ${outcomes.length} gates passed.**`;
  const columns = ["gate", "result", "duration", "key figure"].map((header) => ({ header }));
  return [...markdownTable(columns, rows), "", verdict].join("\n");
}

/** The table followed by each failure's message, for the error `ci` throws. */
export function failureReport(outcomes: GateOutcome[]): string {
  const details = outcomes
    .filter((o) => !o.passed)
    .map((o) => `### ${o.gate}${o.usage ? " (usage error: nothing was started)" : ""}\n\n\`\`\`\n${o.error}\n\`\`\``);
  return [summaryTable(outcomes), "", ...details].join("\n");
}
