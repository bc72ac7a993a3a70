import { connect } from "node:http2";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ExportRequestSchema, Format } from "../../gen/export/v1/export_pb.js";
import { gate } from "../support/async.js";
import { collectExport, createExportClient, type RequestInit } from "../support/connect-client.js";
import { sample, scrape } from "../support/metrics.js";
import { frame, frameOf, rawExport, stalledExport } from "../support/raw-grpc.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";
import { exportMessages, generatedBatches, generatedColumns } from "../support/tables.js";

const WIDTH = 4;
const idleTimeouts = { format: "csv", outcome: "idle_timeout" };
const request = (init: RequestInit) => create(ExportRequestSchema, init);
const start = request({
  kind: { case: "start", value: { format: Format.CSV, columns: generatedColumns(WIDTH) } },
});

let running: RunningServer;
beforeAll(async () => {
  running = await startServer({ idleTimeoutMs: 500 });
});
afterAll(() => running.close());

async function expectHealthy() {
  await eventually(() => running.server.runningExports() === 0);
  const client = createExportClient(running.baseUrl, "grpc");
  const result = await collectExport(client, exportMessages([["1", "a", "2", "b"]]));
  expect(result.summary.rows).toBe(1n);
}

/** Batches sent until `stop` says so, 5 ms apart: a client still sending. */
async function* sendingUntil(stop: () => boolean) {
  yield frameOf(start);
  for (const batch of generatedBatches(1_000_000, WIDTH, 50)) {
    if (stop()) return;
    yield frameOf(request(batch));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("malformed request messages", () => {
  it("answers a truncated message with INVALID_ARGUMENT", async () => {
    const truncated = frame(Buffer.from([0x0a, 0x10, 0x08]));
    const result = await rawExport(running.port, [truncated]);
    expect(result.status).toBe(Code.InvalidArgument);
    expect(result.message).toMatch(/^request: malformed request message: .*premature EOF/);
    await expectHealthy();
  });

  it("answers invalid UTF-8 in a cell with INVALID_ARGUMENT", async () => {
    // RowBatch{rows: [Row{cells: ["\xff\xfe"]}]} inside ExportRequest.batch
    const badCell = Buffer.from([0x12, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe]);
    const result = await rawExport(running.port, [frameOf(start), frame(badCell)]);
    expect(result.status).toBe(Code.InvalidArgument);
    expect(result.message).toMatch(/^request: malformed request message: .*utf-8/i);
    await expectHealthy();
  });

  it("answers a JSON cell nested past the depth limit with INVALID_ARGUMENT", async () => {
    let value: object = { kind: { case: "stringValue", value: "deep" } };
    for (let depth = 0; depth < 200; depth++) {
      value = { kind: { case: "listValue", value: { values: [value] } } };
    }
    const batch = request({
      kind: { case: "batch", value: { jsonRows: [{ values: [value, value, value, value] }] } },
    } as RequestInit);
    const result = await rawExport(running.port, [frameOf(start), frameOf(batch)]);
    expect(result.status).toBe(Code.InvalidArgument);
    expect(result.message).toMatch(/^request: malformed request message: .*depth/);
    await expectHealthy();
  });
});

describe("a compressed request to a server that takes none", () => {
  it("gets UNIMPLEMENTED, counted and logged as the client's error, not the server's", async () => {
    const lines: string[] = [];
    const plain = await startServer({ compression: "none" }, lines);
    try {
      const payload = gzipSync(toBinary(ExportRequestSchema, start));
      const compressed = Buffer.concat([Buffer.from([1, 0, 0, 0, 0]), payload]);
      compressed.writeUInt32BE(payload.length, 1);
      const outcomes = () =>
        Promise.all(
          (["invalid_argument", "internal"] as const).map(
            async (outcome) =>
              sample(await scrape(plain.metricsUrl), "export_requests_total", { outcome }) ?? 0,
          ),
        );
      const before = await outcomes();
      const result = await rawExport(plain.port, [compressed], {
        "grpc-encoding": "gzip",
        "grpc-accept-encoding": "gzip",
      });
      expect(result.status).toBe(Code.Unimplemented);
      expect(result.message).toBe(
        'requests compressed as "gzip" are not taken: this server takes uncompressed requests only',
      );
      await vi.waitFor(async () => {
        const after = await outcomes();
        expect(after.map((count, i) => count - (before[i] ?? 0))).toEqual([1, 0]);
      });
      const entry = lines.map((line) => JSON.parse(line) as { level: number; outcome?: string });
      expect(entry.find((logged) => logged.outcome !== undefined)).toMatchObject({
        level: 40,
        outcome: "invalid_argument",
      });
    } finally {
      await plain.close();
    }
  });
});

describe("a request compressed in an encoding the server does not know", () => {
  it("gets UNIMPLEMENTED naming what it takes, with the client's name cut short", async () => {
    const zipping = await startServer({ compression: "gzip" });
    try {
      const result = await rawExport(zipping.port, [frameOf(start)], {
        "grpc-encoding": `br${"r".repeat(500)}`,
      });
      expect(result.status).toBe(Code.Unimplemented);
      expect(result.message).toBe(
        `requests compressed as "br${"r".repeat(38)}"… are not taken: this server takes gzip or uncompressed`,
      );
      expect(result.trailers["grpc-accept-encoding"]).toBe("gzip");
      await eventually(() => zipping.server.runningExports() === 0);
    } finally {
      await zipping.close();
    }
  });
});

describe("a deadline header that is not one", () => {
  it("gets INVALID_ARGUMENT naming the header and its form, not the request message", async () => {
    const cases = [
      {
        headers: { "grpc-timeout": `12x${"9".repeat(500)}` },
        message: `grpc-timeout: the header is "12x${"9".repeat(37)}"…; a deadline is 1 to 8 digits and a unit, one of H, M, S, m, u and n (30S is 30 seconds)`,
      },
      {
        headers: { "grpc-timeout": "123456789S" },
        message:
          'grpc-timeout: the header is "123456789S"; a deadline is 1 to 8 digits and a unit, one of H, M, S, m, u and n (30S is 30 seconds)',
      },
    ];
    for (const { headers, message } of cases) {
      const result = await rawExport(running.port, [frameOf(start)], headers);
      expect(result.status).toBe(Code.InvalidArgument);
      expect(result.message).toBe(message);
    }
    // The Connect protocol's own header; its status is the last frame's JSON.
    const session = connect(running.baseUrl);
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/export.v1.ExportService/Export",
        "content-type": "application/connect+proto",
        "connect-protocol-version": "1",
        "connect-timeout-ms": "30s",
      });
      stream.end(frameOf(start));
      const body: Buffer[] = [];
      for await (const data of stream) body.push(data as Buffer);
      const frames = Buffer.concat(body);
      expect(frames[0]).toBe(2);
      expect(JSON.parse(frames.subarray(5).toString()).error).toMatchObject({
        code: "invalid_argument",
        message:
          'connect-timeout-ms: the header is "30s"; a deadline is 1 to 10 digits, in milliseconds',
      });
    } finally {
      session.close();
    }
    await expectHealthy();
  });
});

