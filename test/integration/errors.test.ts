import { Code } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Format } from "../../gen/export/v1/export_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import {
  type ConnectProtocol,
  collectExport,
  createExportClient,
  type ExportClient,
  type RequestInit,
} from "../support/connect-client.js";
import { expectInvalidArgument, failedExport } from "../support/expect-error.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";
import { exportMessages, type StartInit, TRICKY_COLUMNS, toRow } from "../support/tables.js";

let running: RunningServer;
beforeAll(async () => {
  running = await startServer({ maxColumns: 10, maxCellChars: 100, maxMessageBytes: 64 * 1024 });
});
afterAll(() => running.close());

const start = (value: StartInit): RequestInit => ({ kind: { case: "start", value } });
const csvStart = (extra: StartInit = {}) =>
  start({ format: Format.CSV, columns: TRICKY_COLUMNS, ...extra });
const batch = (rows: (string | null)[][]): RequestInit => ({
  kind: { case: "batch", value: { rows: rows.map(toRow) } },
});
const goodRow = ["1", "a", "2", "b"];

describe.each<ConnectProtocol>(["grpc", "grpc-web", "connect-binary", "connect-json"])(
  "bad input over %s",
  (protocol) => {
    let client: ExportClient;
    beforeAll(() => {
      client = createExportClient(running.baseUrl, protocol);
    });

    afterEach(async () => {
      // Every failure frees its slot and leaves the server able to export.
      await eventually(() => running.server.runningExports() === 0);
      const result = await collectExport(client, exportMessages([goodRow]));
      expect(result.summary.rows).toBe(1n);
    });

    it("refuses a stream that starts with a batch", async () => {
      await expectInvalidArgument(
        client,
        [batch([goodRow])],
        "start",
        "the first message must be start, got batch",
      );
    });

    it("refuses a stream that ends before start", async () => {
      await expectInvalidArgument(client, [], "start", "the stream ended before the start message");
    });

    it("refuses a second start, after the header went out", async () => {
      const failure = await expectInvalidArgument(
        client,
        [csvStart(), batch([goodRow]), csvStart()],
        "batch[1]",
        "start may be sent only once, as the first message",
      );
      expect(failure.kinds[0]).toBe("header");
    });

    it("refuses an unspecified format", async () => {
      await expectInvalidArgument(
        client,
        [start({ columns: TRICKY_COLUMNS })],
        "start.format",
        "format is required: FORMAT_CSV, FORMAT_PDF or FORMAT_XLSX",
      );
    });

    it("refuses an unknown format number", async () => {
      await expectInvalidArgument(
        client,
        [start({ format: 9 as Format, columns: TRICKY_COLUMNS })],
        "start.format",
        "unknown format 9; use FORMAT_CSV, FORMAT_PDF or FORMAT_XLSX",
      );
    });

    it("refuses an export without columns", async () => {
      await expectInvalidArgument(
        client,
        [start({ format: Format.CSV })],
        "start.columns",
        "at least one column is required",
      );
    });

    it("refuses duplicate column keys", async () => {
      await expectInvalidArgument(
        client,
        [start({ format: Format.CSV, columns: [{ key: "id" }, { key: "name" }, { key: "id" }] })],
        "start.columns[2].key",
        'duplicate column key "id" (also columns[0]); keys must be unique',
      );
    });

    it("refuses an empty column key", async () => {
      await expectInvalidArgument(
        client,
        [start({ format: Format.CSV, columns: [{ key: "" }] })],
        "start.columns[0].key",
        "column key is required",
      );
    });

    it("refuses a row with the wrong number of cells, naming row and columns", async () => {
      const rows = Array.from({ length: 41 }, (_, index) => [String(index), "a", "1", "n"]);
      await expectInvalidArgument(
        client,
        [csvStart(), batch(rows), batch([goodRow, ["1", "2", "3"]])],
        "batch[1].rows[1].cells",
        "row 43 has 3 cells, expected 4 (columns: id, text, amount, note)",
      );
    });

    it("refuses a JSON cell that is a list or an object", async () => {
      const jsonBatch = (cell: object): RequestInit => ({
        kind: {
          case: "batch",
          value: {
            jsonRows: [
              {
                values: [
                  { kind: { case: "numberValue", value: 1 } },
                  { kind: { case: "stringValue", value: "x" } },
                  cell,
                  { kind: { case: "nullValue", value: 0 } },
                ],
              },
            ],
          },
        },
      });
      await expectInvalidArgument(
        client,
        [csvStart(), jsonBatch({ kind: { case: "listValue", value: { values: [] } } })],
        "batch[0].json_rows[0][2]",
        'row 1, column "amount": cell is a list; cells must be strings, numbers, booleans or null',
      );
      await expectInvalidArgument(
        client,
        [csvStart(), jsonBatch({ kind: { case: "structValue", value: { fields: {} } } })],
        "batch[0].json_rows[0][2]",
        'row 1, column "amount": cell is an object; cells must be strings, numbers, booleans or null',
      );
    });

    it("refuses a null cell index past the last column", async () => {
      await expectInvalidArgument(
        client,
        [
          csvStart(),
          { kind: { case: "batch", value: { rows: [{ cells: goodRow, nullCells: [4] }] } } },
        ],
        "batch[0].rows[0].null_cells",
        "row 1: null cell index 4 is not below the column count 4",
      );
    });

    it("refuses a delimiter that is not one safe character", async () => {
      await expectInvalidArgument(
        client,
        [csvStart({ csv: { delimiter: "||" } })],
        "start.csv.delimiter",
        'delimiter must be one character other than a quote, CR or LF (got "||")',
      );
    });

    it("refuses a file name that is a path", async () => {
      await expectInvalidArgument(
        client,
        [csvStart({ fileName: "../../etc/passwd" })],
        "start.file_name",
        "file name must not contain path separators, control or format characters",
      );
    });

    it("refuses a file name with a C1 control, a line separator or a bidi override", async () => {
      for (const fileName of ["a\u0085b.csv", "a\u2028b.csv", "invoice\u202Evsc.exe"]) {
        await expectInvalidArgument(
          client,
          [csvStart({ fileName })],
          "start.file_name",
          "file name must not contain path separators, control or format characters",
        );
      }
    });

    it("keeps a file name in any script, accents and emoji included", async () => {
      for (const fileName of [
        "Bestellungen für Zoë, 東京 🚀.csv",
        "👩‍💻 team.csv",
        "می‌خواهم.csv",
      ]) {
        const result = await collectExport(client, [csvStart({ fileName })]);
        expect(result.header.fileName).toBe(fileName);
      }
    });

    it("cuts a message that quotes a long request to 512 bytes, details too", async () => {
      const delimiter = "分".repeat(20_000);
      const { error } = await failedExport(client, [csvStart({ csv: { delimiter } })]);
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toMatch(
        /^start\.csv\.delimiter: delimiter must be one character other than a quote, CR or LF \(got "分+…$/,
      );
      expect(Buffer.byteLength(error.rawMessage)).toBeLessThanOrEqual(512);
      expect(Buffer.byteLength(error.rawMessage)).toBeGreaterThan(500);
      const [badRequest] = error.findDetails(BadRequestSchema);
      const [violation] = badRequest?.fieldViolations ?? [];
      expect(violation?.field).toBe("start.csv.delimiter");
      expect(violation?.description).toMatch(/^delimiter must be one character .*分…$/);
      expect(Buffer.byteLength(violation?.description ?? "")).toBeLessThanOrEqual(512);
    });

    it("refuses more columns than the limit with RESOURCE_EXHAUSTED", async () => {
      const columns = Array.from({ length: 11 }, (_, index) => ({ key: `c${index}` }));
      const { error } = await failedExport(client, [start({ format: Format.CSV, columns })]);
      expect(error.code).toBe(Code.ResourceExhausted);
      expect(error.rawMessage).toBe("11 columns exceed the limit of 10");
      const [info] = error.findDetails(ErrorInfoSchema);
      expect(info?.reason).toBe("EXPORT_LIMIT_EXCEEDED");
      expect(info?.metadata).toEqual({ name: "max_columns", limit: "10", actual: "11" });
    });

    it("refuses a cell longer than the limit with RESOURCE_EXHAUSTED", async () => {
      const { error } = await failedExport(client, [
        csvStart(),
        batch([["1", "x".repeat(101), "2", "b"]]),
      ]);
      expect(error.code).toBe(Code.ResourceExhausted);
      expect(error.rawMessage).toBe(
        'row 1, column "text": cell has 101 characters, more than the limit of 100',
      );
      expect(error.findDetails(ErrorInfoSchema)[0]?.metadata).toEqual({
        name: "max_cell_chars",
        limit: "100",
        actual: "101",
      });
    });

    it("refuses a request message larger than the message limit", async () => {
      const rows = Array.from({ length: 1_000 }, (_, index) => [
        String(index),
        "y".repeat(90),
        "1",
        "z",
      ]);
      const { error } = await failedExport(client, [csvStart(), batch(rows)]);
      expect(error.code).toBe(Code.ResourceExhausted);
      expect(error.rawMessage).toMatch(
        /^request message of \d+ bytes is larger than MAX_MESSAGE_BYTES \(65536\); send smaller batches$/,
      );
      const [info] = error.findDetails(ErrorInfoSchema);
      expect(info?.reason).toBe("EXPORT_LIMIT_EXCEEDED");
      expect(info?.metadata).toEqual({
        name: "max_message_bytes",
        limit: "65536",
        actual: expect.stringMatching(/^\d+$/),
      });
    });
  },
);
