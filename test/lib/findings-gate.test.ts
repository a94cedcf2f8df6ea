import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  allowlistDayProblems,
  applyAllowlist,
  failureHeadline,
  invalidEntryProblem,
  isExpired,
  parseCargoAudit,
  parseGitleaks,
  parseSemgrep,
  parseTrivy,
  securityVerdict,
  type AllowlistEntry,
  type Finding,
} from "../../.dagger/src/lib/findings";

function fixture(path: string): string {
  return readFileSync(new URL(`../fixtures/reports/${path}`, import.meta.url), "utf8");
}

const today = new Date("2025-03-10T23:30:00Z");

const finding = (overrides: Partial<Finding> = {}): Finding => ({
  tool: "trivy",
  id: "CVE-2024-0001",
  severity: "high",
  message: "a bug",
  location: { path: "Cargo.lock" },
  ...overrides,
});

/** An entry added 89 days before it expires (within the 90-day rule), unless the test says otherwise. */
const entry = (overrides: Partial<AllowlistEntry> = {}): AllowlistEntry => {
  const expires = overrides.expires ?? "2025-05-31";
  const added = new Date(Date.parse(`${expires}T00:00:00Z`) - 89 * 86_400_000).toISOString().slice(0, 10);
  return { id: "CVE-2024-0001", reason: "not reachable from our code", added, expires, ...overrides };
};

describe("applyAllowlist", () => {
  it("accepts matching findings and blocks the others", () => {
    const accepted = finding();
    const other = finding({ id: "CVE-2024-0002" });
    const allow = entry();
    expect(applyAllowlist([accepted, other], [allow], today)).toEqual({
      blocking: [other],
      accepted: [{ finding: accepted, entry: allow }],
      expired: [],
      invalid: [],
      stale: [],
    });
  });

  it("lets an entry added after today accept nothing, and names why", () => {
    const ahead = entry({ added: "2025-03-11", expires: "2025-04-30" });
    const outcome = applyAllowlist([finding()], [ahead], today);
    expect(outcome.accepted).toEqual([]);
    expect(outcome.blocking).toHaveLength(1);
    expect(outcome.invalid).toEqual([{ entry: ahead, problem: "added 2025-03-11 is after today (2025-03-10)" }]);
    expect(outcome.stale).toEqual([]);
    // today itself is fine (UTC day)
    expect(applyAllowlist([finding()], [entry({ added: "2025-03-10", expires: "2025-04-30" })], today).accepted).toHaveLength(1);
  });

  it("re-checks the 90-day rule for entries that did not come through the config schema", () => {
    expect(invalidEntryProblem(entry({ added: "2025-01-01", expires: "2025-04-01" }), today)).toBeUndefined(); // exactly 90 days
    expect(invalidEntryProblem(entry({ added: "2025-01-01", expires: "2025-04-02" }), today)).toBe("expires 2025-04-02 is 91 days after added 2025-01-01 (at most 90)");
    expect(invalidEntryProblem(entry({ added: "2025-03-01", expires: "2025-02-28" }), today)).toBe("expires 2025-02-28 is before added 2025-03-01");
    expect(invalidEntryProblem({ id: "X", reason: "r", expires: "2025-04-01" } as AllowlistEntry, today)).toBe('added null is not a date written YYYY-MM-DD');
  });

  it("is valid through its expiry day, compared in UTC", () => {
    expect(isExpired(entry({ expires: "2025-03-10" }), today)).toBe(false);
    expect(isExpired(entry({ expires: "2025-03-09" }), today)).toBe(true);
    // 23:30 UTC on the 10th is already the 11th in UTC+2: the UTC day still decides.
    expect(isExpired(entry({ expires: "2025-03-10" }), new Date("2025-03-11T00:30:00+02:00"))).toBe(false);
    expect(isExpired(entry({ expires: "2025-03-10" }), new Date("2025-03-11T00:00:00Z"))).toBe(true);
  });

  it("lets an expired entry accept nothing and reports it", () => {
    const expiredEntry = entry({ expires: "2025-01-31" });
    const outcome = applyAllowlist([finding()], [expiredEntry], today);
    expect(outcome.blocking).toHaveLength(1);
    expect(outcome.accepted).toEqual([]);
    expect(outcome.expired).toEqual([expiredEntry]);
    expect(outcome.stale).toEqual([]);
  });

  it("reports valid entries that matched nothing as stale", () => {
    const unused = entry({ id: "RUSTSEC-2020-0001" });
    expect(applyAllowlist([finding()], [unused], today).stale).toEqual([unused]);
  });

  it("scopes entries by tool and path (file or directory), and matches aliases", () => {
    const inVendor = finding({ tool: "semgrep", id: "rule.x", location: { path: "./vendor/lib/a.rs", line: 3 } });
    const inSrc = finding({ tool: "semgrep", id: "rule.x", location: { path: "src/a.rs", line: 3 } });
    const vendorished = finding({ tool: "semgrep", id: "rule.x", location: { path: "vendor-tools/a.rs" } });
    const outcome = applyAllowlist([inVendor, inSrc, vendorished], [entry({ id: "rule.x", tool: "semgrep", path: "vendor/" })], today);
    expect(outcome.accepted.map((a) => a.finding)).toEqual([inVendor]);
    expect(outcome.blocking).toEqual([inSrc, vendorished]);

    expect(applyAllowlist([finding()], [entry({ tool: "semgrep" })], today).accepted).toEqual([]);
    expect(applyAllowlist([finding({ location: undefined })], [entry({ path: "Cargo.lock" })], today).accepted).toEqual([]);

    const rustsec = finding({ tool: "cargo-audit", id: "RUSTSEC-2020-0091", aliases: ["CVE-2020-35711"], location: undefined });
    expect(applyAllowlist([rustsec], [entry({ id: "CVE-2020-35711" })], today).accepted).toHaveLength(1);
  });
});

