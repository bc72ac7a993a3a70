import { randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { collectExport, createExportClient } from "../support/connect-client.js";
import { expectInvalidArgument, failedExport } from "../support/expect-error.js";
import { createGrpcJsClient, grpcJsExport } from "../support/grpc-js-client.js";
import {
  BAD_INPUT_CASES,
  generateGrpcioStubs,
  runGrpcioClient,
  wrongAnswers,
} from "../support/grpcio.js";
import { holdExports } from "../support/hold.js";
import { type RunningNginx, startNginx } from "../support/nginx.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";
import { exportMessages } from "../support/tables.js";

/**
 * nginx's grpc_pass (Debian nginx-light, deploy/nginx's configuration)
 * drops an answer that a reset overtakes, and counts the upstream as
 * failed: every early status must reach the client through it intact.
 */

/** What nginx logs when an upstream resets or cuts a stream short. */
const UPSTREAM_FAILURE = /upstream (rejected|prematurely|sent)/;

let running: RunningServer;
let nginx: RunningNginx;
let stubs: string;
beforeAll(async () => {
  running = await startServer();
  nginx = await startNginx([running.port]);
  stubs = await generateGrpcioStubs();
});
afterAll(async () => {
  await nginx?.stop();
  await running?.close();
});

async function expectHealthyThroughNginx() {
  await eventually(() => running.server.runningExports() === 0);
  const client = createExportClient(nginx.baseUrl, "grpc");
  const result = await collectExport(client, exportMessages([["1", "a", "2", "b"]]));
  expect(result.summary.rows).toBe(1n);
  expect(await nginx.errorLog()).not.toMatch(UPSTREAM_FAILURE);
}

describe("behind nginx grpc_pass", () => {
  it("passes every bad-input answer on exactly, 900 times, with no upstream reset", async () => {
    const tally = await runGrpcioClient(stubs, {
      target: `127.0.0.1:${nginx.port}`,
      cases: BAD_INPUT_CASES,
      seconds: 40,
      maxCalls: 900,
    });
    expect(wrongAnswers(tally, BAD_INPUT_CASES, 100)).toEqual([]);
    const client = createExportClient(nginx.baseUrl, "grpc");
    await expectInvalidArgument(
      client,
      [{ kind: { case: "start", value: { columns: [{ key: "id" }] } } }],
      "start.format",
      "format is required: FORMAT_CSV, FORMAT_PDF or FORMAT_XLSX",
    );
    await expectHealthyThroughNginx();
  });

  it("passes every refusal on with ErrorInfo and RetryInfo, 300 times, with no upstream reset", async () => {
    const client = createExportClient(nginx.baseUrl, "grpc");
    const held = await holdExports(client, 5, () => running.server.runningExports());

    const { error } = await failedExport(client, exportMessages([["1", "a", "2", "b"]]));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toBe(
      "all 5 export slots are in use; retry in 1s or lower your concurrency",
    );
    const [info] = error.findDetails(ErrorInfoSchema);
    expect({ ...info, $typeName: undefined }).toEqual({
      $typeName: undefined,
      reason: "EXPORT_SLOTS_EXHAUSTED",
      domain: "export.v1",
      metadata: { limit: "5" },
    });
    expect(error.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds).toBe(1n);

    const tally = await runGrpcioClient(stubs, {
      target: `127.0.0.1:${nginx.port}`,
      cases: ["slots_exhausted"],
      seconds: 40,
      maxCalls: 300,
    });
    expect(await held.release()).toEqual(Array(5).fill(10n));
    expect(wrongAnswers(tally, ["slots_exhausted"], 300)).toEqual([]);
    await expectHealthyThroughNginx();
  });

  it("passes request metadata the servers take, and refuses more itself without failing a replica", async () => {
    const client = createGrpcJsClient(nginx.port);
    const exportWith = (fields: Record<string, string>) => {
      const metadata = new grpc.Metadata();
      for (const [key, value] of Object.entries(fields)) metadata.set(key, value);
      return grpcJsExport(
        client,
        [
          { start: { format: "FORMAT_CSV", columns: [{ key: "id" }] } },
          { batch: { rows: [{ cells: ["1"] }] } },
        ],
        { deadline: Date.now() + 10_000 },
        metadata,
      );
    };
    const random = (chars: number) => randomBytes((chars * 3) / 4).toString("base64");
    try {
      // nginx's default buffers refused a field past about 8 KB.
      const large = await exportWith({ authorization: `Bearer ${random(60_000)}` });
      expect(large.data.toString()).toBe("id\r\n1\r\n");
      // 200,000 characters: more than a server takes, which would close
      // nginx's connection to it and count as the replica failing.
      const tooLarge = await exportWith(
        Object.fromEntries([0, 1, 2, 3].map((i) => [`x-large-${i}`, random(50_000)])),
      ).then(
        () => undefined,
        (error: grpc.ServiceError) => error.code,
      );
      expect(tooLarge).toBe(grpc.status.RESOURCE_EXHAUSTED);
    } finally {
      client.close();
    }
    await expectHealthyThroughNginx();
  });
});
