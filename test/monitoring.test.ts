/**
 * ci/monitoring: the Grafana dashboard and the Prometheus alert rules. Every query must read a metric that
 * exists, with labels it has: the ones `metrics` emits (EMITTED_METRICS), the Pushgateway's push time, and what
 * the service's traffic exposes through ingress-nginx and kube-state-metrics (the canary analysis's sources).
 * The rule file is checked against Prometheus's rule-file format; no promtool here, so PromQL is checked by a
 * small reader: balanced brackets, known functions, selectors, matchers, regexes, durations, grouping labels.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { EMITTED_METRICS } from "../.dagger/src/lib/metrics/report";

const ROOT = new URL("../ci/monitoring/", import.meta.url);
const dashboard = JSON.parse(readFileSync(new URL("dashboard.json", ROOT), "utf8"));
const rulesText = readFileSync(new URL("alert-rules.yaml", ROOT), "utf8");

/** Labels Prometheus attaches to every scraped series (docs: "Jobs and instances"). */
const TARGET_LABELS = ["job", "instance"];

/**
 * Metric -> its labels.
 * - ingress-nginx controller-v1.15.1 internal/ingress/metric/collectors/socket.go: `requestTags` status, method,
 *   path, namespace, ingress, service, canary (+ host when enabled) and the const labels controller_namespace,
 *   controller_class, controller_pod on `requests` and `request_duration_seconds` (a histogram: `le` on _bucket).
 * - kube-state-metrics v2.20.0 docs/metrics/workload/deployment-metrics.md: deployment, namespace.
 * - prometheus/pushgateway v1.11.3 README.md: push_time_seconds per group, labelled by the grouping key (job
 *   observatory_ci and repository, as metrics.ts pushes).
 * - the service's /metrics (test/fixtures/good services/analytics-api src/lib.rs): http_requests_total and up.
 */
const INGRESS = ["status", "method", "path", "namespace", "ingress", "service", "canary", "host", "controller_namespace", "controller_class", "controller_pod"];
const CATALOGUE: Record<string, string[]> = {
  ...Object.fromEntries(Object.entries(EMITTED_METRICS).map(([name, m]) => [name, [...m.labels]])),
  push_time_seconds: ["repository"],
  nginx_ingress_controller_requests: INGRESS,
  nginx_ingress_controller_request_duration_seconds_bucket: [...INGRESS, "le"],
  kube_deployment_status_replicas_available: ["deployment", "namespace"],
  kube_deployment_spec_replicas: ["deployment", "namespace"],
  http_requests_total: [],
  up: [],
};

const FUNCTIONS = new Set(["rate", "irate", "increase", "histogram_quantile", "time", "abs", "absent", "clamp_min", "clamp_max", "max_over_time", "min_over_time", "avg_over_time", "label_values", "vector", "scalar"]);
const AGGREGATIONS = new Set(["sum", "avg", "min", "max", "count", "topk", "bottomk", "quantile", "stddev", "group"]);
const KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"]);
const DURATION = /^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$/;
/** Grafana's built-in interval, replaced by a duration before reading. */
const GRAFANA_INTERVALS: Record<string, string> = { $__rate_interval: "5m", $__interval: "1m", $__range: "30d" };

interface Selector {
  metric: string;
  labels: string[];
}

interface ReadQuery {
  problems: string[];
  selectors: Selector[];
  /** Label lists of `by (...)` clauses, and whether an aggregation dropped every label. */
  groupings: string[][];
  aggregatesAll: boolean;
}

