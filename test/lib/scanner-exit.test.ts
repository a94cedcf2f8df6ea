import { describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import {
  FINDINGS_EXIT_CODE,
  SCANNERS,
  SCANNER_CRASH_EXIT_CODE,
  scanCommand,
  scanStatus,
  toolStderr,
  type ReportChannel,
  type ScannerAdapter,
} from "../../.dagger/src/lib/scanner-exit";
import { runScanWrapper } from "../support/scan-wrapper";

/** POSIX shells at hand: dash (Debian's sh, as in the Rust image) and bash. The alpine-based scanner images use busybox sh. */
const SHELLS = ["/bin/dash", "/bin/bash"].filter(existsSync);

function wrapped(adapter: ScannerAdapter, report: ReportChannel = { file: "/reports/out.json" }) {
  return scanCommand(adapter, report, ["the-tool", "--flag"]);
}

describe("scanner adapter table", () => {
  it("gives every scanner disjoint clean and findings codes, none of them the wrapper's crash code", () => {
    for (const adapter of Object.values(SCANNERS) as ScannerAdapter[]) {
      expect(adapter.clean.filter((code) => adapter.findings.includes(code)), adapter.tool).toEqual([]);
      expect([...adapter.clean, ...adapter.findings], adapter.tool).not.toContain(SCANNER_CRASH_EXIT_CODE);
      expect(adapter.source, adapter.tool).toMatch(/\//);
    }
    // the codes each tool uses for an error are crashes, not results
    expect(SCANNERS.trivy.findings).not.toContain(1); // log.Fatal
    expect(SCANNERS.gitleaks.findings).not.toContain(1); // log.Fatal, partial scan
    expect(SCANNERS.semgrep.findings).toEqual([1]);
    expect(SCANNERS.cargoAudit.findings).not.toContain(2);
    expect(SCANNERS.cargoDeny.findings).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(FINDINGS_EXIT_CODE).toBe(42);
  });
});

// Every row of the table under the shell of the images' `sh -c`; the special cases under every shell at hand.
describe("the scan wrapper over the adapter table", { timeout: 120_000 }, () => {
  const sh = "sh";
  for (const [name, adapter] of Object.entries(SCANNERS) as Array<[string, ScannerAdapter]>) {
    const channel: ReportChannel = name === "cargoAudit" ? "stdout" : name === "cargoDeny" ? "stderr" : { file: "/reports/out.json" };
    const complete = name === "cargoDeny" ? '{"fields":{},"type":"summary"}\n' : '{"report": true}';
    const tool = (exitCode: number) =>
      channel === "stdout" ? { exitCode, stdout: complete } : channel === "stderr" ? { exitCode, stderr: complete } : { exitCode };
    const report = typeof channel === "string" ? undefined : complete;

    it(`${adapter.tool}: a result code with its report exits 0 (cached) and says what the code meant`, () => {
      for (const [codes, verdict] of [[adapter.clean, "clean"], [adapter.findings, "findings"]] as const) {
        for (const code of codes) {
          const result = runScanWrapper(wrapped(adapter, channel), tool(code), report, sh);
          expect([code, result.exitCode]).toEqual([code, 0]);
          expect(scanStatus(result.stderr)).toEqual({ verdict, toolExit: code });
        }
      }
    });

    it(`${adapter.tool}: any other code, or a result code without report, fails the exec (not cached)`, () => {
      const others = [1, 2, 101, 124, 127, 143].filter((code) => !adapter.clean.includes(code) && !adapter.findings.includes(code));
      for (const code of others) {
        const result = runScanWrapper(wrapped(adapter, channel), tool(code), report, sh);
        expect([code, result.exitCode]).toEqual([code, SCANNER_CRASH_EXIT_CODE]);
        expect(scanStatus(result.stderr)).toEqual({ verdict: "crash", toolExit: code, reason: "not a scan result" });
      }
      for (const code of [adapter.clean[0]!, adapter.findings[0]!, adapter.findings[adapter.findings.length - 1]!]) {
        const result = runScanWrapper(wrapped(adapter, channel), { exitCode: code }, undefined, sh);
        expect([code, result.exitCode]).toEqual([code, SCANNER_CRASH_EXIT_CODE]);
        expect(scanStatus(result.stderr)).toMatchObject({ verdict: "crash", toolExit: code, reason: expect.stringContaining("no report") });
      }
    });
  }
});

describe.each(SHELLS)("the scan wrapper under %s", { timeout: 60_000 }, (sh) => {
  it("replays the tool's stdout and stderr (cargo audit's JSON report is its stdout)", () => {
    const result = runScanWrapper(wrapped(SCANNERS.cargoAudit, "stdout"), { exitCode: 1, stdout: '{"vulnerabilities":{}}', stderr: "Fetching advisory database\n" }, undefined, sh);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('{"vulnerabilities":{}}');
    expect(toolStderr(result.stderr)).toBe("Fetching advisory database\n");
  });

  it("puts its status on a line of its own when the tool's stderr has no final newline", () => {
    const result = runScanWrapper(wrapped(SCANNERS.cargoDeny, "stderr"), { exitCode: 2, stderr: '{"fields":{},"type":"summary"}' }, undefined, sh);
    expect(result.exitCode).toBe(0);
    expect(scanStatus(result.stderr)).toEqual({ verdict: "findings", toolExit: 2 });
    expect(toolStderr(result.stderr)).toBe('{"fields":{},"type":"summary"}\n');
  });

  it("cargo-audit: exit 1 with no report is the database fetch failing, not vulnerabilities", () => {
    const result = runScanWrapper(wrapped(SCANNERS.cargoAudit, "stdout"), { exitCode: 1, stderr: "error: couldn't fetch advisory database" }, undefined, sh);
    expect(result.exitCode).toBe(SCANNER_CRASH_EXIT_CODE);
  });

  it("cargo-deny: exit 1 without the summary line is its own error, not an advisory", () => {
    const crash = runScanWrapper(wrapped(SCANNERS.cargoDeny, "stderr"), { exitCode: 1, stderr: '{"type":"log","fields":{"level":"ERROR","message":"failed to load deny.toml"}}\n' }, undefined, sh);
    expect(crash.exitCode).toBe(SCANNER_CRASH_EXIT_CODE);
    expect(scanStatus(crash.stderr)).toMatchObject({ verdict: "crash", toolExit: 1, reason: expect.stringContaining("incomplete report") });
  });

  it("gitleaks: ERR lines (coloured or not) or a partial scan fail the exec even with exit 0", () => {
    for (const stderr of ["\u001b[31mERR\u001b[0m [git] fatal: bad object\n", "12:00AM ERR failed to scan\n", "WRN no leaks found in partial scan\n"]) {
      const result = runScanWrapper(wrapped(SCANNERS.gitleaks), { exitCode: 0, stderr }, "[]", sh);
      expect([stderr, result.exitCode]).toEqual([stderr, SCANNER_CRASH_EXIT_CODE]);
      expect(scanStatus(result.stderr)).toMatchObject({ verdict: "crash", reason: "errors logged: incomplete scan" });
    }
    const fine = runScanWrapper(wrapped(SCANNERS.gitleaks), { exitCode: 0, stderr: "INF 12 commits scanned.\nINF no leaks found\nWRN ERROR-free\n" }, "[]", sh);
    expect(fine.exitCode).toBe(0);
  });
});

describe("scanStatus", () => {
  it("reads the wrapper's last status line and ignores the tool's own lines", () => {
    expect(scanStatus("x\nobservatory-ci-scan: trivy exited 42: findings\n")).toEqual({ verdict: "findings", toolExit: 42 });
    expect(scanStatus("observatory-ci-scan: semgrep crashed: exit 124: not a scan result")).toEqual({ verdict: "crash", toolExit: 124, reason: "not a scan result" });
    expect(scanStatus("panic")).toBeUndefined();
  });
});