describe("a compressed request that grows past MAX_MESSAGE_BYTES", () => {
  it("gets RESOURCE_EXHAUSTED naming the setting, where 4 KiB of gzip would become 4 MiB", async () => {
    const zipping = await startServer({ compression: "gzip" });
    try {
      const cells = ["x".repeat(1_000_000), "", "", ""];
      const bomb = gzipSync(
        toBinary(
          ExportRequestSchema,
          request({ kind: { case: "batch", value: { rows: Array(4).fill({ cells }) } } }),
        ),
      );
      expect(bomb.length).toBeLessThan(16 * 1024);
      const compressed = Buffer.concat([Buffer.from([1, 0, 0, 0, 0]), bomb]);
      compressed.writeUInt32BE(bomb.length, 1);
      const result = await rawExport(zipping.port, [frameOf(start), compressed], {
        "grpc-encoding": "gzip",
        "grpc-accept-encoding": "gzip",
      });
      expect(result.status).toBe(Code.ResourceExhausted);
      expect(result.message).toBe(
        "request message is larger than MAX_MESSAGE_BYTES (1048576) once decompressed; send smaller batches",
      );
      await eventually(() => zipping.server.runningExports() === 0);
    } finally {
      await zipping.close();
    }
  });
});

describe("JSON request messages the decoder refuses", () => {
  it("answers a cell of the wrong type with INVALID_ARGUMENT, and the log holds none of the data the reason quotes", async () => {
    const lines: string[] = [];
    const logged = await startServer({}, lines);
    const json = (message: unknown) =>
      frame(Buffer.from(typeof message === "string" ? message : JSON.stringify(message)));
    const jsonStart = json({
      start: { format: "FORMAT_CSV", columns: [{ key: "name" }, { key: "card" }] },
    });
    const batches = [
      json({ batch: { rows: [{ cells: ["Ada", 4111111111111111] }] } }),
      json({ batch: { rows: [{ cells: ["x", "y"], nullCells: ["078-05-1120"] }] } }),
      json('{"batch":{"rows":[{"cells":["Ada","4111 1111 1111 1111", x]}]}}'),
    ];
    try {
      const messages: string[] = [];
      for (const batch of batches) {
        const result = await rawExport(logged.port, [jsonStart, batch], {
          "content-type": "application/grpc+json",
        });
        expect(result.status).toBe(Code.InvalidArgument);
        messages.push(result.message);
      }
      // The client hears its decoder's whole reason, its own data included.
      expect(messages[0]).toContain("got 4111111111111111");
      expect(messages[1]).toContain('got "078-05-1120"');
      expect(messages[2]).toContain("1111");
      await eventually(() => lines.filter((line) => line.includes("export_finished")).length === 3);
      const reasons = lines
        .map((line) => JSON.parse(line) as { event?: string; reason?: string })
        .filter((entry) => entry.event === "export_finished")
        .map((entry) => entry.reason);
      expect(reasons).toEqual([
        "request: malformed request message: cannot decode field export.v1.Row.cells from JSON (the rest quotes the request's data)",
        "request: malformed request message: cannot decode field export.v1.Row.null_cells from JSON (the rest quotes the request's data)",
        "request: malformed request message: cannot decode message export.v1.ExportRequest from JSON (the rest quotes the request's data)",
      ]);
      for (const data of ["4111", "078-05-1120", "Ada"])
        expect(lines.join("\n")).not.toContain(data);
    } finally {
      await logged.close();
    }
  });
});

