/** The module's public functions as index.ts declares them, for tools that name them on a command line. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export interface Param {
  name: string;
  type: string;
  optional: boolean;
}

/** The `@func()` methods of ObservatoryCi and their parameters. */
export function moduleFunctions(): Map<string, Param[]> {
  const path = fileURLToPath(new URL("../../.dagger/src/index.ts", import.meta.url));
  const sf = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.ES2022, true);
  const out = new Map<string, Param[]>();
  sf.forEachChild((node) => {
    if (!ts.isClassDeclaration(node) || node.name?.text !== "ObservatoryCi") return;
    for (const member of node.members) {
      if (!ts.isMethodDeclaration(member) || !ts.getDecorators(member)?.some((d) => d.getText().startsWith("@func"))) continue;
      out.set(
        member.name.getText(),
        member.parameters.map((p) => ({ name: p.name.getText(), type: p.type?.getText() ?? "string", optional: !!p.questionToken || !!p.initializer })),
      );
    }
  });
  return out;
}

/** `dagger call` spells functions and flags in kebab case: `unit-test` is `unitTest`. */
export function kebabToCamel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