/** Reads a PromQL expression (after Grafana's variables: `$name` only inside strings). */
function readPromql(input: string): ReadQuery {
  let expr = input;
  for (const [name, value] of Object.entries(GRAFANA_INTERVALS)) expr = expr.split(name).join(value);
  const problems: string[] = [];
  const selectors: Selector[] = [];
  const groupings: string[][] = [];
  let aggregatesAll = false;
  const stack: string[] = [];
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '"') {
      const end = /^"(?:[^"\\]|\\.)*"/.exec(expr.slice(i));
      if (!end) { problems.push(`unterminated string at ${i}`); break; }
      i += end[0].length;
      continue;
    }
    if (c === "$") { problems.push(`variable outside a string at ${i}: ${expr.slice(i, i + 20)}`); i++; continue; }
    if ("([{".includes(c)) { stack.push(c); i++; continue; }
    if (")]}".includes(c)) {
      if (stack.pop() !== pairs[c]) problems.push(`unbalanced ${c} at ${i}`);
      i++;
      continue;
    }
    const word = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i));
    if (word) {
      const name = word[0];
      i += name.length;
      const rest = expr.slice(i);
      if (KEYWORDS.has(name)) {
        if (name === "by" || name === "without" || name === "on" || name === "ignoring") {
          const list = /^\s*\(([^)]*)\)/.exec(rest);
          if (!list) problems.push(`${name} without a label list`);
          else {
            if (name === "by") groupings.push(list[1]!.split(",").map((l) => l.trim()).filter(Boolean));
            i += list[0].length;
          }
        }
        continue;
      }
      if (AGGREGATIONS.has(name)) {
        const by = /^\s*(by|without)\s*\(([^)]*)\)/.exec(rest);
        if (by) {
          if (by[1] === "by") groupings.push(by[2]!.split(",").map((l) => l.trim()).filter(Boolean));
          i += by[0].length;
        } else if (/^\s*\(/.test(rest)) {
          // `sum(...) by (x)` puts the clause after the argument; a bare `sum(...)` drops every label
          let depth = 0;
          let j = rest.indexOf("(");
          for (; j < rest.length; j++) {
            if (rest[j] === "(") depth++;
            if (rest[j] === ")" && --depth === 0) break;
          }
          if (!/^\s*(by|without)\s*\(/.test(rest.slice(j + 1))) aggregatesAll = true;
        }
        continue;
      }
      if (/^\s*\(/.test(rest)) {
        if (!FUNCTIONS.has(name)) problems.push(`unknown function ${name}`);
        continue;
      }
      const labels: string[] = [];
      const matchers = /^\{([^}]*)\}/.exec(rest);
      if (matchers) {
        i += matchers[0].length;
        const body = matchers[1]!.trim();
        const each = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*(,|$)/y;
        let at = 0;
        while (at < body.length) {
          each.lastIndex = at;
          const m = each.exec(body);
          if (!m) { problems.push(`bad matcher in ${name}{${body}} at ${at}`); break; }
          labels.push(m[1]!);
          if (m[2] === "=~" || m[2] === "!~") {
            try {
              new RegExp(`^(?:${JSON.parse(m[3]!)})$`);
            } catch (e) {
              problems.push(`${name}: bad regex ${m[3]}: ${(e as Error).message}`);
            }
          }
          at = each.lastIndex;
        }
      }
      const range = /^\[([^\]]*)\]/.exec(expr.slice(i));
      if (range) {
        if (!DURATION.test(range[1]!) || range[1] === "") problems.push(`bad range [${range[1]}]`);
        i += range[0].length;
      }
      selectors.push({ metric: name, labels });
      continue;
    }
    const number = /^\d+(\.\d+)?(e[-+]?\d+)?/i.exec(expr.slice(i));
    if (number) { i += number[0].length; continue; }
    const op = /^(==|!=|>=|<=|[-+*/%^<>,])/.exec(expr.slice(i));
    if (op) { i += op[0].length; continue; }
    problems.push(`unexpected ${JSON.stringify(c)} at ${i}`);
    i++;
  }
  if (stack.length) problems.push(`unclosed ${stack.join("")}`);
  return { problems, selectors, groupings, aggregatesAll };
}

/** What is wrong with an expression's metrics and labels, per the catalogue. */
function catalogueProblems(expr: string): string[] {
  const read = readPromql(expr);
  const problems = [...read.problems];
  for (const { metric, labels } of read.selectors) {
    const known = CATALOGUE[metric];
    if (!known) { problems.push(`unknown metric ${metric}`); continue; }
    for (const label of labels) if (!known.includes(label) && !TARGET_LABELS.includes(label)) problems.push(`${metric} has no label ${label}`);
  }
  const available = new Set([...TARGET_LABELS, ...read.selectors.flatMap((s) => CATALOGUE[s.metric] ?? [])]);
  for (const group of read.groupings) for (const label of group) if (!available.has(label)) problems.push(`grouping by ${label}, which no metric of the query has`);
  return problems;
}