describe("deadlines further away than Node's timers reach", () => {
  it("are no deadline, not one that passes at once (grpc-js sends 30 days as 2592000S)", async () => {
    const batch = frameOf(request(generatedBatches(3, WIDTH).next().value as RequestInit));
    // Rows a moment after the start: time for a deadline to pass.
    async function* slowly() {
      yield frameOf(start);
      await new Promise((resolve) => setTimeout(resolve, 100));
      yield batch;
    }
    for (const timeout of ["2592000S", "597H"]) {
      const result = await rawExport(running.port, slowly(), { "grpc-timeout": timeout });
      expect(result.status).toBe(0);
      expect(result.kinds.at(-1)).toBe("summary");
    }
    await expectHealthy();
  });
});

describe("calls that end while rows are still coming", () => {
  it("a passed deadline gets DEADLINE_EXCEEDED from the server and never a summary", async () => {
    let done = false;
    const result = await rawExport(
      running.port,
      sendingUntil(() => done),
      { "grpc-timeout": "200m" },
    ).finally(() => {
      done = true;
    });
    expect(result.status).toBe(Code.DeadlineExceeded);
    expect(result.kinds).not.toContain("summary");
    await expectHealthy();
  });

  it("a client that stops reading loses its slot after the idle timeout", async () => {
    const stalled = stalledExport(running.port, [
      frameOf(start),
      ...[...generatedBatches(20_000, WIDTH, 1_000)].map((batch) => frameOf(request(batch))),
    ]);
    const before = await scrape(running.metricsUrl);
    const idleBefore = sample(before, "export_requests_total", idleTimeouts) ?? 0;
    await stalled.blocked;
    expect(running.server.runningExports()).toBe(1);
    // Other calls on the same connection keep it busy: the stalled stream
    // must be caught all the same.
    let checking = true;
    const checks = (async () => {
      while (checking) {
        await stalled.healthCheck();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const stalledAt = Date.now();
    await eventually(() => running.server.runningExports() === 0, 5_000);
    checking = false;
    await checks;
    expect(Date.now() - stalledAt).toBeLessThan(2_000);
    await eventually(() => stalled.rstCode() !== undefined);
    const after = await scrape(running.metricsUrl);
    expect(sample(after, "export_requests_total", idleTimeouts)).toBe(idleBefore + 1);
    stalled.close();
    await expectHealthy();
  });

  it("a deadline passing before any row arrives ends the export then, not at the idle timeout", async () => {
    const silent = gate();
    const startedAt = Date.now();
    const result = await rawExport(
      running.port,
      (async function* () {
        yield frameOf(start);
        await silent.opened;
      })(),
      { "grpc-timeout": "150m" },
    );
    silent.open();
    expect(result.status).toBe(Code.DeadlineExceeded);
    expect(result.message).not.toMatch(/no request message/);
    expect(Date.now() - startedAt).toBeLessThan(450);
    await expectHealthy();
  });
});

describe("shutdown", () => {
  it("refuses new exports with UNAVAILABLE and ends running ones after the grace period", async () => {
    const server = await startServer({ shutdownGraceMs: 300 });
    let done = false;
    const held = rawExport(
      server.port,
      sendingUntil(() => done),
    ).finally(() => {
      done = true;
    });
    await eventually(() => server.server.runningExports() === 1);
    const closing = server.server.close();

    // Until the grace period ends the port stays open, and a new export is
    // told to go elsewhere.
    const refused = await rawExport(server.port, [frameOf(start)]);
    expect(refused.status).toBe(Code.Unavailable);
    expect(refused.message).toBe("the server is shutting down; retry on another instance");
    const result = await held;
    expect(result.status).toBe(Code.Unavailable);
    expect(result.kinds[0]).toBe("header");
    expect(result.kinds).not.toContain("summary");
    await closing;
    expect(server.server.runningExports()).toBe(0);
  });

  it("cuts off a client that reads nothing a moment after the grace period, not a second grace period later", async () => {
    const graceMs = 4_000;
    const server = await startServer({ shutdownGraceMs: graceMs, idleTimeoutMs: 60_000 });
    const batches = [...generatedBatches(20_000, WIDTH, 1_000)].map((batch) =>
      frameOf(request(batch)),
    );
    const stalled = stalledExport(server.port, [frameOf(start), ...batches]);
    await stalled.blocked;
    const startedAt = performance.now();
    await server.server.close();
    const closedInMs = performance.now() - startedAt;
    // It used to wait a whole second grace period for the stalled client.
    expect(closedInMs).toBeGreaterThanOrEqual(graceMs - 50);
    expect(closedInMs).toBeLessThan(graceMs + 2_500);
    expect(server.server.runningExports()).toBe(0);
  }, 20_000);
});
