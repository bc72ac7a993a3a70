import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { PdfRendererOptions } from "../pdf/index.js";
import { deflatePageContent } from "../pdf/typeset.js";
import type { Renderer, RenderJob, RowBlock } from "../renderer.js";
import { isUtf8Rows } from "../slices.js";
import type {
  ExportMessage,
  FromRenderThread,
  RenderThreadData,
  ToRenderThread,
} from "./protocol.js";

/** Blocks sent to a thread ahead of its renderer asking for them. */
const BLOCKS_AHEAD = 2;

export interface RenderPool {
  /** The PDF renderer `local`, its work run on the pool's threads. */
  pdfRenderer(local: Renderer): Renderer;
  /** Stops the threads; exports still rendering fail. */
  close(): Promise<void>;
}

interface ExportListener {
  onMessage(message: ExportMessage): void;
  onExit(error: Error): void;
}

interface Thread {
  readonly worker: Worker;
  readonly exports: Map<number, ExportListener>;
}

/**
 * A render thread running the worker module beside this one: JavaScript
 * once built; the TypeScript source, through tsx's loader, when the server
 * runs from source (the tests).
 */
export function startWorker(workerData: RenderThreadData): Worker {
  const built = new URL("./worker.js", import.meta.url);
  if (existsSync(fileURLToPath(built))) return new Worker(built, { workerData });
  const source = new URL("./worker.ts", import.meta.url).href;
  const tsx = import.meta.resolve("tsx/esm/api");
  const boot = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

/** A block as a message: UTF-8 rows copied out of the request's buffer, so the copy can move. */
function blockMessage(id: number, block: RowBlock): [ToRenderThread, ArrayBuffer[]] {
  if (!isUtf8Rows(block)) return [{ type: "block", id, block }, []];
  const moved = {
    bytes: block.bytes.slice(),
    starts: block.starts.slice(),
    ends: block.ends.slice(),
    length: block.length,
    width: block.width,
  };
  const transfer = [moved.bytes.buffer, moved.starts.buffer, moved.ends.buffer] as ArrayBuffer[];
  return [{ type: "block", id, block: moved }, transfer];
}

/**
 * Deflates pages' content for a render thread (see worker.ts) and answers
 * it, with the pages or with why they could not be deflated. `deflate` is
 * {@link deflatePageContent}; a test gives one that fails.
 */
export function answerDeflate(
  worker: Pick<Worker, "postMessage">,
  first: number,
  contents: readonly Uint8Array[],
  deflate: (content: Uint8Array) => Uint8Array = deflatePageContent,
): void {
  try {
    // zlib's output buffer belongs to nothing else once deflateSync has
    // returned, so it moves as it is, unused tail and all: a copy would leave
    // the main thread 16 KiB of garbage a page.
    const data = contents.map((content) => deflate(content));
    const answer: ToRenderThread = { type: "deflated", first, data };
    worker.postMessage(
      answer,
      data.map(({ buffer }) => buffer as ArrayBuffer),
    );
  } catch (error) {
    // The pages' exports fail; the server and the thread go on.
    const message = error instanceof Error ? error.message : String(error);
    const count = contents.length;
    worker.postMessage({ type: "deflate failed", first, count, message } satisfies ToRenderThread);
  }
}

/**
 * Up to `threads` threads that render PDF exports, so that the main thread
 * keeps to the transport (and, beside a single thread, deflating its pages)
 * and several exports use several cores. Each export
 * runs on an idle thread, a new one while there are fewer than `threads`,
 * else the one with the fewest exports. A thread that dies fails its
 * exports, and the next export starts a new one.
 */
export function createRenderPool(threads: number, pdf: PdfRendererOptions): RenderPool {
  const pool: Thread[] = [];
  let nextId = 0;
  let closed = false;
  const spawn = (): Thread => {
    const worker = startWorker({ pdf, mainThreadDeflates: threads === 1 });
    const thread: Thread = { worker, exports: new Map() };
    worker.on("message", (message: FromRenderThread) => {
      if (message.type === "deflate") {
        answerDeflate(worker, message.first, message.contents);
        return;
      }
      thread.exports.get(message.id)?.onMessage(message);
    });
    // Its exit says the same, and fails the exports.
    worker.on("error", () => {});
    worker.on("exit", (code) => {
      for (const listener of thread.exports.values()) {
        listener.onExit(new Error(`a render thread exited with code ${code}`));
      }
      thread.exports.clear();
      // The next export that needs a thread starts a new one.
      pool.splice(pool.indexOf(thread), 1);
    });
    // An idle thread does not keep the process alive.
    worker.unref();
    pool.push(thread);
    return thread;
  };

  // Threads start with the exports that need them: a server that renders
  // no PDF holds none, and a second thread starts only for a second export
  // at once.
  const leastBusy = (): Thread => {
    if (closed) throw new Error("the render threads are closed");
    const idle = pool.find((thread) => thread.exports.size === 0);
    if (idle !== undefined) return idle;
    if (pool.length < threads) return spawn();
    return pool.reduce((best, thread) => (thread.exports.size < best.exports.size ? thread : best));
  };

  return {
    pdfRenderer(local) {
      return {
        contentType: local.contentType,
        fileExtension: local.fileExtension,
        // Any failure, taking a thread included, comes out of the iteration.
        async *render(blocks, job) {
          yield* renderOnThread(leastBusy(), nextId++, blocks, job);
        },
      };
    },
    async close() {
      closed = true;
      await Promise.all(pool.map((thread) => thread.worker.terminate()));
    },
  };
}

/**
 * One export on a render thread. Blocks go to the thread a few ahead of its
 * renderer, chunks come back a few ahead of the transport: both threads
 * work at once, and neither holds more than a few blocks or chunks.
 */
async function* renderOnThread(
  thread: Thread,
  id: number,
  blocks: AsyncIterable<RowBlock>,
  job: RenderJob,
): AsyncGenerator<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let done = false;
  let failure: { error: unknown } | undefined;
  let wake = () => {};
  const post = (message: ToRenderThread, transfer: ArrayBuffer[] = []) =>
    thread.worker.postMessage(message, transfer);

  const source = blocks[Symbol.asyncIterator]();
  let sent = 0;
  let taken = 0;
  let reading = false;
  let sourceEnded = false;
  // Reads blocks while fewer than BLOCKS_AHEAD wait on the thread.
  const pump = async () => {
    if (reading) return;
    reading = true;
    try {
      while (!sourceEnded && !failure && !done && sent - taken < BLOCKS_AHEAD) {
        const next = await source.next();
        if (failure || done) return;
        if (next.done) {
          sourceEnded = true;
          post({ type: "end", id });
        } else {
          post(...blockMessage(id, next.value));
          sent++;
        }
      }
    } catch (error) {
      failure ??= { error };
      wake();
    } finally {
      reading = false;
    }
  };

  thread.exports.set(id, {
    onMessage(message) {
      if (message.type === "chunk") chunks.push(message.data);
      else if (message.type === "took") {
        taken++;
        void pump();
      } else if (message.type === "done") done = true;
      else failure ??= { error: new Error(message.message) };
      wake();
    },
    onExit(error) {
      failure ??= { error };
      wake();
    },
  });
  post({ type: "start", id, job });
  void pump();
  let completed = false;
  try {
    for (;;) {
      const chunk = chunks.shift();
      if (chunk !== undefined) {
        yield chunk;
        post({ type: "credit", id });
        continue;
      }
      // The rows' own error (bad input, a limit) as the pipeline threw it.
      if (failure) throw failure.error;
      if (done) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
    completed = true;
  } finally {
    thread.exports.delete(id);
    if (!completed) {
      post({ type: "stop", id });
      // Never waits: a read in progress may be waiting on a silent client.
      source.return?.()?.catch(() => {});
    }
  }
}
