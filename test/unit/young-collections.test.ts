import { describe, expect, it } from "vitest";
import type { ExportProgress } from "../../src/export/observer.js";
import {
  COLLECT_EVERY_BYTES,
  createYoungCollections,
  youngCollector,
} from "../../src/ops/young-collections.js";

const CHUNK = 64 * 1024;

function chunk(exportId: string, bytes: number): ExportProgress {
  return { exportId, format: "csv", rows: 600, bytes, bufferedBytes: bytes };
}

/**
 * A pacer whose collections wait until `settle` runs them, as setImmediate
 * would keep them. `send` reports chunks of these sizes, from export "a"
 * unless named; `settle` runs what waits and gives the collections so far.
 */
function pacer(everyBytes?: number, collect: () => void = () => {}) {
  const waiting: (() => void)[] = [];
  let collections = 0;
  const observer = createYoungCollections(
    () => {
      collections++;
      collect();
    },
    everyBytes,
    (run) => waiting.push(run),
  );
  return {
    send: (sizes: readonly number[], exportIds: readonly string[] = ["a"]) =>
      sizes.forEach((bytes, i) => {
        observer.progress(chunk(exportIds[i % exportIds.length] as string, bytes));
      }),
    waiting: () => waiting.length,
    settle: () => {
      for (const run of waiting.splice(0)) run();
      return collections;
    },
  };
}

describe("young collections", () => {
  it("collects once for every MiB sent, counting all exports' chunks together", () => {
    const { send, settle } = pacer();
    const perCollection = COLLECT_EVERY_BYTES / CHUNK;
    send(new Array(perCollection - 1).fill(CHUNK), ["a", "b"]);
    expect(settle()).toBe(0);
    send([CHUNK]);
    expect(settle()).toBe(1);
    for (let i = 0; i < 3 * perCollection; i++) {
      send([CHUNK], [`e${i % 5}`]);
      settle();
    }
    expect(settle()).toBe(4);
  });

  it("collects only after the progress call of the chunk that passed the mark, then counts afresh", () => {
    const { send, waiting, settle } = pacer(1000);
    send([999, 5000]);
    expect(waiting()).toBe(1);
    expect(settle()).toBe(1);
    send([999]);
    expect(settle()).toBe(1);
  });

  it("asks once for the marks passed before the collection ran", () => {
    const { send, waiting, settle } = pacer(1000);
    send([1000, 1000, 1000]);
    expect(waiting()).toBe(1);
    expect(settle()).toBe(1);
    send([1000]);
    expect(settle()).toBe(2);
  });

  it("goes on pacing when a collection throws", () => {
    const { send, settle } = pacer(1000, () => {
      throw new Error("no collection");
    });
    send([1000]);
    expect(settle).not.toThrow();
    send([1000]);
    expect(settle()).toBe(2);
  });

  it("asks V8's gc for a young collection, and is absent without --expose-gc", () => {
    const asked: unknown[] = [];
    const collect = youngCollector({ gc: (options) => asked.push(options) });
    collect?.();
    expect(asked).toEqual([{ type: "minor" }]);
    expect(youngCollector({})).toBeUndefined();
  });
});
