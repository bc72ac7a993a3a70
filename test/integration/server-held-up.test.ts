import { type ChildProcess, fork } from "node:child_process";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { ExportRequestSchema, Format } from "../../gen/export/v1/export_pb.js";
import { holdUp } from "../support/held-up.js";
import { frameOf } from "../support/raw-grpc.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";
import { generatedBatches, generatedColumns } from "../support/tables.js";

/**
 * A server held up for longer than IDLE_TIMEOUT_MS (a long pause, a
 * starved CPU) while its client goes on sending or reading must not blame
 * the client: what the client did meanwhile, even what needs the flow
 * control window the server opens only once it runs again, counts.
 */

const WIDTH = 4;
const start = frameOf(
  create(ExportRequestSchema, {
    kind: { case: "start", value: { format: Format.CSV, columns: generatedColumns(WIDTH) } },
  }),
);
const framesOf = (rows: number, batchRows: number) =>
  [...generatedBatches(rows, WIDTH, batchRows)].map((batch) =>
    frameOf(create(ExportRequestSchema, batch)),
  );
const base64 = (frames: Buffer[]) => frames.map((frame) => frame.toString("base64"));

interface Done {
  readonly status: number | undefined;
  readonly message?: string;
  readonly received: number;
}

function childClient(baseUrl: string) {
  const child = fork(new URL("../support/h2-child-client.mjs", import.meta.url).pathname, [
    baseUrl,
  ]);
  const next = <T>(type: string) =>
    new Promise<T>((resolve) => {
      const onMessage = (message: { type: string }) => {
        if (message.type !== type) return;
        child.off("message", onMessage);
        resolve(message as T);
      };
      child.on("message", onMessage);
    });
  return { child, next };
}

let running: RunningServer | undefined;
let child: ChildProcess | undefined;
afterEach(async () => {
  child?.kill();
  await running?.close();
  running = child = undefined;
});

/**
 * A server with `idleTimeoutMs`, and a client in its own process whose
 * Export call is open and holds a slot: `frames` sent, ended or not,
 * reading or not.
 */
async function openExport(
  idleTimeoutMs: number,
  open: { frames: Buffer[]; end: boolean; paused?: boolean },
) {
  running = await startServer({ idleTimeoutMs });
  const client = childClient(running.baseUrl);
  child = client.child;
  await client.next("ready");
  child.send({ type: "open", ...open, frames: base64(open.frames) });
  await client.next("opened");
  await eventually(() => running?.server.runningExports() === 1);
  return { child, done: () => client.next<Done>("done") };
}

describe("a server held up past IDLE_TIMEOUT_MS", () => {
  it("takes a batch larger than the flow-control window that its client sent meanwhile", async () => {
    const idleTimeoutMs = 200;
    const client = await openExport(idleTimeoutMs, { frames: [start], end: false });
    const batch = framesOf(2_000, 2_000);
    expect(batch[0]?.length).toBeGreaterThan(65_535);
    const done = client.done();
    client.child.send({ type: "send", frames: base64(batch), delayMs: 20 });
    holdUp(3.5 * idleTimeoutMs);
    expect(await done).toMatchObject({ status: 0 });
  });

  it("keeps writing to a client that went on reading meanwhile", async () => {
    const idleTimeoutMs = 1_000;
    // A client that reads nothing yet, until the server's writes wait on it.
    const client = await openExport(idleTimeoutMs, {
      frames: [start, ...framesOf(20_000, 1_000)],
      end: true,
      paused: true,
    });
    await new Promise((resolve) => setTimeout(resolve, idleTimeoutMs / 2));
    const done = client.done();
    client.child.send({ type: "resume", delayMs: 20 });
    holdUp(2 * idleTimeoutMs);
    expect(await done).toMatchObject({ status: 0 });
  });
});
