/**
 * The rows every case uses: 8 realistic columns, 1,000-row batches. One batch
 * is built once and sent (or rendered) again and again, so every case pays
 * the same per-row work and none pays for generating data.
 */
import type { Options as StringifyOptions } from "csv-stringify";

export const BATCH_ROWS = 1_000;

export const COLUMNS = [
  { key: "id", title: "ID", type: "number" },
  { key: "name", title: "Name", type: "text" },
  { key: "email", title: "Email", type: "text" },
  { key: "amount", title: "Amount", type: "number" },
  { key: "active", title: "Active", type: "boolean" },
  { key: "created_at", title: "Created at", type: "timestamp" },
  { key: "city", title: "City", type: "text" },
  { key: "note", title: "Note", type: "text" },
] as const;

export const TITLES: readonly string[] = COLUMNS.map((column) => column.title);

/** One row: numbers, an e-mail, a timestamp, non-Latin text and empty notes. */
function sampleCells(index: number): string[] {
  return [
    String(100_000 + index),
    `Customer ${index % 997}`,
    `customer${index % 997}@example.com`,
    (((index * 7919) % 100_000) / 100).toFixed(2),
    index % 3 === 0 ? "true" : "false",
    "2026-06-19T12:54:00Z",
    ["Zürich", "Αθήνα", "Москва", "Reykjavík"][index % 4] as string,
    index % 5 === 0 ? "call before delivery" : "",
  ];
}

export const BATCH: string[][] = Array.from({ length: BATCH_ROWS }, (_, index) =>
  sampleCells(index),
);

/** How many batches make `rows` rows; every row count here is whole batches. */
export function batchesOf(rows: number): number {
  if (rows % BATCH_ROWS !== 0) throw new Error(`${rows} rows is not a whole number of batches`);
  return rows / BATCH_ROWS;
}

/**
 * csv-stringify options that write what the service writes with its default
 * CSV options (src/render/csv.ts): CRLF, minimal quoting, an empty string
 * quoted, CR and LF quoted. The baselines and the replaced design use them so
 * every path writes the same file; the run checks that by size and hash.
 */
export const CSV_OPTIONS: StringifyOptions = {
  record_delimiter: "\r\n",
  quote_record_delimiter: true,
  quoted_match: /^$/,
  eof: true,
};
