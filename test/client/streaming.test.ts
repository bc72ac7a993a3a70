import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createExportClient, type ExportClient } from "../../src/client/index.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";

const TOTAL = 1_000_000;

let running: RunningServer;
let client: ExportClient;
beforeAll(async () => {
  running = await startServer();
  client = createExportClient({ baseUrl: running.baseUrl });
});
afterAll(async () => {
  client.close();
  await running.close();
});

/** A million rows, counting how many were read and whether the source was closed. */
function countedRows() {
  const state = { read: 0, closed: false };
  function* rows() {
    try {
      for (; state.read < TOTAL; ) {
        state.read++;
        yield [state.read, `row ${state.read} of the source`];
      }
    } finally {
      state.closed = true;
    }
  }
  return { state, rows: rows() };
}

describe("backpressure and cancellation", () => {
  it("reads the source no faster than the file is read, and cancels mid-stream on abort", async () => {
    const { state, rows } = countedRows();
    const controller = new AbortController();
    const run = client.export({
      format: "csv",
      columns: ["n", "text"],
      rows,
      signal: controller.signal,
    });
    const iterator = run[Symbol.asyncIterator]();
    await iterator.next();
    // The reader pauses: HTTP/2 flow control stops the server, which stops
    // taking rows, which stops this client reading its source.
    await sleep(500);
    const readWhilePaused = state.read;
    await sleep(1_000);
    expect(state.read).toBe(readWhilePaused);
    expect(readWhilePaused).toBeLessThan(TOTAL / 10);
    console.log(
      `rows read from the source while the file was not read: ${readWhilePaused} of ${TOTAL}`,
    );

    controller.abort();
    const error = await iterator.next().then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toMatchObject({ name: "ExportCallError", code: Code.Canceled });
    await expect(run.summary).rejects.toBe(error);
    await eventually(() => state.closed && running.server.runningExports() === 0);
    expect(state.read).toBeLessThan(TOTAL / 10);
  });

  it("cancels the call and closes the source when the reader stops early", async () => {
    const { state, rows } = countedRows();
    const run = client.export({ format: "csv", columns: ["n", "text"], rows });
    for await (const _ of run) break;
    await expect(run.summary).rejects.toMatchObject({
      code: Code.Canceled,
      message: "CANCELLED: the export's file was not read to the end",
    });
    await eventually(() => state.closed && running.server.runningExports() === 0);
    expect(state.read).toBeLessThan(TOTAL / 10);
  });
});
