/**
 * The dependency-update bots' configuration: .github/dependabot.yml (the service) and renovate.json (the
 * pipeline module's own pins), validated against their published JSON schemas, and Renovate's regex managers
 * replayed on versions.ts the way Renovate applies them, so a reformatted pin cannot silently drop out.
 *
 * Schemas (test/fixtures/schemas, copied from SchemaStore/schemastore at 3b6446ad8a07):
 *   src/schemas/json/dependabot-2.0.json  (GitHub's dependabot.yml v2)
 *   src/schemas/json/renovate-43.json     ("JSON schema for Renovate 43.288.0 config files", generated from Renovate's options)
 * Neither forbids unknown keys everywhere (Renovate's top level and custom managers allow any property), so
 * the keys used are also checked against the names the schema defines.
 */
import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import { parse as parseYaml } from "yaml";
import { DAGGER_VERSION, IMAGES, TOOLS } from "../.dagger/src/versions";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const schema = (name: string) => JSON.parse(read(`test/fixtures/schemas/${name}`)) as Record<string, unknown>;

/** The schemas carry editor keywords (markdownDescription, allowComments, x-*) that strict mode refuses; formats are not checked. */
function validator(schemaJson: Record<string, unknown>) {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  return ajv.compile(schemaJson);
}

interface CustomManager {
  customType: string;
  managerFilePatterns: string[];
  matchStrings: string[];
  depNameTemplate?: string;
  datasourceTemplate?: string;
}
interface RenovateConfig {
  customManagers: CustomManager[];
  packageRules: Array<Record<string, unknown>>;
  [key: string]: unknown;
}
const renovate = JSON.parse(read("renovate.json")) as RenovateConfig;

/**
 * Renovate's file match: a pattern between slashes is a regular expression, anything else a glob
 * (docs.renovatebot.com, managerFilePatterns). Only regular expressions are used here.
 */
function managesFile(manager: CustomManager, path: string): boolean {
  return manager.managerFilePatterns.some((pattern) => {
    const re = /^\/(.*)\/$/.exec(pattern);
    if (!re) throw new Error(`renovate.json: ${pattern} is a glob; this test replays regular expressions only`);
    return new RegExp(re[1]!).test(path);
  });
}

interface Extracted {
  depName: string;
  currentValue: string;
  currentDigest?: string;
  datasource?: string;
}

/**
 * What Renovate's regex manager extracts, with its default matchStringsStrategy "any": every match of every
 * matchString over the whole file (named groups, global flag), templates filling what the groups leave out.
 */
function extract(path: string, content: string): Extracted[] {
  return renovate.customManagers
    .filter((m) => m.customType === "regex" && managesFile(m, path))
    .flatMap((m) =>
      m.matchStrings.flatMap((ms) =>
        [...content.matchAll(new RegExp(ms, "g"))].map((match) => ({
          depName: m.depNameTemplate ?? match.groups!.depName!,
          currentValue: match.groups!.currentValue!,
          ...(match.groups!.currentDigest ? { currentDigest: match.groups!.currentDigest } : {}),
          datasource: m.datasourceTemplate,
        })),
      ),
    );
}

const VERSIONS = ".dagger/src/versions.ts";

/** Every pin of versions.ts as the module reads it: images as `<name>:<tag>`, tools by version (an object's `version`). */
function pinsOf(images: Record<string, string>, tools: Record<string, unknown>, dagger: string): Array<{ key: string; value: string }> {
  const toolVersion = (v: unknown) => (typeof v === "string" ? v : String((v as { version: string }).version));
  return [
    ...Object.entries(images).map(([key, value]) => ({ key, value })),
    ...Object.entries(tools).map(([key, value]) => ({ key, value: toolVersion(value) })),
    { key: "DAGGER_VERSION", value: dagger },
  ];
}

/** Which extracted dependency is the pin: an image by name and tag, a tool or Dagger by its version. */
function covered(pins: Array<{ key: string; value: string }>, found: Extracted[]): string[] {
  return pins
    .filter(({ key, value }) => {
      if (key in IMAGES) return !found.some((f) => f.datasource === "docker" && `${f.depName}:${f.currentValue}${f.currentDigest ? `@${f.currentDigest}` : ""}` === value);
      return !found.some((f) => f.datasource !== "docker" && f.currentValue === value);
    })
    .map(({ key, value }) => `${key}=${value}`);
}

