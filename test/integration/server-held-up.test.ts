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
 * starved CPU) must not blame its client: what the client sent meanwhile,
 * even what needs the flow-control window the server opens only once it
 * runs again, counts, and a client gets the time once more to read.
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

/** The client process; `next` fails if it reports an error or exits first. */
function childClient(baseUrl: string) {
  const child = fork(new URL("../support/h2-child-client.mjs", import.meta.url).pathname, [
    baseUrl,
  ]);
  const next = <T>(type: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (message: { type: string; message?: string }) => {
        if (message.type === "error") reject(new Error(`client: ${message.message}`));
        if (message.type !== type) return;
        child.off("message", onMessage);
        child.off("exit", onExit);
        resolve(message as T);
      };
      const onExit = (code: number | null) => reject(new Error(`client exited (${code})`));
      child.on("message", onMessage);
      child.once("exit", onExit);
    });
  return { child, next };
}

let running: RunningServer | undefined;
let child: ChildProcess | undefined;
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child?.once("exit", resolve));
    child.kill();
    await exited;
  }
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
    const idleTimeoutMs = 500;
    const batch = base64(framesOf(2_000, 2_000));
    expect(Buffer.from(batch[0] ?? "", "base64").length).toBeGreaterThan(65_535);
    const client = await openExport(idleTimeoutMs, { frames: [start], end: false });
    const done = client.done();
    client.child.send({ type: "send", frames: batch, delayMs: 20 });
    // Just past the limit: a server held up a little too long counts too.
    holdUp(1.2 * idleTimeoutMs);
    expect(await done).toMatchObject({ status: 0 });
  });

  it("keeps writing to a client that reads again once the server runs again", async () => {
    const idleTimeoutMs = 1_000;
    // A client that reads nothing yet, until the server's writes wait on it.
    const client = await openExport(idleTimeoutMs, {
      frames: [start, ...framesOf(20_000, 1_000)],
      end: true,
      paused: true,
    });
    await new Promise((resolve) => setTimeout(resolve, idleTimeoutMs / 2));
    const done = client.done();
    holdUp(2 * idleTimeoutMs, { after: () => client.child.send({ type: "resume", delayMs: 50 }) });
    expect(await done).toMatchObject({ status: 0 });
  });
});
