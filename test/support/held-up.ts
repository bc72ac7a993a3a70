import { MessageChannel, type MessagePort, Worker } from "node:worker_threads";

/**
 * A thread that posts "sent" on its port `delayMs` after each `delayMs` it
 * is sent: an event from outside that, like socket data, reaches this
 * thread through the event loop's poll for I/O. `posted()` says whether it
 * has posted since the last ask, and can be read while this thread is busy.
 */
export interface Sender {
  readonly port: MessagePort;
  send(delayMs: number): void;
  posted(): boolean;
  close(): Promise<void>;
}

export async function startSender(): Promise<Sender> {
  const { port1, port2 } = new MessageChannel();
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `
    const { workerData } = require("node:worker_threads");
    const { port, flag } = workerData;
    port.on("message", (delayMs) => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delayMs);
      port.postMessage("sent");
      Atomics.store(flag, 0, 1);
    });
    port.postMessage("ready");
    `,
    { eval: true, workerData: { port: port2, flag }, transferList: [port2] },
  );
  await new Promise((resolve) => port1.once("message", resolve));
  return {
    port: port1,
    send(delayMs) {
      Atomics.store(flag, 0, 0);
      port1.postMessage(delayMs);
    },
    posted: () => Atomics.load(flag, 0) === 1,
    async close() {
      port1.close();
      await worker.terminate();
    },
  };
}

/** The port's next message. */
export const nextMessage = (port: MessagePort): Promise<unknown> =>
  new Promise((resolve) => port.once("message", resolve));

/** The longest a hold-up waits for its condition, so a broken sender fails the test, not hangs it. */
const MAX_HOLD_UP_MS = 10_000;

/**
 * Keeps this thread busy for at least `ms`, and until `until()` holds, as
 * a long pause or a starved CPU would; then runs `after`. It starts in a
 * phase of the event loop of its own: held up inside a port's callback, the
 * port would hand over what arrived meanwhile before any timer ran.
 */
export function holdUp(
  ms: number,
  { until = () => true, after = () => {} }: { until?: () => boolean; after?: () => void } = {},
) {
  setImmediate(() => {
    const startedAt = performance.now();
    for (;;) {
      const held = performance.now() - startedAt;
      if ((held >= ms && until()) || held >= MAX_HOLD_UP_MS) break;
    }
    after();
  });
}
