import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectExport, createExportClient } from "../support/connect-client.js";
import {
  BAD_INPUT_CASES,
  generateGrpcioStubs,
  runGrpcioClient,
  wrongAnswers,
} from "../support/grpcio.js";
import { holdExports } from "../support/hold.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";
import { exportMessages } from "../support/tables.js";

/**
 * gRPC C-core (Python grpcio, as Debian packages it) reads a reset that
 * overtakes the trailers as the call's status. Every early answer is made
 * hundreds of times while the client is still sending, and each must come
 * back with the exact code, message and google.rpc details.
 */

let stubs: string;
beforeAll(async () => {
  stubs = await generateGrpcioStubs();
});

async function expectHealthy(running: RunningServer) {
  await eventually(() => running.server.runningExports() === 0);
  const client = createExportClient(running.baseUrl, "grpc");
  const result = await collectExport(client, exportMessages([["1", "a", "2", "b"]]));
  expect(result.summary.rows).toBe(1n);
}

describe("Python grpcio client", () => {
  let running: RunningServer;
  beforeAll(async () => {
    running = await startServer();
  });
  afterAll(() => running.close());

  it("gets every bad-input answer exactly, 900 times", async () => {
    const tally = await runGrpcioClient(stubs, {
      target: `127.0.0.1:${running.port}`,
      cases: BAD_INPUT_CASES,
      seconds: 30,
      maxCalls: 900,
    });
    expect(wrongAnswers(tally, BAD_INPUT_CASES, 100)).toEqual([]);
    await expectHealthy(running);
  });

  it("gets the refusal of an export past the slots exactly, 500 times", async () => {
    const client = createExportClient(running.baseUrl, "grpc");
    const held = await holdExports(client, 5, () => running.server.runningExports());
    const tally = await runGrpcioClient(stubs, {
      target: `127.0.0.1:${running.port}`,
      cases: ["slots_exhausted"],
      seconds: 30,
      maxCalls: 500,
    });
    expect(await held.release()).toEqual(Array(5).fill(10n));
    expect(wrongAnswers(tally, ["slots_exhausted"], 500)).toEqual([]);
    await expectHealthy(running);
  });

  it("under load, sees every refusal as RESOURCE_EXHAUSTED with details and every file whole", async () => {
    const tally = await runGrpcioClient(stubs, {
      target: `127.0.0.1:${running.port}`,
      cases: ["exports"],
      threads: 12,
      seconds: 10,
      maxCalls: 5_000,
      rows: 3_000,
    });
    console.log(
      `grpcio load: ${tally.ok?.calls ?? 0} exports completed, ${tally.refused?.calls ?? 0} refused`,
    );
    expect(wrongAnswers(tally, ["ok", "refused"], 10)).toEqual([]);
    await expectHealthy(running);
  });
});

describe("Python grpcio client, with request metadata past HTTP/2's limits", () => {
  it("gets RESOURCE_EXHAUSTED for 200 entries, and UNAVAILABLE within the keepalive for a 70,000-byte value", async () => {
    // Pings every 0.5 s, answered within 2 s by a healthy client even on a
    // busy machine; the oversized value's calls must end within 4 s.
    const running = await startServer({ keepaliveIntervalMs: 500, keepaliveTimeoutMs: 2_000 });
    try {
      const cases = ["too_many_metadata", "metadata_value_over_64k"];
      const tally = await runGrpcioClient(stubs, {
        target: `127.0.0.1:${running.port}`,
        cases,
        seconds: 60,
        maxCalls: 14,
      });
      expect(wrongAnswers(tally, cases, 5)).toEqual([]);
      await expectHealthy(running);
    } finally {
      await running.close();
    }
  });
});

describe("Python grpcio client, while the server shuts down", () => {
  it("gets UNAVAILABLE for every new export, 200 times", async () => {
    const running = await startServer({ shutdownGraceMs: 60_000 });
    const client = createExportClient(running.baseUrl, "grpc");
    // One running export keeps the server draining while the client calls.
    const held = await holdExports(client, 1, () => running.server.runningExports());
    const closed = running.server.close();
    const tally = await runGrpcioClient(stubs, {
      target: `127.0.0.1:${running.port}`,
      cases: ["shutting_down"],
      seconds: 30,
      maxCalls: 200,
    });
    expect(await held.release()).toEqual([10n]);
    await closed;
    expect(wrongAnswers(tally, ["shutting_down"], 200)).toEqual([]);
  });
});
