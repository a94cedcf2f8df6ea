import { describe, expect, it } from "vitest";
import { z } from "zod";
import { securityConfigSchema } from "../../.dagger/src/lib/config/security";

function issuesOf(input: unknown) {
  const result = securityConfigSchema.safeParse(input);
  expect(result.success).toBe(false);
  return result.error!.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message }));
}

describe("securityConfigSchema", () => {
  it("fills every default from nothing", () => {
    expect(securityConfigSchema.parse(undefined)).toEqual({
      failOn: ["critical", "high"],
      allowlist: [],
      trivy: { severity: "CRITICAL,HIGH", skipDirs: ["target"], timeout: "10m" },
      semgrep: { configs: ["p/security-audit", "p/rust"], timeout: 300 },
      gitleaks: {},
      audit: { ignore: [] },
    });
  });

  it("fills nested defaults next to values given", () => {
    const config = securityConfigSchema.parse({
      trivy: { dbRepository: "ghcr.io/aquasecurity/trivy-db:2" },
      allowlist: [{ id: "RUSTSEC-2023-0071", reason: "we never decrypt with RSA", added: "2026-01-15", expires: "2026-02-28", tool: "cargo-audit" }],
    });
    expect(config.trivy).toEqual({ severity: "CRITICAL,HIGH", dbRepository: "ghcr.io/aquasecurity/trivy-db:2", skipDirs: ["target"], timeout: "10m" });
    expect(config.allowlist).toEqual([
      { id: "RUSTSEC-2023-0071", reason: "we never decrypt with RSA", added: "2026-01-15", expires: "2026-02-28", tool: "cargo-audit" },
    ]);
    expect(config.semgrep.configs).toEqual(["p/security-audit", "p/rust"]);
  });

  it("names the field path of a bad expiry date", () => {
    const entry = { id: "CVE-2024-1", reason: "r", added: "2024-12-31" };
    expect(issuesOf({ allowlist: [{ ...entry, expires: "2025-01-31" }, { ...entry, expires: "2025-02-30" }] })).toEqual([
      { path: "allowlist.1.expires", message: "is not a real calendar date" },
    ]);
    expect(issuesOf({ allowlist: [{ ...entry, expires: "31/01/2025" }] })[0]).toEqual({
      path: "allowlist.0.expires",
      message: "must be a date written YYYY-MM-DD",
    });
    expect(securityConfigSchema.parse({ allowlist: [{ ...entry, added: "2024-02-01", expires: "2024-02-29" }] }).allowlist[0]!.expires).toBe("2024-02-29");
  });

  it("requires the day an entry was added, and an expiry on or after it and at most 90 days later", () => {
    const entry = { id: "CVE-2024-1", reason: "r" };
    expect(issuesOf({ allowlist: [{ ...entry, expires: "2025-01-31" }] })).toEqual([
      { path: "allowlist.0.added", message: "Invalid input: expected string, received undefined" },
    ]);
    expect(issuesOf({ allowlist: [{ ...entry, added: "2025-02-01", expires: "2025-01-31" }] })).toEqual([
      { path: "allowlist.0.expires", message: "must be on or after added (2025-02-01)" },
    ]);
    // 2025-01-01 + 90 days = 2025-04-01: allowed; one day more is not
    expect(securityConfigSchema.parse({ allowlist: [{ ...entry, added: "2025-01-01", expires: "2025-04-01" }] }).allowlist).toHaveLength(1);
    expect(issuesOf({ allowlist: [{ ...entry, added: "2025-01-01", expires: "2025-04-02" }] })).toEqual([
      {
        path: "allowlist.0.expires",
        message: "must be at most 90 days after added (2025-01-01), it is 91 days after; renew the entry with a new added date after a review instead",
      },
    ]);
    expect(issuesOf({ allowlist: [{ ...entry, added: "2025-02-30", expires: "2025-03-01" }] })).toEqual([
      { path: "allowlist.0.added", message: "is not a real calendar date" },
    ]);
  });

  it("requires a reason and a known tool", () => {
    expect(issuesOf({ allowlist: [{ id: "X", reason: "  ", added: "2024-12-01", expires: "2025-01-01", tool: "snyk" }] }).map((i) => i.path)).toEqual([
      "allowlist.0.reason",
      "allowlist.0.tool",
    ]);
  });

  it("rejects unknown keys at every level", () => {
    expect(issuesOf({ failOnn: ["high"] })).toEqual([{ path: "", message: 'Unrecognized key: "failOnn"' }]);
    expect(issuesOf({ trivy: { severities: "HIGH" } })[0]!.path).toBe("trivy");
    expect(issuesOf({ allowlist: [{ id: "X", reason: "r", added: "2024-12-01", expires: "2025-01-01", note: "n" }] })[0]!.path).toBe("allowlist.0");
  });

  it("refuses settings that would weaken or break the gates", () => {
    // gitleaks always runs with --redact: there is no setting to turn it off
    expect(issuesOf({ gitleaks: { redact: false } })).toEqual([{ path: "gitleaks", message: 'Unrecognized key: "redact"' }]);
    expect(issuesOf({ failOn: [] })[0]!.path).toBe("failOn");
    expect(issuesOf({ failOn: ["severe"] })[0]!.path).toBe("failOn.0");
    expect(issuesOf({ trivy: { severity: "CRITICAL, HIGH" } })[0]!.path).toBe("trivy.severity");
    expect(issuesOf({ trivy: { timeout: "10 minutes" } })[0]!.path).toBe("trivy.timeout");
    expect(issuesOf({ denyConfig: "../deny.toml" })[0]!.path).toBe("denyConfig");
    expect(issuesOf({ audit: { ignore: ["CVE-2020-1"] } })[0]!.path).toBe("audit.ignore.0");
    expect(issuesOf({ semgrep: { timeout: 0 } })[0]!.path).toBe("semgrep.timeout");
  });

  it("describes every field for the published JSON schema", () => {
    const schema = JSON.stringify(z.toJSONSchema(securityConfigSchema, { io: "input" }));
    expect(schema).toContain("Finding severities that fail the Trivy gates and cargo deny. cargo audit and Semgrep (--error) fail on every finding the allowlist does not accept.");
    expect(schema).toContain("gitleaks configuration in the source (--config)");
  });
});
