/**
 * A render thread: runs the PDF renderer for the exports the pool gives it,
 * each as it would run on the main thread, pulling rows as they arrive and
 * sending the file's bytes back.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createPdfRenderer } from "../pdf/index.js";
import type { PageDeflater } from "../pdf/typeset.js";
import type { RenderJob, RowBlock } from "../renderer.js";
import {
  type FromRenderThread,
  movable,
  type RenderThreadData,
  type ToRenderThread,
} from "./protocol.js";

/** Chunks a thread sends ahead of the transport taking them. */
const CHUNKS_AHEAD = 4;

const port = parentPort;
if (port === null) throw new Error("render threads run as worker threads");
const send = (message: FromRenderThread, transfer: ArrayBuffer[] = []) =>
  port.postMessage(message, transfer);

interface Asked {
  readonly resolve: (deflated: Uint8Array) => void;
  readonly reject: (error: Error) => void;
}

/** Pages the main thread is deflating, by number. */
const deflating = new Map<number, Asked>();
let nextPage = 0;
/** Pages to ask for, sent together once the renderer pauses. */
let toAsk: { readonly content: Uint8Array; readonly asked: Asked }[] = [];

function askForDeflates(): void {
  const asking = toAsk;
  toAsk = [];
  const first = nextPage;
  nextPage += asking.length;
  for (const [i, { asked }] of asking.entries()) deflating.set(first + i, asked);
  const contents = asking.map(({ content }) => content);
  try {
    send(
      { type: "deflate", first, contents },
      contents.map(({ buffer }) => buffer as ArrayBuffer),
    );
  } catch (error) {
    // The pages' exports fail; the thread and its other exports go on.
    const failure = new Error(`deflating a page failed: ${String(error)}`);
    for (const [i, { asked }] of asking.entries()) {
      deflating.delete(first + i);
      asked.reject(failure);
    }
  }
}

/**
 * Deflate is a sixth of this thread's work on a table, and the main
 * thread, which only moves bytes for a PDF export, has the time for it
 * beside one render thread. The pages a slice of rows fills go in one
 * message.
 */
const deflateOnMainThread: PageDeflater = (content) =>
  new Promise((resolve, reject) => {
    if (toAsk.length === 0) queueMicrotask(askForDeflates);
    toAsk.push({ content: movable(content), asked: { resolve, reject } });
  });

const { pdf, mainThreadDeflates } = workerData as RenderThreadData;
const renderer = createPdfRenderer(
  pdf,
  mainThreadDeflates ? { deflater: deflateOnMainThread } : {},
);

interface Running {
  readonly blocks: RowBlock[];
  ended: boolean;
  stopped: boolean;
  credits: number;
  /** Resumes the renderer when a block, the end, a credit or a stop arrives. */
  wake: () => void;
}

const running = new Map<number, Running>();

function nextMessage(state: Running): Promise<void> {
  return new Promise((resolve) => {
    state.wake = resolve;
  });
}

/** The export's blocks as they arrive, for its renderer. */
async function* blocksOf(id: number, state: Running): AsyncGenerator<RowBlock> {
  for (;;) {
    const block = state.blocks.shift();
    if (block !== undefined) {
      send({ type: "took", id });
      yield block;
      continue;
    }
    // Ends the renderer as an input that failed does, so it drops its document.
    if (state.stopped) throw new Error("the export was stopped");
    if (state.ended) return;
    await nextMessage(state);
  }
}

async function render(id: number, job: RenderJob): Promise<void> {
  const state: Running = {
    blocks: [],
    ended: false,
    stopped: false,
    credits: CHUNKS_AHEAD,
    wake: () => {},
  };
  running.set(id, state);
  try {
    for await (const chunk of renderer.render(blocksOf(id, state), job)) {
      while (state.credits === 0 && !state.stopped) await nextMessage(state);
      if (state.stopped) return;
      state.credits--;
      const data = movable(chunk);
      send({ type: "chunk", id, data }, [data.buffer as ArrayBuffer]);
    }
    send({ type: "done", id });
  } catch (error) {
    if (!state.stopped) {
      send({ type: "failed", id, message: error instanceof Error ? error.message : String(error) });
    }
  } finally {
    running.delete(id);
  }
}

port.on("message", (message: ToRenderThread) => {
  if (message.type === "deflated" || message.type === "deflate failed") {
    const count = message.type === "deflated" ? message.data.length : message.count;
    for (let i = 0; i < count; i++) {
      const page = message.first + i;
      const asked = deflating.get(page);
      deflating.delete(page);
      if (message.type === "deflated") asked?.resolve(message.data[i] as Uint8Array);
      else asked?.reject(new Error(`deflating a page failed: ${message.message}`));
    }
    return;
  }
  if (message.type === "start") {
    void render(message.id, message.job);
    return;
  }
  const state = running.get(message.id);
  if (state === undefined) return;
  if (message.type === "block") state.blocks.push(message.block);
  else if (message.type === "end") state.ended = true;
  else if (message.type === "credit") state.credits++;
  else state.stopped = true;
  state.wake();
});
