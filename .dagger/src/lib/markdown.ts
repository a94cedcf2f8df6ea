/**
 * Markdown tables and the escaping of text inside them: the ci summary, the gates' findings
 * tables and the daily scan report all render through here.
 */

/** Text safe inside a Markdown table cell or list item: one line, no pipes, bounded length. */
export function markdownText(text: string, maxLength = 200): string {
  const oneLine = text.replace(/\s+/g, " ").trim();
  const bounded = oneLine.length > maxLength ? `${oneLine.slice(0, maxLength - 1)}…` : oneLine;
  // Only a `<` that could open an HTML tag is escaped: version ranges like `<1.0.0` stay readable in a terminal.
  return bounded.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/<(?=[A-Za-z/!?])/g, "&lt;");
}

/** Inline code that stays inside its table cell: a backtick would end the span, a pipe the cell. */
export function markdownCode(text: string): string {
  return `\`${text.replace(/`/g, "'").replace(/\|/g, "\\|")}\``;
}

export interface MarkdownColumn {
  header: string;
  /** Numbers are right-aligned (`---:`); everything else keeps the default. */
  align?: "right";
}

/**
 * A table's lines: header, rule, one line per row. Cells are Markdown already (escape text with
 * markdownText or markdownCode), so a cell may be bold or code.
 */
export function markdownTable(columns: readonly MarkdownColumn[], rows: readonly (readonly (string | number)[])[]): string[] {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(" | ")} |`;
  const rule = `|${columns.map((c) => (c.align === "right" ? "---:" : "---")).join("|")}|`;
  return [
    line(columns.map((c) => c.header)),
    rule,
    ...rows.map((row, i) => {
      if (row.length !== columns.length) throw new Error(`markdownTable: row ${i + 1} has ${row.length} cells for ${columns.length} columns`);
      return line(row);
    }),
  ];
}
