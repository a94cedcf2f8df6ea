import type { z } from "zod";
import { ReportParseError, type ScannerName } from "./model";

type ReportTool = ScannerName | "sarif";

/**
 * JSON.parse with an error that says where the document breaks. Node's own message quotes a
 * snippet of the input, which for a secret scanner's report may be the secret: only the position
 * is reported.
 */
export function parseJsonReport(tool: ReportTool, source: string, text: string): unknown {
  if (text.trim() === "") throw new ReportParseError(tool, source, "is empty (the scanner wrote no report)");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ReportParseError(tool, source, describeJsonSyntaxError(text, error));
  }
}

export function describeJsonSyntaxError(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const position = /position (\d+)/.exec(message);
  const offset = position ? Number(position[1]) : undefined;
  if (/unexpected end|unterminated/i.test(message) || (offset !== undefined && offset >= text.trimEnd().length)) {
    return "is not valid JSON: the document ends before it is complete (truncated report?)";
  }
  if (offset !== undefined) {
    const before = text.slice(0, offset);
    const line = before.split("\n").length;
    const column = offset - before.lastIndexOf("\n");
    return `is not valid JSON: syntax error at line ${line}, column ${column}`;
  }
  return "is not valid JSON";
}

/**
 * Checks the shape a parser relies on. The message names the field path and the expected type,
 * never the value found there (it could be a secret).
 */
export function checkShape<Schema extends z.ZodType>(
  tool: ReportTool,
  source: string,
  schema: Schema,
  value: unknown,
  what: string,
): z.infer<Schema> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const shown = issues.slice(0, 3).map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
  const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : "";
  throw new ReportParseError(tool, source, `is not ${what}: ${shown.join("; ")}${more}`);
}

export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "(document)";
  return path
    .map((key, index) => (typeof key === "number" ? `[${key}]` : `${index === 0 ? "" : "."}${String(key)}`))
    .join("");
}
