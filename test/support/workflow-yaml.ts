/**
 * A strict reader for the YAML that GitHub Actions workflows in this repository use: block mappings and
 * sequences, plain, single- and double-quoted scalars, flow sequences of scalars, and block scalars
 * (`|`, `|-`, `>`, `>-`). package.json has no YAML parser, and a line-by-line regex cannot see the second
 * line of a folded `args: >-` block. Anything outside that subset (anchors, aliases, tags, flow mappings,
 * multi-line plain scalars, several documents) is an error naming the line, never a guess.
 * Scalars stay strings: `false` is "false", and `on:` stays the key "on".
 */
export type YamlValue = string | YamlValue[] | { [key: string]: YamlValue };
export type YamlMap = { [key: string]: YamlValue };

interface Line {
  number: number;
  indent: number;
  text: string; // without indentation, trailing comment kept (scalars decide where a comment starts)
}

export function parseWorkflowYaml(source: string, file = "<yaml>"): YamlMap {
  const raw = source.replace(/\r\n/g, "\n").split("\n");
  let index = 0;
  const fail = (line: number, message: string): never => {
    throw new Error(`${file}:${line}: ${message}`);
  };

  const significant = (at: number): boolean => {
    const trimmed = raw[at].trim();
    return trimmed !== "" && !trimmed.startsWith("#");
  };
  const peek = (): Line | undefined => {
    while (index < raw.length && !significant(index)) index++;
    if (index >= raw.length) return undefined;
    const text = raw[index];
    if (/^\t/.test(text)) fail(index + 1, "tab indentation");
    const indent = text.search(/\S/);
    return { number: index + 1, indent, text: text.slice(indent) };
  };

  function scalar(text: string, line: number): YamlValue {
    if (/^[&*!{%@`]/.test(text) || text === "---" || text.startsWith("? ")) fail(line, `unsupported YAML: ${text}`);
    if (text.startsWith('"')) {
      const match = /^"((?:[^"\\]|\\.)*)"\s*(?:#.*)?$/.exec(text) ?? fail(line, `unterminated or trailing text after a double-quoted scalar: ${text}`);
      return match[1].replace(/\\(.)/g, (_, c: string) => ({ n: "\n", t: "\t", '"': '"', "\\": "\\", "/": "/" })[c] ?? fail(line, `escape \\${c}`));
    }
    if (text.startsWith("'")) {
      const match = /^'((?:[^']|'')*)'\s*(?:#.*)?$/.exec(text) ?? fail(line, `unterminated single-quoted scalar: ${text}`);
      return match[1].replace(/''/g, "'");
    }
    if (text.startsWith("[")) {
      const match = /^\[(.*)\]\s*(?:#.*)?$/.exec(text) ?? fail(line, `flow sequence must close on its line: ${text}`);
      const items = match[1].trim() === "" ? [] : match[1].split(",").map((item) => item.trim());
      return items.map((item) => {
        if (/[[\]{}]/.test(item)) fail(line, `nested flow collection: ${text}`);
        return scalar(item, line);
      });
    }
    return text.replace(/\s+#.*$/, "").trimEnd();
  }

  function blockScalar(header: string, parentIndent: number, line: number): string {
    const match = /^([|>])([-+]?)\s*(?:#.*)?$/.exec(header) ?? fail(line, `unsupported block scalar header: ${header}`);
    const [, style, chomp] = match;
    const lines: string[] = [];
    let blockIndent = -1;
    while (index < raw.length) {
      const text = raw[index];
      if (text.trim() === "") {
        lines.push("");
        index++;
        continue;
      }
      const indent = text.search(/\S/);
      if (indent <= parentIndent) break;
      if (blockIndent < 0) blockIndent = indent;
      if (indent < blockIndent) fail(index + 1, "block scalar line less indented than its first line");
      lines.push(text.slice(blockIndent));
      index++;
    }
    let trailing = 0;
    while (lines.length && lines[lines.length - 1] === "") {
      lines.pop();
      trailing++;
    }
    let body: string;
    if (style === "|") body = lines.join("\n");
    else {
      // folding: a single line break between two non-indented lines becomes a space; an empty line is a newline
      body = "";
      lines.forEach((current, at) => {
        if (at === 0) body = current;
        else if (current === "") body += "\n";
        else if (lines[at - 1] === "" || /^\s/.test(current) || /^\s/.test(lines[at - 1])) body += (lines[at - 1] === "" ? "" : "\n") + current;
        else body += " " + current;
      });
    }
    if (chomp === "-" || lines.length === 0) return body;
    return body + (chomp === "+" ? "\n".repeat(trailing + 1) : "\n");
  }

  /** The value after `key:` (or after `- `) on line `line`: inline, a block scalar, or a nested block. */
  function valueAfter(rest: string, ownerIndent: number, line: number, sequenceMayShareIndent: boolean): YamlValue {
    if (rest !== "" && !rest.startsWith("#")) {
      index++;
      if (/^[|>]/.test(rest)) return blockScalar(rest, ownerIndent, line);
      return scalar(rest, line);
    }
    index++;
    const next = peek();
    if (!next || next.indent < ownerIndent || (next.indent === ownerIndent && !(sequenceMayShareIndent && next.text.startsWith("- ")))) return "";
    return block(next.indent);
  }

  function block(indent: number): YamlValue {
    const first = peek()!;
    return first.text.startsWith("- ") || first.text === "-" ? sequence(indent) : mapping(indent);
  }

  function sequence(indent: number): YamlValue[] {
    const items: YamlValue[] = [];
    for (let line = peek(); line && line.indent === indent && (line.text.startsWith("- ") || line.text === "-"); line = peek()) {
      const rest = line.text.slice(1).trimStart();
      const itemIndent = indent + line.text.length - rest.length;
      if (/^[^'"[{#|>][^:#]*:(\s|$)/.test(rest) || /^"[^"]*":(\s|$)/.test(rest)) {
        // a compact mapping: `- key: value` continues at the column of `key`
        raw[index] = " ".repeat(itemIndent) + rest;
        items.push(mapping(itemIndent));
      } else items.push(valueAfter(rest, indent, line.number, false));
    }
    const after = peek();
    if (after && after.indent > indent) fail(after.number, "unexpected indentation after a sequence");
    return items;
  }

  function mapping(indent: number): YamlMap {
    const result: YamlMap = {};
    for (let line = peek(); line && line.indent === indent; line = peek()) {
      if (line.text.startsWith("- ")) break;
      const match = /^("(?:[^"\\]|\\.)*"|'[^']*'|[^\s'"#][^:#]*?)\s*:(?:\s+(.*))?$/.exec(line.text) ?? fail(line.number, `expected "key: value": ${line.text}`);
      const key = match[1].startsWith('"') || match[1].startsWith("'") ? (scalar(match[1], line.number) as string) : match[1];
      if (key in result) fail(line.number, `duplicate key ${key}`);
      result[key] = valueAfter((match[2] ?? "").trim(), indent, line.number, true);
    }
    const after = peek();
    if (after && after.indent > indent) fail(after.number, `unexpected indentation (a multi-line plain scalar?): ${after.text}`);
    return result;
  }

  const first = peek();
  if (!first) return {};
  if (first.indent !== 0) fail(first.number, "the document must start at column 0");
  const document = mapping(0);
  const rest = peek();
  if (rest) fail(rest.number, `unexpected content: ${rest.text}`);
  return document;
}
