import { describe, expect, it } from "vitest";
import type { ExportProgress } from "../../src/export/observer.js";
import {
  COLLECT_EVERY_BYTES,
  createYoungCollections,
  youngCollector,
} from "../../src/ops/young-collections.js";

const CHUNK = 64 * 1024;

function chunk(exportId: string, bytes = CHUNK): ExportProgress {
  return { exportId, format: "csv", rows: 600, bytes, bufferedBytes: bytes };
}

/** A pacer whose collections wait in `pending` until run, as setImmediate would keep them. */
function pacer(everyBytes?: number, collect: () => void = () => {}) {
  const pending: (() => void)[] = [];
  let collections = 0;
  const observer = createYoungCollections(
    () => {
      collections++;
      collect();
    },
    everyBytes,
    (run) => pending.push(run),
  );
  const runPending = () => {
    for (const run of pending.splice(0)) run();
  };
  return { observer, pending, runPending, collections: () => collections };
}

describe("young collections", () => {
  it("collects once for every MiB sent, counting all exports' chunks together", () => {
    const { observer, runPending, collections } = pacer();
    const chunksPerCollection = COLLECT_EVERY_BYTES / CHUNK;
    for (let i = 1; i < chunksPerCollection; i++) observer.progress(chunk(i % 2 ? "a" : "b"));
    runPending();
    expect(collections()).toBe(0);
    observer.progress(chunk("a"));
    runPending();
    expect(collections()).toBe(1);
    for (let i = 0; i < 3 * chunksPerCollection; i++) {
      observer.progress(chunk(`e${i % 5}`));
      runPending();
    }
    expect(collections()).toBe(4);
  });

  it("collects after the chunk that passed the mark is handed on, never in its progress call", () => {
    const { observer, pending, runPending, collections } = pacer(1000);
    observer.progress(chunk("a", 999));
    observer.progress(chunk("a", 5000));
    expect(collections()).toBe(0);
    expect(pending).toHaveLength(1);
    runPending();
    expect(collections()).toBe(1);
    observer.progress(chunk("a", 999));
    runPending();
    expect(collections()).toBe(1);
  });

  it("asks once for marks passed before the collection ran", () => {
    const { observer, pending, runPending, collections } = pacer(1000);
    for (let i = 0; i < 3; i++) observer.progress(chunk("a", 1000));
    expect(pending).toHaveLength(1);
    runPending();
    expect(collections()).toBe(1);
    observer.progress(chunk("a", 1000));
    runPending();
    expect(collections()).toBe(2);
  });

  it("goes on pacing when a collection throws", () => {
    const { observer, runPending, collections } = pacer(1000, () => {
      throw new Error("no collection");
    });
    observer.progress(chunk("a", 1000));
    expect(runPending).not.toThrow();
    observer.progress(chunk("a", 1000));
    runPending();
    expect(collections()).toBe(2);
  });

  it("asks V8's gc for a young collection, and is absent without --expose-gc", () => {
    const asked: unknown[] = [];
    const collect = youngCollector({ gc: (options) => asked.push(options) });
    collect?.();
    expect(asked).toEqual([{ type: "minor" }]);
    expect(youngCollector({})).toBeUndefined();
  });
});