/** Labels an alert's result keeps: the grouping labels when it aggregates, else its metrics' labels. */
function resultLabels(expr: string): Set<string> {
  const read = readPromql(expr);
  if (read.groupings.length > 0) return new Set(read.groupings.reduce((a, b) => a.filter((l) => b.includes(l))));
  if (read.aggregatesAll) return new Set();
  return new Set([...TARGET_LABELS, ...read.selectors.flatMap((s) => CATALOGUE[s.metric] ?? [])]);
}

// ---- the dashboard ----

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: { refId: string; expr: string; datasource?: { uid: string } }[];
}

const panels = dashboard.panels as Panel[];
const variables = (dashboard.templating.list as { name: string; query: unknown }[]).map((v) => v.name);

describe("Grafana dashboard", () => {
  it("has unique panel ids, panels inside the 24-column grid, and a query in every panel", () => {
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type === "row") continue;
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      expect(p.datasource, p.title).toEqual({ type: "prometheus", uid: "${datasource}" });
      expect(new Set(p.targets!.map((t) => t.refId)).size, p.title).toBe(p.targets!.length);
    }
  });

  it("queries only metrics the module emits or the service exposes, with their labels", () => {
    const problems = panels.flatMap((p) => (p.targets ?? []).flatMap((t) => catalogueProblems(t.expr).map((problem) => `${p.title} (${t.refId}): ${problem}`)));
    expect(problems).toEqual([]);
  });

  it("defines every variable its queries use", () => {
    const used = new Set(panels.flatMap((p) => (p.targets ?? []).flatMap((t) => [...t.expr.matchAll(/\$(\w+)/g)].map((m) => m[1]!))).filter((v) => !v.startsWith("__")));
    expect([...used].filter((v) => !variables.includes(v))).toEqual([]);
    expect([...used].sort()).toEqual(["job", "namespace", "repository"]);
  });

  it("shows the four DORA figures, the pipeline figures and the canary's three rules", () => {
    const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join("\n");
    for (const metric of ["deployments_per_day", "lead_time_seconds", "change_failure_ratio", "time_to_restore_seconds", "workflow_success_ratio", "workflow_duration_seconds", "workflow_queue_seconds", "job_duration_seconds", "artifact_size_bytes"]) {
      expect(exprs).toContain(`observatory_ci_${metric}`);
    }
    for (const metric of ["nginx_ingress_controller_requests", "nginx_ingress_controller_request_duration_seconds_bucket", "kube_deployment_status_replicas_available"]) expect(exprs).toContain(metric);
  });
});

// ---- the alert rules ----

const GROUP_FIELDS = ["name", "interval", "query_offset", "limit", "rules", "labels"];
const RULE_FIELDS = ["record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"];

/**
 * The checks of prometheus/prometheus v3.14.0 model/rulefmt/rulefmt.go: known fields only (KnownFields), a
 * non-empty group name unique in the file, exactly one of record/alert, an expr, no for/annotations on a
 * recording rule, valid label names; durations in model.Duration syntax.
 */
