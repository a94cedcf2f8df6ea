/**
 * What the engine's module runtime can load: only the `.dagger` folder reaches it, and
 * `@dagger.io/dagger` there is the bundled SDK, which exports fewer names than the npm package. And the layout:
 * one concern per stage file, so no stage file grows past the size limit.
 */
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import * as generated from "../node_modules/@dagger.io/dagger/dist/src/api/client.gen.js";
import { BUNDLED_SDK_EXPORTS } from "./support/engine-layout";

const DAGGER_DIR = fileURLToPath(new URL("../.dagger/", import.meta.url));
const SRC = join(DAGGER_DIR, "src");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : name.endsWith(".ts") ? [full] : [];
  });
}

const files = sources(SRC).map((path) => ({ path, text: readFileSync(path, "utf8") }));

/** A stage file (a file directly in .dagger/src) over this many lines holds more than one concern. */
const MAX_STAGE_LINES = 450;

interface ImportUse {
  path: string;
  spec: string;
  /** Named imports (`{ a, type B }`), without aliases. */
  names: string[];
  namespace: boolean;
}

/** Real import/export-from declarations (not text inside strings, such as the embedded k6 script). */
const imports: ImportUse[] = files.flatMap(({ path, text }) => {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  return sf.statements.flatMap((st): ImportUse[] => {
    if ((ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
      const names: string[] = [];
      let namespace = false;
      if (ts.isImportDeclaration(st)) {
        const bindings = st.importClause?.namedBindings;
        if (bindings && ts.isNamedImports(bindings)) for (const el of bindings.elements) names.push((el.propertyName ?? el.name).text);
        if (bindings && ts.isNamespaceImport(bindings)) namespace = true;
      }
      return [{ path, spec: st.moduleSpecifier.text, names, namespace }];
    }
    return [];
  });
});

describe("module boundaries", () => {
  it("imports from @dagger.io/dagger only names the engine's bundled SDK exports", () => {
    // client.gen is re-exported whole: its values and its type-only exports (Platform, JSON...)
    const declarations = readFileSync(new URL("../node_modules/@dagger.io/dagger/dist/src/api/client.gen.d.ts", import.meta.url), "utf8");
    const typeNames = [...declarations.matchAll(/^export (?:declare )?(?:class|type|enum|const|function|interface|var|abstract class) (\w+)/gm)].map((m) => m[1]);
    const allowed = new Set<string>([...BUNDLED_SDK_EXPORTS, ...Object.keys(generated), ...typeNames]);
    const offending: string[] = [];
    for (const use of imports.filter((i) => i.spec === "@dagger.io/dagger")) {
      for (const name of use.names) if (!allowed.has(name)) offending.push(`${relative(DAGGER_DIR, use.path)}: ${name}`);
      if (use.namespace) offending.push(`${relative(DAGGER_DIR, use.path)}: namespace import`);
    }
    expect(offending).toEqual([]);
    // the check itself knows the names the bundle lacks
    expect(allowed.has("ExecError")).toBe(false);
    expect(allowed.has("dag")).toBe(true);
    expect(allowed.has("ReturnType")).toBe(true);
  });

  it("imports nothing from outside .dagger and no package the module does not declare", () => {
    const declared = Object.keys(JSON.parse(readFileSync(join(DAGGER_DIR, "package.json"), "utf8")).dependencies);
    const offending: string[] = [];
    for (const { path, spec } of imports) {
      if (spec.startsWith(".")) {
        const target = resolve(dirname(path), spec);
        if (!target.startsWith(DAGGER_DIR)) offending.push(`${relative(DAGGER_DIR, path)} imports ${spec}`);
      } else if (!spec.startsWith("node:") && spec !== "@dagger.io/dagger" && !declared.includes(spec)) {
        offending.push(`${relative(DAGGER_DIR, path)} imports undeclared package ${spec}`);
      }
    }
    expect(imports.length).toBeGreaterThan(20);
    expect(offending).toEqual([]);
  });

  it("names no image outside the versions file", () => {
    const imageLike = /["'`](?:[a-z0-9.-]+\/)*(?:rust|alpine|redis|postgres|timescale\/timescaledb|aquasec\/trivy|semgrep\/semgrep|zricethezav\/gitleaks|anchore\/syft|grafana\/k6|curlimages\/curl|alpine\/k8s|python|node|debian|ubuntu|bitnami\/kubectl):[\w.-]*\d[\w.-]*["'`]/;
    const offending = files
      .filter(({ path }) => !path.endsWith("versions.ts"))
      .flatMap(({ path, text }) => text.split("\n").map((line, i) => ({ path, line, n: i + 1 })))
      .filter(({ line }) => imageLike.test(line))
      .map(({ path, n, line }) => `${relative(DAGGER_DIR, path)}:${n}: ${line.trim()}`);
    expect(offending).toEqual([]);
  });

  it("keeps every stage file under the size limit, split by concern", () => {
    // The module object and the versions file are one list each by design.
    const exempt = new Set(["index.ts", "versions.ts"]);
    const lineCount = (text: string) => text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    const stages = files.filter(({ path }) => dirname(path) === SRC && !exempt.has(relative(SRC, path)));
    const over = stages.filter(({ text }) => lineCount(text) > MAX_STAGE_LINES).map(({ path, text }) => ({ file: relative(SRC, path), lines: lineCount(text) }));
    expect(over.map(({ file, lines }) => `${file}: ${lines} lines`)).toEqual([]);
    expect(stages.length).toBeGreaterThan(10);
  });
});
