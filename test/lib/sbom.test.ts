import { describe, it, expect } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { readSbom, formatSbomSummary, type SbomSummary } from "../../.dagger/src/lib/sbom";

const SYFT_DIR = new URL("../fixtures/reports/syft/", import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, SYFT_DIR), "utf8");

const ANCHORE = "Organization: Anchore, Inc";
const IMAGE_ROOT = "user-image-input@sha256:2731251dc34951c0e50fcc643b4c5f74922dad1a5d98f302b504cf46cd5d9368";

const expected: Record<string, Omit<SbomSummary, "format">> = {
  "spdx22-required-properties-golden-redacted.json": {
    specVersion: "SPDX-2.2",
    documentName: "unknown",
    creators: [ANCHORE, "Tool: -"],
    packageCount: 2,
    subjects: [""],
    topPackages: ["files-analyzed-false@v2", "files-analyzed-true@v1"],
  },
  "spdx23-directory-golden-redacted.json": {
    specVersion: "SPDX-2.3",
    documentName: "some/path",
    creators: [ANCHORE, "Tool: syft-v0.42.0-bogus"],
    packageCount: 2,
    subjects: ["some/path"],
    topPackages: ["package-1@1.0.1", "package-2@2.0.1"],
  },
  "spdx23-image-golden-redacted.json": {
    specVersion: "SPDX-2.3",
    documentName: "user-image-input",
    creators: [ANCHORE, "Tool: syft-v0.42.0-bogus"],
    packageCount: 2,
    subjects: [IMAGE_ROOT],
    topPackages: ["package-1@1.0.1", "package-2@2.0.1"],
  },
  "spdx23-relationship-order-with-files-golden-redacted.json": {
    specVersion: "SPDX-2.3",
    documentName: "user-image-input",
    creators: [ANCHORE, "Tool: syft-v0.42.0-bogus"],
    packageCount: 2,
    subjects: [IMAGE_ROOT],
    topPackages: ["package-1@1.0.1", "package-2@2.0.1"],
  },
  "spdx23-real-syft-0.83.0-rust-dir.json": {
    specVersion: "SPDX-2.3",
    documentName: ".",
    creators: [ANCHORE, "Tool: syft-0.83.0"],
    packageCount: 44,
    // syft 0.83 pointed DESCRIBES at the document itself: no subject package
    subjects: [],
    topPackages: [
      "aho-corasick@1.0.2",
      "atc-router@1.0.5",
      "autocfg@1.1.0",
      "block-buffer@0.10.4",
      "cfg-if@1.0.0",
      "chrono@0.2.25",
      "cidr@0.2.1",
      "cpufeatures@0.2.7",
      "crypto-common@0.1.6",
      "digest@0.10.7",
    ],
  },
};

describe("readSbom on Syft SPDX samples", () => {
  it("covers every sample in fixtures/reports/syft", () => {
    expect(readdirSync(SYFT_DIR).filter((f) => f.endsWith(".json")).sort()).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))("%s", (file, summary) => {
    expect(readSbom(fixture(file), { source: file, expectedFormat: "spdx-json" })).toEqual({ format: "spdx-json", ...summary });
  });

  it("limits topPackages", () => {
    expect(readSbom(fixture("spdx23-real-syft-0.83.0-rust-dir.json"), { topPackagesLimit: 2 }).topPackages).toEqual([
      "aho-corasick@1.0.2",
      "atc-router@1.0.5",
    ]);
  });

  it("formats a one-line summary", () => {
    expect(formatSbomSummary(readSbom(fixture("spdx23-real-syft-0.83.0-rust-dir.json")))).toBe("SPDX-2.3, 44 packages (Tool: syft-0.83.0)");
  });

  it("refuses SPDX when CycloneDX was expected", () => {
    expect(() => readSbom(fixture("spdx23-image-golden-redacted.json"), { source: "sbom.json", expectedFormat: "cyclonedx-json" })).toThrow(
      "SBOM sbom.json: is spdx-json, expected cyclonedx-json",
    );
  });
});

// Shape of anchore/syft's syft/format/cyclonedxjson/testdata/snapshot/TestCycloneDxImageEncoder.golden (1.7,
// tools as an object), trimmed to the fields read here.
const CYCLONEDX_17 = {
  $schema: "http://cyclonedx.org/schema/bom-1.7.schema.json",
  bomFormat: "CycloneDX",
  specVersion: "1.7",
  serialNumber: "urn:uuid:redacted",
  version: 1,
  metadata: {
    timestamp: "timestamp:redacted",
    tools: { components: [{ type: "application", author: "anchore", name: "syft", version: "v0.42.0-bogus" }] },
    component: { "bom-ref": "redacted", type: "container", name: "user-image-input", version: "sha256:redacted" },
  },
  components: [
    { "bom-ref": "6563dfaf7d374e95", type: "library", name: "package-1", version: "1.0.1", purl: "a-purl-1" },
    { "bom-ref": "pkg:deb/debian/package-2@2.0.1", type: "library", name: "package-2", version: "2.0.1" },
    { "bom-ref": "os:debian@1.2.3", type: "operating-system", name: "debian", version: "1.2.3" },
  ],
};

