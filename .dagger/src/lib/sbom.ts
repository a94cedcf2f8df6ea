/**
 * Reads the SBOM Syft writes (`-o spdx-json`, or `-o cyclonedx-json`), checks the fields this module relies on
 * and summarises it. Anything else (empty output, truncated JSON, another format, an SPDX version we do not
 * know) is an error, so a broken SBOM step cannot pass unnoticed.
 */

/**
 * The SBOM formats Syft writes that this module reads and attests. On the command line an enum member is
 * given by its name, which the engine turns into SCREAMING_SNAKE_CASE and the CLI matches case-insensitively
 * (dagger v0.21.8 core/gqlformat.go `gqlEnumMemberName`, cmd/dagger/flags.go `enumValue.Set`): `--format spdx_json`.
 */
export enum SbomFormat {
  SpdxJson = "spdx-json",
  CyclonedxJson = "cyclonedx-json",
}

/** An SBOM format as Syft's `--output` and the config spell it. */
export type SbomFormatName = `${SbomFormat}`;

export interface SbomSummary {
  format: SbomFormatName;
  /** `SPDX-2.2` / `SPDX-2.3`, or the CycloneDX `specVersion` (`1.5`). */
  specVersion: string;
  /** SPDX `name`; CycloneDX `metadata.component` as `name@version` ("" when absent). */
  documentName: string;
  /** SPDX `creationInfo.creators` (`Tool: syft-1.16.0`); CycloneDX tools and authors in the same style. */
  creators: string[];
  /**
   * Packages found, not counting what the document describes: Syft adds a `SPDXRef-DocumentRoot-*` package
   * for the scanned image/directory, the subject of the DESCRIBES relationship. CycloneDX keeps the subject
   * apart (`metadata.component`); there every component counts, nested ones included.
   */
  packageCount: number;
  /** What the document describes, as `name@version` (`name` alone when it has no version). */
  subjects: string[];
  /** The first packages by name, as `name@version`. */
  topPackages: string[];
}

export interface ReadSbomOptions {
  /** Fail unless the document is in this format. */
  expectedFormat?: SbomFormatName;
  /** Names the file in error messages. */
  source?: string;
  /** How many `topPackages` to list (default 10). */
  topPackagesLimit?: number;
}

const SPDX_VERSIONS = ["SPDX-2.2", "SPDX-2.3"];
const CYCLONEDX_VERSIONS = ["1.2", "1.3", "1.4", "1.5", "1.6", "1.7"];

