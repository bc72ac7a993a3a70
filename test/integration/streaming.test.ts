import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExportRequestSchema, Format } from "../../gen/export/v1/export_pb.js";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { gate, never, withTimeout } from "../support/async.js";
import {
  collectExport,
  createExportClient,
  type ExportClient,
  type RequestInit,
  requestStream,
} from "../support/connect-client.js";
import { failedExport } from "../support/expect-error.js";
import { firstChunkWhileSending } from "../support/first-chunk.js";
import { sample, scrape } from "../support/metrics.js";
import { frameOf, stalledExport } from "../support/raw-grpc.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";
import { generatedBatches, generatedColumns } from "../support/tables.js";

const WIDTH = 8;
const startMessage: RequestInit = {
  kind: { case: "start", value: { format: Format.CSV, columns: generatedColumns(WIDTH) } },
};

let running: RunningServer;
let client: ExportClient;
beforeAll(async () => {
  running = await startServer({ idleTimeoutMs: 1_000 });
  client = createExportClient(running.baseUrl, "grpc");
});
afterAll(() => running.close());

describe("streaming", () => {
  it("sends the first chunk while the client is still sending", async () => {
    const { batchesAtFirstChunk, rows } = await firstChunkWhileSending(
      client,
      startMessage,
      generatedBatches(2_000, WIDTH, 500),
      generatedBatches(2_000, WIDTH, 500),
      5_000,
    );
    expect(batchesAtFirstChunk).toBeGreaterThan(0);
    expect(batchesAtFirstChunk).toBeLessThanOrEqual(4);
    expect(rows).toBe(4_000n);
  });

  it("flushes a partial chunk when the input pauses", async () => {
    const flushed = gate();
    async function* requests() {
      yield startMessage;
      yield* generatedBatches(3, WIDTH);
      await withTimeout(flushed.opened, 5_000, "pending bytes were not flushed");
    }
    const sizes: number[] = [];
    for await (const response of client.export(requestStream(requests()))) {
      if (response.kind.case === "chunk") {
        sizes.push(response.kind.value.data.length);
        flushed.open();
      }
    }
    expect(sizes[0]).toBeLessThan(running.config.chunkBytes);
    expect(sizes[0]).toBeGreaterThan(0);
  });

  it("cuts chunks at the configured size, with contiguous offsets", async () => {
    const result = await collectExport(client, [startMessage, ...generatedBatches(5_000, WIDTH)]);
    const chunkBytes = BigInt(running.config.chunkBytes);
    result.chunkOffsets.forEach((offset, index) => {
      expect(offset).toBe(BigInt(index) * chunkBytes);
    });
    expect(result.chunkOffsets.length).toBe(
      Math.ceil(result.data.length / running.config.chunkBytes),
    );
  });

  it("stops reading requests while the client does not read responses", async () => {
    const batchCount = 400; // 500 rows each: about 18 MB of CSV
    let pulled = 0;
    let lastPullAt = Date.now();
    async function* requests() {
      yield startMessage;
      for (const batch of generatedBatches(batchCount * 500, WIDTH, 500)) {
        yield batch;
        pulled++;
        lastPullAt = Date.now();
      }
    }
    const responses = client.export(requestStream(requests()))[Symbol.asyncIterator]();
    expect((await responses.next()).value?.kind.case).toBe("header");
    // Read nothing more until the client has been unable to send for 500 ms.
    await eventually(() => pulled > 0 && Date.now() - lastPullAt > 500, 20_000);
    const pulledWhileStalled = pulled;
    console.log(`client not reading: ${pulledWhileStalled} of ${batchCount} batches went out`);
    expect(pulledWhileStalled).toBeLessThan(batchCount / 4);

    let rows = 0n;
    for (let next = await responses.next(); !next.done; next = await responses.next()) {
      if (next.value.kind.case === "summary") rows = next.value.kind.value.rows;
    }
    expect(rows).toBe(BigInt(batchCount * 500));
  });

  it("frees the slot when the client cancels mid-stream, and counts it as cancelled", async () => {
    const before = await scrape(running.metricsUrl);
    const okBefore = sample(before, "export_requests_total", { format: "csv", outcome: "ok" });
    const cancelledBefore =
      sample(before, "export_requests_total", { format: "csv", outcome: "cancelled" }) ?? 0;
    const abort = new AbortController();
    // All rows sent and the request side closed: only the reset tells the
    // server that the file it is writing will never be read.
    async function* requests() {
      yield startMessage;
      yield* generatedBatches(50_000, WIDTH);
    }
    const kinds: string[] = [];
    const error = await (async () => {
      for await (const response of client.export(requestStream(requests()), {
        signal: abort.signal,
      })) {
        kinds.push(response.kind.case ?? "");
        if (response.kind.case === "chunk") abort.abort();
      }
    })().then(
      () => undefined,
      (caught: unknown) => ConnectError.from(caught),
    );
    expect(error?.code).toBe(Code.Canceled);
    expect(kinds[0]).toBe("header");
    await eventually(() => running.server.runningExports() === 0);
    // Counted as cancelled: the reset must not pass for the end of the rows.
    const outcomes = await scrape(running.metricsUrl);
    expect(sample(outcomes, "export_requests_total", { format: "csv", outcome: "cancelled" })).toBe(
      cancelledBefore + 1,
    );
    expect(sample(outcomes, "export_requests_total", { format: "csv", outcome: "ok" })).toBe(
      okBefore,
    );
    const result = await collectExport(client, [startMessage, ...generatedBatches(10, WIDTH)]);
    expect(result.summary.rows).toBe(10n);
  });

  it("frees the slot when the client cancels while the server waits to write", async () => {
    const batches = [...generatedBatches(20_000, WIDTH, 1_000)];
    const stalled = stalledExport(running.port, [
      frameOf(create(ExportRequestSchema, startMessage)),
      ...batches.map((batch) => frameOf(create(ExportRequestSchema, batch))),
    ]);
    await stalled.blocked;
    expect(running.server.runningExports()).toBe(1);
    stalled.cancel();
    // Well inside the stall timeout: the reset itself freed the slot.
    await eventually(() => running.server.runningExports() === 0, 500);
    stalled.close();
  });

  it("frees the slot when the client gives up at its deadline", async () => {
    async function* slow() {
      yield startMessage;
      yield* generatedBatches(10, WIDTH);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
    const { error } = await failedExport(client, slow(), { timeoutMs: 300 });
    expect(error.code).toBe(Code.DeadlineExceeded);
    await eventually(() => running.server.runningExports() === 0);
  });

  it("abandons an export whose client goes silent, freeing the slot", async () => {
    const never = gate();
    async function* silent() {
      yield startMessage;
      await never.opened;
    }
    const { error } = await failedExport(client, silent());
    expect(error.code).toBe(Code.DeadlineExceeded);
    expect(error.rawMessage).toBe(
      "no request message for 1s; the export was abandoned to free its slot (send batches more often or close the stream when done)",
    );
    expect(running.server.runningExports()).toBe(0);
    never.open();
  });
});

describe("export slots", () => {
  it("refuses exactly the sixth concurrent export, with ErrorInfo and RetryInfo", async () => {
    const release = gate();
    async function* heldOpen() {
      yield startMessage;
      yield* generatedBatches(10, WIDTH);
      await release.opened;
    }
    const connectClient = createExportClient(running.baseUrl, "connect-binary");
    const exports = Array.from({ length: 6 }, (_, index) =>
      collectExport(index % 2 === 0 ? client : connectClient, heldOpen()).then(
        (result) => ({ ok: true as const, result }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
    );
    const rejected = await withTimeout(
      Promise.race(
        exports.map((settled) => settled.then((outcome) => (outcome.ok ? never() : outcome))),
      ),
      5_000,
      "no export was rejected",
    );
    expect(running.server.runningExports()).toBe(5);
    release.open();
    const outcomes = await Promise.all(exports);
    expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(5);
    expect(outcomes.filter((outcome) => !outcome.ok)).toHaveLength(1);

    const { ConnectError } = await import("@connectrpc/connect");
    const error = ConnectError.from(rejected.error);
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toBe(
      "all 5 export slots are in use; retry in 1s or lower your concurrency",
    );
    const [info] = error.findDetails(ErrorInfoSchema);
    expect(info?.reason).toBe("EXPORT_SLOTS_EXHAUSTED");
    expect(info?.domain).toBe("export.v1");
    expect(info?.metadata).toEqual({ limit: "5" });
    const [retry] = error.findDetails(RetryInfoSchema);
    expect(retry?.retryDelay?.seconds).toBe(1n);

    await eventually(() => running.server.runningExports() === 0);
    const after = await collectExport(client, [startMessage, ...generatedBatches(10, WIDTH)]);
    expect(after.summary.rows).toBe(10n);
  });
});
