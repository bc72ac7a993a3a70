import { samples, scrape } from "./metrics.js";

/** `export_requests_total` by `format/outcome`, summed over the other labels (user). */
export type OutcomeCounts = Map<string, number>;

export function outcomeCounts(text: string): OutcomeCounts {
  const counts: OutcomeCounts = new Map();
  for (const [key, value] of samples(text)) {
    if (!key.startsWith("export_requests_total{")) continue;
    const label = `${/format="(\w+)"/.exec(key)?.[1]}/${/outcome="(\w+)"/.exec(key)?.[1]}`;
    counts.set(label, (counts.get(label) ?? 0) + value);
  }
  return counts;
}

export function totalOf(counts: OutcomeCounts): number {
  return [...counts.values()].reduce((sum, value) => sum + value, 0);
}

/** The series that changed from `before` to `after`, as `{ "csv/ok": 2 }`. */
export function countedSince(before: OutcomeCounts, after: OutcomeCounts): Record<string, number> {
  const changed: Record<string, number> = {};
  for (const [label, value] of after) {
    const delta = value - (before.get(label) ?? 0);
    if (delta !== 0) changed[label] = delta;
  }
  return changed;
}

/** Scrapes the side port and reads the export counters. */
export async function scrapeOutcomes(metricsUrl: string): Promise<OutcomeCounts> {
  return outcomeCounts(await scrape(metricsUrl));
}
