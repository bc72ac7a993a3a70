import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectExport, createExportClient } from "../support/connect-client.js";
import { metricTypes, run, scrape } from "../support/metrics.js";
import { type RunningServer, startServer } from "../support/server.js";
import { exportMessages, TRICKY_ROWS } from "../support/tables.js";

const RULES = fileURLToPath(new URL("../../ops/prometheus/rules.yml", import.meta.url));
const RULES_TEST = fileURLToPath(new URL("../../ops/prometheus/rules.test.yml", import.meta.url));
const DASHBOARD = fileURLToPath(
  new URL("../../ops/grafana/export-dashboard.json", import.meta.url),
);

interface Rule {
  readonly record?: string;
  readonly alert?: string;
  readonly expr: string;
}

/**
 * The rules of rules.yml, read with a parser that knows only the shapes the
 * file uses (`expr:` on one line or as a `|` block); the test below checks
 * it found as many rules as promtool did.
 */
function readRules(text: string): Rule[] {
  const rules: Rule[] = [];
  const lines = text.split("\n");
  let current: { record?: string; alert?: string } = {};
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] as string;
    const named = /^\s*- (record|alert): (\S+)\s*$/.exec(line);
    if (named) {
      current = { [named[1] as string]: named[2] };
      continue;
    }
    const expr = /^(\s*)expr: (.*)$/.exec(line);
    if (!expr) continue;
    const indent = (expr[1] as string).length;
    let value = expr[2] as string;
    if (value.trim() === "|") {
      const block: string[] = [];
      while (index + 1 < lines.length) {
        const next = lines[index + 1] as string;
        if (next.trim() !== "" && next.search(/\S/) <= indent) break;
        block.push(next.trim());
        index++;
      }
      value = block.join(" ");
    }
    rules.push({ ...current, expr: value.trim() });
  }
  return rules;
}

const PROMQL_WORDS = new Set([
  "and",
  "or",
  "unless",
  "bool",
  "offset",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "inf",
  "nan",
]);

/** The metric names a PromQL expression selects (Grafana variables allowed). */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/\$\{?\w+\}?/g, " ")
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/(^|[^\w:])\d+(\.\d+)?([eE][+-]?\d+)?[smhdwy]?/g, "$1 ");
  const names: string[] = [];
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const name = match[0];
    const after = stripped.slice((match.index ?? 0) + name.length);
    if (/^\s*\(/.test(after)) continue; // a function
    if (PROMQL_WORDS.has(name.toLowerCase())) continue;
    names.push(name);
  }
  return names;
}

interface Panel {
  readonly title?: string;
  readonly targets?: { readonly expr?: string }[];
  readonly panels?: Panel[];
}

function dashboardExprs(): { panel: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
    panels: Panel[];
    templating: { list: { name: string; definition?: string }[] };
  };
  const exprs: { panel: string; expr: string }[] = [];
  const visit = (panels: readonly Panel[]) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        if (target.expr) exprs.push({ panel: panel.title ?? "?", expr: target.expr });
      }
      visit(panel.panels ?? []);
    }
  };
  visit(dashboard.panels);
  for (const variable of dashboard.templating.list) {
    const query = /^label_values\((.*),\s*\w+\)$/.exec(variable.definition ?? "");
    if (query) exprs.push({ panel: `$${variable.name}`, expr: query[1] as string });
  }
  return exprs;
}

