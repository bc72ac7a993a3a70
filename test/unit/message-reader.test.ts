import type { MessagePort, Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { IdleTimeoutError } from "../../src/export/errors.js";
import { createMessageReader } from "../../src/export/input.js";
import { holdUp, nextMessage, startSender } from "../support/held-up.js";

const IDLE_MS = 50;

async function* arriving(port: MessagePort): AsyncGenerator<unknown> {
  for (;;) yield await nextMessage(port);
}

let workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.map((worker) => worker.terminate()));
  workers = [];
});

async function readerOf(sendDelayMs: number) {
  const { port, worker } = await startSender(sendDelayMs);
  workers.push(worker);
  const reader = createMessageReader(arriving(port), {
    idleMs: IDLE_MS,
    signal: new AbortController().signal,
    clientGone: () => false,
  });
  return { port, reader };
}

describe("message reader", () => {
  it("takes a message that arrived while this process was held up past the idle limit", async () => {
    const { port, reader } = await readerOf(10);
    const read = reader.next();
    port.postMessage("go");
    holdUp(4 * IDLE_MS);
    await expect(read).resolves.toEqual({ done: false, value: "sent" });
    reader.return();
    port.close();
  });

  it("still gives up on a client that sends nothing for the idle limit", async () => {
    const { port, reader } = await readerOf(4 * IDLE_MS);
    const read = reader.next();
    port.postMessage("go");
    await expect(read).rejects.toBeInstanceOf(IdleTimeoutError);
    reader.return();
    port.close();
  });
});
