import { constants } from "node:http2";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExportRequestSchema, Format } from "../../gen/export/v1/export_pb.js";
import { withTimeout } from "../support/async.js";
import { createExportClient, type RequestInit } from "../support/connect-client.js";
import { holdExports } from "../support/hold.js";
import { exportAnsweredEarly, frame, frameOf } from "../support/raw-grpc.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";
import { generatedBatches, generatedColumns } from "../support/tables.js";

/**
 * An answer sent before the client has finished sending ends with its
 * trailers and then RST_STREAM(NO_ERROR) (RFC 9113 §8.1): the client stops
 * sending and keeps the answer. A CANCEL there is read as the status by
 * gRPC C-core and by nginx (see test/interop).
 */

const request = (init: RequestInit) => frameOf(create(ExportRequestSchema, init));
const start = request({
  kind: { case: "start", value: { format: Format.CSV, columns: generatedColumns(2) } },
});
const noColumns = request({ kind: { case: "start", value: { format: Format.CSV } } });
const [fillerBatch] = generatedBatches(200, 2, 200);
const filler = request(fillerBatch as RequestInit);

let running: RunningServer;
beforeAll(async () => {
  running = await startServer({ maxMessageBytes: 16 * 1024 });
});
afterAll(() => running.close());

describe("an early answer", () => {
  it("to bad input ends with trailers, then RST_STREAM(NO_ERROR)", async () => {
    const answer = await exportAnsweredEarly(running.port, [noColumns]);
    expect(answer).toMatchObject({
      status: Code.InvalidArgument,
      message: "start.columns: at least one column is required",
      rstCode: constants.NGHTTP2_NO_ERROR,
      requestOpen: true,
    });
  });

  it("to a message over the size limit ends the same way", async () => {
    const oversized = frame(new Uint8Array(64 * 1024));
    const answer = await exportAnsweredEarly(running.port, [start, oversized]);
    expect(answer.status).toBe(Code.ResourceExhausted);
    expect(answer.message).toBe(
      "request message of 65536 bytes is larger than MAX_MESSAGE_BYTES (16384); send smaller batches",
    );
    expect(answer.rstCode).toBe(constants.NGHTTP2_NO_ERROR);
  });

  it("to an export past the slots ends the same way", async () => {
    const client = createExportClient(running.baseUrl, "grpc");
    const held = await holdExports(client, 5, () => running.server.runningExports());
    const answer = await exportAnsweredEarly(running.port, [start]);
    await held.release();
    expect(answer).toMatchObject({
      status: Code.ResourceExhausted,
      message: "all 5 export slots are in use; retry in 1s or lower your concurrency",
      rstCode: constants.NGHTTP2_NO_ERROR,
    });
  });

  it("stops a client that keeps sending after it, blocked on flow control", async () => {
    const answer = await withTimeout(
      exportAnsweredEarly(running.port, [noColumns], { keepSending: filler }),
      5_000,
      "the stream was not closed",
    );
    expect(answer.status).toBe(Code.InvalidArgument);
    expect(answer.rstCode).toBe(constants.NGHTTP2_NO_ERROR);
    await eventually(() => running.server.runningExports() === 0);
  });
});
