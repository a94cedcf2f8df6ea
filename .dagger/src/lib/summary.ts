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
  /** The failure's detail is Markdown (a findings report), not tool output. */
  markdown?: boolean;
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
        if (e instanceof GateFailure && e.format === "markdown") outcome.markdown = true;
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

/** A key-figure cell stays short; the whole figure goes below the table. */
const FIGURE_CELL_LENGTH = 60;

export function summaryTable(outcomes: GateOutcome[]): string {
  const rows = outcomes.map((o) => [
    markdownText(o.gate, Infinity),
    o.passed ? "✅ pass" : o.usage ? "⛔ usage error" : "❌ fail",
    formatDuration(o.durationMs),
    markdownText(o.figure, FIGURE_CELL_LENGTH),
  ]);
  const failed = outcomes.filter((o) => !o.passed).length;
  const verdict = failed
    ? `**${failed} of ${outcomes.length} gates failed.**`
    : `**All ${outcomes.length} gates passed.**`;
  const columns = ["gate", "result", "duration", "key figure"].map((header) => ({ header }));
  const long = outcomes.filter((o) => o.figure.replace(/\s+/g, " ").trim().length > FIGURE_CELL_LENGTH);
  const figures = long.length ? ["", "Key figures in full:", ...long.map((o) => `- ${markdownText(o.gate, Infinity)}: ${markdownText(o.figure, 2000)}`)] : [];
  return [...markdownTable(columns, rows), ...figures, "", verdict].join("\n");
}

/** A fence longer than any backtick run in `text`, so tool output cannot close it. */
function fenced(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = "`".repeat(longest + 1);
  return `${fence}text\n${text}\n${fence}`;
}

/**
 * One failure below the table: a Markdown report renders as Markdown (its tables stay tables); plain
 * output keeps its first line as the headline and the tool's output in a fence.
 */
function failureSection(o: GateOutcome): string {
  const heading = `### ${markdownText(o.gate, Infinity)}${o.usage ? " (usage error: nothing was started)" : ""}`;
  const prefix = `${o.gate}: `;
  const detail = o.error.startsWith(prefix) ? o.error.slice(prefix.length) : o.error;
  if (o.markdown) return `${heading}\n\n${detail.trim()}`;
  const [headline, ...rest] = detail.split("\n");
  const output = rest.join("\n").replace(/^\n+|\s+$/g, "");
  return [heading, "", markdownText(headline, 1000), ...(output ? ["", fenced(output)] : [])].join("\n");
}

/** The table followed by each failure's message, for the error `ci` throws (and the job summary). */
export function failureReport(outcomes: GateOutcome[]): string {
  const details = outcomes.filter((o) => !o.passed).map(failureSection);
  return [summaryTable(outcomes), "", ...details.flatMap((d) => [d, ""])].join("\n").trimEnd();
}
