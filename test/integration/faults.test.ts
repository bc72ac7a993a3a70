import { randomBytes } from "node:crypto";
import { type ClientHttp2Stream, connect, constants } from "node:http2";
import { connect as connectTcp } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, type ConnectError } from "@connectrpc/connect";
import { status as grpcStatus, Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExportRequestSchema, Format } from "../../gen/export/v1/export_pb.js";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "../../gen/google/rpc/error_details_pb.js";
import { gate } from "../support/async.js";
import { collectExport, createExportClient, type RequestInit } from "../support/connect-client.js";
import { failedExport } from "../support/expect-error.js";
import { createGrpcJsClient } from "../support/grpc-js-client.js";
import {
  exportHeaders,
  Flags,
  type Frame,
  FrameType,
  frameReader,
  type RawH2Connection,
  rawH2Connection,
} from "../support/h2-frames.js";
import { sample, scrape } from "../support/metrics.js";
import { countedSince, type OutcomeCounts, scrapeOutcomes, totalOf } from "../support/outcomes.js";
import { connectWithSocket, rawCall } from "../support/raw-export.js";
import { frame, frameOf } from "../support/raw-grpc.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";
import { generatedBatches, generatedColumns } from "../support/tables.js";

/**
 * Faults on the wire: dropped connections, a client that opens 200 streams
 * on one connection, garbage where the HTTP/2 preface belongs, and resets
 * and cut-off messages at awkward moments. Each time the server goes on
 * serving others (an export spans the fault and another runs after it),
 * frees every slot, and counts each stream once under the outcome it had.
 */

const WIDTH = 4;
const startInit: RequestInit = {
  kind: { case: "start", value: { format: Format.CSV, columns: generatedColumns(WIDTH) } },
};
const startFrame = frameOf(create(ExportRequestSchema, startInit));
const batchFrames = (rows: number, batchSize: number) =>
  [...generatedBatches(rows, WIDTH, batchSize)].map((batch) =>
    frameOf(create(ExportRequestSchema, batch)),
  );
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let running: RunningServer;
beforeAll(async () => {
  running = await startServer({ idleTimeoutMs: 5_000 });
});
afterAll(() => running.close());

/** A CSV export on its own connection that sends 50 rows every 10 ms until stopped. */
function backgroundExport(server: RunningServer) {
  let stopped = false;
  let sent = 0;
  async function* requests() {
    yield startInit;
    for (const batch of generatedBatches(10_000_000, WIDTH, 50)) {
      if (stopped) return;
      yield batch;
      sent += 50;
      await sleep(10);
    }
  }
  const result = collectExport(createExportClient(server.baseUrl, "grpc"), requests());
  result.catch(() => {});
  return {
    /** Ends the request stream; the export must then complete with every row sent. */
    async stop() {
      stopped = true;
      const { summary } = await result;
      expect(summary.rows).toBe(BigInt(sent));
    },
  };
}

/** A short export on a connection of its own, which must succeed. */
async function normalExport(server: RunningServer) {
  const client = createExportClient(server.baseUrl, "grpc");
  const result = await collectExport(client, [startInit, ...generatedBatches(1_000, WIDTH, 250)]);
  expect(result.summary.rows).toBe(1_000n);
}

/** Waits until the streams counted since `before` are `expected`, then asserts it. */
async function expectCounted(
  server: RunningServer,
  before: OutcomeCounts,
  expected: Record<string, number>,
) {
  const want = Object.values(expected).reduce((sum, value) => sum + value, 0);
  let after = await scrapeOutcomes(server.metricsUrl);
  const deadline = Date.now() + 5_000;
  while (totalOf(after) - totalOf(before) < want && Date.now() < deadline) {
    await sleep(20);
    after = await scrapeOutcomes(server.metricsUrl);
  }
  expect(countedSince(before, after)).toEqual(expected);
}

/** No export holds a slot and no rendered byte is held. */
async function expectNothingHeld(server: RunningServer) {
  await eventually(() => server.server.runningExports() === 0);
  const text = await scrape(server.metricsUrl);
  expect(sample(text, "export_running")).toBe(0);
  expect(sample(text, "export_buffered_bytes")).toBe(0);
}

/** Resolves once the server has filled the stream's flow-control window. */
async function blockedOnFlowControl(stream: Promise<ClientHttp2Stream>) {
  const opened = await stream;
  await eventually(() => opened.state.localWindowSize === 0, 10_000);
}

