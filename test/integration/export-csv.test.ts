import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ConnectProtocol,
  collectExport,
  createExportClient,
} from "../support/connect-client.js";
import { parseCsv } from "../support/csv.js";
import { type RunningServer, startServer } from "../support/server.js";
import { exportMessages, TRICKY_COLUMNS, TRICKY_ROWS } from "../support/tables.js";

let running: RunningServer;
beforeAll(async () => {
  running = await startServer();
});
afterAll(() => running.close());

const protocols: ConnectProtocol[] = ["grpc", "grpc-web", "connect-binary", "connect-json"];

describe.each(protocols)("CSV export with the Connect client over %s", (protocol) => {
  it("returns every tricky cell exactly, with a summary that matches the bytes", async () => {
    const client = createExportClient(running.baseUrl, protocol);
    const result = await collectExport(
      client,
      exportMessages(TRICKY_ROWS, { start: { fileName: "tricky.csv" } }),
    );

    expect(result.header.contentType).toBe("text/csv; charset=utf-8");
    expect(result.header.fileName).toBe("tricky.csv");
    expect(result.header.exportId).toMatch(/^[0-9a-f-]{36}$/);

    const table = parseCsv(result.data);
    expect(table[0]).toEqual(TRICKY_COLUMNS.map((column) => column.title));
    expect(table.slice(1)).toEqual(TRICKY_ROWS);

    expect(result.summary.rows).toBe(BigInt(TRICKY_ROWS.length));
    expect(result.summary.bytes).toBe(BigInt(result.data.length));
    expect(result.summary.sha256).toBe(createHash("sha256").update(result.data).digest("hex"));
    expect(result.summary.batches).toBe(3);
    expect(result.summary.chunks).toBe(result.chunkOffsets.length);
    expect(result.data.subarray(0, 5).toString()).toBe('ID,"T');
    expect(result.data.toString()).toMatch(/\r\n$/);
  });
});
