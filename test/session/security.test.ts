import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dag } from "@dagger.io/dagger";
import { IMAGES, TOOLS } from "../../.dagger/src/versions";
import { DEFAULT_DENY_PATH, GITLEAKS_LEAKS_EXIT_CODE } from "../../.dagger/src/security";
import { DEFAULT_DENY_TOML } from "../../.dagger/src/lib/default-deny";
import { SCANNER_CRASH_EXIT_CODE } from "../../.dagger/src/lib/scanner-exit";
import { pinnedRelease, releaseInstallScript } from "../../.dagger/src/lib/tool-release";
import { isCargoInstall } from "../support/cold-plan";
import { canarySecret, describeChain, type ExecResult, type ExecView } from "../support/recording-session";
import { isScanExec, toolArgs } from "../support/scan-wrapper";
import { dayFromToday, validDates } from "../support/allowlist-dates";
import { failureOf, GOOD, healthyScript, sourceWith, startPerTest, type ModuleRun } from "../support/module";
import {
  AUDIT_FINDINGS,
  GITLEAKS_FINDINGS,
  SEMGREP_FINDINGS,
  TRIVY_CLEAN,
  TRIVY_FINDINGS,
  denySummary,
  reportFixture,
} from "../support/security-reports";

const start = startPerTest();

const today = new Date().toISOString().slice(0, 10);
const exec = (match: (e: ExecView) => boolean, result: ExecResult) => (e: ExecView) => (match(e) ? result : undefined);
// Matchers on the scanner's own command line (inside the wrapper when the exec is wrapped).
const isAudit = (e: ExecView) => toolArgs(e)[0] === "cargo" && toolArgs(e)[1] === "audit";
const isDeny = (e: ExecView) => toolArgs(e)[0] === "cargo" && toolArgs(e)[1] === "deny";
const isTrivyFs = (e: ExecView) => toolArgs(e)[0] === "trivy" && toolArgs(e)[1] === "fs";
const isSemgrep = (e: ExecView) => toolArgs(e).includes("semgrep");
const isGitleaks = (e: ExecView) => toolArgs(e)[0] === "gitleaks";

/**
 * A scanner exec is wrapped and runs with the engine's default expect (SUCCESS), never ANY: a crash
 * is a failed exec, which the engine does not cache, and a result (clean or findings) is a success.
 */
function expectCrashNotCached(e: ExecView) {
  expect(isScanExec(e.args), e.args.join(" ")).toBe(true);
  expect(e.opts.expect).toBeUndefined();
}
function only(execs: ExecView[]): ExecView {
  expect(execs.map((e) => e.args.join(" "))).toHaveLength(1);
  return execs[0];
}


const withConfig = (security: unknown, more: Record<string, string> = {}) => sourceWith({ "ci/pipeline.json": JSON.stringify({ security }), ...more });

/** A fake `.git` directory (HEAD present), optionally shallow. */
function gitDirOnDisk(shallow = false): string {
  const dir = mkdtempSync(join(tmpdir(), "observatory-ci-git-"));
  writeFileSync(join(dir, "HEAD"), "ref: refs/heads/main\n");
  mkdirSync(join(dir, "refs", "heads"), { recursive: true });
  writeFileSync(join(dir, "refs", "heads", "main"), "0".repeat(40) + "\n");
  if (shallow) writeFileSync(join(dir, "shallow"), "0".repeat(40) + "\n");
  return dir;
}

/**
 * The `checkout` argument as the engine hands it over: the context directory filtered to `.git`
 * (ignore `["*", "!.git"]`): a `.git` directory, a `.git` file (worktree, submodule), or nothing.
 */
function checkoutOnDisk(git: "directory" | "shallow" | "file" | "none"): string {
  const dir = mkdtempSync(join(tmpdir(), "observatory-ci-checkout-"));
  if (git === "directory" || git === "shallow") {
    mkdirSync(join(dir, ".git", "refs", "heads"), { recursive: true });
    writeFileSync(join(dir, ".git", "HEAD"), "ref: refs/heads/main\n");
    writeFileSync(join(dir, ".git", "refs", "heads", "main"), "0".repeat(40) + "\n");
    if (git === "shallow") writeFileSync(join(dir, ".git", "shallow"), "0".repeat(40) + "\n");
  }
  if (git === "file") writeFileSync(join(dir, ".git"), "gitdir: /home/dev/service/.git/worktrees/feature\n");
  return dir;
}

