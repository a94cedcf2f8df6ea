import { z } from "zod";
import { checkShape, parseJsonReport } from "./json";
import {
  GITLEAKS_LEAK_SEVERITY,
  ReportParseError,
  severityFromSarifLevel,
  severityFromScore,
  type Finding,
  type FindingLocation,
  type ParsedReport,
  type SarifLevel,
  type ScanWarning,
  type ScannerName,
  type Severity,
} from "./model";

const level = z.enum(["error", "warning", "note", "none"]);
const message = z.looseObject({ text: z.string().optional(), id: z.string().optional() });
const properties = z.looseObject({ "security-severity": z.union([z.string(), z.number()]).optional() });

const notificationShape = z.looseObject({
  level: level.optional(),
  message: message.optional(),
  descriptor: z.looseObject({ id: z.string().optional() }).optional(),
});

const rule = z.looseObject({
  id: z.string(),
  shortDescription: z.looseObject({ text: z.string().optional() }).optional(),
  defaultConfiguration: z.looseObject({ level: level.optional() }).optional(),
  properties: properties.optional(),
});

const physicalLocation = z.looseObject({
  artifactLocation: z.looseObject({ uri: z.string().optional() }).optional(),
  region: z.looseObject({ startLine: z.number().int().optional() }).optional(),
});

const result = z.looseObject({
  ruleId: z.string().optional(),
  ruleIndex: z.number().int().optional(),
  rule: z.looseObject({ id: z.string().optional(), index: z.number().int().optional() }).optional(),
  level: level.optional(),
  message,
  locations: z.array(z.looseObject({ physicalLocation: physicalLocation.optional() })).optional(),
  suppressions: z.array(z.looseObject({ status: z.string().optional() })).optional(),
  properties: properties.optional(),
});

const run = z.looseObject({
  tool: z.looseObject({
    driver: z.looseObject({ name: z.string(), rules: z.array(rule).optional() }),
  }),
  results: z.array(result).optional(),
  invocations: z
    .array(
      z.looseObject({
        executionSuccessful: z.boolean().optional(),
        toolExecutionNotifications: z.array(notificationShape).optional(),
        toolConfigurationNotifications: z.array(notificationShape).optional(),
      }),
    )
    .optional(),
});

const sarifLog = z.looseObject({ version: z.literal("2.1.0"), runs: z.array(run) });

type SarifRun = z.infer<typeof run>;
type SarifResult = z.infer<typeof result>;
type SarifRule = z.infer<typeof rule>;

/** Driver names the pipeline's scanners write into `runs[].tool.driver.name`. */
const DRIVER_TOOLS: Record<string, ScannerName> = {
  trivy: "trivy",
  semgrep: "semgrep",
  "semgrep oss": "semgrep",
  "semgrep pro": "semgrep",
  gitleaks: "gitleaks",
  "cargo-deny": "cargo-deny",
};

export interface SarifOptions {
  /** Attribute every finding to this scanner instead of recognising it from the driver name. */
  tool?: ScannerName;
}

/**
 * Findings of a SARIF 2.1.0 log, every run. Suppressed results (a `suppressions` entry that is
 * accepted or has no status) are counted, not returned. A tool notification at level "error", or
 * an invocation with `executionSuccessful: false`, makes the report untrustworthy: it throws.
 * `runs: []` is a valid report with no findings.
 */
export function parseSarif(text: string, source: string, options: SarifOptions = {}): ParsedReport {
  const reportTool = options.tool ?? "sarif";
  const log = checkShape(reportTool, source, sarifLog, parseJsonReport(reportTool, source, text), "a SARIF 2.1.0 log");
  const report: ParsedReport = { findings: [], warnings: [], suppressed: 0 };
  log.runs.forEach((sarifRun, runIndex) => {
    const tool = options.tool ?? toolOfDriver(sarifRun.tool.driver.name, source, runIndex);
    collectNotifications(sarifRun, tool, source, runIndex, report.warnings);
    const rules = sarifRun.tool.driver.rules ?? [];
    (sarifRun.results ?? []).forEach((sarifResult, resultIndex) => {
      if (isSuppressed(sarifResult)) {
        report.suppressed += 1;
        return;
      }
      report.findings.push(toFinding(sarifResult, rules, tool, source, `runs[${runIndex}].results[${resultIndex}]`));
    });
  });
  return report;
}

function toolOfDriver(driverName: string, source: string, runIndex: number): ScannerName {
  const tool = DRIVER_TOOLS[driverName.trim().toLowerCase()];
  if (!tool) {
    throw new ReportParseError(
      "sarif",
      source,
      `runs[${runIndex}].tool.driver.name ${JSON.stringify(driverName)} is not a scanner this pipeline knows ` +
        `(${Object.keys(DRIVER_TOOLS).join(", ")}); pass the tool explicitly`,
    );
  }
  return tool;
}

