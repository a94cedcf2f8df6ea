import { z } from "zod";
import { severityFromCvssVector } from "./cvss";
import { checkShape, describeJsonSyntaxError } from "./json";
import { ReportParseError, worseSeverity, type Finding, type ParsedReport, type ScanWarning } from "./model";

const diagnosticFields = z.looseObject({
  severity: z.enum(["error", "warning", "note", "help", "bug"]),
  message: z.string(),
  code: z.string().optional(),
  advisory: z
    .looseObject({ id: z.string().min(1), cvss: z.string().nullish(), aliases: z.array(z.string()).optional() })
    .nullish(),
  graphs: z.array(z.looseObject({ Krate: z.looseObject({ name: z.string(), version: z.string() }) })).optional(),
});

const checkStats = z.looseObject({ errors: z.number().int().nonnegative() });
const summaryFields = z.record(z.string(), checkStats);
const logFields = z.looseObject({ level: z.string(), message: z.string() });

type DiagnosticFields = z.infer<typeof diagnosticFields>;

/**
 * Findings of `cargo deny --format json check`, which writes one JSON object per line to stderr:
 * `{"type":"diagnostic",...}` per problem, `{"type":"log",...}` for log messages and, once the
 * check completed, `{"type":"summary","fields":{<check>:{errors,warnings,notes,helps}}}`.
 *
 * Diagnostics at severity "error" (what makes `cargo deny check` fail) are findings; "warning"
 * diagnostics are warnings; notes and helps are dropped. Lines that are not JSON objects (progress
 * text mixed into stderr) are skipped. The stream must end its run with a summary: without one
 * cargo-deny stopped early (bad deny.toml, no advisory database...) and this throws with its ERROR
 * log messages. It also throws when the summary counts more errors than the error diagnostics
 * printed (`--log-level off` hides them), as the gate could not name what failed.
 */
export function parseCargoDeny(text: string, source: string): ParsedReport {
  const findings: Finding[] = [];
  const warnings: ScanWarning[] = [];
  const errorLogs: string[] = [];
  let summary: z.infer<typeof summaryFields> | undefined;
  let diagnostics = 0;

  text.split(/\r?\n/).forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (!line.startsWith("{")) return;
    const where = `line ${index + 1}`;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch (error) {
      throw new ReportParseError("cargo-deny", source, `${where} ${describeJsonSyntaxError(line, error)}`);
    }
    const { type, fields } = entry as { type?: unknown; fields?: unknown };
    if (type === "diagnostic") {
      diagnostics += 1;
      const diagnostic = checkShape("cargo-deny", source, diagnosticFields, fields, `a cargo-deny diagnostic (${where}, fields)`);
      collectDiagnostic(diagnostic, findings, warnings);
    } else if (type === "summary") {
      if (summary) throw new ReportParseError("cargo-deny", source, `${where} is a second summary: the stream mixes two runs`);
      summary = checkShape("cargo-deny", source, summaryFields, fields, `a cargo-deny summary (${where}, fields)`);
    } else if (type === "log") {
      const log = checkShape("cargo-deny", source, logFields, fields, `a cargo-deny log line (${where}, fields)`);
      if (log.level.toUpperCase() === "ERROR") errorLogs.push(log.message);
      else if (log.level.toUpperCase() === "WARN") warnings.push({ tool: "cargo-deny", kind: "log", message: log.message });
    }
  });

  if (!summary) {
    const why =
      errorLogs.length > 0
        ? `cargo-deny stopped before its summary: ${errorLogs.join("; ")}`
        : diagnostics === 0
          ? "holds no cargo-deny JSON output (no diagnostic, no summary line): was --format json passed, and stderr captured?"
          : "has no summary line: cargo-deny stopped before completing the check";
    throw new ReportParseError("cargo-deny", source, why);
  }
  const summarizedErrors = Object.values(summary).reduce((total, stats) => total + stats.errors, 0);
  if (summarizedErrors > findings.length) {
    throw new ReportParseError(
      "cargo-deny",
      source,
      `the summary counts ${summarizedErrors} error(s) but only ${findings.length} error diagnostic(s) were printed ` +
        "(was the log level lowered below error?)",
    );
  }
  for (const message of errorLogs) warnings.push({ tool: "cargo-deny", kind: "log", message });
  return { findings, warnings, suppressed: 0 };
}

function collectDiagnostic(diagnostic: DiagnosticFields, findings: Finding[], warnings: ScanWarning[]): void {
  const krate = diagnostic.graphs?.[0]?.Krate;
  const pkg = krate ? `${krate.name}@${krate.version}` : undefined;
  const code = diagnostic.code ?? "cargo-deny";
  if (diagnostic.severity === "error" || diagnostic.severity === "bug") {
    const advisorySeverity = severityFromCvssVector(diagnostic.advisory?.cvss);
    const finding: Finding = {
      tool: "cargo-deny",
      id: diagnostic.advisory?.id ?? code,
      severity: advisorySeverity ? worseSeverity("high", advisorySeverity) : "high",
      message: diagnostic.message,
    };
    if (pkg) finding.package = pkg;
    if (diagnostic.advisory?.aliases?.length) finding.aliases = diagnostic.advisory.aliases;
    findings.push(finding);
  } else if (diagnostic.severity === "warning") {
    const warning: ScanWarning = { tool: "cargo-deny", kind: code, message: diagnostic.message };
    if (pkg) warning.package = pkg;
    if (diagnostic.advisory) warning.id = diagnostic.advisory.id;
    warnings.push(warning);
  }
}