describe("audit", () => {
  it("runs pinned cargo-audit --json on Cargo.lock with the RustSec database in a locked cache volume", async () => {
    const { session, call } = await start();
    await call((ci) => ci.audit());
    const e = only(session.execs.filter(isAudit));
    expect(e.image).toBe(IMAGES.rust);
    // The volume holds the database directory: rustsec removes an empty --db directory before cloning, and a mount point cannot be removed.
    expect(toolArgs(e)).toEqual(["cargo", "audit", "--db", "/var/cache/rustsec/advisory-db", "--json", "--file", "Cargo.lock"]);
    expectCrashNotCached(e);
    expect(e.caches["/var/cache/rustsec"]).toBe("observatory-ci-untrusted-rustsec-advisory-db");
    expect(e.cacheSharing["/var/cache/rustsec"]).toBe("LOCKED");
    expect(e.caches["/cargo-home/advisory-db"]).toBeUndefined();
    expect(e.env.OBSERVATORY_CI_SCAN_DAY).toBe(today);
    // the official release binary, its archive checked against the SHA-256 pinned in versions.ts
    expect(e.mounts["/usr/local/bin/cargo-audit"]).toContain("sha256sum");
    expect(e.mounts["/usr/local/bin/cargo-audit"]).toContain("/opt/tool/bin/cargo-audit");
    expect(session.exec("sha256sum", "cargo-audit").args[2]).toBe(releaseInstallScript("cargoAudit", pinnedRelease("cargoAudit", TOOLS.cargoAudit)));
    expect(session.execs.filter(isCargoInstall)).toEqual([]);
  });

  it("fails on vulnerabilities with their count and advisory ids", async () => {
    const { call } = await start(healthyScript({ exec: exec(isAudit, { exitCode: 1, stdout: AUDIT_FINDINGS }) }));
    const err = await failureOf(call((ci) => ci.audit()));
    expect(err.message).toMatch(/^audit: #### cargo-audit: failed/);
    expect(err.message).toContain("RUSTSEC-");
    const { call: ciCall } = await start(healthyScript({ exec: exec(isAudit, { exitCode: 1, stdout: AUDIT_FINDINGS }) }));
    const summary = await failureOf(ciCall((ci) => ci.ci()));
    expect(summary.message).toMatch(/\| audit \| ❌ fail \| [^|]+ \| FAILED: \d+ vulnerabilit(y|ies) [^|]*…? \|/);
    // the cell stays short: the whole figure is below the table
    expect(summary.message).toMatch(/^- audit: FAILED: \d+ vulnerabilit(y|ies) \([^)]*\); advisories: RUSTSEC-\d{4}-\d{4}/m);
  });

  it("fails closed on a crash, an empty report or exit 1 without vulnerabilities", async () => {
    for (const [result, expected] of [
      [{ exitCode: 1, stdout: "", stderr: "error: couldn't fetch advisory database" }, "cargo audit crashed (exit 1: no report (stdout))"],
      [{ exitCode: 101, stderr: "thread 'main' panicked" }, "cargo audit crashed (exit 101: not a scan result)"],
      [{ exitCode: 2, stderr: "error: not found: Couldn't load Cargo.lock" }, "cargo audit crashed (exit 2: not a scan result)"],
    ] as const) {
      // a crash fails the exec itself (exit SCANNER_CRASH_EXIT_CODE), so the engine does not cache it
      const { session, call } = await start(healthyScript({ exec: exec(isAudit, result) }));
      const err = await failureOf(call((ci) => ci.audit()));
      expect(err.message).toContain(expected);
      expect(err.message).toContain(result.stderr);
      expect(session.queries.some((q) => q.error?.includes(`exit code: ${SCANNER_CRASH_EXIT_CODE}`))).toBe(true);
    }
    // deterministic results the gate still refuses, from a successful (cached) exec
    for (const [result, expected] of [
      [{ exitCode: 1, stdout: reportFixture("cargo-audit/no-findings.json") }, "exited 1 but its report lists no vulnerability"],
      [{ exitCode: 0, stdout: "{ not json" }, "report cannot be trusted"],
    ] as const) {
      const { session, call } = await start(healthyScript({ exec: exec(isAudit, result) }));
      expect((await failureOf(call((ci) => ci.audit()))).message).toContain(expected);
      expect(session.queries.filter((q) => q.error?.includes("exit code"))).toEqual([]);
    }
  });

  it("accepts allowlisted advisories, fails on an expired entry naming it, reports stale ones", async () => {
    const ids = [...new Set([...AUDIT_FINDINGS.matchAll(/"id": "(RUSTSEC-\d{4}-\d{4})"/g)].map((m) => m[1]))];
    expect(ids.length).toBeGreaterThan(0);
    const allowlist = ids.map((id) => ({ id, reason: "not reachable from the service", ...validDates() }));
    const accepted = withConfig({ allowlist: [...allowlist, { id: "RUSTSEC-2000-0001", tool: "cargo-audit", reason: "old", ...validDates() }] });
    const { call } = await start(healthyScript({ exec: exec(isAudit, { exitCode: 1, stdout: AUDIT_FINDINGS }) }), accepted);
    const passed = await call((ci) => ci.ci()).catch((e: Error) => e.message);
    expect(passed).toMatch(/\| audit \| ✅ pass \| [^|]+ \| passed: \d+ vulnerabilit(y|ies) .*accepted/);

    // an entry without tool that expired: one error from the configuration, before any scanner runs
    const expired = withConfig({ allowlist: [{ ...allowlist[0], added: "2019-12-01", expires: "2020-01-01" }, ...allowlist.slice(1)] });
    const { session: session2, call: call2 } = await start(healthyScript({ exec: exec(isAudit, { exitCode: 1, stdout: AUDIT_FINDINGS }) }), expired);
    const err = await failureOf(call2((ci) => ci.ci()));
    expect(err.message).toBe(
      `ci/pipeline.json: the security allowlist is out of date:\n  - security.allowlist.0 ${ids[0]} until 2020-01-01: expired on 2020-01-01 (today is ${today}): renew it after a review (new added and expires) or remove it`,
    );
    expect(session2.execs.filter((e) => isScanExec(e.args))).toEqual([]);
    for (const gate of ["audit", "trivyFs", "gitleaks"] as const) {
      expect((await failureOf(call2((ci) => ci[gate]()))).message, gate).toBe(err.message);
    }
    expect(session2.execs.filter((e) => isScanExec(e.args))).toEqual([]);

    const stale = withConfig({ allowlist: [{ id: "RUSTSEC-2000-0001", tool: "cargo-audit", reason: "old", ...validDates() }] });
    const { call: call3 } = await start(healthyScript(), stale);
    const table = await call3((ci) => ci.ci()).catch((e: Error) => e.message);
    expect(table).toMatch(/\| audit \| ✅ pass \| [^|]+ \| passed: 0 vulnerabilities; stale allowlist: RUSTSEC-[^|]* \|/);
    expect(table).toMatch(/^- audit: passed: 0 vulnerabilities; stale allowlist: RUSTSEC-2000-0001$/m);
    expect(table).not.toMatch(/\| audit \| ❌/);

    // an entry dated after today (written ahead, or with a wrong clock) accepts nothing and fails the gate, named
    const future = { ...allowlist[0], added: dayFromToday(2), expires: dayFromToday(30) };
    const ahead = withConfig({ allowlist: [...allowlist.slice(1), future] });
    const { call: call4 } = await start(healthyScript({ exec: exec(isAudit, { exitCode: 1, stdout: AUDIT_FINDINGS }) }), ahead);
    const invalid = await failureOf(call4((ci) => ci.audit()));
    expect(invalid.message).toBe(
      `ci/pipeline.json: the security allowlist is out of date:\n  - security.allowlist.${allowlist.length - 1} ${future.id} until ${future.expires}: added ${future.added} is after today (${dayFromToday(0)})`,
    );
  });

  it("fails on ANY vulnerability: a medium-rated advisory is not let through by failOn", async () => {
    const medium = JSON.stringify({
      vulnerabilities: {
        found: true,
        count: 1,
        list: [
          {
            advisory: { id: "RUSTSEC-2099-0001", title: "a medium bug", cvss: "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:N" },
            package: { name: "somecrate", version: "1.0.0" },
            versions: { patched: [">=1.0.1"] },
          },
        ],
      },
    });
    const { call } = await start(healthyScript({ exec: exec(isAudit, { exitCode: 1, stdout: medium }) }), withConfig({ failOn: ["critical"] }));
    const err = await failureOf(call((ci) => ci.audit()));
    expect(err.message).toMatch(/^audit: #### cargo-audit: failed/);
    expect(err.message).toContain("RUSTSEC-2099-0001");
    // only the allowlist accepts it
    const accepted = withConfig({ allowlist: [{ id: "RUSTSEC-2099-0001", reason: "not reachable", ...validDates() }] });
    const { call: c2 } = await start(healthyScript({ exec: exec(isAudit, { exitCode: 1, stdout: medium }) }), accepted);
    await c2((ci) => ci.audit());
  });

  it("rejects a workspace without Cargo.lock before any container", async () => {
    const dir = mkdtempSync(join(tmpdir(), "observatory-ci-nolock-"));
    writeFileSync(join(dir, "Cargo.toml"), "[workspace]\n");
    const { session, call } = await start(healthyScript(), dir);
    const err = await failureOf(call((ci) => ci.audit()));
    expect(err.message).toMatch(/^audit: Cargo\.lock is missing: cargo refuses to create it under --locked/);
    expect(session.execs).toEqual([]);
  });
});

describe("deny", () => {
  it("checks advisories, bans, licenses and sources with --locked, falling back to the module's deny.toml", async () => {
    const { session, call } = await start();
    await call((ci) => ci.deny());
    const e = only(session.execs.filter(isDeny));
    expect(e.image).toBe(IMAGES.rust);
    expectCrashNotCached(e);
    // as the plan runs it in the service's directory: the service's crate is the graph's only root
    expect(toolArgs(e)).toEqual([
      "cargo", "deny", "--manifest-path", "/src/services/analytics-api/Cargo.toml",
      "--format", "json", "--color", "never", "--locked", "check", "--config", DEFAULT_DENY_PATH, "advisories", "bans", "licenses", "sources",
    ]);
    expect(e.mounts[DEFAULT_DENY_PATH]).toBe("<new file>");
    const written = e.chain.find((s) => s.field === "withNewFile" && s.args.path === DEFAULT_DENY_PATH);
    expect(written?.args.contents).toBe(DEFAULT_DENY_TOML);
    expect(e.caches["/cargo-home/advisory-dbs"]).toBe("observatory-ci-untrusted-cargo-deny-advisory-dbs");
    expect(e.cacheSharing["/cargo-home/advisory-dbs"]).toBe("LOCKED");
    expect(e.mounts["/usr/local/bin/cargo-deny"]).toContain("/opt/tool/bin/cargo-deny");
    expect(session.exec("sha256sum", "cargo-deny").args[2]).toBe(releaseInstallScript("cargoDeny", pinnedRelease("cargoDeny", TOOLS.cargoDeny)));
    expect(session.execs.filter(isCargoInstall)).toEqual([]);
  });

  it("uses the repository's .cargo/deny.toml (or security.denyConfig) when present", async () => {
    const dir = sourceWith({ ".cargo/deny.toml": "[advisories]\nversion = 2\n" });
    const { session, call } = await start(healthyScript(), dir);
    await call((ci) => ci.deny());
    const e = only(session.execs.filter(isDeny));
    expect(toolArgs(e)).toContain("/src/.cargo/deny.toml");
    expect(e.mounts[DEFAULT_DENY_PATH]).toBeUndefined();

    const custom = withConfig({ denyConfig: "policy/deny.toml" }, { "policy/deny.toml": "" });
    const { session: s2, call: call2 } = await start(healthyScript(), custom);
    await call2((ci) => ci.deny());
    expect(toolArgs(only(s2.execs.filter(isDeny)))).toContain("/src/policy/deny.toml");
  });

  it("a configured security.denyConfig that does not exist fails before any container, never falling back to the default policy", async () => {
    const { session, call } = await start(healthyScript(), withConfig({ denyConfig: "policy/deny.toml" }));
    const err = await failureOf(call((ci) => ci.deny()));
    expect(err.message).toBe(
      'deny: security.denyConfig = "policy/deny.toml" (ci/pipeline.json) does not exist in the source; commit it or fix the field (a configured policy never falls back to the module\'s default)',
    );
    expect(session.execs.filter(isDeny)).toEqual([]);
  });

  it("reads stderr whatever the exit code: findings fail, a missing summary fails closed", async () => {
    const diag = JSON.stringify({ type: "diagnostic", fields: { severity: "error", message: "crate openssl is banned", code: "banned", graphs: [{ Krate: { name: "openssl", version: "0.10.0" } }] } });
    const { call } = await start(healthyScript({ exec: exec(isDeny, { exitCode: 1, stderr: `${diag}\n${denySummary({ bans: 1 })}` }) }));
    const err = await failureOf(call((ci) => ci.deny()));
    expect(err.message).toContain("banned");
    expect(err.message).toContain("openssl@0.10.0");

    const { call: crashed } = await start(healthyScript({ exec: exec(isDeny, { exitCode: 1, stderr: JSON.stringify({ type: "log", fields: { level: "ERROR", message: "failed to load deny.toml" } }) }) }));
    const crash = await failureOf(crashed((ci) => ci.deny()));
    expect(crash.message).toContain('cargo deny crashed (exit 1: incomplete report (stderr has no "type":"summary"))');
    expect(crash.message).toContain("failed to load deny.toml");

    const { call: empty } = await start(healthyScript({ exec: exec(isDeny, { exitCode: 0, stderr: "" }) }));
    expect((await failureOf(empty((ci) => ci.deny()))).message).toContain("cargo deny crashed (exit 0: no report (stderr))");

    const { call: other } = await start(healthyScript({ exec: exec(isDeny, { exitCode: 101, stderr: "thread 'main' panicked" }) }));
    expect((await failureOf(other((ci) => ci.deny()))).message).toContain("cargo deny crashed (exit 101: not a scan result)");

    // a clean summary cannot excuse a non-zero exit (bans = 2)
    const { call: unexplained } = await start(healthyScript({ exec: exec(isDeny, { exitCode: 2, stderr: denySummary() }) }));
    const failed = await failureOf(unexplained((ci) => ci.deny()));
    expect(failed.message).toContain("cargo deny exited 2 but reported no error diagnostic");
  });
});

describe("trivyFs", () => {
  it("scans the source with --exit-code 42 --severity CRITICAL,HIGH, JSON report, database in a locked cache", async () => {
    const { session, call } = await start();
    await call((ci) => ci.trivyFs());
    const e = session.exec("trivy", "fs");
    expect(e.image).toBe(IMAGES.trivy);
    expectCrashNotCached(e);
    // every Trivy error exits 1: findings get a code of their own
    expect(toolArgs(e).join(" ")).toContain("--exit-code 42");
    expect(e.args.join(" ")).toContain("--severity CRITICAL,HIGH");
    expect(e.args.join(" ")).toContain("--format json --output /reports/trivy-fs.json");
    expect(e.args.join(" ")).toContain("--skip-dirs target");
    expect(e.args.join(" ")).toContain("--timeout 10m");
    expect(e.args).not.toContain("--db-repository");
    expect(toolArgs(e).slice(0, 2)).toEqual(["trivy", "fs"]);
    expect(e.args[e.args.length - 1]).toBe(".");
    expect(e.workdir).toBe("/src");
    expect(e.mounts["/src"]).toContain(GOOD);
    // as the plan runs it: the service's directory, with the workspace's Cargo.lock so its dependencies are scanned
    expect(e.mounts["/src"]).toContain('filter(include: ["services/analytics-api/**", "Cargo.lock"])');
    expect(e.env.TRIVY_CACHE_DIR).toBe("/var/cache/trivy");
    expect(e.caches["/var/cache/trivy"]).toBe("observatory-ci-untrusted-trivy-cache");
    expect(e.cacheSharing["/var/cache/trivy"]).toBe("LOCKED");
  });

  it("uses the configured database mirror", async () => {
    const dir = withConfig({ trivy: { dbRepository: "registry.example/mirror/trivy-db:2", javaDbRepository: "registry.example/mirror/trivy-java-db:1" } });
    const { session, call } = await start(healthyScript(), dir);
    await call((ci) => ci.trivyFs());
    const args = session.exec("trivy", "fs").args.join(" ");
    expect(args).toContain("--db-repository registry.example/mirror/trivy-db:2");
    expect(args).toContain("--java-db-repository registry.example/mirror/trivy-java-db:1");
  });

  it("fails on findings (a cached result); a crash or a missing report fails the exec itself (not cached)", async () => {
    const { session, call } = await start(healthyScript({ exec: exec(isTrivyFs, { exitCode: 42 }), file: (p) => (p === "/reports/trivy-fs.json" ? TRIVY_FINDINGS : undefined) }));
    const err = await failureOf(call((ci) => ci.trivyFs()));
    expect(err.message).toMatch(/^trivyFs: #### trivy: failed/);
    expect(err.message).toContain("CVE-2022-24775");
    expect(session.queries.filter((q) => q.error?.includes("exit code"))).toEqual([]);

    const crashes: Array<[ExecResult, string | undefined, string]> = [
      [{ exitCode: 1, stderr: "FATAL init error: DB error: failed to download vulnerability DB" }, "", "trivy crashed scanning the source (exit 1: not a scan result)"],
      [{ exitCode: 1, stderr: "FATAL scan error" }, TRIVY_CLEAN, "trivy crashed scanning the source (exit 1: not a scan result)"],
      [{ exitCode: 2, stderr: "panic" }, TRIVY_CLEAN, "trivy crashed scanning the source (exit 2: not a scan result)"],
      [{ exitCode: 0 }, "", "trivy crashed scanning the source (exit 0: no report (/reports/trivy-fs.json))"],
    ];
    for (const [result, report, expected] of crashes) {
      const { session: s, call: c } = await start(healthyScript({ exec: exec(isTrivyFs, result), file: (p) => (p === "/reports/trivy-fs.json" ? report : undefined) }));
      const failure = await failureOf(c((ci) => ci.trivyFs()));
      expect(failure.message).toContain(expected);
      expect(s.queries.some((q) => q.error?.includes(`exit code: ${SCANNER_CRASH_EXIT_CODE}`))).toBe(true);
    }

    const { call: c2 } = await start(healthyScript({ exec: exec(isTrivyFs, { exitCode: 42 }), file: (p) => (p === "/reports/trivy-fs.json" ? TRIVY_CLEAN : undefined) }));
    expect((await failureOf(c2((ci) => ci.trivyFs()))).message).toContain("trivy exited 42 (findings) scanning the source but its report has no finding");
  });
});

describe("semgrep", () => {
  it("runs p/security-audit and p/rust with --error, metrics off, SARIF and JSON, bounded by the timeout", async () => {
    const { session, call } = await start();
    await call((ci) => ci.semgrep());
    const e = session.exec("semgrep", "scan");
    expect(e.image).toBe(IMAGES.semgrep);
    expectCrashNotCached(e);
    expect(toolArgs(e)).toEqual([
      "timeout", "300",
      "semgrep", "scan",
      "--config", "p/security-audit", "--config", "p/rust",
      "--error",
      "--metrics", "off",
      "--json-output", "/reports/semgrep.json",
      "--sarif-output", "/reports/semgrep.sarif",
    ]);
    expect(e.env.SEMGREP_SEND_METRICS).toBe("off");
    expect(e.workdir).toBe("/src");
  });

  it("fails on findings and on a report with fatal errors (cached results); a timeout or a crash fails the exec (not cached)", async () => {
    const { call } = await start(healthyScript({ exec: exec(isSemgrep, { exitCode: 1 }), file: (p) => (p === "/reports/semgrep.json" ? SEMGREP_FINDINGS : undefined) }));
    const err = await failureOf(call((ci) => ci.semgrep()));
    expect(err.message).toMatch(/^semgrep: #### semgrep: failed/);

    const cases: Array<[ExecResult, string | undefined, string, boolean]> = [
      [{ exitCode: 124 }, "", "semgrep did not finish within security.semgrep.timeout = 300 s (exit 124)", true],
      [{ exitCode: 143 }, "", "did not finish within", true],
      [{ exitCode: 2, stderr: "invalid configuration" }, "", "semgrep crashed (exit 2: not a scan result)", true],
      [{ exitCode: 7, stderr: "missing configuration" }, reportFixture("semgrep/json-invalid-rule-error.json"), "semgrep crashed (exit 7: not a scan result)", true],
      [{ exitCode: 0 }, "", "semgrep crashed (exit 0: no report (/reports/semgrep.json))", true],
      [{ exitCode: 0 }, reportFixture("semgrep/json-invalid-rule-error.json"), "report cannot be trusted", false],
      [{ exitCode: 1 }, reportFixture("semgrep/json-no-findings.json"), "exited 1 but its report has no finding", false],
    ];
    for (const [result, report, expected, crashed] of cases) {
      const { session, call: c } = await start(healthyScript({ exec: exec(isSemgrep, result), file: (p) => (p === "/reports/semgrep.json" ? report : undefined) }));
      expect((await failureOf(c((ci) => ci.semgrep()))).message).toContain(expected);
      expect([expected, session.queries.some((q) => q.error?.includes(`exit code: ${SCANNER_CRASH_EXIT_CODE}`))]).toEqual([expected, crashed]);
    }
  });

  it("--error means every finding fails: a WARNING-level rule is not let through by failOn", async () => {
    const warning = SEMGREP_FINDINGS.replace(/"severity": *"ERROR"/g, '"severity": "WARNING"');
    expect(warning).not.toBe(SEMGREP_FINDINGS);
    const { call } = await start(healthyScript({ exec: exec(isSemgrep, { exitCode: 1 }), file: (p) => (p === "/reports/semgrep.json" ? warning : undefined) }));
    const err = await failureOf(call((ci) => ci.semgrep()));
    expect(err.message).toMatch(/^semgrep: #### semgrep: failed/);
    expect(err.message).toContain("1 medium");
  });

  it("uses the configured rule sets and timeout", async () => {
    const dir = withConfig({ semgrep: { configs: ["p/owasp-top-ten"], timeout: 60 } });
    const { session, call } = await start(healthyScript(), dir);
    await call((ci) => ci.semgrep());
    const args = toolArgs(session.exec("semgrep", "scan"));
    expect(args.slice(0, 2)).toEqual(["timeout", "60"]);
    expect(args.filter((a, i) => args[i - 1] === "--config")).toEqual(["p/owasp-top-ten"]);
  });
});

describe("gitleaks", () => {
  it("scans the directory, redacted, when no .git is given", async () => {
    const { session, call } = await start();
    await call((ci) => ci.gitleaks());
    const e = session.exec("gitleaks", "dir");
    expect(e.image).toBe(IMAGES.gitleaks);
    expectCrashNotCached(e);
    expect(toolArgs(e)).toEqual(["gitleaks", "dir", "--redact", "--no-banner", "--exit-code", String(GITLEAKS_LEAKS_EXIT_CODE), "--report-format", "json", "--report-path", "/reports/gitleaks.json", "/repo"]);
    expect(e.mounts["/repo"]).toContain(GOOD);
  });

  it("scans the full history when .git is present, with git's ownership check handled", async () => {
    const git = gitDirOnDisk();
    const { session, call } = await start();
    await call((ci) => ci.gitleaks(dag.host().directory(git)));
    const e = session.exec("gitleaks", "git");
    expect(toolArgs(e).slice(0, 3)).toEqual(["gitleaks", "git", "--redact"]);
    expect(e.mounts["/repo/.git"]).toContain(git);
    expect(e.workdir).toBe("/repo");
    const chain = describeChain(e.chain);
    expect(chain.indexOf('"safe.directory", "*"')).toBeGreaterThan(-1);
    expect(chain.indexOf('"safe.directory", "*"')).toBeLessThan(chain.indexOf("/repo"));
  });

  it("refuses a shallow clone before any container, saying so", async () => {
    const { session, call } = await start();
    const err = await failureOf(call((ci) => ci.gitleaks(dag.host().directory(gitDirOnDisk(true)))));
    expect(err.message).toContain("shallow clone");
    expect(err.message).toContain("fetch-depth: 0");
    expect(session.execs).toEqual([]);
  });

  it("scans the checkout's .git history by default, and --git-dir wins over it", async () => {
    const checkout = checkoutOnDisk("directory");
    const { session, call } = await start();
    await call((ci) => ci.gitleaks(undefined, dag.host().directory(checkout)));
    const e = session.exec("gitleaks", "git");
    expect(e.mounts["/repo/.git"]).toContain(checkout);
    expect(e.mounts["/repo/.git"]).toContain('".git"');
    expect(session.execs.filter((x) => isGitleaks(x) && x.args[1] === "dir")).toEqual([]);

    const git = gitDirOnDisk();
    const { session: s2, call: c2 } = await start();
    await c2((ci) => ci.gitleaks(dag.host().directory(git), dag.host().directory(checkoutOnDisk("file"))));
    expect(s2.exec("gitleaks", "git").mounts["/repo/.git"]).toContain(git);
  });

  it("scans the working tree when the checkout has no .git, and the ci summary says so", async () => {
    const checkout = dag.host().directory(checkoutOnDisk("none"));
    const { session, call } = await start();
    const table = await call((ci) => ci.ci(undefined, checkout));
    const e = session.exec("gitleaks", "dir");
    expect(toolArgs(e).slice(0, 3)).toEqual(["gitleaks", "dir", "--redact"]);
    expect(e.mounts["/repo/.git"]).toBeUndefined();
    expect(session.execs.filter((x) => isGitleaks(x) && toolArgs(x)[1] === "git")).toEqual([]);
    expect(table).toMatch(/^- gitleaks: [^\n]*no git history: scanned the working tree/m);
  });

  it("a .git file (worktree, submodule) fails before any container, naming --git-dir and where .git points", async () => {
    const { session, call } = await start();
    const err = await failureOf(call((ci) => ci.gitleaks(undefined, dag.host().directory(checkoutOnDisk("file")))));
    expect(err.message).toMatch(/^gitleaks --git-dir: is needed: \.git in the caller's checkout is a file/);
    expect(err.message).toContain("/home/dev/service/.git/worktrees/feature");
    expect(err.message).toContain('--git-dir="$(git rev-parse --git-common-dir)"');
    expect(session.execs).toEqual([]);

    const { session: s2, call: c2 } = await start();
    const reports = await failureOf(c2((ci) => ci.securityReports(undefined, dag.host().directory(checkoutOnDisk("file")))));
    expect(reports.message).toContain("securityReports --git-dir: is needed: .git in the caller's checkout is a file");
    expect(s2.execs.filter(isGitleaks)).toEqual([]);
  });

  it("a shallow default history (a shallow clone, or a remote module's own checkout) fails naming --git-dir", async () => {
    const { session, call } = await start();
    const err = await failureOf(call((ci) => ci.gitleaks(undefined, dag.host().directory(checkoutOnDisk("shallow")))));
    expect(err.message).toContain("shallow clone");
    expect(err.message).toContain("fetch-depth: 0");
    expect(err.message).toContain("dagger -m github.com/");
    expect(err.message).toContain("--git-dir=.git");
    expect(session.execs).toEqual([]);
  });

  it("an explicit --git-dir without HEAD is refused, naming the flag", async () => {
    const { session, call } = await start();
    const err = await failureOf(call((ci) => ci.gitleaks(dag.host().directory(checkoutOnDisk("none")))));
    expect(err.message).toBe("gitleaks --git-dir: has no HEAD: it is not a repository's .git directory (expected a .git directory, e.g. --git-dir=.git)");
    expect(session.execs).toEqual([]);
  });

  it("tells leaks found (redacted) from a gitleaks crash", async () => {
    const { call } = await start(healthyScript({ exec: exec(isGitleaks, { exitCode: GITLEAKS_LEAKS_EXIT_CODE }), file: (p) => (p === "/reports/gitleaks.json" ? GITLEAKS_FINDINGS : undefined) }));
    const leaks = await failureOf(call((ci) => ci.gitleaks()));
    expect(leaks.message).toMatch(/^gitleaks: \d+ leaks? in the source directory .* that no allowlist entry accepts \(redacted\)/);
    expect(leaks.message).toContain("test-rule");
    expect(leaks.message).toContain("auth.py:1");
    expect(leaks.message).not.toContain("a secret"); // the report's Secret field
    expect(leaks.message).not.toContain("line containing secret"); // its Match field

    // each of these fails the exec (SCANNER_CRASH_EXIT_CODE): the engine does not cache it
    const { session: s2, call: c2 } = await start(healthyScript({ exec: exec(isGitleaks, { exitCode: 1, stderr: "FTL unable to load config" }) }));
    const crash = await failureOf(c2((ci) => ci.gitleaks()));
    expect(crash.message).toMatch(/^gitleaks: gitleaks crashed scanning .*\(exit 1: not a scan result\)/);
    expect(crash.message).toContain("unable to load config");
    expect(s2.queries.some((q) => q.error?.includes(`exit code: ${SCANNER_CRASH_EXIT_CODE}`))).toBe(true);

    // gitleaks 8.21.2 writes the report, then exits 1 after a partial scan (cmd/root.go findingSummaryAndExit)
    const { call: c3 } = await start(healthyScript({ exec: exec(isGitleaks, { exitCode: 1, stderr: "ERR [git] fatal: not a git repository\nWRN partial scan completed in 1s" }) }));
    expect((await failureOf(c3((ci) => ci.gitleaks()))).message).toContain("gitleaks crashed scanning the source directory (no git history: scanned the working tree) (exit 1");
    const { call: c5 } = await start(healthyScript({ exec: exec(isGitleaks, { exitCode: 0, stderr: "\u001b[31mERR\u001b[0m [git] fatal: bad object" }) }));
    expect((await failureOf(c5((ci) => ci.gitleaks()))).message).toContain("gitleaks reported errors scanning the source directory (no git history: scanned the working tree) (exit 0); the scan is incomplete");

    const { call: c4 } = await start(healthyScript({ exec: exec(isGitleaks, { exitCode: 0 }), file: (p) => (p === "/reports/gitleaks.json" ? "" : undefined) }));
    expect((await failureOf(c4((ci) => ci.gitleaks()))).message).toContain("gitleaks crashed scanning the source directory (no git history: scanned the working tree) (exit 0: no report (/reports/gitleaks.json))");
  });
});

describe("ci and securityReports", () => {
  it("ci runs the five security gates with counts in the summary", async () => {
    const { call } = await start(healthyScript({ exec: exec(isTrivyFs, { exitCode: 42 }), file: (p) => (p === "/reports/trivy-fs.json" ? TRIVY_FINDINGS : undefined) }));
    const err = await failureOf(call((ci) => ci.ci()));
    for (const gate of ["audit", "deny", "semgrep", "gitleaks"]) expect(err.message).toMatch(new RegExp(`\\| ${gate} \\| ✅ pass \\|`));
    expect(err.message).toMatch(/\| trivyFs \| ❌ fail \| [^|]+ \| FAILED: 1 high; blocking: CVE-2022-24775 \([^)]+\)/);
  });

  it("securityReports returns every SARIF from the gates' own chains; a missing one names its scanner", async () => {
    const git = gitDirOnDisk();
    const { session, call } = await start();
    const entries = await call(async (ci) => (await ci.securityReports(dag.host().directory(git))).entries());
    expect(entries).toEqual(expect.arrayContaining(["trivy-fs.sarif", "semgrep.sarif", "gitleaks.sarif"]));
    const convert = only(session.execsMatching("trivy", "convert", "trivy-fs.sarif"));
    expect(convert.opts.expect).toBeUndefined();
    expect(convert.args).toEqual(["trivy", "convert", "--format", "sarif", "--output", "/reports/trivy-fs.sarif", "/reports/trivy-fs.json"]);
    expect(describeChain(convert.chain)).toContain('"trivy", "fs"');
    const sarif = session.exec("gitleaks", "sarif");
    expectCrashNotCached(sarif);
    expect(toolArgs(sarif)).toContain("--redact");
    expect(describeChain(sarif.chain)).toContain('"--report-format", "json"'); // chained after the gate's run
    expect(session.execsMatching("semgrep", "scan")).toHaveLength(1);

    const { call: c2 } = await start(healthyScript({ file: (p) => (p === "/reports/semgrep.sarif" ? "" : undefined) }));
    const err = await failureOf(c2((ci) => ci.securityReports()));
    expect(err.message).toContain("semgrep produced no SARIF report (semgrep.sarif)");

    // a crashed scanner fails its exec: no SARIF from it, and the error names it
    const { call: c3 } = await start(healthyScript({ exec: exec(isGitleaks, { exitCode: 1, stderr: "FTL unable to load config" }) }));
    const crashed = await failureOf(c3((ci) => ci.securityReports(dag.host().directory(git))));
    expect(crashed.message).toContain("gitleaks produced no SARIF report (gitleaks.sarif)");
    expect(crashed.message).toContain("unable to load config");
  });
});

describe("SARIF for code scanning", () => {
  // github/codeql-action v4.31.9 src/upload-lib.ts (areAllRunsUnique, PR #2959) refuses an upload with two runs of
  // one tool and category (GitHub changelog 2025-07-21; codeql-action issue #3051): ci.yml uploads the folder at once.
  const genuine: Record<string, string> = {
    "/reports/trivy-fs.sarif": reportFixture("trivy/image-alpine310.sarif"),
    "/reports/trivy-image.sarif": reportFixture("trivy/image-alpine310.sarif"),
    "/reports/semgrep.sarif": reportFixture("semgrep/sarif-with-suppression.sarif"),
    "/reports/gitleaks.sarif": reportFixture("gitleaks/report-sarif-simple.sarif"),
  };
  const runsOf = (text: string) =>
    (JSON.parse(text) as { runs: { tool: { driver: { name: string } }; automationDetails?: { id?: string } }[] }).runs.map((r) => ({
      tool: r.tool.driver.name,
      category: r.automationDetails?.id,
    }));

  it("every SARIF the module can emit, uploaded together, has no two runs with the same tool and category", async () => {
    const platforms = sourceWith({ "ci/pipeline.json": JSON.stringify({ image: { platforms: ["linux/amd64", "linux/arm64"] } }) });
    const runs: { file: string; tool: string; category?: string }[] = [];
    for (const source of [GOOD, platforms]) {
      const { call } = await start(healthyScript({ file: (p) => genuine[p] }), source);
      const files = await call(async (ci) => {
        const dir = await ci.securityReports(dag.host().directory(gitDirOnDisk()));
        const names = await dir.entries();
        return Promise.all(names.map(async (name) => ({ name, text: await dir.file(name).contents() })));
      });
      expect(files.map((f) => f.name).sort()).toEqual(["gitleaks.sarif", "semgrep.sarif", "trivy-fs.sarif", "trivy-image.sarif"]);
      for (const { name, text } of files) runs.push(...runsOf(text).map((r) => ({ file: `${source === GOOD ? "" : "2 platforms: "}${name}`, ...r })));
    }
    expect(runs.map((r) => `${r.file}: ${r.tool} ${r.category}`).sort()).toEqual([
      "2 platforms: gitleaks.sarif: gitleaks observatory-ci/gitleaks/",
      "2 platforms: semgrep.sarif: Semgrep OSS observatory-ci/semgrep/",
      "2 platforms: trivy-fs.sarif: Trivy observatory-ci/trivy-fs/",
      "2 platforms: trivy-image.sarif: Trivy observatory-ci/trivy-image/linux-amd64/",
      "2 platforms: trivy-image.sarif: Trivy observatory-ci/trivy-image/linux-arm64/",
      "gitleaks.sarif: gitleaks observatory-ci/gitleaks/",
      "semgrep.sarif: Semgrep OSS observatory-ci/semgrep/",
      "trivy-fs.sarif: Trivy observatory-ci/trivy-fs/",
      "trivy-image.sarif: Trivy observatory-ci/trivy-image/",
    ]);
    // each configuration is one upload: within it, (tool, category) is unique
    for (const upload of [runs.filter((r) => !r.file.startsWith("2 platforms")), runs.filter((r) => r.file.startsWith("2 platforms"))]) {
      const keys = upload.map((r) => `${r.tool} ${r.category}`);
      expect(new Set(keys).size, keys.join("; ")).toBe(keys.length);
    }
  });
});

// ------------------------------------------------------------------ scanDeployed

const deployment = (name: string, namespace: string, image: string) =>
  JSON.stringify({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace },
    spec: { template: { spec: { containers: [{ name: "sidecar", image: "envoyproxy/envoy:v1.31.0" }, { name: "analytics-api", image }] } } },
  });
const service = (colour: string) =>
  JSON.stringify({ apiVersion: "v1", kind: "Service", metadata: { name: "analytics-api", namespace: "llm-observatory" }, spec: { selector: { app: "analytics-api", color: colour } } });

const IMAGE = {
  dev: "ghcr.io/llm-observatory/analytics-api:main-1a2b3c4",
  staging: "ghcr.io/llm-observatory/analytics-api:1.4.0-rc.1",
  production: "ghcr.io/llm-observatory/analytics-api@sha256:" + "b".repeat(64),
};

interface ClusterScript {
  findings?: boolean;
  crash?: boolean;
  openIssue?: number;
  unreachable?: "dev" | "staging" | "production";
}

function clusterScript(options: ClusterScript = {}) {
  return healthyScript({
    exec: (e) => {
      const line = e.args.join(" ");
      if (e.args[0] === "kubectl") {
        const namespace = e.args[e.args.indexOf("-n") + 1];
        const env = namespace === "llm-observatory-dev" ? "dev" : namespace === "llm-observatory-staging" ? "staging" : "production";
        if (options.unreachable === env) {
          return { exitCode: 1, stderr: "Unable to connect to the server: dial tcp 10.0.0.1:6443: i/o timeout" };
        }
        if (line.startsWith("kubectl get service")) return { stdout: service("green") };
        if (line.startsWith("kubectl get deployment")) return { stdout: deployment(e.args[3], namespace, IMAGE[env]) };
      }
      if (e.args[0] === "trivy" && e.args[1] === "image" && options.findings && line.includes(IMAGE.staging)) return { exitCode: 42 };
      if (e.args[0] === "trivy" && e.args[1] === "image" && options.crash && line.includes(IMAGE.dev)) return { exitCode: 1, stderr: "FATAL image scan error: unauthorized" };
      if (e.args[0] === "curl" && line.includes("/issues?labels=")) {
        return { stdout: JSON.stringify(options.openIssue ? [{ number: 99, pull_request: {} }, { number: options.openIssue }] : []) };
      }
      if (e.args[0] === "curl" && line.includes("/comments")) return { stdout: JSON.stringify({ html_url: `https://github.com/o/r/issues/${options.openIssue}#c1` }) };
      if (e.args[0] === "curl" && line.includes("-X POST")) return { stdout: JSON.stringify({ number: 123, html_url: "https://github.com/o/r/issues/123" }) };
      return undefined;
    },
    file: (path) => (path === "/reports/trivy-image-staging.json" && options.findings ? TRIVY_FINDINGS : undefined),
  });
}

const githubCalls = (r: ModuleRun) => r.session.execs.filter((e) => e.image === IMAGES.curl);

describe("scanDeployed", () => {
  it("reads each environment's running image with pinned kubectl, scans it with Trivy and audits the source", async () => {
    const kubeconfig = canarySecret("kubeconfig");
    const r = await start(clusterScript());
    const report = await r.call((ci) => ci.scanDeployed(dag.setSecret("kubeconfig", kubeconfig)));
    const kubectl = r.session.execsMatching("kubectl", "get");
    expect(kubectl.map((e) => e.args.join(" "))).toEqual(
      expect.arrayContaining([
        "kubectl get deployment analytics-api -n llm-observatory-dev -o json",
        "kubectl get deployment analytics-api -n llm-observatory-staging -o json",
        "kubectl get service analytics-api -n llm-observatory -o json",
        "kubectl get deployment analytics-api-green -n llm-observatory -o json",
      ]),
    );
    for (const e of kubectl) {
      expect(e.image).toBe(IMAGES.kubectl);
      expect(e.secretFiles["/run/secrets/kubeconfig"]).toBe("kubeconfig");
      expect(e.env.KUBECONFIG).toBe("/run/secrets/kubeconfig");
      expect(e.env.OBSERVATORY_CI_RUN).toBeTruthy();
    }
    const trivy = r.session.execsMatching("trivy", "image");
    expect(trivy.map((e) => e.args[e.args.length - 1]).sort()).toEqual(Object.values(IMAGE).sort());
    for (const e of trivy) {
      expect(e.image).toBe(IMAGES.trivy);
      expectCrashNotCached(e);
      expect(toolArgs(e).join(" ")).toContain("--image-src remote");
      expect(toolArgs(e).join(" ")).toContain("--exit-code 42 --format json");
      expect(e.caches["/var/cache/trivy"]).toBe("observatory-ci-untrusted-trivy-cache");
    }
    expect(only(r.session.execs.filter(isAudit)).env.OBSERVATORY_CI_RUN).toBeTruthy();
    expect(report).toContain("# Daily security scan");
    expect(report).toContain(IMAGE.production);
    expect(report).toContain("No blocking finding in any environment.");
    expect(report).toContain(
      [
        "| scan | target | result | critical | high | medium | low | info | unknown | accepted |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
        `| dev (trivy) | \`${IMAGE.dev} (llm-observatory-dev/analytics-api)\` | passed | 0 | 0 | 0 | 0 | 0 | 0 | 0 |`,
      ].join("\n"),
    );
    expect(report).toContain("| source (cargo audit) | `Cargo.lock` | passed | 0 | 0 | 0 | 0 | 0 | 0 | 0 |\n\n### dev (trivy)");
    expect(githubCalls(r)).toEqual([]);
    expect(r.session.secretLeaks([report])).toEqual([]);
  });

  it("opens exactly one issue labelled security and critical when something is found", async () => {
    const token = canarySecret("github");
    const kubeconfig = canarySecret("kubeconfig");
    const r = await start(clusterScript({ findings: true }));
    // the report and the issue first, then the run fails with the findings (the plan's daily scan fails)
    const report = (
      await failureOf(r.call((ci) => ci.scanDeployed(dag.setSecret("kubeconfig", kubeconfig), dag.setSecret("github-token", token), "llm-observatory/analytics-api")))
    ).message;
    expect(report).toContain("scanDeployed: blocking findings in staging (trivy)");
    expect(report).toContain("# Daily security scan");
    const calls = githubCalls(r);
    expect(calls).toHaveLength(2); // one search, one write
    const [search, create] = calls;
    expect(search.args[search.args.length - 1]).toBe("https://api.github.com/repos/llm-observatory/analytics-api/issues?labels=security,critical&state=open&per_page=100");
    expect(create.args[create.args.length - 1]).toBe("https://api.github.com/repos/llm-observatory/analytics-api/issues");
    for (const e of calls) {
      expect(e.image).toBe(IMAGES.curl);
      expect(e.secretFiles["/run/secrets/github-token"]).toBe("github-token");
      expect(e.secretEnv).toEqual({});
      expect(e.args).toContain("Authorization: Bearer {{github_token:trim}}");
    }
    const body = JSON.parse(String(create.chain.find((s) => s.field === "withNewFile")?.args.contents)) as { title: string; body: string; labels: string[] };
    expect(body.labels).toEqual(["security", "critical"]);
    expect(body.body).toContain("staging (trivy)");
    expect(body.body).toContain("CVE-2022-24775");
    expect(report).toContain("Opened security issue #123");
    expect(r.session.secretLeaks([report])).toEqual([]);
    for (const e of r.session.execs) expect(Object.values(e.env).join(" ")).not.toContain(token);
  });

  it("comments on the open issue instead of opening a duplicate", async () => {
    const r = await start(clusterScript({ findings: true, openIssue: 42 }));
    const report = (await failureOf(r.call((ci) => ci.scanDeployed(dag.setSecret("kubeconfig", canarySecret("kubeconfig")), dag.setSecret("github-token", canarySecret("gh")), "o/r")))).message;
    const calls = githubCalls(r);
    expect(calls).toHaveLength(2);
    expect(calls[1].args[calls[1].args.length - 1]).toBe("https://api.github.com/repos/o/r/issues/42/comments");
    expect(JSON.parse(String(calls[1].chain.find((s) => s.field === "withNewFile")?.args.contents))).toEqual({ body: expect.stringContaining("Daily security scan") });
    expect(report).toContain("Commented on the open security issue #42");
  });

  it("fails on blocking findings without a GitHub token too, the report in the error", async () => {
    const r = await start(clusterScript({ findings: true }));
    const err = await failureOf(r.call((ci) => ci.scanDeployed(dag.setSecret("kubeconfig", canarySecret("kubeconfig")))));
    expect(err.message).toContain("scanDeployed: blocking findings in staging (trivy)");
    expect(err.message).toContain("CVE-2022-24775");
    expect(githubCalls(r)).toEqual([]);
  });

  it("a crashed Trivy fails the exec (not cached, scanned again next run) and the report, naming the environment", async () => {
    const r = await start(clusterScript({ crash: true }));
    const err = await failureOf(r.call((ci) => ci.scanDeployed(dag.setSecret("kubeconfig", canarySecret("kubeconfig")), dag.setSecret("t", canarySecret("gh")), "o/r")));
    expect(err.message).toContain(`scanDeployed (trivy, dev): trivy crashed scanning image ${IMAGE.dev} of dev (exit 1: not a scan result)`);
    expect(err.message).toContain("unauthorized");
    expect(r.session.queries.some((q) => q.error?.includes(`exit code: ${SCANNER_CRASH_EXIT_CODE}`))).toBe(true);
    expect(githubCalls(r)).toEqual([]);
  });

  it("an unreachable cluster is an error naming the environment, never an empty report", async () => {
    const kubeconfig = canarySecret("kubeconfig");
    const r = await start(clusterScript({ unreachable: "staging" }));
    const err = await failureOf(r.call((ci) => ci.scanDeployed(dag.setSecret("kubeconfig", kubeconfig), dag.setSecret("t", canarySecret("gh")), "o/r")));
    expect(err.message).toContain("environment staging: cannot read deployment analytics-api in namespace llm-observatory-staging");
    expect(err.message).toContain("Unable to connect to the server");
    expect(githubCalls(r)).toEqual([]);
    expect(r.session.secretLeaks([err.message])).toEqual([]);
  });

  it("passes registry credentials to Trivy as a secret and scans only the environments asked for", async () => {
    const password = canarySecret("registry");
    const r = await start(clusterScript());
    await r.call((ci) => ci.scanDeployed(dag.setSecret("kubeconfig", canarySecret("kubeconfig")), undefined, undefined, ["production"], "bot", dag.setSecret("registry-password", password)));
    const trivy = r.session.exec("trivy", "image");
    // a docker config keyed to the configured registry only, written on a tmpfs from the secret variable;
    // never TRIVY_USERNAME/TRIVY_PASSWORD, which Trivy sends to every registry (the database's too)
    // under the scanner wrapper (a crash fails the exec), the tool command writes the config, then execs trivy
    expect(isScanExec(trivy.args)).toBe(true);
    const tool = toolArgs(trivy);
    expect(tool.slice(0, 2)).toEqual(["sh", "-euc"]);
    expect(tool[2]).toContain('exec trivy "$@"');
    expect(tool.slice(3, 6)).toEqual(["trivy", "image", "--image-src"]);
    expect(trivy.env).toMatchObject({ REGISTRY_KEY: "ghcr.io", REGISTRY_USERNAME: "bot", DOCKER_CONFIG: "/run/observatory-ci/docker" });
    expect(trivy.secretEnv).toEqual({ REGISTRY_PASSWORD: "registry-password" });
    expect(trivy.env.TRIVY_USERNAME).toBeUndefined();
    expect(r.session.execsMatching("kubectl", "llm-observatory-dev")).toEqual([]);
    expect(r.session.secretLeaks()).toEqual([]);
  });

  it("scans an image from another registry than image.registry without the registry credentials", async () => {
    const foreign = "docker.io/someone/analytics-api:1.0.0";
    const r = await start(
      healthyScript({
        exec: (e) =>
          e.args[0] === "kubectl" && e.args.join(" ").startsWith("kubectl get deployment")
            ? { stdout: deployment(e.args[3], "llm-observatory-dev", foreign) }
            : clusterScript().exec!(e),
      }),
    );
    await r.call((ci) => ci.scanDeployed(dag.setSecret("kubeconfig", canarySecret("kubeconfig")), undefined, undefined, ["dev"], "bot", dag.setSecret("registry-password", canarySecret("registry"))));
    const trivy = r.session.exec("trivy", "image");
    expect(toolArgs(trivy)[0]).toBe("trivy");
    expect(trivy.args[trivy.args.length - 1]).toBe(foreign);
    expect(trivy.secretEnv).toEqual({});
    expect(trivy.secretFiles).toEqual({});
    expect(Object.keys(trivy.env)).not.toContain("REGISTRY_USERNAME");
  });

  it("validates its arguments before any container", async () => {
    for (const [args, expected] of [
      [[undefined, undefined, ["qa"]], 'scanDeployed --environments: is not an environment (item 1) (found "qa"'],
      [[dag, undefined], "scanDeployed --github-repository: is missing: --github-token needs it"],
      [[undefined, "not-a-repo"], 'scanDeployed --github-repository: is not a GitHub repository (found "not-a-repo"'],
      [[undefined, "o/r"], "scanDeployed --github-token: is missing: --github-repository needs it"],
    ] as const) {
      const r = await start(clusterScript());
      const err = await failureOf(
        r.call((ci) =>
          ci.scanDeployed(
            dag.setSecret("kubeconfig", "k"),
            args[0] ? dag.setSecret("t", "x") : undefined,
            args[1] as string | undefined,
            (args as readonly unknown[])[2] as string[] | undefined,
          ),
        ),
      );
      expect(err.message).toContain(expected);
      expect(r.session.execs).toEqual([]);
      await r.session.stop();
    }
  });
});

describe("default deny.toml", () => {
  it("ci/deny.toml (for humans) is the module's embedded default", async () => {
    const { readFileSync } = await import("node:fs");
    expect(readFileSync(new URL("../../ci/deny.toml", import.meta.url), "utf8")).toBe(DEFAULT_DENY_TOML);
  });
});

describe("scanDeployed alerts", () => {
  it("posts the findings to Slack and resolves each environment's PagerDuty alert when nothing critical is found", async () => {
    const slack = dag.setSecret("slack-webhook", `https://hooks.slack.com/services/T0/B0/${canarySecret("slack")}`);
    const routingKey = dag.setSecret("pagerduty-routing-key", canarySecret("pagerduty"));
    const r = await start(clusterScript({ findings: true }));
    // the scan reports (Slack, PagerDuty) first, then fails on the blocking finding with the report
    const report = (
      await failureOf(
        r.call((ci) => ci.scanDeployed(dag.setSecret("kubeconfig", canarySecret("kubeconfig")), undefined, undefined, undefined, undefined, undefined, slack, routingKey)),
      )
    ).message;
    expect(report).toContain("scanDeployed: blocking findings in staging (trivy)");
    // the staging image has one HIGH finding (a genuine Trivy report): reported, not paged
    const paged = r.session.execsMatching("curl", "https://events.pagerduty.com/v2/enqueue");
    const events = paged.map((e) => JSON.parse(e.args[e.args.indexOf("--expand-data") + 1]!.replace("{{pagerduty_routing_key:trim:json}}", "K")));
    expect(events.map((e) => `${e.event_action} ${e.dedup_key}`).sort()).toEqual([
      "resolve observatory-ci/dev/critical-vulnerabilities",
      "resolve observatory-ci/production/critical-vulnerabilities",
      "resolve observatory-ci/source/critical-vulnerabilities",
      "resolve observatory-ci/staging/critical-vulnerabilities",
    ]);
    for (const e of paged) expect(e.secretFiles["/run/secrets/pagerduty-routing-key"]).toBe("pagerduty-routing-key");
    const post = only(r.session.execsMatching("curl", "slack_webhook@/run/secrets/slack-webhook"));
    const payload = JSON.parse(String(post.chain.find((s) => s.field === "withNewFile" && s.args.path === "/payload.json")?.args.contents));
    expect(payload.text).toMatch(/^:warning: Daily security scan \(\d{4}-\d{2}-\d{2}\): findings in staging \(trivy\)$/);
    expect(payload.blocks[1].text.text).toContain(`*failed*: staging (trivy) (${IMAGE.staging} (llm-observatory-staging/analytics-api)): 0 critical, 1 high`);
    expect(report).toContain("PagerDuty: PagerDuty resolve observatory-ci/staging/critical-vulnerabilities");
    expect(r.session.secretLeaks([report])).toEqual([]);
  });
});
