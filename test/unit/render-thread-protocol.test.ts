import { MessageChannel } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { movable } from "../../src/render/threads/protocol.js";

/** Moves `data`'s buffer to another port, as the render threads do. */
function move(data: Uint8Array): void {
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(data, [data.buffer as ArrayBuffer]);
  port1.close();
  port2.close();
}

describe("movable", () => {
  it("moves a buffer of its own as it is", () => {
    const data = new Uint8Array([1, 2, 3]);
    expect(movable(data)).toBe(data);
  });

  it("copies a Node Buffer that shares its memory, so moving it leaves the rest whole", () => {
    // What a stream's read(n) returns when n ends inside a chunk: a view,
    // with the rest of the chunk still queued behind it.
    const chunk = Buffer.alloc(10_000, "a");
    const head = chunk.slice(0, 100);
    const rest = chunk.subarray(100);
    const moved = movable(head);
    expect(moved.buffer).not.toBe(chunk.buffer);
    expect(Buffer.from(moved).equals(head)).toBe(true);
    move(moved);
    expect(rest.byteLength).toBe(9_900);
    expect(rest.every((byte) => byte === "a".charCodeAt(0))).toBe(true);
  });
});
