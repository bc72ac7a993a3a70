import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ColumnType, Format } from "../../gen/export/v1/export_pb.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { PROJECT_ROOT } from "../support/child-server.js";
import {
  collectExport,
  createExportClient,
  type ExportClient,
  type RequestInit,
} from "../support/connect-client.js";
import { expectInvalidArgument, failedExport } from "../support/expect-error.js";
import { firstChunkWhileSending } from "../support/first-chunk.js";
import { sample, scrape } from "../support/metrics.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";
import {
  type ColumnInit,
  exportMessages,
  generatedBatches,
  generatedColumns,
  type StartInit,
  type TestCell,
} from "../support/tables.js";

const run = promisify(execFile);
const READ_XLSX = join(PROJECT_ROOT, "test/interop/read_xlsx.py");

interface ReadCell {
  value: string | number | boolean | null;
  type: string;
  format: string;
  bold: boolean;
}
interface ReadSheet {
  name: string;
  freeze: string;
  filter: string;
  widths: number[];
  rows: ReadCell[][];
}

/** The workbook as openpyxl (an independent reader, in Python) sees it. */
async function readBack(data: Buffer): Promise<ReadSheet[]> {
  const file = join(await mkdtemp(join(tmpdir(), "xlsx-")), "export.xlsx");
  await writeFile(file, data);
  const { stdout } = await run("/usr/bin/python3", [READ_XLSX, file], {
    maxBuffer: 64 * 1024 ** 2,
  });
  return JSON.parse(stdout) as ReadSheet[];
}

/** Excel writes characters XML cannot hold as _xHHHH_; Excel reads them back. */
const excelUnescape = (text: string) =>
  text.replace(/_x([0-9A-F]{4})_/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );

const COLUMNS: ColumnInit[] = [
  { key: "amount", title: "Amount", type: ColumnType.NUMBER },
  { key: "name", title: "Name" },
  { key: "paid", title: "Paid", type: ColumnType.BOOLEAN },
  { key: "at", title: "At", type: ColumnType.TIMESTAMP },
];

/** Each row: what is sent, and the cells (value, type, format) a reader must find. */
const CASES: [TestCell[], [unknown, string, string][]][] = [
  [
    ["42", "Ada", "true", "2024-01-02T03:04:05Z"],
    [
      [42, "n", "General"],
      ["Ada", "s", "General"],
      [true, "b", "General"],
      ["2024-01-02T03:04:05", "d", "yyyy-mm-dd hh:mm:ss"],
    ],
  ],
  [
    ["-17.25", "王芳 😀 مرحبا עברית", "false", "2024-06-30T12:00:00+02:00"],
    [
      [-17.25, "n", "General"],
      ["王芳 😀 مرحبا עברית", "s", "General"],
      [false, "b", "General"],
      ["2024-06-30T10:00:00", "d", "yyyy-mm-dd hh:mm:ss"],
    ],
  ],
  [
    ["-999999999.99", "=SUM(A1:A9)", "yes", "2024-02-29"],
    [
      [-999999999.99, "n", "General"],
      ["=SUM(A1:A9)", "s", "General"],
      ["yes", "s", "General"],
      ["2024-02-29T00:00:00", "d", "yyyy-mm-dd"],
    ],
  ],
  [
    ["123456789012345678901234567890", "line\r\nbreak\tand\u0001control", null, "2024-02-30"],
    [
      ["123456789012345678901234567890", "s", "General"],
      ["line\r\nbreak\tand\u0001control", "s", "General"],
      [null, "n", "General"],
      ["2024-02-30", "s", "General"],
    ],
  ],
  [
    ["007", "  spaces kept  ", "true", "not a date"],
    [
      ["007", "s", "General"],
      ["  spaces kept  ", "s", "General"],
      [true, "b", "General"],
      ["not a date", "s", "General"],
    ],
  ],
  [
    ["1e5", "", "false", null],
    [
      [100000, "n", "General"],
      ["", "s", "General"],
      [false, "b", "General"],
      [null, "n", "General"],
    ],
  ],
  [
    ["1.5e300", "@user _x0041_ literal", "true", "1999-12-31T23:59:59.5"],
    [
      [1.5e300, "n", "General"],
      ["@user _x0041_ literal", "s", "General"],
      [true, "b", "General"],
      ["1999-12-31T23:59:59.500000", "d", "yyyy-mm-dd hh:mm:ss"],
    ],
  ],
];

const xlsxStart = (extra: StartInit = {}): StartInit => ({ format: Format.XLSX, ...extra });

let running: RunningServer;
let client: ExportClient;
beforeAll(async () => {
  running = await startServer();
  client = createExportClient(running.baseUrl, "grpc");
});
afterAll(() => running.close());