class SbomError extends Error {
  constructor(source: string, message: string) {
    super(`SBOM ${source}: ${message}`);
    this.name = "SbomError";
  }
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describeValue(value: unknown): string {
  if (value === undefined) return "missing";
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${JSON.stringify(value)}`;
}

function nameAtVersion(name: string, version: unknown): string {
  return typeof version === "string" && version.length > 0 ? `${name}@${version}` : name;
}

function topOf(labels: string[], limit: number): string[] {
  return [...new Set(labels)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, limit);
}

export function readSbom(text: string, options: ReadSbomOptions = {}): SbomSummary {
  const source = options.source ?? "document";
  const limit = options.topPackagesLimit ?? 10;
  if (typeof text !== "string" || text.trim().length === 0) throw new SbomError(source, "is empty (did the SBOM step write anything?)");
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new SbomError(source, `is not valid JSON (${(error as Error).message}); truncated output?`);
  }
  if (!isObject(document)) throw new SbomError(source, `must be a JSON object, got ${describeValue(document)}`);

  let summary: SbomSummary;
  if ("spdxVersion" in document) summary = summariseSpdx(document, source, limit);
  else if ("bomFormat" in document) summary = summariseCycloneDx(document, source, limit);
  else throw new SbomError(source, "is neither SPDX JSON (no spdxVersion) nor CycloneDX JSON (no bomFormat)");

  if (options.expectedFormat && summary.format !== options.expectedFormat) {
    throw new SbomError(source, `is ${summary.format}, expected ${options.expectedFormat}`);
  }
  return summary;
}

function summariseSpdx(document: Json, source: string, limit: number): SbomSummary {
  const fail = (message: string) => new SbomError(source, message);
  const { spdxVersion, SPDXID, documentNamespace, name, creationInfo, packages, relationships, documentDescribes } = document;
  if (typeof spdxVersion !== "string" || !SPDX_VERSIONS.includes(spdxVersion)) {
    throw fail(`spdxVersion is ${describeValue(spdxVersion)}, expected one of ${SPDX_VERSIONS.join(", ")}`);
  }
  if (SPDXID !== "SPDXRef-DOCUMENT") throw fail(`SPDXID is ${describeValue(SPDXID)}, expected "SPDXRef-DOCUMENT"`);
  if (typeof documentNamespace !== "string" || documentNamespace.length === 0) {
    throw fail(`documentNamespace is ${describeValue(documentNamespace)}, expected a non-empty string`);
  }
  if (typeof name !== "string") throw fail(`name is ${describeValue(name)}, expected a string`);
  if (!isObject(creationInfo)) throw fail(`creationInfo is ${describeValue(creationInfo)}, expected an object`);
  const creators = creationInfo.creators;
  if (!Array.isArray(creators) || !creators.every((creator) => typeof creator === "string")) {
    throw fail(`creationInfo.creators is ${describeValue(creators)}, expected an array of strings`);
  }
  if (!Array.isArray(packages)) throw fail(`packages is ${describeValue(packages)}, expected an array`);

  const subjectIds = new Set<string>();
  if (Array.isArray(documentDescribes)) {
    for (const id of documentDescribes) if (typeof id === "string") subjectIds.add(id);
  }
  if (relationships !== undefined && !Array.isArray(relationships)) {
    throw fail(`relationships is ${describeValue(relationships)}, expected an array`);
  }
  for (const relationship of relationships ?? []) {
    if (isObject(relationship) && relationship.relationshipType === "DESCRIBES" && relationship.spdxElementId === "SPDXRef-DOCUMENT") {
      if (typeof relationship.relatedSpdxElement === "string") subjectIds.add(relationship.relatedSpdxElement);
    }
  }

  const found: string[] = [];
  const subjects: string[] = [];
  packages.forEach((pkg, index) => {
    if (!isObject(pkg)) throw fail(`packages[${index}] is ${describeValue(pkg)}, expected an object`);
    if (typeof pkg.SPDXID !== "string" || pkg.SPDXID.length === 0) throw fail(`packages[${index}].SPDXID is ${describeValue(pkg.SPDXID)}`);
    if (typeof pkg.name !== "string") throw fail(`packages[${index}] (${pkg.SPDXID}) name is ${describeValue(pkg.name)}`);
    const label = nameAtVersion(pkg.name, pkg.versionInfo);
    if (subjectIds.has(pkg.SPDXID)) subjects.push(label);
    else found.push(label);
  });

  return {
    format: "spdx-json",
    specVersion: spdxVersion,
    documentName: name,
    creators: creators as string[],
    packageCount: found.length,
    subjects,
    topPackages: topOf(found, limit),
  };
}

function summariseCycloneDx(document: Json, source: string, limit: number): SbomSummary {
  const fail = (message: string) => new SbomError(source, message);
  const { bomFormat, specVersion, metadata, components } = document;
  if (bomFormat !== "CycloneDX") throw fail(`bomFormat is ${describeValue(bomFormat)}, expected "CycloneDX"`);
  if (typeof specVersion !== "string" || !CYCLONEDX_VERSIONS.includes(specVersion)) {
    throw fail(`specVersion is ${describeValue(specVersion)}, expected one of ${CYCLONEDX_VERSIONS.join(", ")}`);
  }
  // cyclonedx-go drops empty arrays, so an image without packages has no `components` key at all.
  if (components !== undefined && !Array.isArray(components)) throw fail(`components is ${describeValue(components)}, expected an array`);
  if (metadata !== undefined && !isObject(metadata)) throw fail(`metadata is ${describeValue(metadata)}, expected an object`);

  const found: string[] = [];
  const visit = (list: unknown[], path: string): void => {
    list.forEach((component, index) => {
      const where = `${path}[${index}]`;
      if (!isObject(component)) throw fail(`${where} is ${describeValue(component)}, expected an object`);
      if (typeof component.name !== "string" || component.name.length === 0) throw fail(`${where}.name is ${describeValue(component.name)}`);
      found.push(nameAtVersion(component.name, component.version));
      if (component.components !== undefined) {
        if (!Array.isArray(component.components)) throw fail(`${where}.components is ${describeValue(component.components)}, expected an array`);
        visit(component.components, `${where}.components`);
      }
    });
  };
  visit((components as unknown[] | undefined) ?? [], "components");

  const subjects: string[] = [];
  const subject = metadata?.component;
  if (isObject(subject) && typeof subject.name === "string") subjects.push(nameAtVersion(subject.name, subject.version));

  return {
    format: "cyclonedx-json",
    specVersion,
    documentName: subjects[0] ?? "",
    creators: cycloneDxCreators(metadata),
    packageCount: found.length,
    subjects,
    topPackages: topOf(found, limit),
  };
}

/** CycloneDX ≤1.4 lists `tools` as an array; 1.5+ as `{ components: [...] }`. */
function cycloneDxCreators(metadata: Json | undefined): string[] {
  if (!metadata) return [];
  const creators: string[] = [];
  const tools = metadata.tools;
  const toolList = Array.isArray(tools) ? tools : isObject(tools) && Array.isArray(tools.components) ? tools.components : [];
  for (const tool of toolList) {
    if (isObject(tool) && typeof tool.name === "string") {
      creators.push(`Tool: ${tool.name}${typeof tool.version === "string" ? `-${tool.version}` : ""}`);
    }
  }
  if (Array.isArray(metadata.authors)) {
    for (const author of metadata.authors) {
      if (isObject(author) && typeof author.name === "string") creators.push(`Person: ${author.name}`);
    }
  }
  return creators;
}

/** One line for a job summary: `SPDX-2.3, 44 packages (Tool: syft-0.83.0)`. */
export function formatSbomSummary(summary: SbomSummary): string {
  const version = summary.format === "spdx-json" ? summary.specVersion : `CycloneDX ${summary.specVersion}`;
  const tools = summary.creators.filter((creator) => creator.startsWith("Tool: "));
  const noun = summary.packageCount === 1 ? "package" : "packages";
  return `${version}, ${summary.packageCount} ${noun}${tools.length > 0 ? ` (${tools.join(", ")})` : ""}`;
}