describe("a dropped connection", () => {
  it("frees the slot of an export whose TCP connection is destroyed, counted as cancelled", async () => {
    const spanning = backgroundExport(running);
    await eventually(() => running.server.runningExports() === 1);
    const before = await scrapeOutcomes(running.metricsUrl);

    // While both sides stream: the client is still sending when its
    // connection goes, right after the first chunk arrived.
    const streaming = connectWithSocket(running.port);
    let sending = true;
    async function* frames() {
      yield startFrame;
      for (const batch of generatedBatches(10_000_000, WIDTH, 500)) {
        if (!sending) return;
        yield frameOf(create(ExportRequestSchema, batch));
        await sleep(5);
      }
    }
    const dropped = await rawCall(running.port, frames(), {
      session: streaming.session,
      onResponse: (response) => {
        if (response.kind.case === "chunk") streaming.socket.destroy();
      },
    });
    sending = false;
    expect(dropped.status).toBeUndefined();
    expect(dropped.responses.map((response) => response.kind.case)).not.toContain("summary");

    // While the server waits on flow control: the client reads nothing.
    const stalled = connectWithSocket(running.port);
    let onStream: (stream: ClientHttp2Stream) => void = () => {};
    const stream = new Promise<ClientHttp2Stream>((resolve) => {
      onStream = resolve;
    });
    const call = rawCall(running.port, [startFrame, ...batchFrames(20_000, 1_000)], {
      session: stalled.session,
      stopReadingAfter: 1,
      onStream,
    });
    await blockedOnFlowControl(stream);
    expect(running.server.runningExports()).toBe(2);
    stalled.socket.destroy();
    expect((await call).status).toBeUndefined();

    // Freed well inside IDLE_TIMEOUT_MS (5 s): the drop itself freed them.
    await eventually(() => running.server.runningExports() === 1, 1_000);
    await expectCounted(running, before, { "csv/cancelled": 2 });
    await normalExport(running);
    await spanning.stop();
    await normalExport(running);
    await expectNothingHeld(running);
  });
});

