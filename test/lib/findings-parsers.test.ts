import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  ReportParseError,
  cvss3BaseScore,
  parseCargoAudit,
  parseCargoDeny,
  parseGitleaks,
  parseSarif,
  parseSemgrep,
  parseTrivy,
  severityFromCvssVector,
  severityFromSarifLevel,
  severityFromScore,
  severityFromSemgrep,
  severityFromTrivy,
  type Finding,
  type ParsedReport,
} from "../../.dagger/src/lib/findings";

function fixture(path: string): string {
  return readFileSync(new URL(`../fixtures/reports/${path}`, import.meta.url), "utf8");
}

function parseError(parse: () => unknown): ReportParseError {
  try {
    parse();
  } catch (error) {
    expect(error).toBeInstanceOf(ReportParseError);
    return error as ReportParseError;
  }
  throw new Error("expected a ReportParseError, but parsing succeeded");
}

const brief = (findings: Finding[]) => findings.map((f) => [f.id, f.severity]);

describe("severity normalisation", () => {
  it("maps scores with the CVSS qualitative scale", () => {
    expect([9, 9.8, 7, 8.9, 4, 6.9, 0.1, 3.9, 0].map(severityFromScore)).toEqual([
      "critical", "critical", "high", "high", "medium", "medium", "low", "low", "info",
    ]);
    expect(severityFromScore(11)).toBe("unknown");
    expect(severityFromScore(Number.NaN)).toBe("unknown");
  });

  it("maps each tool's vocabulary", () => {
    expect(["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN", "high"].map(severityFromTrivy)).toEqual([
      "critical", "high", "medium", "low", "unknown", undefined,
    ]);
    expect((["error", "warning", "note", "none"] as const).map(severityFromSarifLevel)).toEqual(["high", "medium", "low", "info"]);
    expect(["ERROR", "WARNING", "INFO", "CRITICAL", "HIGH", "MEDIUM", "LOW", "INVENTORY", "BOGUS"].map(severityFromSemgrep)).toEqual([
      "high", "medium", "low", "critical", "high", "medium", "low", "info", "unknown",
    ]);
  });
});

