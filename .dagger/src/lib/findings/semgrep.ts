import { z } from "zod";
import { checkShape, parseJsonReport } from "./json";
import { ReportParseError, severityFromSemgrep, type Finding, type ParsedReport, type ScanWarning } from "./model";

const position = z.looseObject({ line: z.number().int() });

const semgrepResult = z.looseObject({
  check_id: z.string().min(1),
  path: z.string(),
  start: position,
  extra: z.looseObject({
    severity: z.string(),
    message: z.string(),
    is_ignored: z.boolean().optional(),
  }),
});

const semgrepError = z.looseObject({
  level: z.string(),
  type: z.union([z.string(), z.array(z.unknown())]).optional(),
  code: z.number().optional(),
  message: z.string().optional(),
  short_msg: z.string().optional(),
  long_msg: z.string().optional(),
  path: z.string().optional(),
  rule_id: z.string().optional(),
});

const semgrepOutput = z.looseObject({
  results: z.array(semgrepResult),
  errors: z.array(semgrepError).optional(),
});

type SemgrepError = z.infer<typeof semgrepError>;

/**
 * Findings of `semgrep --json`. Semgrep reports its own problems in `errors[]` with a level:
 * - "error" is fatal (invalid rule or config, missing file, engine crash): Semgrep did not scan
 *   what it was asked to, so the report cannot vouch for the code and this throws, even when some
 *   results came back;
 * - "warn"/"info" are tolerated (a rule timing out on one file, a file Semgrep could only partly
 *   parse): the rest of the scan is sound, and they come back as warnings so the summary shows them.
 * Results marked `is_ignored` (a `nosemgrep` comment honoured) are counted as suppressed.
 */
export function parseSemgrep(text: string, source: string): ParsedReport {
  const output = checkShape("semgrep", source, semgrepOutput, parseJsonReport("semgrep", source, text), "Semgrep JSON output");
  const errors = output.errors ?? [];
  const fatal = errors.filter((error) => error.level.toLowerCase() === "error");
  if (fatal.length > 0) {
    throw new ReportParseError(
      "semgrep",
      source,
      `Semgrep reported ${fatal.length} fatal error(s), so the scan is incomplete: ${fatal.map(describeError).join("; ")}`,
    );
  }
  const warnings: ScanWarning[] = errors.map((error) => {
    const warning: ScanWarning = { tool: "semgrep", kind: errorType(error), message: describeError(error) };
    if (error.rule_id) warning.id = error.rule_id;
    if (error.path) warning.location = { path: error.path };
    return warning;
  });

  const parsed: ParsedReport = { findings: [], warnings, suppressed: 0 };
  for (const result of output.results) {
    if (result.extra.is_ignored === true) {
      parsed.suppressed += 1;
      continue;
    }
    const finding: Finding = {
      tool: "semgrep",
      id: result.check_id,
      severity: severityFromSemgrep(result.extra.severity),
      location: { path: result.path, line: result.start.line },
      message: result.extra.message,
    };
    parsed.findings.push(finding);
  }
  return parsed;
}

function errorType(error: SemgrepError): string {
  if (typeof error.type === "string") return error.type;
  // Newer Semgrep encodes some error types as a tagged array, e.g. ["PartialParsing", [...]].
  if (Array.isArray(error.type) && typeof error.type[0] === "string") return error.type[0];
  return "SemgrepError";
}

function describeError(error: SemgrepError): string {
  const text = (error.message ?? error.short_msg ?? error.long_msg ?? "(no message)").trim();
  return `${errorType(error)}: ${text}`;
}
