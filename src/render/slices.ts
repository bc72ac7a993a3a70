import { setImmediate as nextTurn } from "node:timers/promises";
import type { RowBlock } from "./renderer.js";

/**
 * A block cut into slices of at most `size` rows, with a turn of the event
 * loop between slices, so that one huge batch cannot stall the other
 * exports, health checks and metrics while it renders. Blocks of ordinary
 * size pass through whole, at no cost.
 */
export async function* slicesOf(block: RowBlock, size: number): AsyncGenerator<RowBlock> {
  if (block.length <= size) {
    yield block;
    return;
  }
  for (let first = 0; first < block.length; first += size) {
    if (first > 0) await nextTurn();
    yield block.slice(first, first + size);
  }
}
