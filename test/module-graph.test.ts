/**
 * The module's import graph (every `import`/`export ... from` of .dagger/src, type-only ones included) has
 * no cycle: a stage file and the file it delegates to never import each other, shared types live in lib/.
 */
import { describe, expect, it } from "vitest";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const SRC = fileURLToPath(new URL("../.dagger/src/", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : name.endsWith(".ts") ? [full] : [];
  });
}

/** Relative imports of one file, resolved to files (`./x` is `x.ts` or `x/index.ts`). */
function localImports(path: string, text: string): string[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  const specs: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      specs.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      specs.push(node.arguments[0].text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      specs.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return specs
    .filter((spec) => spec.startsWith("."))
    .map((spec) => {
      const base = resolve(dirname(path), spec.replace(/\.js$/, ""));
      const file = [`${base}.ts`, join(base, "index.ts")].find((candidate) => existsSync(candidate));
      if (!file) throw new Error(`${relative(SRC, path)} imports ${spec}, which resolves to no file`);
      return file;
    });
}

/**
 * The cycles a depth-first walk meets (at least one whenever the graph has any), each as its files in import
 * order, starting at its smallest name.
 */
export function importCycles(graph: Map<string, string[]>): string[][] {
  const cycles = new Map<string, string[]>();
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const walk = (file: string): void => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === "open") {
        const cycle = stack.slice(stack.indexOf(next));
        const start = cycle.indexOf([...cycle].sort()[0]!);
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
        cycles.set(rotated.join(" -> "), rotated);
      } else if (!state.has(next)) {
        walk(next);
      }
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) walk(file);
  return [...cycles.values()];
}

describe("module graph", () => {
  const graph = new Map(sources(SRC).map((path) => [relative(SRC, path), localImports(path, readFileSync(path, "utf8")).map((f) => relative(SRC, f))]));

  it("reads the module's imports (index.ts imports the stage files)", () => {
    expect(graph.get("index.ts")).toEqual(expect.arrayContaining(["deploy.ts", "deploy-production.ts", "pipeline.ts"]));
    expect(graph.size).toBeGreaterThan(40);
  });

  it("has no import cycle", () => {
    const cycles = importCycles(graph).map((cycle) => [...cycle, cycle[0]].join(" -> "));
    expect(cycles).toEqual([]);
  });

  it("finds a cycle and names its files", () => {
    const fixture = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts", "lib/x.ts"]],
      ["c.ts", ["a.ts"]],
      ["lib/x.ts", []],
      ["d.ts", ["d.ts"]],
    ]);
    expect(importCycles(fixture)).toEqual([["a.ts", "b.ts", "c.ts"], ["d.ts"]]);
  });
});
