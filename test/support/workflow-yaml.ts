/**
 * Workflow files as data, read with the `yaml` package's failsafe schema: every scalar stays a
 * string (`false` is "false", `on:` stays the key "on"), as the workflow tests compare them. Block
 * scalars (`args: >-` over several lines) come back whole, so a rule reads the full text of an
 * `args` block, not its first line. Anchors, aliases and several documents are refused: GitHub
 * workflows here use none, and a rule must never read a value through one.
 */
import { isAlias, isNode, parseAllDocuments, visit } from "yaml";

export type YamlValue = string | YamlValue[] | { [key: string]: YamlValue };
export type YamlMap = { [key: string]: YamlValue };

export function parseWorkflowYaml(source: string, file = "<yaml>"): YamlMap {
  const documents = parseAllDocuments(source, { schema: "failsafe", prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(documents) || documents.length !== 1) throw new Error(`${file}: expected one YAML document`);
  const [document] = documents;
  const problem = document!.errors[0] ?? document!.warnings[0];
  if (problem) throw new Error(`${file}: ${problem.message}`);
  visit(document!, (_key, node) => {
    if (isAlias(node) || (isNode(node) && node.anchor)) throw new Error(`${file}: anchors and aliases are not used in these workflows`);
  });
  const value = document!.toJS({ maxAliasCount: 0 }) as unknown;
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error(`${file}: the top level is not a mapping`);
  return value as YamlMap;
}