describe("Prometheus rules", () => {
  it("pass promtool check rules", async () => {
    const result = await run("promtool", ["check", "rules", RULES]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("SUCCESS");
  });

  it("pass their unit tests: every alert fires and stays quiet where it should", async () => {
    const result = await run("promtool", ["test", "rules", RULES_TEST]);
    expect(result.stdout + result.stderr).toContain("SUCCESS");
    expect(result.code).toBe(0);
    const tests = readFileSync(RULES_TEST, "utf8");
    for (const rule of readRules(readFileSync(RULES, "utf8"))) {
      if (!rule.alert) continue;
      const cases = tests.split(`alertname: ${rule.alert}\n`).length - 1;
      expect(cases, `${rule.alert} has a quiet and a firing case`).toBeGreaterThanOrEqual(2);
      const quiet = new RegExp(
        `alertname: ${rule.alert}\\n\\s+eval_time: \\S+.*\\n\\s+exp_alerts: \\[\\]`,
      );
      expect(tests, `${rule.alert} has a case where it must not fire`).toMatch(quiet);
      const firing = new RegExp(
        `alertname: ${rule.alert}\\n\\s+eval_time: \\S+.*\\n\\s+exp_alerts:\\n\\s+- exp_labels:`,
      );
      expect(tests, `${rule.alert} has a case where it fires`).toMatch(firing);
    }
  });

  it("have a summary and a runbook line on every alert", () => {
    const text = readFileSync(RULES, "utf8");
    const alerts = text.split(/\n\s+- alert: /).slice(1);
    expect(alerts.length).toBeGreaterThanOrEqual(5);
    for (const alert of alerts) {
      expect(alert).toMatch(/\n\s+summary: ["'].{10,}/);
      expect(alert).toMatch(/\n\s+runbook: ["'].{10,}/);
    }
  });
});

describe("metric names in the rules and the dashboard", () => {
  let running: RunningServer;
  let exported: Set<string>;
  beforeAll(async () => {
    running = await startServer();
    const client = createExportClient(running.baseUrl, "grpc");
    await collectExport(client, exportMessages(TRICKY_ROWS));
    exported = new Set();
    for (const [name, type] of metricTypes(await scrape(running.metricsUrl))) {
      if (type === "histogram") {
        for (const suffix of ["_bucket", "_sum", "_count"]) exported.add(`${name}${suffix}`);
      } else if (type === "summary") {
        for (const suffix of ["", "_sum", "_count"]) exported.add(`${name}${suffix}`);
      } else {
        exported.add(name);
      }
    }
  });
  afterAll(() => running.close());

  it("finds every rule promtool finds", async () => {
    const rules = readRules(readFileSync(RULES, "utf8"));
    const { stdout } = await run("promtool", ["check", "rules", RULES]);
    expect(stdout).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it("are metrics the real server exports or series the rules record", () => {
    const rules = readRules(readFileSync(RULES, "utf8"));
    const recorded = new Set(rules.flatMap((rule) => (rule.record ? [rule.record] : [])));
    const uses = [
      ...rules.map((rule) => ({ where: rule.record ?? rule.alert ?? "?", expr: rule.expr })),
      ...dashboardExprs().map(({ panel, expr }) => ({ where: `panel ${panel}`, expr })),
    ];
    const unknown: string[] = [];
    const seen = new Set<string>();
    for (const { where, expr } of uses) {
      const names = metricNamesIn(expr);
      expect(names.length, `${where}: no metric found in ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        seen.add(name);
        if (!exported.has(name) && !recorded.has(name)) unknown.push(`${where}: ${name}`);
      }
    }
    expect(unknown).toEqual([]);
    // The extractor does find names: the main signals are all in use.
    for (const name of [
      "export_requests_total",
      "export_duration_seconds_bucket",
      "export_rows_total",
      "export_bytes_total",
      "export_running",
      "export_slots_limit",
      "export_rejected_total",
      "export_buffered_bytes",
      "export_chunk_buffered_bytes_bucket",
      "process_resident_memory_bytes",
      "job:export_success:ratio_rate5m",
    ]) {
      expect(seen, name).toContain(name);
    }
  });

  it("extracts names from PromQL, not functions, labels or variables", () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.95, sum by (job, le) (rate(a_bucket{job=~"$job",x="y z"}[$__rate_interval]))) > 1e3 or on (job) b:c:d offset 5m',
      ),
    ).toEqual(["a_bucket", "b:c:d"]);
  });
});
