import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { chunkFile } from "../../src/export/chunker.js";

async function* fromParts(parts: Uint8Array[], pauseMsAfter?: number) {
  for (const [index, part] of parts.entries()) {
    yield part;
    if (index === pauseMsAfter) await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function collect(iterable: AsyncIterable<{ data: Uint8Array; offset: number }>) {
  const chunks = [];
  for await (const chunk of iterable)
    chunks.push({ size: chunk.data.length, offset: chunk.offset, data: chunk.data });
  return chunks;
}

describe("chunkFile", () => {
  it("cuts at chunkBytes, numbers offsets and hashes the whole file", async () => {
    const parts = [Buffer.alloc(700, 1), Buffer.alloc(10, 2), Buffer.alloc(900, 3)];
    const file = chunkFile(fromParts(parts), { chunkBytes: 512, flushIdleMs: 1_000 });
    const chunks = await collect(file.chunks);
    expect(chunks.map(({ size, offset }) => [size, offset])).toEqual([
      [512, 0],
      [512, 512],
      [512, 1024],
      [74, 1536],
    ]);
    const whole = Buffer.concat(parts);
    expect(Buffer.concat(chunks.map((chunk) => chunk.data))).toEqual(whole);
    expect(file.tally.bytes).toBe(whole.length);
    expect(file.tally.chunks).toBe(4);
    expect(file.tally.sha256()).toBe(createHash("sha256").update(whole).digest("hex"));
  });

  it("sends pending bytes when the source pauses", async () => {
    const parts = [Buffer.from("a"), Buffer.from("b"), Buffer.from("c")];
    const file = chunkFile(fromParts(parts, 0), { chunkBytes: 512, flushIdleMs: 20 });
    const chunks = await collect(file.chunks);
    expect(chunks.map((chunk) => Buffer.from(chunk.data).toString())).toEqual(["a", "bc"]);
  });

  it("produces nothing for an empty source, and the empty file's hash", async () => {
    const file = chunkFile(fromParts([]), { chunkBytes: 512, flushIdleMs: 20 });
    expect(await collect(file.chunks)).toEqual([]);
    expect(file.tally.sha256()).toBe(createHash("sha256").digest("hex"));
  });
});