function ruleFileProblems(text: string): string[] {
  const problems: string[] = [];
  const doc = parseYaml(text) as { groups?: unknown };
  if (!doc || typeof doc !== "object" || Object.keys(doc).some((k) => k !== "groups") || !Array.isArray(doc.groups)) return ["the file must hold `groups:` only"];
  const names = new Set<string>();
  for (const [g, group] of (doc.groups as Record<string, unknown>[]).entries()) {
    const where = `groups[${g}]`;
    for (const key of Object.keys(group)) if (!GROUP_FIELDS.includes(key)) problems.push(`${where}: unknown field ${key}`);
    if (typeof group.name !== "string" || group.name === "") problems.push(`${where}: Groupname must not be empty`);
    else if (names.has(group.name)) problems.push(`${where}: groupname "${group.name}" is repeated in the same file`);
    names.add(String(group.name));
    for (const [r, rule] of ((group.rules ?? []) as Record<string, unknown>[]).entries()) {
      const at = `${where}.rules[${r}] (${String(rule.alert ?? rule.record)})`;
      for (const key of Object.keys(rule)) if (!RULE_FIELDS.includes(key)) problems.push(`${at}: unknown field ${key}`);
      if ((rule.alert === undefined) === (rule.record === undefined)) problems.push(`${at}: exactly one of 'record' and 'alert' must be set`);
      if (typeof rule.expr !== "string" || rule.expr.trim() === "") problems.push(`${at}: field 'expr' must be set in rule`);
      for (const key of ["for", "keep_firing_for"]) if (rule[key] !== undefined && !(DURATION.test(String(rule[key])) && String(rule[key]) !== "")) problems.push(`${at}: bad ${key} ${String(rule[key])}`);
      if (rule.record !== undefined && (rule.for !== undefined || rule.annotations !== undefined)) problems.push(`${at}: a recording rule has no for or annotations`);
      for (const name of Object.keys((rule.labels ?? {}) as object)) if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) problems.push(`${at}: invalid label name ${name}`);
      if (rule.alert !== undefined && !["critical", "warning", "info"].includes(String((rule.labels as Record<string, string> | undefined)?.severity))) problems.push(`${at}: severity must be critical, warning or info`);
      if (typeof rule.expr === "string") {
        problems.push(...catalogueProblems(rule.expr).map((p) => `${at}: ${p}`));
        const kept = resultLabels(rule.expr);
        const templates = Object.values((rule.annotations ?? {}) as Record<string, string>).join("\n");
        for (const m of templates.matchAll(/\$labels\.(\w+)/g)) if (!kept.has(m[1]!)) problems.push(`${at}: annotation uses $labels.${m[1]}, which the expression's result does not carry`);
      }
    }
  }
  return problems;
}

describe("Prometheus alert rules", () => {
  it("parse as a Prometheus rule file and query only known metrics and labels", () => {
    expect(ruleFileProblems(rulesText)).toEqual([]);
  });

  it("cover pipeline failures, deploy failures, rollbacks, canary aborts and the service's 5xx rate and P95", () => {
    const alerts = (parseYaml(rulesText).groups as { rules: { alert: string }[] }[]).flatMap((g) => g.rules.map((r) => r.alert));
    expect(alerts).toEqual(
      expect.arrayContaining(["PipelineSuccessRateLow", "ProductionDeploymentFailed", "ProductionRollbacks", "ProductionCanaryAborted", "AnalyticsApiHigh5xxRate", "AnalyticsApiHighLatencyP95"]),
    );
  });

  it("the checks catch what promtool would: unknown metrics and labels, broken PromQL, bad structure", () => {
    expect(catalogueProblems('rate(nginx_ingress_controller_requests{namespce="x"}[5m])')).toEqual(["nginx_ingress_controller_requests has no label namespce"]);
    expect(catalogueProblems("observatory_ci_deploys_total > 0")).toEqual(["unknown metric observatory_ci_deploys_total"]);
    expect(catalogueProblems("sum(rate(up[5m])")).toEqual(["unclosed ("]);
    expect(catalogueProblems('up{job=~"a(b"}')[0]).toMatch(/bad regex/);
    expect(catalogueProblems("sum by (pod) (up)")).toEqual(["grouping by pod, which no metric of the query has"]);
    expect(catalogueProblems("rate(up[5 m])")).toEqual(["bad range [5 m]"]);
    expect(catalogueProblems("ratee(up[5m])")).toEqual(["unknown function ratee"]);
    const broken = "groups:\n  - name: a\n    rules:\n      - alert: X\n        record: y\n        expr: up\n        for: 5 minutes\n  - name: a\n    rules:\n      - alert: Y\n        expr: sum(up)\n        labels: {severity: warning}\n        annotations: {summary: '{{ $labels.job }}'}\n";
    expect(ruleFileProblems(broken)).toEqual([
      "groups[0].rules[0] (X): exactly one of 'record' and 'alert' must be set",
      "groups[0].rules[0] (X): bad for 5 minutes",
      "groups[0].rules[0] (X): a recording rule has no for or annotations",
      "groups[0].rules[0] (X): severity must be critical, warning or info",
      'groups[1]: groupname "a" is repeated in the same file',
      "groups[1].rules[0] (Y): annotation uses $labels.job, which the expression's result does not carry",
    ]);
  });
});
