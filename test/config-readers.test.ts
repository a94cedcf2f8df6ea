/**
 * No configuration field without a reader: every leaf of the pipeline configuration schema is read
 * by the module's code outside the schema files. A field nobody reads is a promise the pipeline
 * does not keep (issue: `image.sign.*` once promised a verification that did not exist).
 *
 * A leaf counts as read when its key, and its parent's key, are accessed as properties (`a.key`,
 * `a["key"]`, `{ key }` destructuring) somewhere in `.dagger/src` outside the schema definitions.
 */
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import type { z } from "zod";
import { pipelineConfigSchema } from "../.dagger/src/lib/pipeline-config";

const SRC = fileURLToPath(new URL("../.dagger/src/", import.meta.url));
/** Where the schema is defined: mentions there are declarations, not reads. */
const SCHEMA_FILES = [/^lib\/pipeline-config\.ts$/, /^lib\/config\//];
/** Leaves that exist for editors and tools, not for the pipeline. */
const NOT_READ_BY_DESIGN = new Set(["$schema"]);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? files(full) : name.endsWith(".ts") ? [full] : [];
  });
}

/** Property names the code reads. */
function accessedNames(): Set<string> {
  const names = new Set<string>();
  for (const path of files(SRC)) {
    if (SCHEMA_FILES.some((re) => re.test(relative(SRC, path)))) continue;
    const sf = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    const visit = (node: ts.Node): void => {
      if (ts.isPropertyAccessExpression(node)) names.add(node.name.text);
      if (ts.isElementAccessExpression(node) && ts.isStringLiteral(node.argumentExpression)) names.add(node.argumentExpression.text);
      if (ts.isBindingElement(node)) {
        const key = node.propertyName ?? node.name;
        if (ts.isIdentifier(key) || ts.isStringLiteral(key)) names.add(key.text);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return names;
}

interface ZodDef {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
}
const defOf = (schema: z.ZodType) => (schema as unknown as { _zod: { def: ZodDef } })._zod.def;

/** Leaf paths of the schema: objects are walked, everything else (strings, arrays, records...) is a leaf. */
function leaves(schema: z.ZodType, path: string[] = []): string[][] {
  const def = defOf(schema);
  if (def.type === "object") return Object.entries(def.shape!).flatMap(([key, child]) => leaves(child, [...path, key]));
  const inner = def.innerType ?? (def.type === "pipe" ? def.in : undefined);
  if (inner) return leaves(inner, path);
  return [path];
}

describe("configuration readers", () => {
  const read = accessedNames();
  const all = leaves(pipelineConfigSchema);

  it("walks the whole schema", () => {
    expect(all.length).toBeGreaterThan(60);
    expect(all.map((p) => p.join("."))).toContain("image.sign.oidcIssuer");
  });

  it("has a reader for every field", () => {
    const unread = all
      .filter((path) => !NOT_READ_BY_DESIGN.has(path.join(".")))
      .filter((path) => {
        const key = path.at(-1)!;
        // environments are indexed by the Environment value (config.environments[env]), not by name
        const parent = path[0] === "environments" && path.length === 3 ? "environments" : path.at(-2);
        return !read.has(key) || (parent !== undefined && !read.has(parent));
      })
      .map((path) => path.join("."));
    expect(unread).toEqual([]);
  });
});
