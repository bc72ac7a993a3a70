import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  type ColumnSchema,
  ColumnType,
  type ExportStartSchema,
  Format,
} from "../../gen/export/v1/export_pb.js";
import type { RequestInit } from "./connect-client.js";

export type ColumnInit = MessageInitShape<typeof ColumnSchema>;
export type StartInit = MessageInitShape<typeof ExportStartSchema>;

/** A cell as a client sends it; null is "no value". */
export type TestCell = string | null;

export const TRICKY_COLUMNS: ColumnInit[] = [
  { key: "id", title: "ID", type: ColumnType.NUMBER },
  { key: "text", title: 'Text, with "quotes"' },
  { key: "amount", title: "Amount", type: ColumnType.NUMBER },
  { key: "note", title: "Note" },
];

/** Quotes, delimiters, line breaks, spaces, empty vs null, many scripts. */
export const TRICKY_ROWS: TestCell[][] = [
  ["1", 'say "hello"', "0", "plain"],
  ["2", "comma, inside", "-17.25", ""],
  ["3", "line\r\nbreak CRLF", "9007199254740993", null],
  ["4", "bare\nLF and bare\rCR", "-0.000001", "  leading and trailing  "],
  ["5", "", "123456789012345678901234567890", '""'],
  ["6", null, "1e-7", " "],
  ["7", "Zürich, Reykjavík, Søren, naïve café", "3.14", "Ελληνικά Αθήνα"],
  ["8", "Москва, Санкт-Петербург", "-999999999.99", "日本語の文字 中文 한국어"],
  ["9", "emoji 🎉👩‍💻🇺🇦", "42", "עברית שלום and العربية مرحبا"],
  ["10", "=1+2 looks like a formula", "+5", "tab\there;semicolon|pipe"],
  ["11", "\u00a0non-breaking\u00a0", "1.7976931348623157e308", "combining e\u0301"],
  ["12", "only\nLF", "0.5", "only\rCR"],
];

export function toRow(cells: readonly TestCell[]) {
  const nullCells: number[] = [];
  cells.forEach((cell, index) => {
    if (cell === null) nullCells.push(index);
  });
  return { cells: cells.map((cell) => cell ?? ""), nullCells };
}

/** A start message, then the rows as fast-path batches of `batchSize`. */
export function exportMessages(
  rows: readonly TestCell[][],
  options: { batchSize?: number; start?: StartInit; columns?: ColumnInit[] } = {},
): RequestInit[] {
  const batchSize = options.batchSize ?? 4;
  const messages: RequestInit[] = [
    {
      kind: {
        case: "start",
        value: { format: Format.CSV, columns: options.columns ?? TRICKY_COLUMNS, ...options.start },
      },
    },
  ];
  for (let index = 0; index < rows.length; index += batchSize) {
    const rowsOfBatch = rows.slice(index, index + batchSize).map(toRow);
    messages.push({ kind: { case: "batch", value: { rows: rowsOfBatch } } });
  }
  return messages;
}

/** `count` rows of `width` short cells, generated without storing them. */
export function* generatedBatches(count: number, width: number, batchSize = 1_000) {
  for (let first = 0; first < count; first += batchSize) {
    const rows = [];
    for (let index = first; index < Math.min(count, first + batchSize); index++) {
      const cells = [String(index)];
      for (let column = 1; column < width; column++) cells.push(`cell ${index}.${column}`);
      rows.push({ cells });
    }
    yield { kind: { case: "batch" as const, value: { rows } } };
  }
}

export function generatedColumns(width: number): ColumnInit[] {
  return Array.from({ length: width }, (_, index) => ({
    key: `c${index}`,
    title: `Column ${index}`,
  }));
}
