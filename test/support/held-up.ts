import { MessageChannel, type MessagePort, Worker } from "node:worker_threads";

/**
 * A thread that posts "sent" on its port `delayMs` after each message it
 * gets: an event from outside that, like socket data, reaches this thread
 * through the event loop's poll for I/O.
 */
export async function startSender(delayMs: number): Promise<{ port: MessagePort; worker: Worker }> {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(
    `
    const { workerData } = require("node:worker_threads");
    const { port, delayMs } = workerData;
    port.on("message", () => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delayMs);
      port.postMessage("sent");
    });
    port.postMessage("ready");
    `,
    { eval: true, workerData: { port: port2, delayMs }, transferList: [port2] },
  );
  await new Promise((resolve) => port1.once("message", resolve));
  return { port: port1, worker };
}

/** The port's next message. */
export const nextMessage = (port: MessagePort): Promise<unknown> =>
  new Promise((resolve) => port.once("message", resolve));

/**
 * Keeps this thread busy for `ms`, as a long pause or a starved CPU would,
 * from a phase of the event loop of its own: held up inside a port's
 * callback, the port would hand over what arrived meanwhile before any
 * timer ran.
 */
export function holdUp(ms: number) {
  setImmediate(() => {
    const until = performance.now() + ms;
    while (performance.now() < until);
  });
}
