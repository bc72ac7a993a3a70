import { connect as connectHttp2 } from "node:http2";
import { connect as connectTcp } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, type ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ExportRequestSchema, Format } from "../../gen/export/v1/export_pb.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { withTimeout } from "../support/async.js";
import {
  collectExport,
  createExportClient,
  type RequestInit,
  requestStream,
} from "../support/connect-client.js";
import { holdExports } from "../support/hold.js";
import { sample, scrape } from "../support/metrics.js";
import { rawCall } from "../support/raw-export.js";
import { frameOf } from "../support/raw-grpc.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";
import { generatedBatches, generatedColumns } from "../support/tables.js";

const WIDTH = 4;
const start: RequestInit = {
  kind: { case: "start", value: { format: Format.CSV, columns: generatedColumns(WIDTH) } },
};

interface Outcome {
  readonly error: ConnectError;
  readonly kinds: string[];
  readonly bytes: number;
}

/** Runs an export that must fail; what arrived before the error. */
async function failing(
  client: ReturnType<typeof createExportClient>,
  messages: AsyncIterable<RequestInit> | Iterable<RequestInit>,
): Promise<Outcome> {
  const kinds: string[] = [];
  let bytes = 0;
  try {
    for await (const response of client.export(requestStream(messages))) {
      kinds.push(response.kind.case ?? "empty");
      if (response.kind.case === "chunk") bytes += response.kind.value.data.length;
    }
  } catch (error) {
    return { error: error as ConnectError, kinds, bytes };
  }
  throw new Error("the export succeeded");
}

function expectLimit(outcome: Outcome, name: string, limit: number, message: string) {
  expect(outcome.error.code).toBe(Code.ResourceExhausted);
  expect(outcome.error.rawMessage).toBe(message);
  const [info] = outcome.error.findDetails(ErrorInfoSchema);
  expect(info?.reason).toBe("EXPORT_LIMIT_EXCEEDED");
  expect(info?.metadata.name).toBe(name);
  expect(info?.metadata.limit).toBe(String(limit));
  expect(outcome.kinds).not.toContain("summary");
}

