import type { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import type { ColumnSpec } from "../../src/render/renderer.js";
import { answerDeflate, startWorker } from "../../src/render/threads/pool.js";
import type { FromRenderThread, ToRenderThread } from "../../src/render/threads/protocol.js";
import { pdfJob } from "../support/pdf.js";

const COLUMNS: ColumnSpec[] = [
  { key: "a", title: "A", kind: "text", width: undefined },
  { key: "b", title: "B", kind: "text", width: undefined },
];
// Enough rows for several pages, so several deflates are asked for.
const ROWS = Array.from({ length: 300 }, (_, index) => [`row ${index}`, "cell"]);

let thread: Worker | undefined;
afterEach(async () => {
  await thread?.terminate();
  thread = undefined;
});

/**
 * Plays the main thread's part for one export on a real render thread that
 * hands its pages over to be deflated: the rows, a credit for each chunk,
 * and to each request for deflates the main thread's own answer, its pages
 * deflated by `deflate` (the service's deflate when not given). Resolves
 * with how the export ended.
 */
function exportOn(
  worker: Worker,
  id: number,
  deflate?: (content: Uint8Array) => Uint8Array,
): Promise<{ readonly outcome: FromRenderThread; readonly file: Buffer }> {
  const chunks: Uint8Array[] = [];
  return new Promise((resolve, reject) => {
    const onMessage = (message: FromRenderThread) => {
      if (message.type === "deflate") {
        answerDeflate(worker, message.first, message.contents, deflate);
        return;
      }
      if (message.id !== id) return;
      if (message.type === "chunk") {
        chunks.push(message.data);
        worker.postMessage({ type: "credit", id } satisfies ToRenderThread);
      } else if (message.type === "done" || message.type === "failed") {
        worker.off("message", onMessage);
        resolve({ outcome: message, file: Buffer.concat(chunks) });
      }
    };
    worker.on("message", onMessage);
    worker.once("error", reject);
    const send = (message: ToRenderThread) => worker.postMessage(message);
    send({ type: "start", id, job: pdfJob(COLUMNS, { title: "Deflates" }) });
    for (let i = 0; i < ROWS.length; i += 100) {
      send({ type: "block", id, block: ROWS.slice(i, i + 100) });
    }
    send({ type: "end", id });
  });
}

describe("a render thread whose pages the main thread deflates", () => {
  it("fails the export whose pages could not be deflated, with the reason, and renders the next one whole", async () => {
    thread = startWorker({ pdf: {}, mainThreadDeflates: true });
    let deflatesTried = 0;
    const failed = await exportOn(thread, 1, () => {
      deflatesTried++;
      throw new Error("zlib ran out");
    });
    expect(deflatesTried).toBeGreaterThan(0);
    expect(failed.outcome).toEqual({
      type: "failed",
      id: 1,
      message: "deflating a page failed: zlib ran out",
    });

    const whole = await exportOn(thread, 2);
    expect(whole.outcome).toEqual({ type: "done", id: 2 });
    const text = whole.file.toString("latin1");
    expect(text.startsWith("%PDF-")).toBe(true);
    expect(text.trimEnd().endsWith("%%EOF")).toBe(true);
    expect(text.match(/\/Type \/Page\b/g)?.length).toBeGreaterThan(1);
  });
});