describe("CVSS v3 base score", () => {
  it("agrees with every vector/score pair the Trivy samples carry (NVD, GHSA, Red Hat scores)", () => {
    const pairs = new Map<string, number>();
    const collect = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(collect);
      else if (node && typeof node === "object") {
        const record = node as Record<string, unknown>;
        if (typeof record.V3Vector === "string" && typeof record.V3Score === "number") pairs.set(record.V3Vector, record.V3Score);
        Object.values(record).forEach(collect);
      }
    };
    for (const file of ["image-alpine310-vulns.json", "fs-composer-vendor-vuln.json", "fs-npm-with-suppressed.json"]) {
      collect(JSON.parse(fixture(`trivy/${file}`)));
    }
    expect(pairs.size).toBe(7);
    for (const [vector, score] of pairs) expect([vector, cvss3BaseScore(vector)]).toEqual([vector, score]);
  });

  it("scores scope-changed and extreme vectors", () => {
    expect(cvss3BaseScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")).toBe(9.8);
    expect(cvss3BaseScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H")).toBe(10);
    expect(cvss3BaseScore("CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:N")).toBe(5.4);
    expect(cvss3BaseScore("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:N")).toBe(0);
  });

  it("refuses what it cannot score", () => {
    expect(cvss3BaseScore("CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:N/SC:L/SI:L/SA:N")).toBeUndefined();
    expect(cvss3BaseScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H")).toBeUndefined();
    expect(cvss3BaseScore("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")).toBeUndefined();
    expect(cvss3BaseScore("AV:N/AC:L/Au:N/C:P/I:N/A:N")).toBeUndefined();
    expect(severityFromCvssVector(null)).toBeUndefined();
    expect(severityFromCvssVector("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H")).toBe("high");
  });
});

describe("parseSarif", () => {
  it("reads Trivy's image SARIF with security-severity from the rules", () => {
    const report = parseSarif(fixture("trivy/image-alpine310.sarif"), "trivy.sarif");
    expect(brief(report.findings)).toEqual([
      ["CVE-2019-1549", "medium"],
      ["CVE-2019-1551", "medium"],
      ["CVE-2019-1549", "medium"],
      ["CVE-2019-1551", "medium"],
    ]);
    expect(report.findings.every((f) => f.tool === "trivy")).toBe(true);
    expect(report.findings[0]!.location).toEqual({ path: "testdata/fixtures/images/alpine-310.tar.gz", line: 1 });
    expect(report.findings[2]!.message).toContain("Package: libssl1.1");
  });

  it("excludes suppressed results and falls back to the rule's default level", () => {
    const report = parseSarif(fixture("semgrep/sarif-with-suppression.sarif"), "semgrep.sarif");
    expect(report.suppressed).toBe(1);
    expect(report.findings).toEqual([
      {
        tool: "semgrep",
        id: "rules.regex.detected-aws-account-id",
        severity: "high",
        message: "AWS Account ID detected",
        location: { path: "targets/basic/regex-nosemgrep.txt", line: 3 },
      },
    ]);
  });

  it("reads a dataflow result whose rule defaults to warning", () => {
    const report = parseSarif(fixture("semgrep/sarif-dataflow-codeflows.sarif"), "semgrep.sarif");
    expect(brief(report.findings)).toEqual([["rules.classic", "medium"]]);
    expect(report.findings[0]!.location).toEqual({ path: "targets/taint/taint.py", line: 9 });
  });

  it("fails on a tool execution notification at level error", () => {
    const error = parseError(() => parseSarif(fixture("semgrep/sarif-errors-no-results.sarif"), "semgrep.sarif"));
    expect(error.tool).toBe("semgrep");
    expect(error.source).toBe("semgrep.sarif");
    expect(error.message).toContain("SemgrepError: File not found: targets/basic/inexistent.py");
  });

  it("gives gitleaks leaks the leak severity and never reads the snippet", () => {
    const text = fixture("gitleaks/report-sarif-simple.sarif");
    expect(text).toContain('"text": "a secret"');
    const report = parseSarif(text, "gitleaks.sarif");
    expect(report.findings).toEqual([
      {
        tool: "gitleaks",
        id: "test-rule",
        severity: "critical",
        message: "test-rule has detected secret for file auth.py at commit 0000000000000000.",
        location: { path: "auth.py", line: 1 },
      },
    ]);
    expect(JSON.stringify(report)).not.toContain("a secret");
  });

  it("accepts runs: [] as an empty report", () => {
    expect(parseSarif(fixture("gitleaks/baseline-empty-runs.sarif"), "baseline.sarif")).toEqual({
      findings: [],
      warnings: [],
      suppressed: 0,
    });
  });

  it("reads cargo-deny's SARIF (insta snapshot, header stripped)", () => {
    const sarif = fixture("cargo-deny/insta-sarif-sources.snap").split("\n").slice(4).join("\n");
    const report = parseSarif(sarif, "deny.sarif");
    expect(brief(report.findings)).toEqual([
      ["s:source-not-allowed", "high"],
      ["s:unmatched-organization", "medium"],
    ]);
    expect(report.findings[1]!.tool).toBe("cargo-deny");
  });

  it("looks rules up by index and honours a result's own level", () => {
    const log = {
      version: "2.1.0",
      runs: [
        {
          tool: { driver: { name: "x", rules: [{ id: "R1" }, { id: "R2", properties: { "security-severity": "9.1" } }] } },
          results: [
            { ruleIndex: 1, message: { text: "by index" } },
            { ruleId: "R1", level: "note", message: { text: "own level" } },
            { ruleId: "R1", message: { text: "rejected suppression" }, suppressions: [{ kind: "external", status: "rejected" }] },
          ],
        },
      ],
    };
    const report = parseSarif(JSON.stringify(log), "x.sarif", { tool: "semgrep" });
    expect(brief(report.findings)).toEqual([
      ["R2", "critical"],
      ["R1", "low"],
      ["R1", "medium"],
    ]);
  });

  it("rejects malformed SARIF with the field at fault", () => {
    expect(parseError(() => parseSarif('{"version":"2.1.0"}', "a.sarif")).message).toBe(
      'sarif report "a.sarif": is not a SARIF 2.1.0 log: runs: Invalid input: expected array, received undefined',
    );
    expect(parseError(() => parseSarif('{"version":"2.0.0","runs":[]}', "b.sarif")).message).toContain("version");
    expect(parseError(() => parseSarif(fixture("trivy/image-alpine310.sarif").slice(0, 900), "c.sarif")).message).toContain(
      "truncated",
    );
    expect(parseError(() => parseSarif("", "d.sarif")).message).toContain("is empty");
    const unknownDriver = '{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"CodeQL"}},"results":[]}]}';
    expect(parseError(() => parseSarif(unknownDriver, "e.sarif")).message).toContain('"CodeQL" is not a scanner this pipeline knows');
    const badIndex = '{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"Trivy","rules":[]}},"results":[{"ruleIndex":3,"message":{"text":"x"}}]}]}';
    expect(parseError(() => parseSarif(badIndex, "f.sarif")).message).toContain("ruleIndex 3 points past tool.driver.rules");
    const failedRun = '{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"Trivy"}},"invocations":[{"executionSuccessful":false}]}]}';
    expect(parseError(() => parseSarif(failedRun, "g.sarif")).message).toContain("executionSuccessful is false");
  });
});

describe("parseTrivy", () => {
  it("reads OS-package vulnerabilities of an image scan", () => {
    const report = parseTrivy(fixture("trivy/image-alpine310-vulns.json"), "image.json");
    expect(report.findings.map((f) => [f.id, f.severity, f.package, f.fixedVersion])).toEqual([
      ["CVE-2019-1549", "medium", "libcrypto1.1@1.1.1c-r0", "1.1.1d-r0"],
      ["CVE-2019-1551", "medium", "libcrypto1.1@1.1.1c-r0", "1.1.1d-r2"],
      ["CVE-2019-1549", "medium", "libssl1.1@1.1.1c-r0", "1.1.1d-r0"],
      ["CVE-2019-1551", "medium", "libssl1.1@1.1.1c-r0", "1.1.1d-r2"],
    ]);
    expect(report.findings[0]!.message).toBe("openssl: information disclosure in fork()");
    expect(report.findings[0]!.location).toEqual({ path: "testdata/fixtures/images/alpine-310.tar.gz (alpine 3.10.2)" });
  });

  it("treats a report without Results as no findings", () => {
    expect(parseTrivy(fixture("trivy/image-alpine39-no-results.json"), "alpine39.json")).toEqual({
      findings: [],
      warnings: [],
      suppressed: 0,
    });
  });

  it("reads a filesystem scan", () => {
    expect(parseTrivy(fixture("trivy/fs-composer-vendor-vuln.json"), "fs.json").findings).toEqual([
      {
        tool: "trivy",
        id: "CVE-2022-24775",
        severity: "high",
        location: { path: "installed.json" },
        message: "Improper Input Validation in guzzlehttp/psr7",
        package: "guzzlehttp/psr7@1.8.3",
        fixedVersion: "1.8.4",
      },
    ]);
  });

  it("does not count ExperimentalModifiedFindings (VEX-suppressed) as findings", () => {
    const report = parseTrivy(fixture("trivy/fs-npm-with-suppressed.json"), "npm.json");
    expect(brief(report.findings)).toEqual([["CVE-2017-20165", "high"]]);
    expect(report.findings.map((f) => f.id)).not.toContain("CVE-2017-16137");
    expect(report.suppressed).toBe(1);
  });

  it("reads secrets without copying the matched text", () => {
    const report = parseTrivy(fixture("trivy/repo-secrets.json"), "secrets.json");
    expect(report.findings).toEqual([
      { tool: "trivy", id: "aws-access-key-id", severity: "critical", location: { path: "deploy.sh", line: 3 }, message: "secret: AWS Access Key ID" },
      { tool: "trivy", id: "mysecret", severity: "high", location: { path: "deploy.sh", line: 7 }, message: "secret: My Secret" },
    ]);
    expect(JSON.stringify(report)).not.toContain("ghp_");
    expect(JSON.stringify(report)).not.toContain("AWS_ACCESS_KEY_ID");
  });

  it("reads failed misconfigurations and skips passed ones", () => {
    const text = JSON.stringify({
      SchemaVersion: 2,
      Results: [
        {
          Target: "Dockerfile",
          Class: "config",
          Misconfigurations: [
            { ID: "DS002", AVDID: "AVD-DS-0002", Title: "Image user should not be 'root'", Message: "Specify at least 1 USER command", Severity: "HIGH", Status: "FAIL" },
            { ID: "DS001", AVDID: "AVD-DS-0001", Title: "':latest' tag used", Severity: "MEDIUM", Status: "PASS" },
            { ID: "DS026", AVDID: "AVD-DS-0026", Title: "No HEALTHCHECK", Message: "Add HEALTHCHECK", Severity: "LOW", Status: "FAIL", CauseMetadata: { StartLine: 4 } },
          ],
        },
      ],
    });
    expect(parseTrivy(text, "config.json").findings).toEqual([
      { tool: "trivy", id: "AVD-DS-0002", severity: "high", location: { path: "Dockerfile" }, message: "Specify at least 1 USER command" },
      { tool: "trivy", id: "AVD-DS-0026", severity: "low", location: { path: "Dockerfile", line: 4 }, message: "Add HEALTHCHECK" },
    ]);
  });

  it("rejects malformed reports", () => {
    expect(parseError(() => parseTrivy(fixture("trivy/fs-composer-vendor-vuln.json").slice(0, 1200), "t.json")).message).toBe(
      'trivy report "t.json": is not valid JSON: the document ends before it is complete (truncated report?)',
    );
    expect(parseError(() => parseTrivy("[]", "t.json")).message).toContain("(document): Invalid input: expected object");
    expect(parseError(() => parseTrivy('{"SchemaVersion":1,"Results":[]}', "t.json")).message).toContain("SchemaVersion");
    const badSeverity = '{"SchemaVersion":2,"Results":[{"Target":"x","Vulnerabilities":[{"VulnerabilityID":"C","PkgName":"p","Severity":"SEVERE"}]}]}';
    expect(parseError(() => parseTrivy(badSeverity, "t.json")).message).toContain("Results[0].Vulnerabilities[0].Severity");
    expect(parseError(() => parseTrivy('{"SchemaVersion":2,"Results":{}}', "t.json")).message).toContain("Results: Invalid input");
  });
});

describe("parseSemgrep", () => {
  it("reads one finding", () => {
    expect(parseSemgrep(fixture("semgrep/json-one-finding.json"), "semgrep.json")).toEqual({
      findings: [
        {
          tool: "semgrep",
          id: "rules.eqeq-is-bad",
          severity: "high",
          location: { path: "targets/basic/stupid.py", line: 3 },
          message: "useless comparison operation `a + b == a + b` or `a + b != a + b`",
        },
      ],
      warnings: [],
      suppressed: 0,
    });
  });

  it("reads a clean scan", () => {
    expect(parseSemgrep(fixture("semgrep/json-no-findings.json"), "semgrep.json").findings).toEqual([]);
  });

  it("tolerates a per-file timeout as a warning", () => {
    const report = parseSemgrep(fixture("semgrep/json-timeout-error.json"), "semgrep.json");
    expect(report.findings).toEqual([]);
    expect(report.warnings).toEqual([
      {
        tool: "semgrep",
        kind: "Timeout",
        id: "rules.forcetimeout",
        location: { path: "targets/equivalence/open_redirect.py" },
        message: "Timeout: Timeout when running rules.forcetimeout on targets/equivalence/open_redirect.py:",
      },
    ]);
  });

  it("fails on fatal errors (invalid rule) instead of passing an empty result", () => {
    const error = parseError(() => parseSemgrep(fixture("semgrep/json-invalid-rule-error.json"), "semgrep.json"));
    expect(error.message).toBe(
      'semgrep report "semgrep.json": Semgrep reported 2 fatal error(s), so the scan is incomplete: ' +
        "InvalidRuleSchemaError: Invalid rule schema; SemgrepError: invalid configuration file found (1 configs were invalid)",
    );
  });

  it("reads real Semgrep 1.30 output", () => {
    const report = parseSemgrep(fixture("semgrep/json-real-v1.30.0-go-findings.json"), "semgrep.json");
    expect(report.findings.map((f) => [f.severity, f.location?.line])).toEqual([
      ["medium", 27],
      ["medium", 54],
      ["medium", 61],
      ["medium", 67],
      ["medium", 77],
    ]);
    expect(new Set(report.findings.map((f) => f.id))).toEqual(
      new Set(["go.lang.security.audit.net.formatted-template-string.formatted-template-string"]),
    );
  });

  it("counts nosemgrep-ignored results as suppressed", () => {
    const output = JSON.parse(fixture("semgrep/json-one-finding.json"));
    output.results[0].extra.is_ignored = true;
    const report = parseSemgrep(JSON.stringify(output), "semgrep.json");
    expect([report.findings.length, report.suppressed]).toEqual([0, 1]);
  });

  it("rejects malformed output", () => {
    expect(parseError(() => parseSemgrep('{"errors": []}', "s.json")).message).toContain("results: Invalid input: expected array");
    expect(parseError(() => parseSemgrep('{"results": [{"check_id": "x"}]}', "s.json")).message).toContain("results[0].path");
    expect(parseError(() => parseSemgrep(fixture("semgrep/json-one-finding.json").slice(0, 300), "s.json")).message).toContain(
      "truncated",
    );
  });
});

describe("parseGitleaks", () => {
  it("reads a real scan's leaks with commit short sha", () => {
    expect(parseGitleaks(fixture("gitleaks/baseline-real-scan.json"), "gitleaks.json").findings).toEqual([
      {
        tool: "gitleaks",
        id: "pypi-upload-token",
        severity: "critical",
        location: { path: "detect/detect_test.go", line: 32 },
        message: "PyPI upload token in commit 9326f35",
      },
      {
        tool: "gitleaks",
        id: "pypi-upload-token",
        severity: "critical",
        location: { path: "detect/detect_test.go", line: 33 },
        message: "PyPI upload token in commit 9326f35",
      },
    ]);
  });

  it("never copies Secret or Match, and falls back to the rule id for an empty description", () => {
    const report = parseGitleaks(fixture("gitleaks/report-json-simple.json"), "gitleaks.json");
    expect(report.findings).toEqual([
      { tool: "gitleaks", id: "test-rule", severity: "critical", location: { path: "auth.py", line: 1 }, message: "test-rule in commit 0000000" },
    ]);
    const serialized = JSON.stringify(report);
    expect(serialized).not.toContain("a secret");
    expect(serialized).not.toContain("line containing secret");
    expect(serialized).not.toContain("johndoe");
  });

  it("reads [] as no leaks", () => {
    expect(parseGitleaks(fixture("gitleaks/report-json-empty.json"), "gitleaks.json").findings).toEqual([]);
  });

  it("keeps secrets out of error messages", () => {
    const broken = '[{"RuleID":"k","Secret":"hunter2-topsecret" oops}]';
    const syntax = parseError(() => parseGitleaks(broken, "g.json"));
    expect(syntax.message).toBe('gitleaks report "g.json": is not valid JSON: syntax error at line 1, column 45');
    const shape = parseError(() => parseGitleaks('[{"RuleID": 3, "Secret": "hunter2-topsecret"}]', "g.json"));
    expect(shape.message).toContain("[0].RuleID: Invalid input: expected string, received number");
    expect(shape.message).not.toContain("hunter2");
    expect(parseError(() => parseGitleaks('{"leaks": []}', "g.json")).message).toContain("expected array");
  });
});

describe("parseCargoAudit", () => {
  it("reads a clean audit", () => {
    expect(parseCargoAudit(fixture("cargo-audit/no-findings.json"), "audit.json")).toEqual({ findings: [], warnings: [], suppressed: 0 });
  });

  it("reads vulnerabilities without CVSS as high, and warnings apart", () => {
    const report = parseCargoAudit(fixture("cargo-audit/many-findings-with-unmaintained-warnings.json"), "audit.json");
    expect(report.findings.map((f) => [f.id, f.severity, f.package])).toEqual([
      ["RUSTSEC-2020-0091", "high", "arc-swap@0.4.7"],
      ["RUSTSEC-2021-0020", "high", "hyper@0.13.9"],
      ["RUSTSEC-2021-0003", "high", "smallvec@0.6.13"],
      ["RUSTSEC-2021-0003", "high", "smallvec@1.5.0"],
    ]);
    expect(report.findings[0]).toMatchObject({
      message: "Dangling reference in `access::Map` with Constant",
      fixedVersion: ">=1.1.0 or >=0.4.8",
      aliases: ["CVE-2020-35711"],
    });
    expect(report.warnings.map((w) => [w.kind, w.id, w.package])).toEqual([
      ["unmaintained", "RUSTSEC-2021-0064", "cpuid-bool@0.1.2"],
      ["unmaintained", "RUSTSEC-2020-0016", "net2@0.2.35"],
      ["unmaintained", "RUSTSEC-2020-0056", "stdweb@0.4.20"],
      ["yanked", undefined, "arc-swap@0.4.7"],
      ["yanked", undefined, "bytecount@0.6.1"],
      ["yanked", undefined, "miow@0.2.1"],
      ["yanked", undefined, "net2@0.2.35"],
      ["yanked", undefined, "pin-project-lite@0.1.11"],
      ["yanked", undefined, "pin-project-lite@0.2.0"],
    ]);
    expect(report.warnings[2]!.message).toBe("stdweb is unmaintained");
  });

  it("scores CVSS 3.1 vectors and falls back to high for CVSS 4.0", () => {
    const report = parseCargoAudit(fixture("cargo-audit/many-findings-cvss-v3-v4.json"), "audit.json");
    expect(brief(report.findings)).toEqual([
      ["RUSTSEC-2026-0047", "high"], // AV:N/AC:L ... I:H = 7.5
      ["RUSTSEC-2026-0046", "high"],
      ["RUSTSEC-2026-0044", "high"], // no CVSS
      ["RUSTSEC-2026-0045", "medium"], // AC:H ... I:H = 5.9
      ["RUSTSEC-2026-0048", "high"], // AC:H ... C:H/I:H = 7.4
      ["RUSTSEC-2026-0141", "high"], // CVSS 4.0, not scored
      ["RUSTSEC-2026-0049", "high"],
      ["RUSTSEC-2026-0104", "high"],
      ["RUSTSEC-2026-0099", "high"],
      ["RUSTSEC-2026-0098", "high"],
    ]);
    expect(report.warnings).toEqual([]);
  });

  it("rejects malformed or inconsistent reports", () => {
    expect(parseError(() => parseCargoAudit('{"database": {}}', "a.json")).message).toContain("vulnerabilities: Invalid input");
    const inconsistent = '{"vulnerabilities": {"found": true, "count": 2, "list": []}, "warnings": {}}';
    expect(parseError(() => parseCargoAudit(inconsistent, "a.json")).message).toContain(
      "found=true, count=2, but the list holds 0 entries",
    );
    const text = fixture("cargo-audit/many-findings-cvss-v3-v4.json");
    expect(parseError(() => parseCargoAudit(text.slice(0, text.length / 2), "a.json")).message).toContain("truncated");
  });
});

describe("parseCargoDeny", () => {
  /** insta snapshot -> the JSON lines cargo-deny writes to stderr. */
  function denyLines(snapshot: string): string[] {
    const json = JSON.parse(fixture(`cargo-deny/${snapshot}`).split("\n").slice(4).join("\n")) as unknown;
    return (Array.isArray(json) ? json : [json]).map((diagnostic) => JSON.stringify(diagnostic));
  }
  const summary = (check: string, errors: number, warnings = 0) =>
    JSON.stringify({ type: "summary", fields: { [check]: { errors, warnings, notes: 0, helps: 0 } } });

  it("reads a vulnerability diagnostic with its advisory id and CVSS", () => {
    const stream = [...denyLines("insta-advisories-vulnerability-diag.snap"), summary("advisories", 1)].join("\n");
    const report: ParsedReport = parseCargoDeny(stream, "deny.log");
    expect(report.findings).toEqual([
      {
        tool: "cargo-deny",
        id: "RUSTSEC-2019-0001",
        severity: "high",
        message: "Uncontrolled recursion leads to abort in HTML serialization",
        package: "ammonia@0.7.0",
        aliases: ["CVE-2019-15542", "GHSA-5hp8-35wj-m525"],
      },
    ]);
  });

  it("reads a banned crate", () => {
    const stream = [...denyLines("insta-bans-banned-diag.snap"), summary("bans", 1)].join("\n");
    expect(parseCargoDeny(stream, "deny.log").findings).toEqual([
      {
        tool: "cargo-deny",
        id: "banned",
        severity: "high",
        message: "crate 'dangerous-dep = 0.1.0' is explicitly banned",
        package: "dangerous-dep@0.1.0",
      },
    ]);
  });

  it("keeps warning diagnostics apart and skips progress text", () => {
    const stream = [
      "    Fetching advisory database",
      ...denyLines("insta-licenses-unlicensed-diags.snap"),
      JSON.stringify({ type: "log", fields: { timestamp: "2024-01-01T00:00:00Z", level: "WARN", message: "stale index" } }),
      summary("licenses", 1, 2),
      "",
    ].join("\n");
    const report = parseCargoDeny(stream, "deny.log");
    expect(report.findings).toEqual([
      { tool: "cargo-deny", id: "unlicensed", severity: "high", message: "features-galore = 0.1.0 is unlicensed", package: "features-galore@0.1.0" },
    ]);
    expect(report.warnings.map((w) => [w.kind, w.message])).toEqual([
      ["empty-license-field", "license field was present but empty"],
      ["unlicensed", "a valid license expression could not be retrieved for the crate"],
      ["log", "stale index"],
    ]);
  });

  it("reads a clean run (summary only)", () => {
    const clean = JSON.stringify({ type: "summary", fields: { advisories: { errors: 0, warnings: 0, notes: 0, helps: 0 }, bans: { errors: 0, warnings: 0, notes: 0, helps: 0 } } });
    expect(parseCargoDeny(clean, "deny.log")).toEqual({ findings: [], warnings: [], suppressed: 0 });
  });

  it("fails when cargo-deny stopped before its summary", () => {
    expect(parseError(() => parseCargoDeny("", "deny.log")).message).toContain("no diagnostic, no summary line");
    expect(parseError(() => parseCargoDeny("error: unrecognized option\n", "deny.log")).message).toContain("no diagnostic, no summary line");
    const crashed = JSON.stringify({ type: "log", fields: { timestamp: "t", level: "ERROR", message: "failed to load advisory database" } });
    expect(parseError(() => parseCargoDeny(crashed, "deny.log")).message).toBe(
      'cargo-deny report "deny.log": cargo-deny stopped before its summary: failed to load advisory database',
    );
    const diagnosticsOnly = denyLines("insta-licenses-unlicensed-diags.snap").join("\n");
    expect(parseError(() => parseCargoDeny(diagnosticsOnly, "deny.log")).message).toContain("has no summary line");
  });

  it("fails when the summary counts errors it did not print, or a line is cut", () => {
    expect(parseError(() => parseCargoDeny(summary("advisories", 2), "deny.log")).message).toContain(
      "the summary counts 2 error(s) but only 0 error diagnostic(s) were printed",
    );
    const [diagnostic] = denyLines("insta-bans-banned-diag.snap");
    const cut = [diagnostic!.slice(0, 80), summary("bans", 1)].join("\n");
    expect(parseError(() => parseCargoDeny(cut, "deny.log")).message).toContain("line 1 is not valid JSON");
    const wrongShape = [JSON.stringify({ type: "diagnostic", fields: { message: "x" } }), summary("bans", 0)].join("\n");
    expect(parseError(() => parseCargoDeny(wrongShape, "deny.log")).message).toContain("line 1, fields): severity");
  });
});
