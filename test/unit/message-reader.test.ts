import { afterEach, describe, expect, it } from "vitest";
import { IdleTimeoutError } from "../../src/export/errors.js";
import { createMessageReader, type MessageReader } from "../../src/export/input.js";
import { holdUp, nextMessage, type Sender, startSender } from "../support/held-up.js";

const IDLE_MS = 100;

let cleanups: (() => unknown)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.map((cleanup) => cleanup()));
  cleanups = [];
});

/** A reader of what `sender` posts, as the export reads a client's messages. */
async function readerOfSender(): Promise<{ sender: Sender; reader: MessageReader<unknown> }> {
  const sender = await startSender();
  async function* arriving(): AsyncGenerator<unknown> {
    for (;;) yield await nextMessage(sender.port);
  }
  const reader = createMessageReader(arriving(), {
    idleMs: IDLE_MS,
    signal: new AbortController().signal,
    clientGone: () => false,
  });
  cleanups.push(
    () => reader.return(),
    () => sender.close(),
  );
  return { sender, reader };
}

describe("message reader", () => {
  it("takes a message that arrived while this process was held up past the idle limit", async () => {
    const { sender, reader } = await readerOfSender();
    const read = reader.next();
    sender.send(10);
    holdUp(3 * IDLE_MS, { until: sender.posted });
    await expect(read).resolves.toEqual({ done: false, value: "sent" });
  });

  it("gives a client a full idle limit again after this process was held up past it", async () => {
    // As the rest of a message that waits on the flow-control window the
    // server opens only once it runs again.
    const { sender, reader } = await readerOfSender();
    const read = reader.next();
    holdUp(3 * IDLE_MS, { after: () => sender.send(IDLE_MS / 5) });
    await expect(read).resolves.toEqual({ done: false, value: "sent" });
  });

  it("still gives up on a client that sends nothing for the idle limit", async () => {
    const { sender, reader } = await readerOfSender();
    const read = reader.next();
    sender.send(10 * IDLE_MS);
    await expect(read).rejects.toBeInstanceOf(IdleTimeoutError);
  });

  it("gives up after a hold-up when the client stays silent for the idle limit after it", async () => {
    const { sender, reader } = await readerOfSender();
    const read = reader.next();
    holdUp(3 * IDLE_MS, { after: () => sender.send(10 * IDLE_MS) });
    await expect(read).rejects.toBeInstanceOf(IdleTimeoutError);
  });
});