function collectNotifications(
  sarifRun: SarifRun,
  tool: ScannerName,
  source: string,
  runIndex: number,
  warnings: ScanWarning[],
): void {
  for (const [invocationIndex, invocation] of (sarifRun.invocations ?? []).entries()) {
    const notifications = [
      ...(invocation.toolConfigurationNotifications ?? []),
      ...(invocation.toolExecutionNotifications ?? []),
    ];
    const errors = notifications.filter((notification) => notification.level === "error");
    if (errors.length > 0) {
      const described = errors.map(describeNotification).join("; ");
      throw new ReportParseError(
        tool,
        source,
        `runs[${runIndex}].invocations[${invocationIndex}] reports ${errors.length} scanner error(s), ` +
          `so the scan is incomplete: ${described}`,
      );
    }
    if (invocation.executionSuccessful === false) {
      throw new ReportParseError(
        tool,
        source,
        `runs[${runIndex}].invocations[${invocationIndex}].executionSuccessful is false: the scan did not complete`,
      );
    }
    for (const notification of notifications) {
      warnings.push({
        tool,
        kind: notification.descriptor?.id ?? "notification",
        message: notification.message?.text ?? "(no message)",
      });
    }
  }
}

function describeNotification(notification: z.infer<typeof notificationShape>): string {
  const id = notification.descriptor?.id;
  const text = notification.message?.text ?? "(no message)";
  return id ? `${id}: ${text}` : text;
}

function isSuppressed(sarifResult: SarifResult): boolean {
  return (sarifResult.suppressions ?? []).some(
    (suppression) => suppression.status === undefined || suppression.status === "accepted",
  );
}

function toFinding(
  sarifResult: SarifResult,
  rules: SarifRule[],
  tool: ScannerName,
  source: string,
  where: string,
): Finding {
  const ruleIndex = sarifResult.rule?.index ?? sarifResult.ruleIndex;
  const ruleId = sarifResult.ruleId ?? sarifResult.rule?.id;
  let sarifRule: SarifRule | undefined;
  if (ruleIndex !== undefined) {
    sarifRule = rules[ruleIndex];
    if (!sarifRule) {
      throw new ReportParseError(tool, source, `${where}.ruleIndex ${ruleIndex} points past tool.driver.rules (${rules.length} rules)`);
    }
  } else if (ruleId !== undefined) {
    sarifRule = rules.find((candidate) => candidate.id === ruleId);
  }
  const id = ruleId ?? sarifRule?.id;
  if (id === undefined) throw new ReportParseError(tool, source, `${where} has no ruleId, rule.id nor ruleIndex`);

  const finding: Finding = {
    tool,
    id,
    severity: severityOf(sarifResult, sarifRule, tool, source, where),
    message: sarifResult.message.text ?? sarifRule?.shortDescription?.text ?? id,
  };
  const location = locationOf(sarifResult);
  if (location) finding.location = location;
  return finding;
}

function severityOf(
  sarifResult: SarifResult,
  sarifRule: SarifRule | undefined,
  tool: ScannerName,
  source: string,
  where: string,
): Severity {
  // Gitleaks writes no level at all; a leak is a leak whatever the rule.
  if (tool === "gitleaks") return GITLEAKS_LEAK_SEVERITY;
  const securitySeverity =
    sarifResult.properties?.["security-severity"] ?? sarifRule?.properties?.["security-severity"];
  if (securitySeverity !== undefined) {
    const score = Number(securitySeverity);
    if (String(securitySeverity).trim() === "" || !Number.isFinite(score) || score < 0 || score > 10) {
      throw new ReportParseError(
        tool,
        source,
        `${where}: security-severity ${JSON.stringify(securitySeverity)} is not a score between 0 and 10`,
      );
    }
    return severityFromScore(score);
  }
  const sarifLevel: SarifLevel = sarifResult.level ?? sarifRule?.defaultConfiguration?.level ?? "warning";
  return severityFromSarifLevel(sarifLevel);
}

function locationOf(sarifResult: SarifResult): FindingLocation | undefined {
  const physical = sarifResult.locations?.[0]?.physicalLocation;
  const uri = physical?.artifactLocation?.uri;
  if (!uri) return undefined;
  const location: FindingLocation = { path: pathOfUri(uri) };
  const line = physical?.region?.startLine;
  if (line !== undefined) location.line = line;
  return location;
}

function pathOfUri(uri: string): string {
  const withoutScheme = uri.startsWith("file://") ? uri.slice("file://".length) : uri;
  try {
    return decodeURI(withoutScheme);
  } catch {
    return withoutScheme;
  }
}
