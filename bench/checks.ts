/** The ratios the service is held to (issue 11), each from figures of one run. */
import type { Figures, Metric, Scale } from "./cases/case.js";

/** One round's figures (or the medians over the rounds), by line id. */
export type FiguresByLine = Readonly<Record<string, Figures>>;

export interface Check {
  readonly label: string;
  readonly unit: "×" | " MiB" | " ms";
  /** Omitted for figures shown for context only. */
  readonly target?: { readonly op: "≥" | "≤"; readonly bound: number };
  value(figures: FiguresByLine): number | undefined;
}

function figure(figures: FiguresByLine, line: string, metric: Metric): number | undefined {
  return figures[line]?.[metric];
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a / b;
}

function rowsCount(rows: number): string {
  return rows.toLocaleString("en");
}

export function checks(scale: Scale): Check[] {
  const small = `fresh-${scale.smallRows}`;
  const large = `fresh-${scale.largeRows}`;
  const huge = `fresh-${scale.hugeRows}`;
  const rssGrowth = (line: string) => (figures: FiguresByLine) => {
    const grown = figure(figures, line, "peakRssMiB");
    const base = figure(figures, small, "peakRssMiB");
    return grown === undefined || base === undefined ? undefined : grown - base;
  };
  const versusReplaced = (metric: Metric) => (figures: FiguresByLine) =>
    ratio(figure(figures, "replaced", metric), figure(figures, large, metric));
  return [
    {
      label: "CSV end to end (rows) ÷ csv-stringify stream API alone, rows/s",
      unit: "×",
      target: { op: "≥", bound: 1 },
      value: (f) =>
        ratio(
          figure(f, "csv-rows", "rowsPerSecond"),
          figure(f, "csv-stringify-stream", "rowsPerSecond"),
        ),
    },
    {
      label: "server CPU per CSV row ÷ csv-stringify stream API's CPU per row",
      unit: "×",
      target: { op: "≤", bound: 1 },
      value: (f) =>
        ratio(
          figure(f, "csv-rows", "cpuUsPerRow"),
          figure(f, "csv-stringify-stream", "cpuUsPerRow"),
        ),
    },
    {
      // src/render/csv.ts chose the sync API for being faster than the stream API.
      label: "csv-stringify sync API ÷ its stream API, rows/s",
      unit: "×",
      value: (f) =>
        ratio(
          figure(f, "csv-stringify-sync", "rowsPerSecond"),
          figure(f, "csv-stringify-stream", "rowsPerSecond"),
        ),
    },
    {
      label: "PDF end to end ÷ plain pdfkit, rows/s",
      unit: "×",
      target: { op: "≥", bound: 10 },
      value: (f) => ratio(figure(f, "pdf", "rowsPerSecond"), figure(f, "pdfkit", "rowsPerSecond")),
    },
    {
      label: "PDF end to end, render threads (the default) ÷ RENDER_THREADS=0, rows/s",
      unit: "×",
      value: (f) =>
        ratio(figure(f, "pdf", "rowsPerSecond"), figure(f, "pdf-main-thread", "rowsPerSecond")),
    },
    {
      label: `server peak RSS, ${rowsCount(scale.largeRows)}-row − ${rowsCount(scale.smallRows)}-row export (fresh servers)`,
      unit: " MiB",
      target: { op: "≤", bound: 32 },
      value: rssGrowth(large),
    },
    {
      label: `server peak RSS, ${rowsCount(scale.hugeRows)}-row − ${rowsCount(scale.smallRows)}-row export (fresh servers)`,
      unit: " MiB",
      target: { op: "≤", bound: 32 },
      value: rssGrowth(huge),
    },
    {
      label: "five concurrent exports ÷ one alone, aggregate rows/s",
      unit: "×",
      target: { op: "≥", bound: 1.5 },
      value: (f) =>
        ratio(
          figure(f, "concurrent-5", "rowsPerSecond"),
          figure(f, "concurrent-1", "rowsPerSecond"),
        ),
    },
    {
      label: "time to first chunk, warm (median)",
      unit: " ms",
      target: { op: "≤", bound: 5 },
      value: (f) => figure(f, "first-chunk", "firstChunkMs"),
    },
    {
      label: "time to first chunk, cold (first export on a fresh server)",
      unit: " ms",
      value: (f) => figure(f, small, "firstChunkMs"),
    },
    {
      label: `replaced design ÷ streaming, wall time (${rowsCount(scale.largeRows)} rows, fresh servers)`,
      unit: "×",
      target: { op: "≥", bound: 3 },
      value: versusReplaced("seconds"),
    },
    {
      label: "replaced design ÷ streaming, time to first byte",
      unit: "×",
      target: { op: "≥", bound: 100 },
      value: versusReplaced("firstChunkMs"),
    },
    {
      label: "replaced design ÷ streaming, server peak RSS",
      unit: "×",
      target: { op: "≥", bound: 10 },
      value: versusReplaced("peakRssMiB"),
    },
  ];
}

export function meets(check: Check, value: number): boolean | undefined {
  if (check.target === undefined) return undefined;
  return check.target.op === "≥" ? value >= check.target.bound : value <= check.target.bound;
}
