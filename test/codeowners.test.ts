/**
 * The CODEOWNERS template the module ships for the service repository: every path that decides
 * what the pipeline runs or which policy it applies has an owner. Pattern rules as GitHub
 * documents them for CODEOWNERS (gitignore syntax; a leading "/" anchors at the repository root,
 * a trailing "/" matches everything below; the last matching line wins).
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";

const TEMPLATE = readFileSync(new URL("../ci/CODEOWNERS.template", import.meta.url), "utf8");

interface Rule {
  pattern: string;
  owners: string[];
}

const rules: Rule[] = TEMPLATE.split("\n")
  .map((line) => line.replace(/#.*/, "").trim())
  .filter(Boolean)
  .map((line) => {
    const [pattern, ...owners] = line.split(/\s+/);
    return { pattern: pattern!, owners };
  });

/** The anchored literal patterns this template uses: "/dir/" (a folder) or "/path" (one file). */
function matches(pattern: string, path: string): boolean {
  if (!pattern.startsWith("/") || /[*?[]/.test(pattern)) throw new Error(`the template keeps to anchored literal patterns, found ${pattern}`);
  const anchored = pattern.slice(1);
  return anchored.endsWith("/") ? path.startsWith(anchored) : path === anchored;
}

function ownersOf(path: string): string[] {
  return rules.filter((r) => matches(r.pattern, path)).at(-1)?.owners ?? [];
}

describe("CODEOWNERS template", () => {
  it.each([
    "dagger.json",
    ".dagger/src/index.ts",
    ".dagger/package.json",
    "ci/pipeline.json",
    "ci/load/staging.js",
    ".github/workflows/ci.yml",
    ".github/CODEOWNERS",
    ".cargo/deny.toml",
    "services/analytics-api/Dockerfile",
  ])("gives %s an owner", (path) => {
    expect(ownersOf(path).length).toBeGreaterThan(0);
    for (const owner of ownersOf(path)) expect(owner).toMatch(/^@[\w.-]+(\/[\w.-]+)?$|^[^@\s]+@[^@\s]+$/);
  });

  it("leaves the service's own code to its authors", () => {
    expect(ownersOf("services/analytics-api/src/main.rs")).toEqual([]);
    expect(ownersOf("crates/storage/migrations/20240101000000_create_events.sql")).toEqual([]);
  });
});
