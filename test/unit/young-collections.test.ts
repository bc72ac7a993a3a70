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

describe("young collections", () => {
  it("collects once for every MiB sent, counting all exports' chunks together", () => {
    let collections = 0;
    const observer = createYoungCollections(() => collections++);
    const chunksPerCollection = COLLECT_EVERY_BYTES / CHUNK;
    for (let i = 1; i < chunksPerCollection; i++) observer.progress(chunk(i % 2 ? "a" : "b"));
    expect(collections).toBe(0);
    observer.progress(chunk("a"));
    expect(collections).toBe(1);
    for (let i = 0; i < 3 * chunksPerCollection; i++) observer.progress(chunk(`e${i % 5}`));
    expect(collections).toBe(4);
  });

  it("collects after a chunk that alone passes the threshold, and starts counting again", () => {
    let collections = 0;
    const observer = createYoungCollections(() => collections++, 1000);
    observer.progress(chunk("a", 999));
    observer.progress(chunk("a", 5000));
    expect(collections).toBe(1);
    observer.progress(chunk("a", 999));
    expect(collections).toBe(1);
  });

  it("asks V8's gc for a young collection, and is absent without --expose-gc", () => {
    const asked: unknown[] = [];
    const collect = youngCollector({ gc: (options) => asked.push(options) });
    collect?.();
    expect(asked).toEqual([{ type: "minor" }]);
    expect(youngCollector({})).toBeUndefined();
  });
});
