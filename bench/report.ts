/** The run's figures as one table of medians (min–max), the checks, and the JSON record. */
import type { Line, Measured, Metric } from "./cases/case.js";
import { type Check, meets } from "./checks.js";
import { median } from "./stats.js";

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Round by round, in the order run. */
  readonly rounds: readonly number[];
}

function spreadOf(values: readonly number[]): Spread {
  return {
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
    rounds: values,
  };
}

export interface LineSummary extends Line {
  readonly figures: Partial<Record<Metric, Spread>>;
  readonly bytes?: number;
  readonly sha256?: string;
}

/** Each line's figures over the rounds (a line missing from a round is skipped there). */
export function summarise(
  lines: readonly Line[],
  rounds: readonly Readonly<Record<string, Measured>>[],
): LineSummary[] {
  return lines.map((line) => {
    const measured = rounds.flatMap((round) => round[line.id] ?? []);
    const figures: Partial<Record<Metric, Spread>> = {};
    for (const metric of new Set(measured.flatMap((m) => Object.keys(m.figures) as Metric[]))) {
      figures[metric] = spreadOf(measured.flatMap((m) => m.figures[metric] ?? []));
    }
    const last = measured.at(-1);
    return {
      ...line,
      figures,
      ...(last?.bytes !== undefined && { bytes: last.bytes }),
      ...(last?.sha256 !== undefined && { sha256: last.sha256 }),
    };
  });
}

/** Three significant digits, thousands separated: 128k is written 128,000. */
export function formatNumber(value: number): string {
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en");
  const digits = value === 0 ? 0 : 2 - Math.floor(Math.log10(Math.abs(value)));
  return value.toFixed(Math.min(Math.max(digits, 0), 3));
}

function formatRate(value: number): string {
  if (value >= 1e6) return `${formatNumber(value / 1e6)}M`;
  if (value >= 1e3) return `${formatNumber(value / 1e3)}k`;
  return formatNumber(value);
}

function formatSpread(spread: Spread | undefined, format = formatNumber): string {
  if (spread === undefined) return "";
  if (spread.rounds.length === 1) return format(spread.median);
  return `${format(spread.median)} (${format(spread.min)}–${format(spread.max)})`;
}

const COLUMNS: readonly { readonly title: string; readonly metric: Metric }[] = [
  { title: "rows/s", metric: "rowsPerSecond" },
  { title: "CPU µs/row (server or in process)", metric: "cpuUsPerRow" },
  { title: "client CPU µs/row", metric: "clientCpuUsPerRow" },
  { title: "first chunk ms", metric: "firstChunkMs" },
  { title: "peak RSS MiB", metric: "peakRssMiB" },
];

function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export function figuresTable(summaries: readonly LineSummary[]): string {
  return markdownTable(
    ["case", "rows", ...COLUMNS.map((column) => column.title)],
    summaries.map((summary) => [
      summary.title,
      summary.rows.toLocaleString("en"),
      ...COLUMNS.map(({ metric }) =>
        formatSpread(
          summary.figures[metric],
          metric === "rowsPerSecond" ? formatRate : formatNumber,
        ),
      ),
    ]),
  );
}

export interface CheckResult {
  readonly label: string;
  readonly unit: string;
  /**
   * The median of the rounds' values: a ratio pairs figures of one round,
   * which the machine's slow spells touched alike.
   */
  readonly value: number;
  /** The value computed round by round. */
  readonly rounds: readonly number[];
  readonly target?: string;
  readonly met?: boolean;
}

/** Checks whose lines ran: each the median of its rounds' values, with their range. */
export function evaluate(
  checks: readonly Check[],
  rounds: readonly Readonly<Record<string, Measured>>[],
): CheckResult[] {
  const byRound = rounds.map((round) =>
    Object.fromEntries(Object.entries(round).map(([id, measured]) => [id, measured.figures])),
  );
  return checks.flatMap((check) => {
    const perRound = byRound.flatMap((figures) => check.value(figures) ?? []);
    if (perRound.length === 0) return [];
    const value = median(perRound);
    const met = meets(check, value);
    return {
      label: check.label,
      unit: check.unit,
      value,
      rounds: perRound,
      ...(check.target && { target: `${check.target.op} ${check.target.bound}${check.unit}` }),
      ...(met !== undefined && { met }),
    };
  });
}

export function checksTable(results: readonly CheckResult[]): string {
  return markdownTable(
    ["ratio", "this run (per round)", "target", "met"],
    results.map((result) => {
      const format = (value: number) => `${formatNumber(value)}${result.unit}`;
      const perRound =
        result.rounds.length > 1
          ? ` (${format(Math.min(...result.rounds))}–${format(Math.max(...result.rounds))})`
          : "";
      return [
        result.label,
        `${format(result.value)}${perRound}`,
        result.target ?? "—",
        result.met === undefined ? "—" : result.met ? "yes" : "**no**",
      ];
    }),
  );
}

/**
 * Every line that writes a CSV file of the same row count must write the same
 * file, or its figures are not comparable: same size, and same sha256 where
 * the path reports one. Returns what differs.
 */
export function sameFileProblems(summaries: readonly LineSummary[]): string[] {
  const problems: string[] = [];
  const byRows = new Map<number, LineSummary[]>();
  for (const summary of summaries) {
    if (!summary.csvFile || summary.bytes === undefined) continue;
    byRows.set(summary.rows, [...(byRows.get(summary.rows) ?? []), summary]);
  }
  for (const [rows, group] of byRows) {
    const [first, ...rest] = group as [LineSummary, ...LineSummary[]];
    const hashed = group.find((summary) => summary.sha256 !== undefined);
    for (const summary of rest) {
      if (summary.bytes !== first.bytes) {
        problems.push(
          `${rows} rows: "${summary.title}" wrote ${summary.bytes} bytes, "${first.title}" ${first.bytes}`,
        );
      }
      if (hashed && summary.sha256 !== undefined && summary.sha256 !== hashed.sha256) {
        problems.push(`${rows} rows: "${summary.title}" wrote another file than "${hashed.title}"`);
      }
    }
  }
  return problems;
}
