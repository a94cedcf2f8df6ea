import { z } from "zod";
import { SCANNER_NAMES, SEVERITIES } from "../findings/model";
import { MAX_ALLOWLIST_DAYS, daysBetween } from "../findings/allowlist";

function isCalendarDay(value: string): boolean {
  const [year, month, day] = value.split("-").map(Number) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** Where cargo deny looks for the repository's policy when security.denyConfig is not set. */
export const DEFAULT_DENY_CONFIG = ".cargo/deny.toml";

const isoDay = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date written YYYY-MM-DD")
  .refine(isCalendarDay, "is not a real calendar date");

const relativePath = z
  .string()
  .min(1)
  .refine((value) => !value.startsWith("/") && !value.split("/").includes(".."), "must be a path inside the source directory");

/** A Go duration as Trivy's --timeout takes it: 90s, 10m, 1h30m. */
const goDuration = z.string().regex(/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/, "must be a duration such as 90s, 10m or 1h30m");

const trivySeverities = z
  .string()
  .regex(
    /^(UNKNOWN|LOW|MEDIUM|HIGH|CRITICAL)(,(UNKNOWN|LOW|MEDIUM|HIGH|CRITICAL))*$/,
    "must be a comma-separated list of UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL",
  );

/**
 * An allowlist entry lives at most MAX_ALLOWLIST_DAYS from the day it was added: a pull request that
 * adds one is reviewed (CODEOWNERS covers ci/), and the acceptance ends on its own unless someone
 * reviews it again.
 */
export const allowlistEntrySchema = z
  .strictObject({
    id: z.string().min(1).describe("Rule or advisory id to accept (CVE-…, RUSTSEC-…, GHSA-…, a Semgrep check id, a gitleaks rule id)."),
    reason: z.string().trim().min(1, "must say why the risk is accepted").describe("Why the risk is accepted; shown in every report."),
    added: isoDay.describe(
      `Day (UTC, YYYY-MM-DD) the entry was added. An entry added after the day of the scan is invalid and fails the gate; expires is at most ${MAX_ALLOWLIST_DAYS} days later.`,
    ),
    expires: isoDay.describe(
      `Last day (UTC, YYYY-MM-DD) the entry is valid, on or after added and at most ${MAX_ALLOWLIST_DAYS} days after it; after it the entry fails the gate until renewed or removed.`,
    ),
    tool: z.enum(SCANNER_NAMES).optional().describe("Only accept findings of this scanner."),
    path: relativePath.optional().describe("Only accept findings in this file, or under this directory."),
  })
  .superRefine((entry, ctx) => {
    // zod runs this refinement even when a date failed its own check: that one is already reported
    if (![entry.added, entry.expires].every((day) => /^\d{4}-\d{2}-\d{2}$/.test(day) && isCalendarDay(day))) return;
    const days = daysBetween(entry.added, entry.expires);
    if (days < 0) {
      ctx.addIssue({ code: "custom", path: ["expires"], input: entry.expires, message: `must be on or after added (${entry.added})` });
    } else if (days > MAX_ALLOWLIST_DAYS) {
      ctx.addIssue({
        code: "custom",
        path: ["expires"],
        input: entry.expires,
        message: `must be at most ${MAX_ALLOWLIST_DAYS} days after added (${entry.added}), it is ${days} days after; renew the entry with a new added date after a review instead`,
      });
    }
  });

const trivySchema = z
  .strictObject({
    severity: trivySeverities
      .default("CRITICAL,HIGH")
      .describe("Severities Trivy reports and fails on (--severity)."),
    dbRepository: z
      .string()
      .min(1)
      .optional()
      .describe("OCI repository of the vulnerability database, e.g. a mirror of ghcr.io/aquasecurity/trivy-db:2 (--db-repository)."),
    javaDbRepository: z.string().min(1).optional().describe("OCI repository of the Java index database (--java-db-repository)."),
    skipDirs: z.array(relativePath).default(["target"]).describe("Directories Trivy does not scan (--skip-dirs)."),
    timeout: goDuration.default("10m").describe("Trivy's own time limit per scan (--timeout)."),
  })
  .prefault({});

const semgrepSchema = z
  .strictObject({
    configs: z
      .array(z.string().min(1))
      .min(1)
      .default(["p/security-audit", "p/rust"])
      .describe("Semgrep rule sets (--config), registry names or paths in the source."),
    timeout: z
      .number()
      .int()
      .positive()
      .default(300)
      .describe("Seconds the whole Semgrep run may take before the gate fails."),
  })
  .prefault({});

const gitleaksSchema = z
  .strictObject({
    configPath: relativePath.optional().describe("gitleaks configuration in the source (--config); gitleaks' defaults when absent."),
  })
  .prefault({});

const auditSchema = z
  .strictObject({
    ignore: z
      .array(z.string().regex(/^RUSTSEC-\d{4}-\d{4}$/, "must be a RustSec advisory id such as RUSTSEC-2021-0078"))
      .default([])
      .describe(
        "Advisories cargo audit skips entirely (--ignore). Prefer `allowlist`: it needs a reason and an expiry, and the findings stay visible in reports.",
      ),
  })
  .prefault({});

export const securityConfigSchema = z
  .strictObject({
    failOn: z
      .array(z.enum(SEVERITIES))
      .min(1)
      .default(["critical", "high"])
      .describe(
        "Finding severities that fail the Trivy gates and cargo deny. cargo audit and Semgrep (--error) fail on every finding the allowlist does not accept.",
      ),
    allowlist: z
      .array(allowlistEntrySchema)
      .default([])
      .describe("Accepted findings, each with a reason and an expiry date."),
    denyConfig: relativePath
      .optional()
      .describe(
        `cargo-deny configuration (deny.toml) in the source. Unset: ${DEFAULT_DENY_CONFIG} when the repository has one, else the module's default policy. A configured path must exist: it never falls back to the default policy.`,
      ),
    trivy: trivySchema.describe("Trivy filesystem and image scans."),
    semgrep: semgrepSchema.describe("Semgrep static analysis."),
    gitleaks: gitleaksSchema.describe("Gitleaks secret scan."),
    audit: auditSchema.describe("cargo audit."),
  })
  .prefault({});

export type SecurityConfig = z.infer<typeof securityConfigSchema>;
export type AllowlistEntryConfig = z.infer<typeof allowlistEntrySchema>;