describe("200 streams on one connection", () => {
  it("from a client that keeps to the limit of 100: four take the free slots, the rest are refused", async () => {
    const spanning = backgroundExport(running);
    await eventually(() => running.server.runningExports() === 1);
    const before = await scrapeOutcomes(running.metricsUrl);
    // node:http2 queues streams past the server's SETTINGS_MAX_CONCURRENT_STREAMS.
    const session = connect(running.baseUrl);
    session.on("error", () => {});
    const release = gate();
    async function* heldOpen() {
      yield startFrame;
      yield* batchFrames(10, 10);
      await release.opened;
    }
    let settled = 0;
    const calls = Array.from({ length: 200 }, () =>
      rawCall(running.port, heldOpen(), { session }).finally(() => {
        settled++;
      }),
    );
    await eventually(() => settled === 196, 20_000);
    expect(running.server.runningExports()).toBe(5);
    release.open();
    const results = await Promise.all(calls);
    session.close();

    const refused = results.filter((result) => result.status !== 0);
    expect(refused).toHaveLength(196);
    for (const { status, error } of refused) {
      expect(status).toBe(Code.ResourceExhausted);
      expect(error?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("EXPORT_SLOTS_EXHAUSTED");
      expect(error?.findDetails(RetryInfoSchema)).toHaveLength(1);
    }
    const done = results.filter((result) => result.status === 0);
    expect(done.map((result) => result.responses.at(-1)?.kind.case)).toEqual(
      Array(4).fill("summary"),
    );
    await expectCounted(running, before, { "csv/rejected": 196, "csv/ok": 4 });
    await spanning.stop();
    await normalExport(running);
    await expectNothingHeld(running);
  });

  it("from a client that ignores the limit: its connection is closed and its exports count as cancelled", async () => {
    // Slots for every stream the connection may hold, so that all 100 are
    // running exports when the client opens more.
    const roomy = await startServer({ maxConcurrentExports: 150 });
    try {
      const spanning = backgroundExport(roomy);
      await eventually(() => roomy.server.runningExports() === 1);
      const before = await scrapeOutcomes(roomy.metricsUrl);
      const hostile = rawH2Connection(roomy.port);
      await hostile.settled;
      const open = (first: number, count: number): Frame[] =>
        Array.from({ length: count }, (_, index) => 2 * (first + index) + 1).flatMap((streamId) => [
          {
            type: FrameType.HEADERS,
            flags: Flags.END_HEADERS,
            streamId,
            payload: exportHeaders(`127.0.0.1:${roomy.port}`),
          },
          {
            type: FrameType.DATA,
            flags: 0,
            streamId,
            payload: Buffer.concat([startFrame, ...batchFrames(10, 10)]),
          },
        ]);
      hostile.send(...open(0, 100));
      await eventually(() => roomy.server.runningExports() === 101, 10_000);
      hostile.send(...open(100, 100));
      await hostile.closed;
      expect(hostile.frames.some((received) => received.type === FrameType.GOAWAY)).toBe(true);

      await eventually(() => roomy.server.runningExports() === 1);
      await normalExport(roomy);
      await spanning.stop();
      await expectNothingHeld(roomy);
      // The client broke the connection: its exports were cancelled by it,
      // not ended by a bug ("internal" is what pages someone). The streams
      // past the limit never reached the service.
      await expectCounted(roomy, before, { "csv/cancelled": 100, "csv/ok": 2 });
    } finally {
      await roomy.close();
    }
  });
});

describe("garbage instead of the HTTP/2 preface", () => {
  const garbage: Record<string, Buffer> = {
    "an HTTP/1.1 request": Buffer.from("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    "a TLS ClientHello": Buffer.from("160301020001000001fc0303", "hex"),
    "random bytes": randomBytes(4_096),
    "the preface, then junk where frames belong": Buffer.concat([
      Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
      Buffer.alloc(64, 0xff),
    ]),
  };

  /** Sends `bytes` on a new TCP connection; what the server sent before it closed. */
  function sendGarbage(bytes: Buffer): Promise<Frame[]> {
    return new Promise((resolve, reject) => {
      const socket = connectTcp(running.port, "127.0.0.1");
      const frames: Frame[] = [];
      socket.on(
        "data",
        frameReader((received) => frames.push(received)),
      );
      socket.on("error", () => {});
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error("the server kept the connection open"));
      }, 2_000);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve(frames);
      });
      socket.write(bytes);
    });
  }

  it("closes each such connection at once with GOAWAY, counts nothing, and goes on serving", async () => {
    const spanning = backgroundExport(running);
    await eventually(() => running.server.runningExports() === 1);
    const before = await scrapeOutcomes(running.metricsUrl);
    for (const [what, bytes] of Object.entries(garbage)) {
      const frames = await sendGarbage(bytes);
      expect(
        frames.map((received) => received.type),
        what,
      ).toContain(FrameType.GOAWAY);
    }
    // Many at once, while an export runs beside them.
    const many = Array.from({ length: 50 }, (_, index) =>
      sendGarbage(Object.values(garbage)[index % 4] as Buffer),
    );
    await normalExport(running);
    await Promise.all(many);
    await spanning.stop();
    await normalExport(running);
    await expectCounted(running, before, { "csv/ok": 3 });
    await expectNothingHeld(running);
  });
});

