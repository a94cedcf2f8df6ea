/**
 * No exported function that only tests call: every function a module file exports is used by the
 * module itself (another file, or its own file besides the declaration). Pure helpers stay
 * exported for their unit tests as long as the module uses them; a function nothing in the module
 * calls is dead code kept alive by its test, and a setter exported for tests is a seam the module
 * should take as a parameter instead (e.g. the clock).
 */
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const SRC = fileURLToPath(new URL("../.dagger/src/", import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? files(full) : name.endsWith(".ts") ? [full] : [];
  });
}

const sources = files(SRC).map((path) => ({ path, text: readFileSync(path, "utf8") }));

/** Exported functions (declarations and arrow functions bound to exported consts), by file. */
function exportedFunctions(path: string, text: string): string[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const names: string[] = [];
  for (const st of sf.statements) {
    const exported = ts.canHaveModifiers(st) && (ts.getModifiers(st) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (!exported) continue;
    if (ts.isFunctionDeclaration(st) && st.name) names.push(st.name.text);
    if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) {
        if (ts.isIdentifier(d.name) && d.initializer && (ts.isArrowFunction(d.initializer) || ts.isFunctionExpression(d.initializer))) names.push(d.name.text);
      }
    }
  }
  return names;
}

/** Identifiers in the code (comments and string contents are not code), counted per name. */
function identifierCounts(path: string, text: string): Map<string, number> {
  const counts = new Map<string, number>();
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node)) counts.set(node.text, (counts.get(node.text) ?? 0) + 1);
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS));
  return counts;
}

const identifiers = new Map(sources.map(({ path, text }) => [path, identifierCounts(path, text)]));

function uses(path: string, name: string): number {
  return identifiers.get(path)!.get(name) ?? 0;
}

describe("module exports", () => {
  it("exports no function that only tests call", () => {
    const unused: string[] = [];
    for (const { path, text } of sources) {
      for (const name of exportedFunctions(path, text)) {
        const used = sources.some((other) => (other.path === path ? uses(other.path, name) > 1 : uses(other.path, name) > 0));
        if (!used) unused.push(`${relative(SRC, path)}: ${name}`);
      }
    }
    expect(unused).toEqual([]);
  });
});
