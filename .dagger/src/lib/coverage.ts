/**
 * Cobertura XML (as written by `cargo tarpaulin --out Xml`) and the coverage gate.
 * Only the root `<coverage>` element is read: tarpaulin writes `line-rate`, `lines-covered` and
 * `lines-valid` there for the whole run (src/report/cobertura.rs in xd009642/tarpaulin).
 */
export interface CoverageSummary {
  linesCovered: number;
  linesValid: number;
  /** Percentage 0..100, computed from the line counts (not rounded). */
  percent: number;
}

export class CoverageReportError extends Error {
  constructor(source: string, problem: string) {
    super(`coverage report ${source}: ${problem}`);
    this.name = "CoverageReportError";
  }
}

export function parseCobertura(xml: string, source = "cobertura.xml"): CoverageSummary {
  if (!xml.trim()) throw new CoverageReportError(source, "the file is empty");
  const root = /<coverage\b([^>]*)>/.exec(xml);
  if (!root) throw new CoverageReportError(source, "no <coverage> element: not a Cobertura report");
  if (!/<\/coverage>\s*$/.test(xml.trim())) throw new CoverageReportError(source, "the document is truncated (no closing </coverage>)");
  const attrs = new Map<string, string>();
  for (const m of root[1].matchAll(/([\w-]+)\s*=\s*"([^"]*)"/g)) attrs.set(m[1], m[2]);
  const count = (name: string): number => {
    const raw = attrs.get(name);
    if (raw === undefined) throw new CoverageReportError(source, `<coverage> has no ${name} attribute`);
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0) throw new CoverageReportError(source, `${name}="${raw}" is not a line count`);
    return value;
  };
  const linesCovered = count("lines-covered");
  const linesValid = count("lines-valid");
  if (linesCovered > linesValid) {
    throw new CoverageReportError(source, `lines-covered (${linesCovered}) exceeds lines-valid (${linesValid})`);
  }
  // No instrumented line at all means nothing was measured: that is not 100 %.
  if (linesValid === 0) throw new CoverageReportError(source, "no instrumented lines (lines-valid=0): nothing was measured");
  return { linesCovered, linesValid, percent: (linesCovered / linesValid) * 100 };
}

export interface CoverageVerdict {
  passed: boolean;
  /** "92.31 % (≥ 90 %)" — the key figure for the summary table. */
  figure: string;
  message: string;
}

export function coverageGate(summary: CoverageSummary, threshold: number): CoverageVerdict {
  const pct = formatPercent(summary.percent);
  const lines = `${summary.linesCovered}/${summary.linesValid} lines`;
  if (summary.percent + 1e-9 < threshold) {
    return {
      passed: false,
      figure: `${pct} % < ${threshold} %`,
      message: `line coverage ${pct} % is below the required ${threshold} % (${lines} covered)`,
    };
  }
  return { passed: true, figure: `${pct} % (≥ ${threshold} %)`, message: `line coverage ${pct} % (${lines})` };
}

/** Two decimals, trailing zeros trimmed: 85 -> "85", 85.5 -> "85.5", 86.075949 -> "86.08". */
export function formatPercent(value: number): string {
  return String(Math.floor(value * 100) / 100);
}