describe("readSbom on CycloneDX JSON", () => {
  it("summarises a 1.5+ document (tools object)", () => {
    expect(readSbom(JSON.stringify(CYCLONEDX_17), { expectedFormat: "cyclonedx-json" })).toEqual({
      format: "cyclonedx-json",
      specVersion: "1.7",
      documentName: "user-image-input@sha256:redacted",
      creators: ["Tool: syft-v0.42.0-bogus"],
      packageCount: 3,
      subjects: ["user-image-input@sha256:redacted"],
      topPackages: ["debian@1.2.3", "package-1@1.0.1", "package-2@2.0.1"],
    });
  });

  it("reads 1.4 tools arrays, nested components and a missing components key", () => {
    const doc = {
      bomFormat: "CycloneDX",
      specVersion: "1.4",
      metadata: { tools: [{ vendor: "anchore", name: "syft", version: "0.83.0" }], authors: [{ name: "ci" }] },
      components: [{ type: "library", name: "outer", version: "1", components: [{ type: "library", name: "inner" }] }],
    };
    const summary = readSbom(JSON.stringify(doc));
    expect(summary.creators).toEqual(["Tool: syft-0.83.0", "Person: ci"]);
    expect(summary.packageCount).toBe(2);
    expect(summary.topPackages).toEqual(["inner", "outer@1"]);
    expect(summary.documentName).toBe("");
    expect(formatSbomSummary(summary)).toBe("CycloneDX 1.4, 2 packages (Tool: syft-0.83.0)");
    expect(readSbom(JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.5" })).packageCount).toBe(0);
  });
});

describe("readSbom rejects what it cannot trust", () => {
  const image = JSON.parse(fixture("spdx23-image-golden-redacted.json"));
  const mutate = (change: (doc: Record<string, unknown>) => void) => {
    const doc = structuredClone(image);
    change(doc);
    return JSON.stringify(doc);
  };

  it.each([
    ["empty output", "", /SBOM sbom\.spdx\.json: is empty/],
    ["whitespace only", "  \n", /is empty/],
    ["truncated JSON", fixture("spdx23-image-golden-redacted.json").slice(0, 400), /is not valid JSON .*truncated output\?/],
    ["a JSON array", "[]", /must be a JSON object, got an array/],
    ["JSON null", "null", /must be a JSON object, got null/],
    ["an unrelated object", '{"Results": []}', /neither SPDX JSON \(no spdxVersion\) nor CycloneDX JSON \(no bomFormat\)/],
    ["SPDX 2.1", mutate((d) => (d.spdxVersion = "SPDX-2.1")), /spdxVersion is string "SPDX-2\.1", expected one of SPDX-2\.2, SPDX-2\.3/],
    ["wrong SPDXID", mutate((d) => (d.SPDXID = "SPDXRef-X")), /SPDXID is string "SPDXRef-X", expected "SPDXRef-DOCUMENT"/],
    ["no documentNamespace", mutate((d) => delete d.documentNamespace), /documentNamespace is missing/],
    ["packages not an array", mutate((d) => (d.packages = {})), /packages is an object, expected an array/],
    ["no packages", mutate((d) => delete d.packages), /packages is missing, expected an array/],
    ["package without SPDXID", mutate((d) => delete (d.packages as Record<string, unknown>[])[1]!.SPDXID), /packages\[1\]\.SPDXID is missing/],
    ["package name not a string", mutate((d) => ((d.packages as Record<string, unknown>[])[0]!.name = 3)), /packages\[0\] \(SPDXRef-Package-python-package-1-2f52f617f1548337\) name is number 3/],
    ["creators missing", mutate((d) => delete (d.creationInfo as Record<string, unknown>).creators), /creationInfo\.creators is missing/],
    ["bad CycloneDX bomFormat", '{"bomFormat":"SPDX","specVersion":"1.5"}', /bomFormat is string "SPDX", expected "CycloneDX"/],
    ["unknown CycloneDX version", '{"bomFormat":"CycloneDX","specVersion":"2.0"}', /specVersion is string "2\.0"/],
    ["CycloneDX components not an array", '{"bomFormat":"CycloneDX","specVersion":"1.5","components":{}}', /components is an object/],
    ["CycloneDX component without name", '{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library"}]}', /components\[0\]\.name is missing/],
  ])("%s", (_label, text, message) => {
    expect(() => readSbom(text, { source: "sbom.spdx.json" })).toThrow(message);
  });
});