describe("per-export limits", () => {
  let running: RunningServer;
  beforeAll(async () => {
    running = await startServer({
      maxExportRows: 1_000,
      maxExportBytes: 20_000,
      maxExportDurationMs: 1_000,
    });
  });
  afterAll(() => running.close());

  it("stops an export past MAX_EXPORT_ROWS at the batch that passes it", async () => {
    const client = createExportClient(running.baseUrl, "grpc");
    const outcome = await failing(client, [start, ...generatedBatches(1_500, WIDTH, 400)]);
    expectLimit(
      outcome,
      "max_export_rows",
      1_000,
      "the export passed 1000 rows, the most one export may carry (MAX_EXPORT_ROWS); split it into smaller exports",
    );
    const [info] = outcome.error.findDetails(ErrorInfoSchema);
    expect(info?.metadata.actual).toBe("1200");
    await eventually(() => running.server.runningExports() === 0);
  });

  it("stops an export whose file passes MAX_EXPORT_BYTES, sending no byte past it", async () => {
    const client = createExportClient(running.baseUrl, "grpc");
    const wide = Array.from({ length: 900 }, (_, index) => [
      String(index),
      "x".repeat(40),
      "y",
      "z",
    ]);
    const outcome = await failing(client, [
      start,
      { kind: { case: "batch", value: { rows: wide.map((cells) => ({ cells })) } } },
    ]);
    expectLimit(
      outcome,
      "max_export_bytes",
      20_000,
      "the file grew past 20000 bytes, the most one CSV export may produce (MAX_EXPORT_BYTES; 4 GiB less 1 MiB for XLSX); split it into smaller exports",
    );
    expect(outcome.bytes).toBeLessThanOrEqual(20_000);
    await eventually(() => running.server.runningExports() === 0);
  });

  it("stops an export running past MAX_EXPORT_DURATION_MS, even while rows trickle in", async () => {
    const client = createExportClient(running.baseUrl, "grpc");
    let sent = 0;
    async function* trickle() {
      yield start;
      for (const batch of generatedBatches(100, WIDTH, 1)) {
        yield batch;
        sent++;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    const outcome = await failing(client, trickle());
    expectLimit(
      outcome,
      "max_export_duration_ms",
      1_000,
      "the export ran longer than 1s, the most one export may (MAX_EXPORT_DURATION_MS); split it into smaller exports",
    );
    expect(sent).toBeLessThan(100);
    await eventually(() => running.server.runningExports() === 0);
    const metrics = await scrape(running.metricsUrl);
    expect(sample(metrics, "export_requests_total", { outcome: "limit_exceeded" })).toBe(3);
  });
});

describe("connection limits", () => {
  it("tells each connection MAX_STREAMS_PER_CONNECTION in its settings", async () => {
    const running = await startServer({ maxStreamsPerConnection: 3 });
    const session = connectHttp2(running.baseUrl);
    try {
      await new Promise((resolve) => session.once("remoteSettings", resolve));
      expect(session.remoteSettings.maxConcurrentStreams).toBe(3);
    } finally {
      session.close();
      await running.close();
    }
  });

  it("answers an export on a connection past MAX_CONNECTIONS with a status naming the limit", async () => {
    const running = await startServer({ maxConnections: 1 });
    try {
      const first = createExportClient(running.baseUrl, "grpc");
      const held = await holdExports(first, 1, () => running.server.runningExports());
      // A second transport opens a second connection.
      const second = createExportClient(running.baseUrl, "grpc");
      const outcome = await failing(second, [start, ...generatedBatches(10, WIDTH)]);
      expectLimit(
        outcome,
        "max_connections",
        1,
        "the server holds 1 client connections, the most it takes (MAX_CONNECTIONS); retry later or share connections",
      );
      // A refusal for want of room, as a full slot is, not a client's mistake.
      const metrics = await scrape(running.metricsUrl);
      expect(sample(metrics, "export_rejected_total", { reason: "max_connections" })).toBe(1);
      expect(sample(metrics, "export_requests_total", { outcome: "rejected" })).toBe(1);
      expect(sample(metrics, "export_requests_total", { outcome: "limit_exceeded" })).toBe(0);
      expect(await held.release()).toEqual([10n]);
    } finally {
      await running.close();
    }
  });
});

describe("connections past MAX_CONNECTIONS that open no call", () => {
  it("are closed, so they neither pile up nor keep later clients out", async () => {
    const running = await startServer({ maxConnections: 2 });
    try {
      const first = createExportClient(running.baseUrl, "grpc");
      const held = await holdExports(first, 1, () => running.server.runningExports());
      // The second connection is within the limit; the ten after it are not.
      const idle = Array.from({ length: 11 }, () => connectHttp2(running.baseUrl));
      for (const session of idle) session.on("error", () => {});
      const pastLimit = idle
        .slice(1)
        .map((session) => new Promise((resolve) => session.once("close", resolve)));
      await withTimeout(
        Promise.all(pastLimit),
        5_000,
        "idle connections past the limit stayed open",
      );
      expect(idle[0]?.closed).toBe(false);
      // Once the one within the limit goes, a new client is let in: the ten
      // past it no longer count.
      await new Promise<void>((resolve) => idle[0]?.close(() => resolve()));
      const later = createExportClient(running.baseUrl, "grpc");
      const rows = await vi.waitFor(async () => {
        const result = await collectExport(later, [start, ...generatedBatches(10, WIDTH)]);
        return result.summary.rows;
      });
      expect(rows).toBe(10n);
      expect(await held.release()).toEqual([10n]);
    } finally {
      await running.close();
    }
  });
});

describe("clients answered early while still sending", () => {
  it("leave no connection behind once they hang up, so MAX_CONNECTIONS still lets new clients in", async () => {
    const running = await startServer({ maxConnections: 3, maxConcurrentExports: 1 });
    try {
      const first = createExportClient(running.baseUrl, "grpc");
      const held = await holdExports(first, 1, () => running.server.runningExports());
      // Each sends a start and 20,000 rows, is refused (no slot) while its
      // rows are still arriving, and closes its connection. Node kept such
      // a connection open on the server's side for good (CLOSE_WAIT), and
      // counted it against the limit: the third refusal filled it.
      const frames = [start, ...generatedBatches(20_000, WIDTH)].map((message) =>
        frameOf(create(ExportRequestSchema, message)),
      );
      for (let client = 0; client < 6; client++) {
        const call = await rawCall(running.port, frames, { stopReadingAfter: 1 });
        expect(call.error?.code).toBe(Code.ResourceExhausted);
        expect(call.error?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("EXPORT_SLOTS_EXHAUSTED");
      }
      expect(await held.release()).toEqual([10n]);
      const later = createExportClient(running.baseUrl, "grpc");
      const result = await collectExport(later, [start, ...generatedBatches(10, WIDTH)]);
      expect(result.summary.rows).toBe(10n);
    } finally {
      await running.close();
    }
  });
});

describe("keepalive", () => {
  it("closes a connection whose peer never answers a ping", async () => {
    const running = await startServer({ keepaliveIntervalMs: 200, keepaliveTimeoutMs: 300 });
    try {
      // A bare TCP peer: the HTTP/2 preface and empty SETTINGS, then silence.
      const socket = connectTcp(running.port, "127.0.0.1");
      socket.on("data", () => {});
      socket.write(
        Buffer.concat([
          Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
          Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
        ]),
      );
      const closed = new Promise((resolve) => socket.once("close", resolve));
      await withTimeout(closed, 3_000, "the silent peer was not disconnected");
    } finally {
      await running.close();
    }
  });

  it("keeps a live connection open, answering its pings, across several intervals", async () => {
    const running = await startServer({ keepaliveIntervalMs: 100, keepaliveTimeoutMs: 300 });
    const session = connectHttp2(running.baseUrl);
    try {
      let pings = 0;
      session.on("ping", () => pings++);
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(pings).toBeGreaterThanOrEqual(3);
      expect(session.closed || session.destroyed).toBe(false);
    } finally {
      session.close();
      await running.close();
    }
  });
});
