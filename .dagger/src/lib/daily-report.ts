/** The daily scan's report: a table of every scan's counts, then each scan's details. */
import { renderMarkdown } from "./messages";
import { SEVERITIES, type SecurityVerdict } from "./findings";
import { markdownTable, markdownText } from "./markdown";

export interface ScanSection {
  title: string;
  target: string;
  verdict: SecurityVerdict;
}

export function renderDailyReport(sections: ScanSection[], day: string): string {
  const failed = sections.filter((s) => !s.verdict.passed);
  const lines = [
    `# Daily security scan (${day})`,
    "",
    failed.length > 0 ? `**Findings in:** ${failed.map((s) => s.title).join(", ")}.` : "No blocking finding in any environment.",
    "",
    ...markdownTable(
      [{ header: "scan" }, { header: "target" }, { header: "result" }, ...[...SEVERITIES, "accepted"].map((header) => ({ header, align: "right" as const }))],
      sections.map((s) => [
        markdownText(s.title, 60),
        `\`${markdownText(s.target, 120)}\``,
        s.verdict.passed ? "passed" : "**failed**",
        ...SEVERITIES.map((sev) => s.verdict.counts[sev]),
        s.verdict.accepted.length,
      ]),
    ),
    "",
  ];
  for (const s of sections) lines.push(`### ${s.title}: \`${markdownText(s.target, 120)}\``, "", renderMarkdown({ kind: "gate-report", verdict: s.verdict }).replace(/^#### [^\n]*\n\n?/, ""), "");
  return lines.join("\n").trimEnd() + "\n";
}
