/**
 * The module's public functions as index.ts declares them, for tools that name them on a command line:
 * every `@func()` method of the module's `@object()` class, with its parameters and its description,
 * read from the source as the SDK's introspector reads it (no list kept by hand).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export interface Param {
  name: string;
  type: string;
  optional: boolean;
  /** The `@param` text of the function's JSDoc. */
  description?: string;
}

export interface ModuleConstructor {
  params: Param[];
  /** The `ignore` list of the contextual source directory (`@argument({ defaultPath: "/", ignore })`). */
  sourceIgnore: string[];
}

const INDEX = fileURLToPath(new URL("../../.dagger/src/index.ts", import.meta.url));

function moduleClass(): { sf: ts.SourceFile; cls: ts.ClassDeclaration } {
  const sf = ts.createSourceFile(INDEX, readFileSync(INDEX, "utf8"), ts.ScriptTarget.ES2022, true);
  const cls = sf.statements.find(
    (node): node is ts.ClassDeclaration => ts.isClassDeclaration(node) && !!ts.getDecorators(node)?.some((d) => d.getText().startsWith("@object")),
  );
  if (!cls) throw new Error(`${INDEX}: no @object() class`);
  return { sf, cls };
}

function jsDocText(comment: string | ts.NodeArray<ts.JSDocComment> | undefined): string {
  return (typeof comment === "string" ? comment : (comment?.map((c) => c.text).join("") ?? "")).replace(/\s+/g, " ").trim();
}

function paramsOf(fn: ts.SignatureDeclarationBase): Param[] {
  const docs = new Map(ts.getJSDocTags(fn).filter(ts.isJSDocParameterTag).map((tag) => [tag.name.getText(), jsDocText(tag.comment)]));
  return fn.parameters.map((p) => ({
    name: p.name.getText(),
    type: p.type?.getText() ?? "string",
    optional: !!p.questionToken || !!p.initializer,
    ...(docs.get(p.name.getText()) ? { description: docs.get(p.name.getText()) } : {}),
  }));
}

function funcMethods(): ts.MethodDeclaration[] {
  return moduleClass().cls.members.filter(
    (member): member is ts.MethodDeclaration => ts.isMethodDeclaration(member) && !!ts.getDecorators(member)?.some((d) => d.getText().startsWith("@func")),
  );
}

/** The `@func()` methods of the module object, by name, with their parameters. */
export function moduleFunctions(): Map<string, Param[]> {
  return new Map(funcMethods().map((member) => [member.name.getText(), paramsOf(member)]));
}

/** The first sentence of each function's JSDoc, by name. */
export function moduleFunctionSummaries(): Map<string, string> {
  return new Map(
    funcMethods().map((member) => {
      const doc = ts.getJSDocCommentsAndTags(member).find(ts.isJSDoc);
      return [member.name.getText(), jsDocText(doc?.comment).split(/(?<=\.)\s/)[0] ?? ""];
    }),
  );
}

/** The module object's constructor: its arguments and the source directory's ignore list. */
export function moduleConstructor(): ModuleConstructor {
  const { sf, cls } = moduleClass();
  const ctor = cls.members.find(ts.isConstructorDeclaration);
  if (!ctor) throw new Error(`${INDEX}: the module object has no constructor`);
  let sourceIgnore: string[] = [];
  for (const p of ctor.parameters) {
    for (const d of ts.getDecorators(p) ?? []) {
      if (!ts.isCallExpression(d.expression) || d.expression.expression.getText() !== "argument") continue;
      const options = d.expression.arguments[0];
      if (!options || !ts.isObjectLiteralExpression(options)) continue;
      const ignore = options.properties.find((prop): prop is ts.PropertyAssignment => ts.isPropertyAssignment(prop) && prop.name.getText() === "ignore");
      if (ignore) sourceIgnore = stringList(sf, ignore.initializer);
    }
  }
  return { params: paramsOf(ctor), sourceIgnore };
}

/** An array literal of strings, or a `const` naming one in the same file. */
function stringList(sf: ts.SourceFile, node: ts.Expression): string[] {
  if (ts.isArrayLiteralExpression(node)) return node.elements.filter(ts.isStringLiteral).map((e) => e.text);
  if (ts.isIdentifier(node)) {
    for (const statement of sf.statements) {
      if (!ts.isVariableStatement(statement)) continue;
      for (const decl of statement.declarationList.declarations) {
        if (decl.name.getText() === node.text && decl.initializer) return stringList(sf, decl.initializer);
      }
    }
  }
  throw new Error(`${INDEX}: cannot read the ignore list ${node.getText()}`);
}

/** `dagger call` spells functions and flags in kebab case: `unit-test` is `unitTest`. */
export function kebabToCamel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** `unitTest` -> `unit-test`. */
export function camelToKebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
