import type { ExportObserver } from "../export/observer.js";

/**
 * V8 frees an ArrayBuffer's memory only when it collects the object that
 * holds it, and it paces its young-generation collections by the objects a
 * program makes, not by the buffers. A CSV export is mostly buffers: frames
 * in, request messages, rendered bytes, chunks and their encodings out,
 * some 8 bytes of them for each byte of CSV sent, and few objects. Left to
 * V8, a young collection came every few tens of thousands of rows, and by
 * then 20 to 30 MiB of dead buffers had raised glibc's heap, which keeps
 * its high-water mark. A young collection that finds little alive takes
 * under a millisecond, so one is asked for every MiB sent (every 0.5 MiB
 * held the heap lower still, for twice the pauses). The pace is set for
 * CSV; PDF and XLSX send far fewer bytes for the rows they read, and make
 * enough objects for V8's own pace.
 */
export const COLLECT_EVERY_BYTES = 1024 * 1024;

/** Runs a young-generation collection now. */
export type CollectYoung = () => void;

/** V8's `gc`, as a young collection; there only when node runs with `--expose-gc`. */
export function youngCollector(
  global: { gc?: (options: { type: "minor" }) => void } = globalThis,
): CollectYoung | undefined {
  const gc = global.gc;
  return gc === undefined ? undefined : () => gc({ type: "minor" });
}

/**
 * Listens to every export's chunks and collects after each `everyBytes`
 * they add up to: once the chunk that passed the mark has gone to the
 * transport (`later`), so the collection neither holds that chunk back
 * nor finds it still in use.
 */
export function createYoungCollections(
  collect: CollectYoung,
  everyBytes = COLLECT_EVERY_BYTES,
  later: (run: () => void) => void = setImmediate,
): ExportObserver {
  let sent = 0;
  let asked = false;
  const collectNow = () => {
    asked = false;
    try {
      collect();
    } catch {
      // A collection that did not happen only leaves memory to V8's pace.
    }
  };
  return {
    started() {},
    progress({ bytes }) {
      sent += bytes;
      if (sent < everyBytes) return;
      sent = 0;
      if (asked) return;
      asked = true;
      later(collectNow);
    },
    finished() {},
    refused() {},
  };
}
