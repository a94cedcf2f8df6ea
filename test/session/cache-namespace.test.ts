/**
 * Cache volumes are shared by name on one engine: every volume the module opens carries the run's
 * trust level, so a pull request's run (untrusted) never writes a volume a run of main (trusted) reads.
 */
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { dag } from "@dagger.io/dagger";
import { isRef, type RecordingSession, type Step } from "../support/recording-session";
import { healthyScript, startPerTest, type ModuleRun } from "../support/module";
import { Trust, TRUST_LEVELS, cacheVolumeName } from "../../.dagger/src/lib/trust";

const start = startPerTest();
const SRC = fileURLToPath(new URL("../../.dagger/src/", import.meta.url));

/** Every `cacheVolume(key)` in every recorded query, including those inside object arguments. */
function cacheKeys(session: RecordingSession): Set<string> {
  const keys = new Set<string>();
  const visit = (chain: Step[]) => {
    for (const step of chain) {
      if (step.field === "cacheVolume") keys.add(String(step.args.key));
      for (const value of Object.values(step.args)) visitValue(value);
    }
  };
  const visitValue = (value: unknown): void => {
    if (isRef(value)) visit(value.$ref);
    else if (Array.isArray(value)) value.forEach(visitValue);
    else if (value && typeof value === "object") Object.values(value).forEach(visitValue);
  };
  for (const q of session.queries) visit(q.chain);
  return keys;
}

/** Every gate of `ci`, the SARIF reports and the Codecov upload: every stage that mounts a cache. */
async function everyCachedPlan(run: ModuleRun, trust: Trust): Promise<void> {
  // ci's verdict does not matter here, only the volumes its gates mounted
  await run.call((ci) => ci.ci(), { trust }).catch(() => undefined);
  await run.call(async (ci) => (await ci.securityReports()).entries(), { trust }).catch(() => undefined);
  await run.call((ci) => ci.uploadCoverage(dag.setSecret("codecov-token", "x"), "a".repeat(40), "o/r"), { trust });
}

describe("cache namespaces by trust level", () => {
  const seen = new Map<Trust, Set<string>>();

  for (const trust of TRUST_LEVELS) {
    it(`every cache volume of a ${trust} run is named observatory-ci-${trust}-*`, async () => {
      const run = await start(healthyScript());
      await everyCachedPlan(run, trust);
      const keys = cacheKeys(run.session);
      seen.set(trust, keys);
      const outside = [...keys].filter((k) => !k.startsWith(`observatory-ci-${trust}-`));
      expect(outside).toEqual([]);
      // every stage's volume was reached, so the scan above covered them all
      for (const purpose of ["cargo-home", "rustsec-advisory-db", "cargo-deny-advisory-dbs", "trivy-cache", "pip"]) {
        expect([...keys], purpose).toContain(cacheVolumeName(trust, purpose));
      }
    }, 60_000);
  }

  it("both trust levels use the same volumes, each under its own name: the level is the only difference", () => {
    const purposes = (trust: Trust) => [...(seen.get(trust) ?? [])].map((k) => k.slice(`observatory-ci-${trust}-`.length)).sort();
    expect(purposes(Trust.Untrusted).length).toBeGreaterThanOrEqual(5);
    expect(purposes(Trust.Trusted)).toEqual(purposes(Trust.Untrusted));
    for (const purpose of purposes(Trust.Untrusted)) expect(cacheVolumeName(Trust.Trusted, purpose)).not.toBe(cacheVolumeName(Trust.Untrusted, purpose));
  });

  it("defaults to untrusted when the caller names no trust level", async () => {
    const run = await start();
    await run.call((ci) => ci.fmt());
    expect([...cacheKeys(run.session)]).toEqual(["observatory-ci-untrusted-cargo-home"]);
  });

  it("opens cache volumes only through the namespacing helper (cache.ts)", () => {
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : n.endsWith(".ts") ? [join(dir, n)] : []));
    const direct = files(SRC).filter((f) => /dag\s*\.\s*cacheVolume\b/.test(readFileSync(f, "utf8")));
    expect(direct.map((f) => relative(SRC, f))).toEqual(["cache.ts"]);
  });
});

describe("cacheVolumeName", () => {
  it("prefixes the purpose with the trust level and refuses anything else", () => {
    expect(cacheVolumeName(Trust.Trusted, "cargo-home")).toBe("observatory-ci-trusted-cargo-home");
    expect(cacheVolumeName(Trust.Untrusted, "target-clippy")).toBe("observatory-ci-untrusted-target-clippy");
    expect(() => cacheVolumeName("admin" as Trust, "pip")).toThrow('unknown trust level "admin": expected one of untrusted, trusted');
    expect(() => cacheVolumeName(Trust.Trusted, "../trusted-pip")).toThrow("cache volume purpose");
  });
});