describe("securityVerdict", () => {
  it("fails on high findings of a genuine cargo-audit report and names the top three", () => {
    const report = parseCargoAudit(fixture("cargo-audit/many-findings-with-unmaintained-warnings.json"), "audit.json");
    const verdict = securityVerdict("cargo-audit", report, { today });
    expect(verdict.passed).toBe(false);
    expect(verdict.counts).toEqual({ critical: 0, high: 4, medium: 0, low: 0, info: 0, unknown: 0 });
    expect(verdict.blocking.map((f) => f.id)).toEqual(["RUSTSEC-2020-0091", "RUSTSEC-2021-0020", "RUSTSEC-2021-0003", "RUSTSEC-2021-0003"]);
    expect(verdict.warnings).toHaveLength(9);
    expect(verdict.summary).toBe(
      "FAILED: 4 high; blocking: RUSTSEC-2020-0091 (arc-swap@0.4.7), RUSTSEC-2021-0020 (hyper@0.13.9), " +
        "RUSTSEC-2021-0003 (smallvec@0.6.13) and 1 more; 9 warnings",
    );
    expect(verdict.details).toContain("**Why it failed:** 4 findings at a severity the gate fails on (critical, high): 4 high.");
    expect(verdict.details).toContain("| high | `RUSTSEC-2021-0003` | smallvec@1.5.0 | Buffer overflow in SmallVec::insert_many | >=0.6.14, <1.0.0 or >=1.6.1 |");
    expect(verdict.details).toContain("- unmaintained `RUSTSEC-2020-0056 stdweb@0.4.20`: stdweb is unmaintained");
  });

  it("passes medium-only findings under the default threshold, and fails them when asked to", () => {
    const report = parseTrivy(fixture("trivy/image-alpine310-vulns.json"), "image.json");
    const lenient = securityVerdict("trivy", report, { today });
    expect(lenient.passed).toBe(true);
    expect(lenient.blocking).toEqual([]);
    expect(lenient.belowThreshold).toHaveLength(4);
    expect(lenient.summary).toBe("passed: 4 medium");
    expect(lenient.details).toContain("Below the fail threshold (not failing): 4 medium.");

    const strict = securityVerdict("trivy", report, { today, failOn: ["critical", "high", "medium"] });
    expect(strict.passed).toBe(false);
    expect(strict.details).toContain(
      "| medium | `CVE-2019-1551` | libssl1.1@1.1.1c-r0 in testdata/fixtures/images/alpine-310.tar.gz (alpine 3.10.2) |",
    );
    expect(strict.summary).toContain(
      "blocking: CVE-2019-1549 (libcrypto1.1@1.1.1c-r0), CVE-2019-1551 (libcrypto1.1@1.1.1c-r0), CVE-2019-1549 (libssl1.1@1.1.1c-r0) and 1 more",
    );
  });

  it("sorts blocking findings worst first", () => {
    const verdict = securityVerdict("trivy", parseTrivy(fixture("trivy/repo-secrets.json"), "secrets.json"), { today });
    expect(verdict.summary).toBe("FAILED: 1 critical, 1 high; blocking: aws-access-key-id (deploy.sh:3), mysecret (deploy.sh:7)");
  });

  it("passes when the allowlist accepts every blocking finding", () => {
    const report = parseGitleaks(fixture("gitleaks/baseline-real-scan.json"), "gitleaks.json");
    const allowlist = [entry({ id: "pypi-upload-token", tool: "gitleaks", path: "detect/detect_test.go", reason: "test fixture token" })];
    const verdict = securityVerdict("gitleaks", report, { today, allowlist });
    expect(verdict.passed).toBe(true);
    expect(verdict.counts.critical).toBe(2);
    expect(verdict.accepted).toHaveLength(2);
    expect(verdict.summary).toBe("passed: 2 critical; 2 accepted");
    expect(verdict.details).toContain(
      "- critical `pypi-upload-token (detect/detect_test.go:32)`: test fixture token (until 2025-05-31)",
    );
  });

  it("fails on an expired entry, names it, and blocks what it used to accept", () => {
    const report = parseGitleaks(fixture("gitleaks/baseline-real-scan.json"), "gitleaks.json");
    const allowlist = [entry({ id: "pypi-upload-token", expires: "2025-03-09", reason: "test fixture token" })];
    const verdict = securityVerdict("gitleaks", report, { today, allowlist });
    expect(verdict.passed).toBe(false);
    expect(verdict.blocking).toHaveLength(2);
    expect(verdict.expired).toEqual(allowlist);
    expect(verdict.summary).toContain("expired allowlist: pypi-upload-token");
    expect(verdict.details).toContain("2 findings at a severity the gate fails on (critical, high): 2 critical; 1 allowlist entry has expired.");
    expect(verdict.details).toContain("- `pypi-upload-token until 2025-03-09`: test fixture token");
  });

  it("fails on an entry added after today, naming its place in the configuration", () => {
    const valid = entry({ id: "CVE-2024-0002" });
    const ahead = entry({ added: "2025-04-01", expires: "2025-05-01" });
    const verdict = securityVerdict("trivy", [finding()], { today, allowlist: [valid, ahead] });
    expect(verdict.passed).toBe(false);
    expect(verdict.accepted).toEqual([]);
    expect(verdict.invalid).toEqual([{ entry: ahead, problem: "security.allowlist.1: added 2025-04-01 is after today (2025-03-10)" }]);
    expect(verdict.summary).toContain("invalid allowlist: CVE-2024-0001");
    expect(verdict.details).toContain("1 allowlist entry is invalid.");
    expect(verdict.details).toContain("**Invalid allowlist entries** (they accept nothing until corrected):\n- `CVE-2024-0001 until 2025-05-01`: security.allowlist.1: added 2025-04-01 is after today (2025-03-10)");
  });

  it("an entry without tool concerns only the scanners whose findings it names", () => {
    const elsewhere = entry({ id: "RUSTSEC-2020-0071", expires: "2025-01-31" });
    const verdict = securityVerdict("trivy", [finding()], { today, allowlist: [elsewhere] });
    expect(verdict.expired).toEqual([]);
    expect(verdict.blocking).toHaveLength(1);
    expect(verdict.summary).not.toContain("allowlist");
    const clean = securityVerdict("semgrep", [], { today, allowlist: [elsewhere] });
    expect(clean).toMatchObject({ passed: true, summary: "passed: no findings" });
  });

  it("a failure on allowlist entries alone is not called findings", () => {
    const verdict = securityVerdict("gitleaks", [], { today, allowlist: [entry({ tool: "gitleaks", expires: "2024-12-31" })] });
    expect(verdict.passed).toBe(false);
    const headline = failureHeadline(verdict, { one: "leak", many: "leaks" }, "the full git history");
    expect(headline).toBe("no leak in the full git history fails the gate, but 1 allowlist entry accepts nothing (expired or invalid)");
    const found = securityVerdict("trivy", [finding(), finding({ id: "CVE-2024-0002" })], { today });
    expect(failureHeadline(found, { one: "finding", many: "findings" }, "the image (linux/amd64)")).toBe("2 findings in the image (linux/amd64) that no allowlist entry accepts");
  });

  it("fails on an expired entry even with no findings", () => {
    const verdict = securityVerdict("semgrep", [], { today, allowlist: [entry({ tool: "semgrep", expires: "2024-12-31" })] });
    expect(verdict.passed).toBe(false);
    expect(verdict.summary).toBe("FAILED: no findings; expired allowlist: CVE-2024-0001");
  });

  it("reports stale entries scoped to the tool without failing, and leaves unscoped ones to the combined report", () => {
    const scoped = entry({ id: "rules.old", tool: "semgrep" });
    const unscoped = entry({ id: "CVE-1999-0001" });
    const otherTool = entry({ id: "RUSTSEC-2099-0001", tool: "cargo-audit" });
    const verdict = securityVerdict("semgrep", parseSemgrep(fixture("semgrep/json-no-findings.json"), "s.json"), {
      today,
      allowlist: [scoped, unscoped, otherTool],
    });
    expect(verdict.passed).toBe(true);
    expect(verdict.stale).toEqual([scoped]);
    expect(verdict.summary).toBe("passed: no findings; 1 stale allowlist entry");
    expect(verdict.details).toContain("**Stale allowlist entries** (matched no finding; remove them):\n- `rules.old [semgrep] until 2025-05-31`");
  });

  it("carries tolerated scanner warnings", () => {
    const verdict = securityVerdict("semgrep", parseSemgrep(fixture("semgrep/json-timeout-error.json"), "s.json"), { today });
    expect(verdict.passed).toBe(true);
    expect(verdict.summary).toBe("passed: no findings; 1 warning");
    expect(verdict.details).toContain("- Timeout `rules.forcetimeout targets/equivalence/open_redirect.py`: Timeout: Timeout when running");
  });

  it("escapes Markdown table breakers in messages", () => {
    const verdict = securityVerdict("semgrep", [finding({ tool: "semgrep", message: "a | b\nc <script>" })], { today });
    expect(verdict.details).toContain("| a \\| b c &lt;script> |");
  });
});

describe("allowlistDayProblems (when the configuration is read)", () => {
  it("names each expired or future entry with its place in the configuration, one line each", () => {
    const current = entry({ id: "CVE-2024-0002" });
    const expired = entry({ id: "RUSTSEC-2020-0071", expires: "2025-03-09" });
    const ahead = entry({ id: "GHSA-xxxx", added: "2025-03-11", expires: "2025-04-01", tool: "trivy" });
    expect(allowlistDayProblems([current, expired, ahead], today)).toEqual([
      "security.allowlist.1 RUSTSEC-2020-0071 until 2025-03-09: expired on 2025-03-09 (today is 2025-03-10): renew it after a review (new added and expires) or remove it",
      "security.allowlist.2 GHSA-xxxx [trivy] until 2025-04-01: added 2025-03-11 is after today (2025-03-10)",
    ]);
    expect(allowlistDayProblems([current, entry({ expires: "2025-03-10" })], today)).toEqual([]);
  });
});
