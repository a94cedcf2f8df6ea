/**
 * Code scanning categories of the SARIF files the module writes.
 *
 * Since July 2025 code scanning no longer combines several runs with the same tool and category in one
 * upload: github/codeql-action v4.31.9 src/upload-lib.ts (`areAllRunsUnique`, `throwIfCombineSarifFilesDisabled`,
 * from PR #2959) refuses the whole upload with "does not support uploading multiple SARIF runs with the same
 * category" (GitHub changelog 2025-07-21, "Code scanning will stop combining multiple SARIF runs uploaded in the
 * same SARIF file"; github/codeql-action issue #3051). Trivy's filesystem and image scans are both the driver
 * "Trivy" at one version, so each file gets its own `runs[].automationDetails.id`, which the action keeps
 * (`populateRunAutomationDetails` only fills a missing one).
 */
import { z } from "zod";

const PREFIX = "observatory-ci";

/** The scanners whose SARIF the module writes, as their category names them. */
export type SarifScanner = "trivy-fs" | "trivy-image" | "semgrep" | "gitleaks";

/**
 * `observatory-ci/<scanner>/`, or `observatory-ci/<scanner>/<os>-<arch>/` for one platform of several: the
 * trailing slash makes the whole id the category (SARIF 2.1.0 §3.17.4: the part before the last `/`).
 */
export function sarifCategory(scanner: SarifScanner, platform?: string): string {
  return platform ? `${PREFIX}/${scanner}/${platform.replace(/\//g, "-")}/` : `${PREFIX}/${scanner}/`;
}

const driver = z.looseObject({
  name: z.string().optional(),
  fullName: z.string().optional(),
  version: z.string().optional(),
  semanticVersion: z.string().optional(),
  guid: z.string().optional(),
});
const run = z.looseObject({
  tool: z.looseObject({ driver: driver.optional() }).optional(),
  automationDetails: z.looseObject({ id: z.string().optional() }).optional(),
});
const sarifLog = z.looseObject({ runs: z.array(run) });

function readSarif(text: string, file: string): z.infer<typeof sarifLog> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const parsed = sarifLog.safeParse(json);
  if (!parsed.success) throw new Error(`${file}: not a SARIF log (no runs array)`);
  return parsed.data;
}

/** The SARIF text with every run's `automationDetails.id` set to `category` (whatever the tool wrote). */
export function withSarifCategory(text: string, file: string, category: string): string {
  const log = readSarif(text, file);
  const runs = log.runs.map((r) => ({ ...r, automationDetails: { ...r.automationDetails, id: category } }));
  return JSON.stringify({ ...log, runs }, null, 2);
}

/**
 * Runs that code scanning would refuse in one upload: the key is codeql-action's `createRunKey` (driver name,
 * fullName, version, semanticVersion, guid, automationDetails.id). Each entry names the files that share one.
 */
export function sarifRunCollisions(files: { name: string; text: string }[]): string[] {
  const seen = new Map<string, string[]>();
  for (const { name, text } of files) {
    readSarif(text, name).runs.forEach((r, index) => {
      const d = r.tool?.driver ?? {};
      const key = JSON.stringify([d.name, d.fullName, d.version, d.semanticVersion, d.guid, r.automationDetails?.id]);
      seen.set(key, [...(seen.get(key) ?? []), `${name} runs[${index}]`]);
    });
  }
  return [...seen.entries()]
    .filter(([, where]) => where.length > 1)
    .map(([key, where]) => {
      const [tool, , , , , category] = JSON.parse(key) as (string | null)[];
      return `tool ${tool ?? "(none)"}, category ${category ?? "(none)"}: ${where.join(", ")}`;
    });
}
