import { createHash } from "node:crypto";
import type { ServiceError } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_CHUNK_BYTES } from "../../src/config.js";
import { parseCsv } from "../support/csv.js";
import { createGrpcJsClient, grpcJsExport } from "../support/grpc-js-client.js";
import { type RunningServer, startServer } from "../support/server.js";
import { TRICKY_COLUMNS, TRICKY_ROWS, toRow } from "../support/tables.js";

let running: RunningServer;
let client: ReturnType<typeof createGrpcJsClient>;
beforeAll(async () => {
  running = await startServer();
  client = createGrpcJsClient(running.port);
});
afterAll(async () => {
  client.close();
  await running.close();
});

const start = {
  start: {
    format: "FORMAT_CSV",
    columns: TRICKY_COLUMNS.map((column) => ({
      key: column.key,
      title: column.title,
      type: column.type === undefined ? "COLUMN_TYPE_TEXT" : "COLUMN_TYPE_NUMBER",
    })),
    csv: { lineEnding: "LINE_ENDING_LF", delimiter: ";" },
  },
};

describe("CSV export with an @grpc/grpc-js client", () => {
  it("round-trips the tricky rows through the fast path", async () => {
    const batches = [0, 4, 8].map((first) => ({
      batch: { rows: TRICKY_ROWS.slice(first, first + 4).map(toRow) },
    }));
    const { responses, data } = await grpcJsExport(client, [start, ...batches]);

    expect(responses[0]?.kind).toBe("header");
    expect(responses[0]?.header?.contentType).toBe("text/csv; charset=utf-8");
    expect(responses[0]?.header?.fileName).toMatch(/^export-[0-9a-f-]{36}\.csv$/);
    const summary = responses.at(-1)?.summary;
    expect(responses.at(-1)?.kind).toBe("summary");

    const table = parseCsv(data, { delimiter: ";" });
    expect(table[0]).toEqual(TRICKY_COLUMNS.map((column) => column.title));
    expect(table.slice(1)).toEqual(TRICKY_ROWS);
    expect(data.includes("\r\n")).toBe(
      TRICKY_ROWS.some((row) => row.some((c) => c?.includes("\r\n"))),
    );
    expect(summary?.rows).toBe(String(TRICKY_ROWS.length));
    expect(summary?.bytes).toBe(String(data.length));
    expect(summary?.sha256).toBe(createHash("sha256").update(data).digest("hex"));
  });

  it("takes the largest chunks the server may be set to send, within grpc-js's default 4 MiB", async () => {
    const big = await startServer({ chunkBytes: MAX_CHUNK_BYTES, flushIdleMs: 60_000 });
    const bigClient = createGrpcJsClient(big.port);
    try {
      const cell = "x".repeat(1200);
      const batch = {
        batch: { rows: Array.from({ length: 400 }, () => ({ cells: [cell, cell] })) },
      };
      const twoColumns = {
        start: { format: "FORMAT_CSV", columns: [{ key: "a" }, { key: "b" }] },
      };
      const { responses, data } = await grpcJsExport(bigClient, [
        twoColumns,
        ...Array(5).fill(batch),
      ]);
      const sizes = responses.flatMap((response) =>
        response.chunk ? [response.chunk.data.length] : [],
      );
      expect(sizes[0]).toBe(MAX_CHUNK_BYTES);
      expect(responses.at(-1)?.summary?.bytes).toBe(String(data.length));
    } finally {
      bigClient.close();
      await big.close();
    }
  });

  it("renders JSON rows: numbers, booleans and null by the documented rules", async () => {
    const value = (cell: unknown) => {
      if (cell === null) return { nullValue: "NULL_VALUE" };
      if (typeof cell === "number") return { numberValue: cell };
      if (typeof cell === "boolean") return { boolValue: cell };
      return { stringValue: cell };
    };
    const jsonRows = [
      [1, "Ada", true, null],
      [-2.5, "", false, 1e21],
      [0.1 + 0.2, "Ελληνικά", null, -0],
    ].map((row) => ({ values: row.map(value) }));
    const { data } = await grpcJsExport(client, [
      {
        start: {
          format: "FORMAT_CSV",
          columns: ["a", "b", "c", "d"].map((key) => ({ key })),
          csv: { omitHeader: true, lineEnding: "LINE_ENDING_LF" },
        },
      },
      { batch: { jsonRows } },
    ]);
    expect(data.toString()).toBe(
      ["1,Ada,true,", '-2.5,"",false,1e+21', "0.30000000000000004,Ελληνικά,,0", ""].join("\n"),
    );
  });

  it("gets INVALID_ARGUMENT with the row and column named", async () => {
    const error = await grpcJsExport(client, [
      start,
      { batch: { rows: [toRow(["1", "a", "2", "b"]), { cells: ["2", "too few"] }] } },
    ]).then(
      () => undefined,
      (caught: ServiceError) => caught,
    );
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    // connect-node percent-encodes grpc-message with encodeURIComponent and
    // grpc-js decodes it with decodeURI, which leaves ":" and "," encoded;
    // both are within the gRPC spec's grammar, so clients decode once more.
    expect(decodeURIComponent(error?.details ?? "")).toBe(
      "batch[0].rows[1].cells: row 2 has 2 cells, expected 4 (columns: id, text, amount, note)",
    );
  });
});