describe("renovate.json", () => {
  const renovateSchema = schema("renovate-43.json");

  it("is valid against Renovate's published schema", () => {
    const validate = validator(renovateSchema);
    expect(validate(renovate), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it("the schema check can fail: a wrong type and an unknown customType are refused", () => {
    const validate = validator(renovateSchema);
    expect(validate({ ...renovate, prConcurrentLimit: "five" })).toBe(false);
    expect(validate({ ...renovate, customManagers: [{ ...renovate.customManagers[0], customType: "regexp" }] })).toBe(false);
  });

  it("uses only option names the schema defines (it allows unknown keys)", () => {
    const definitions = renovateSchema.definitions as Record<string, { items?: { allOf?: Array<{ properties?: object }> } }>;
    // $schema is for editors; Renovate ignores it
    const topLevel = ["$schema", ...Object.keys(renovateSchema.properties as object)];
    const managerKeys = Object.keys(definitions.customManagers!.items!.allOf![0]!.properties!);
    // a package rule holds its matchers plus any option it sets for what it matches
    const ruleKeys = [...Object.keys(definitions.packageRules!.items!.allOf![0]!.properties!), ...topLevel];
    const unknown = [
      ...Object.keys(renovate).filter((k) => !topLevel.includes(k)),
      ...renovate.customManagers.flatMap((m) => Object.keys(m).filter((k) => !managerKeys.includes(k)).map((k) => `customManagers.${k}`)),
      ...renovate.packageRules.flatMap((r) => Object.keys(r).filter((k) => !ruleKeys.includes(k)).map((k) => `packageRules.${k}`)),
    ];
    expect(unknown).toEqual([]);
  });

  it("finds every pin of versions.ts, each with the datasource it comes from", () => {
    const found = extract(VERSIONS, read(VERSIONS));
    expect(covered(pinsOf(IMAGES, TOOLS, DAGGER_VERSION), found)).toEqual([]);
    const byName = new Map(found.map((f) => [f.depName, f]));
    expect(byName.get("rust")).toMatchObject({ datasource: "docker", currentValue: IMAGES.rust.split(":")[1] });
    expect(byName.get("gcr.io/go-containerregistry/crane/debug")).toMatchObject({ datasource: "docker" });
    expect(byName.get("cargo-audit")).toMatchObject({ datasource: "crate", currentValue: TOOLS.cargoAudit });
    expect(byName.get("codecov-cli")).toMatchObject({ datasource: "pypi" });
    expect(byName.get("cli/cli")).toMatchObject({ datasource: "github-releases" });
    expect(byName.get("dagger/dagger")).toMatchObject({ currentValue: DAGGER_VERSION });
    // nothing else in the file (comments mention tags and versions) is taken for a pin
    expect(found).toHaveLength(Object.keys(IMAGES).length + Object.keys(TOOLS).length + 1);
  });

  it("still finds every pin after one pin changed, a digest was added, and a tool became an object with a sha256", () => {
    const original = read(VERSIONS);
    const digest = `sha256:${"ab".repeat(32)}`;
    const edited = original
      .replace(`"${IMAGES.trivy}"`, `"aquasec/trivy:0.58.2"`)
      .replace(`"${IMAGES.alpine}"`, `"${IMAGES.alpine}@${digest}"`)
      // a released tool's pin (TOOL_RELEASES: its version beside one SHA-256 per architecture) moves
      .replace(`cargoDeny: {\n    version: "${TOOLS.cargoDeny}",`, `cargoDeny: {\n    version: "0.19.0",`)
      .replace(`gh: "${TOOLS.gh}"`, `gh: { sha256: "${"ef".repeat(32)}", version: "${TOOLS.gh}" }`);
    expect(edited).not.toBe(original);
    const images = { ...IMAGES, trivy: "aquasec/trivy:0.58.2", alpine: `${IMAGES.alpine}@${digest}` };
    const tools = { ...TOOLS, cargoDeny: { version: "0.19.0" } };
    const found = extract(VERSIONS, edited);
    expect(covered(pinsOf(images, tools, DAGGER_VERSION), found)).toEqual([]);
    expect(found.find((f) => f.depName === "aquasec/trivy")).toMatchObject({ currentValue: "0.58.2" });
    expect(found.find((f) => f.depName === "alpine")).toMatchObject({ currentDigest: digest });
    expect(found.find((f) => f.depName === "cargo-deny")).toMatchObject({ currentValue: "0.19.0" });
  });

  it("the coverage check can fail: a pin written in a shape no manager knows is reported", () => {
    const edited = read(VERSIONS).replace(`cargoAudit: {\n    version: "${TOOLS.cargoAudit}",`, `cargoAudit: {\n    version: ["${TOOLS.cargoAudit}"],`);
    expect(edited).not.toBe(read(VERSIONS));
    expect(covered(pinsOf(IMAGES, TOOLS, DAGGER_VERSION), extract(VERSIONS, edited))).toEqual([`cargoAudit=${TOOLS.cargoAudit}`]);
  });

  it("finds the Dagger version in dagger.json, every workflow's dagger-for-github step and the other CI systems, as one group with the npm SDK", () => {
    const engine = (JSON.parse(read("dagger.json")) as { engineVersion: string }).engineVersion;
    expect(extract("dagger.json", read("dagger.json"))).toEqual([{ depName: "dagger/dagger", currentValue: engine.replace(/^v/, ""), datasource: "github-releases" }]);
    const workflows = readdirSync(join(ROOT, ".github/workflows")).filter((f) => /\.ya?ml$/.test(f));
    for (const name of workflows) {
      const text = read(`.github/workflows/${name}`);
      const steps = text.match(/uses: dagger\/dagger-for-github@/g)?.length ?? 0;
      const found = extract(`.github/workflows/${name}`, text);
      expect(found.length, name).toBe(steps);
      for (const f of found) expect(f, name).toEqual({ depName: "dagger/dagger", currentValue: DAGGER_VERSION, datasource: "github-releases" });
    }
    const filesUnder = (dir: string) =>
      (readdirSync(join(ROOT, dir), { recursive: true }) as string[]).filter((f) => statSync(join(ROOT, dir, f)).isFile());
    for (const name of filesUnder("ci/other-ci")) {
      const text = read(`ci/other-ci/${name}`);
      if (!/DAGGER_VERSION\s*[:=]/.test(text)) continue;
      expect(extract(`ci/other-ci/${name}`, text).map((f) => f.currentValue), name).toContain(DAGGER_VERSION);
    }
    // the shared engine's image is the module's version too (ci/engine/, `registry.dagger.io/engine:vX.Y.Z`)
    const engineImages = filesUnder("ci/engine").flatMap((name) => extract(`ci/engine/${name}`, read(`ci/engine/${name}`)));
    expect(engineImages.map((f) => f.currentValue)).toEqual([DAGGER_VERSION]);
    // versions.ts has other `version:` fields (TOOL_RELEASES): only DAGGER_VERSION is taken for Dagger there
    expect(extract(VERSIONS, read(VERSIONS)).filter((f) => f.depName === "dagger/dagger").map((f) => f.currentValue)).toEqual([DAGGER_VERSION]);
    const group = renovate.packageRules.find((r) => r.groupName === "dagger")!;
    expect(group.matchDepNames).toEqual(expect.arrayContaining(["dagger/dagger", "@dagger.io/dagger"]));
    expect((JSON.parse(read("package.json")) as { devDependencies: Record<string, string> }).devDependencies["@dagger.io/dagger"]).toBe(DAGGER_VERSION);
  });

  it("labels security updates", () => {
    expect((renovate.vulnerabilityAlerts as { labels: string[] }).labels).toContain("security");
  });
});

describe(".github/dependabot.yml", () => {
  const dependabot = parseYaml(read(".github/dependabot.yml")) as { updates: Array<Record<string, unknown>> };

  it("is valid against the published dependabot-2.0 schema", () => {
    const validate = validator(schema("dependabot-2.0.json"));
    expect(validate(dependabot), JSON.stringify(validate.errors, null, 2)).toBe(true);
    expect(validate({ ...dependabot, updates: [{ ...dependabot.updates[0], schedule: { interval: "fortnightly" } }] })).toBe(false);
  });

  it("updates cargo in services/analytics-api as the plan writes it: weekly, patch and minor grouped, at most 5 open, security apart", () => {
    const cargo = dependabot.updates.find((u) => u["package-ecosystem"] === "cargo")!;
    expect(cargo).toMatchObject({ directory: "/services/analytics-api", schedule: { interval: "weekly" }, "open-pull-requests-limit": 5 });
    const groups = Object.values(cargo.groups as Record<string, { "applies-to": string; "update-types"?: string[] }>);
    expect(groups).toContainEqual(expect.objectContaining({ "applies-to": "version-updates", "update-types": ["patch", "minor"] }));
    expect(groups.some((g) => g["applies-to"] === "security-updates")).toBe(true);
  });

  it("also keeps the workflows' actions and the Dockerfile's base images current", () => {
    const ecosystems = dependabot.updates.map((u) => [u["package-ecosystem"], u.directory]);
    expect(ecosystems).toEqual(expect.arrayContaining([["github-actions", "/"], ["docker", "/services/analytics-api"]]));
  });
});
