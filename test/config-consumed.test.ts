/**
 * A config field that nothing reads is a defect: the adopter sets it and nothing changes. Every leaf
 * field of the published schema must be read somewhere in the module outside the schema files.
 */
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pipelineJsonSchema } from "./support/pipeline-schema";

const SRC = fileURLToPath(new URL("../.dagger/src/", import.meta.url));
/** Where fields are declared, not consumed. */
const SCHEMA_FILES = /(^|\/)lib\/(pipeline-config\.ts|config\/)/;
/** Fields read by someone else than the module, with who. */
const READ_ELSEWHERE: Record<string, string> = { $schema: "editors, to validate and complete the file" };

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : name.endsWith(".ts") ? [full] : [];
  });
}

type Schema = { type?: string | string[]; properties?: Record<string, Schema>; items?: Schema; additionalProperties?: Schema | boolean; anyOf?: Schema[] };

/** Dotted paths of every field the schema declares (array items and map values by their fields, as `[]` and `*`). */
function fieldPaths(schema: Schema, prefix = ""): string[] {
  const out: string[] = [];
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    out.push(path);
    out.push(...fieldPaths(child, path));
    if (child.items) out.push(...fieldPaths(child.items, `${path}[]`));
    if (child.additionalProperties && typeof child.additionalProperties === "object") out.push(...fieldPaths(child.additionalProperties, `${path}.*`));
  }
  return out;
}

describe("configuration fields", () => {
  const code = sources(SRC)
    .filter((path) => !SCHEMA_FILES.test(path.slice(SRC.length)))
    .map((path) => readFileSync(path, "utf8"))
    .join("\n");
  const schema = JSON.parse(pipelineJsonSchema()) as Schema;
  const paths = fieldPaths(schema);

  it("the schema declares the fields this test walks", () => {
    expect(paths).toEqual(expect.arrayContaining(["paths.package", "paths.service", "coverage.threshold", "tests.env", "security.denyConfig"]));
  });

  const escape = (text: string) => text.replace(/[$]/g, "\\$&");
  /** `parent.key` (or `parent?.key`), or `key` destructured from an expression ending in `parent`. */
  const isRead = (parent: string, key: string) => {
    const [p, k] = [escape(parent), escape(key)];
    if (new RegExp(`\\b${p}\\??\\.${k}\\b|\\{[^}]*\\b${k}\\b[^}]*\\}\\s*=\\s*[\\w.?]*\\b${p}\\b`).test(code)) return true;
    // an indexed read (config.scope[gate]) with the key among the names it is indexed by
    return new RegExp(`\\b${p}\\[`).test(code) && new RegExp(`["']${k}["']`).test(code);
  };
  /** Fields inside arrays, maps and per-environment objects are read through a variable of any name: their own name must appear as a property read. */
  const isReadAnywhere = (key: string) => new RegExp(`\\.${escape(key)}\\b|[{,]\\s*${escape(key)}\\s*[,}]`).test(code);

  it("every field is read by the module, through its parent (config.coverage.threshold, { threshold } = ...coverage)", () => {
    const unread = paths.filter((path) => {
      const segments = path.split(".");
      const key = segments.pop()!.replace(/\[\]$/, "");
      const parent = segments.length ? segments[segments.length - 1]! : "config";
      if (key === "*" || READ_ELSEWHERE[key]) return false;
      if (/^environments\.\w+$/.test(path)) return !/\benvironments\[/.test(code) && !isRead(parent, key); // config.environments[environment]
      if (/\[\]|\*|^environments\.\w+\./.test(path)) return !isReadAnywhere(key);
      return !isRead(parent, key);
    });
    expect(unread).toEqual([]);
  });

  it("a name the module never reads is caught", () => {
    expect(isRead("tests", "includeIgnoredTestsNobodyReads")).toBe(false);
    expect(isRead("security", "denyConfig")).toBe(true);
    expect(isRead("paths", "service")).toBe(true);
  });
});