describe("resets and cut-off messages (found by test/property)", () => {
  /** Opens an Export stream on `session` and writes `frames` without ending it. */
  function openStream(session: ReturnType<typeof connect>, frames: readonly Buffer[]) {
    const stream = session.request({
      ":method": "POST",
      ":path": "/export.v1.ExportService/Export",
      "content-type": "application/grpc+proto",
      te: "trailers",
    });
    stream.on("error", () => {});
    const responses: Buffer[] = [];
    stream.on("data", (data: Buffer) => responses.push(data));
    for (const chunk of frames) stream.write(chunk);
    return { stream, responses };
  }

  /**
   * Opens stream `streamId` on a raw connection, sends `messages` as one
   * DATA frame without END_STREAM, and once `resetWhen` holds, resets it:
   * the reset, never an end of stream, is the client's last word. (Node's
   * own client ends its side before a reset, which is a finished request.)
   */
  async function resetStream(
    connection: RawH2Connection,
    streamId: number,
    messages: Buffer,
    resetWhen: () => boolean,
  ) {
    connection.send(
      {
        type: FrameType.HEADERS,
        flags: Flags.END_HEADERS,
        streamId,
        payload: exportHeaders(`127.0.0.1:${running.port}`),
      },
      ...(messages.length > 0
        ? [{ type: FrameType.DATA, flags: 0, streamId, payload: messages }]
        : []),
    );
    await eventually(resetWhen);
    const cancel = Buffer.alloc(4);
    cancel.writeUInt32BE(constants.NGHTTP2_CANCEL);
    connection.send({ type: FrameType.RST_STREAM, flags: 0, streamId, payload: cancel });
  }

  it("counts a stream reset before its start message as cancelled, not as bad input", async () => {
    const before = await scrapeOutcomes(running.metricsUrl);
    const connection = rawH2Connection(running.port);
    await connection.settled;
    for (let reset = 0; reset < 3; reset++) {
      const opened = Date.now();
      await resetStream(connection, 2 * reset + 1, Buffer.alloc(0), () => Date.now() - opened > 20);
    }
    await expectCounted(running, before, { "unknown/cancelled": 3 });
    connection.socket.destroy();
  });

  it("counts a stream reset after its last batch as cancelled, never as a success", async () => {
    const before = await scrapeOutcomes(running.metricsUrl);
    const connection = rawH2Connection(running.port);
    await connection.settled;
    for (let reset = 0; reset < 5; reset++) {
      const streamId = 2 * reset + 1;
      await resetStream(
        connection,
        streamId,
        Buffer.concat([startFrame, ...batchFrames(3, 3)]),
        () =>
          connection.frames.some(
            (received) => received.type === FrameType.DATA && received.streamId === streamId,
          ),
      );
    }
    await expectCounted(running, before, { "csv/cancelled": 5 });
    await expectNothingHeld(running);
    connection.socket.destroy();
  });

  it("counts a Connect client's cancel of a short export as cancelled, never as a success", async () => {
    // As in streaming.test.ts ("cancels mid-stream"), but the file is so
    // short that the server has it rendered before the reset is seen: the
    // client ends its side and resets at once (node:http2's close()), the
    // summary goes into a reset stream, and nobody got the file.
    const before = await scrapeOutcomes(running.metricsUrl);
    const client = createExportClient(running.baseUrl, "grpc");
    for (let cancel = 0; cancel < 5; cancel++) {
      const abort = new AbortController();
      async function* requests() {
        yield create(ExportRequestSchema, startInit);
        yield* [...generatedBatches(3, WIDTH, 3)].map((batch) =>
          create(ExportRequestSchema, batch),
        );
        await sleep(5);
        abort.abort();
        throw new Error("cancelled by the test");
      }
      const { error } = await failedExport(client, requests(), { signal: abort.signal });
      expect(error.code).toBe(Code.Canceled);
    }
    await expectNothingHeld(running);
    await expectCounted(running, before, { "csv/cancelled": 5 });
  });

  it("counts a stream the client resets with INTERNAL_ERROR as cancelled, not as a server bug", async () => {
    const before = await scrapeOutcomes(running.metricsUrl);
    const session = connect(running.baseUrl);
    // Enough rows that the server is still rendering when the reset lands.
    const { stream, responses } = openStream(session, [startFrame, ...batchFrames(50_000, 10_000)]);
    await eventually(() => responses.length > 0);
    stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    await new Promise((resolve) => stream.once("close", resolve));
    session.close();
    await expectNothingHeld(running);
    await expectCounted(running, before, { "csv/cancelled": 1 });
  });

  it("names the field `request` for every request message that cannot be decoded", async () => {
    type Answer = { code: Code | undefined; fields: string[] };
    const fieldsOf = (error: ConnectError | undefined) =>
      (error?.findDetails(BadRequestSchema) ?? []).flatMap((detail) =>
        detail.fieldViolations.map((violation) => violation.field),
      );
    const rawAnswer = async (frames: Buffer[]): Promise<Answer> => {
      const { status, error } = await rawCall(running.port, frames);
      return { code: status, fields: fieldsOf(error) };
    };
    const [batch] = batchFrames(3, 3) as [Buffer];
    // Connect JSON carries a lone surrogate as an escape: not UTF-8 text.
    const { error } = await failedExport(createExportClient(running.baseUrl, "connect-json"), [
      startInit,
      { kind: { case: "batch", value: { rows: [{ cells: ["a", "\uD800", "b", "c"] }] } } },
    ]);
    const answers: Record<string, Answer> = {
      "invalid UTF-8 in a binary message (the documented case)": await rawAnswer([
        startFrame,
        frame(Buffer.from([0x12, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe])),
      ]),
      "a lone surrogate in Connect JSON": { code: error.code, fields: fieldsOf(error) },
      "a frame cut off by the end of the stream": await rawAnswer([
        startFrame,
        batch.subarray(0, 10),
      ]),
    };
    const documented = { code: Code.InvalidArgument, fields: ["request"] };
    expect(answers).toEqual(
      Object.fromEntries(Object.keys(answers).map((what) => [what, documented])),
    );
  });

  it("leaves no buffered bytes counted when the deadline passes while a batch is rendered", async () => {
    // 200,000 rows of one empty cell as XLSX: rendered in 40 slices, far
    // longer than the 100 ms deadline (CSV renders them in about that long).
    const oneColumn = frameOf(
      create(ExportRequestSchema, {
        kind: { case: "start", value: { format: Format.XLSX, columns: generatedColumns(1) } },
      }),
    );
    const batch = frameOf(
      create(ExportRequestSchema, {
        kind: {
          case: "batch",
          value: { rows: Array.from({ length: 200_000 }, () => ({ cells: [""] })) },
        },
      }),
    );
    expect(batch.length).toBeLessThan(running.config.maxMessageBytes);
    const before = await scrapeOutcomes(running.metricsUrl);
    for (let attempt = 0; attempt < 3; attempt++) {
      const session = connect(running.baseUrl);
      const stream = session.request({
        ":method": "POST",
        ":path": "/export.v1.ExportService/Export",
        "content-type": "application/grpc+proto",
        te: "trailers",
        "grpc-timeout": "100m",
      });
      stream.on("data", () => {});
      stream.on("error", () => {});
      const status = new Promise<string>((resolve) =>
        stream.on("trailers", (trailers) => resolve(String(trailers["grpc-status"]))),
      );
      stream.end(Buffer.concat([oneColumn, batch]));
      expect(await status).toBe(String(Code.DeadlineExceeded));
      session.close();
    }
    await expectCounted(running, before, { "xlsx/deadline": 3 });
    await expectNothingHeld(running);
  });

  it("counts an export whose client gives up at its deadline as deadline, never ok or cancelled", async () => {
    // The clients send their rows, then hold the request open: their own
    // timers end the calls, ending the request side just before the reset.
    const before = await scrapeOutcomes(running.metricsUrl);
    const client = createExportClient(running.baseUrl, "grpc");
    for (let attempt = 0; attempt < 5; attempt++) {
      async function* heldOpen() {
        yield* [startInit, ...generatedBatches(12, WIDTH, 4)];
        await sleep(1_000);
      }
      const error = await collectExport(client, heldOpen(), { timeoutMs: 300 }).then(
        () => undefined,
        (failure: ConnectError) => failure,
      );
      expect(error?.code).toBe(Code.DeadlineExceeded);
    }
    const grpcJs = createGrpcJsClient(running.port);
    const columns = generatedColumns(WIDTH).map(({ key }) => ({ key }));
    for (let attempt = 0; attempt < 5; attempt++) {
      const code = await new Promise((resolve) => {
        const call = grpcJs.Export(new Metadata(), { deadline: Date.now() + 300 });
        call.on("data", () => {});
        call.on("error", (error: { code: number }) => resolve(error.code));
        call.on("end", () => resolve("ended"));
        call.write({ start: { format: "FORMAT_CSV", columns } });
        call.write({ batch: { rows: [{ cells: ["1", "a", "2", "b"] }] } });
      });
      expect(code).toBe(grpcStatus.DEADLINE_EXCEEDED);
    }
    grpcJs.close();
    await expectCounted(running, before, { "csv/deadline": 10 });
    await expectNothingHeld(running);
  });

  it("counts an export that ends its rows in time, late in its deadline, as ok", async () => {
    const before = await scrapeOutcomes(running.metricsUrl);
    async function* late() {
      yield* [startInit, ...generatedBatches(12, WIDTH, 4)];
      // Well inside the last tenth of the deadline, well before its end.
      await sleep(3_700);
    }
    const client = createExportClient(running.baseUrl, "grpc");
    const result = await collectExport(client, late(), { timeoutMs: 4_000 });
    expect(result.summary.rows).toBe(12n);
    await expectCounted(running, before, { "csv/ok": 1 });
  });
});