describe("XLSX export", () => {
  it("gives every cell its type, read back by openpyxl", async () => {
    const result = await collectExport(
      client,
      exportMessages(
        CASES.map(([sent]) => sent),
        { columns: COLUMNS, start: xlsxStart({ fileName: "orders [2024].xlsx" }), batchSize: 3 },
      ),
    );
    expect(result.header.contentType).toBe(
      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    );
    const [sheet, ...others] = await readBack(result.data);
    expect(others).toEqual([]);
    expect(sheet?.name).toBe("orders _2024_");
    expect(sheet?.freeze).toBe("A2");
    expect(sheet?.filter).toBe(`A1:D${CASES.length + 1}`);
    const [header, ...rows] = sheet?.rows ?? [];
    expect(header?.map((cell) => [cell.value, cell.bold])).toEqual(
      COLUMNS.map((column) => [column.title, true]),
    );
    const seen = rows.map((row) =>
      row.map((cell) => [
        typeof cell.value === "string" ? excelUnescape(cell.value) : cell.value,
        cell.type,
        cell.format,
      ]),
    );
    expect(seen).toEqual(CASES.map(([, expected]) => expected));
    // Widths follow the first rows: the long name column is wider than "Paid".
    const [amount, name, paid] = sheet?.widths ?? [];
    expect(name).toBeGreaterThan(paid as number);
    expect(amount).toBeGreaterThan(paid as number);
  });

  it("names the sheet from XlsxOptions, and refuses a name Excel would not take", async () => {
    const named = await collectExport(
      client,
      exportMessages([["1", "a", "true", null]], {
        columns: COLUMNS,
        start: xlsxStart({ xlsx: { sheetName: "Q3 ledger" } }),
      }),
    );
    expect((await readBack(named.data))[0]?.name).toBe("Q3 ledger");
    for (const sheetName of ["a/b", "Q3\tledger", "line\nbreak"]) {
      await expectInvalidArgument(
        client,
        exportMessages([], { columns: COLUMNS, start: xlsxStart({ xlsx: { sheetName } }) }),
        "start.xlsx.sheet_name",
        "sheet name must be 1 to 31 characters, none of : \\ / ? * [ ] or a control character, not starting or ending with '",
      );
    }
    // A file name cut to 31 characters for the sheet is not cut inside an emoji.
    const emoji = await collectExport(
      client,
      exportMessages([], {
        columns: COLUMNS,
        start: xlsxStart({ fileName: `${"a".repeat(30)}😀.xlsx` }),
      }),
    );
    expect((await readBack(emoji.data))[0]?.name).toBe("a".repeat(30));
  });

  it("writes an empty export as a workbook with its header row", async () => {
    const empty = await collectExport(
      client,
      exportMessages([], { columns: COLUMNS, start: xlsxStart() }),
    );
    const [sheet] = await readBack(empty.data);
    expect(sheet?.name).toBe("Export");
    expect(sheet?.rows.map((row) => row.map((cell) => cell.value))).toEqual([
      ["Amount", "Name", "Paid", "At"],
    ]);
  });

  it("refuses a cell longer than Excel's 32,767 characters", async () => {
    const { error } = await failedExport(
      client,
      exportMessages([["1", "x".repeat(32_768), "true", null]], {
        columns: COLUMNS,
        start: xlsxStart(),
      }),
    );
    expect(error.code).toBe(Code.ResourceExhausted);
    const [info] = error.findDetails(ErrorInfoSchema);
    expect(info?.metadata).toEqual({ name: "max_cell_chars", limit: "32767", actual: "32768" });
    await eventually(() => running.server.runningExports() === 0);
  });

  it("refuses more than Excel's 16,384 columns, though MAX_COLUMNS allows them; CSV takes them", async () => {
    const wide = await startServer({ maxColumns: 20_000 });
    const wideClient = createExportClient(wide.baseUrl, "grpc");
    try {
      const columns = generatedColumns(16_385);
      const { error } = await failedExport(
        wideClient,
        exportMessages([], { columns, start: xlsxStart() }),
      );
      expect(error.code).toBe(Code.ResourceExhausted);
      expect(error.rawMessage).toBe("16385 columns exceed the limit of 16384");
      const [info] = error.findDetails(ErrorInfoSchema);
      expect(info?.metadata).toEqual({ name: "max_columns", limit: "16384", actual: "16385" });
      const csv = await collectExport(wideClient, exportMessages([], { columns }));
      expect(csv.summary.rows).toBe(0n);
      const xlsx = await collectExport(
        wideClient,
        exportMessages([], { columns: columns.slice(0, 16_384), start: xlsxStart() }),
      );
      const [sheet] = await readBack(xlsx.data);
      expect(sheet?.rows[0]?.at(-1)?.value).toBe(columns[16_383]?.title);
    } finally {
      await wide.close();
    }
  });

  it("sends the first chunk while the client is still sending", async () => {
    const start: RequestInit = {
      kind: { case: "start", value: xlsxStart({ columns: generatedColumns(8) }) },
    };
    const { batchesAtFirstChunk, rows } = await firstChunkWhileSending(
      client,
      start,
      generatedBatches(40_000, 8, 1_000),
      generatedBatches(1_000, 8, 1_000),
    );
    expect(batchesAtFirstChunk).toBeGreaterThanOrEqual(0);
    expect(batchesAtFirstChunk).toBeLessThan(40);
    expect(rows).toBe(41_000n);
  });

  it("counts XLSX exports in the metrics", async () => {
    const metrics = await scrape(running.metricsUrl);
    expect(sample(metrics, "export_requests_total", { format: "xlsx", outcome: "ok" })).toBe(5);
    expect(sample(metrics, "export_rows_total", { format: "xlsx" })).toBeGreaterThan(41_000);
  });
});
