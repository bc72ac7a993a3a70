import { setImmediate as nextTurn } from "node:timers/promises";
import type { CellRows, RowBlock, Utf8Rows } from "./renderer.js";

export function isUtf8Rows(block: RowBlock): block is Utf8Rows {
  return !Array.isArray(block);
}

/** The rows of a block as cells, for renderers that lay out text. */
export function cellRows(block: RowBlock): CellRows {
  if (!isUtf8Rows(block)) return block;
  const { bytes, starts, ends, width } = block;
  // A Buffer view, not a copy: its toString makes a cell's string a third
  // faster than a TextDecoder on a subarray.
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const rows: (string | null)[][] = new Array(block.length);
  for (let row = 0; row < block.length; row++) {
    const cells: (string | null)[] = new Array(width);
    for (let column = 0; column < width; column++) {
      const index = row * width + column;
      const start = starts[index] as number;
      cells[column] = start < 0 ? null : text.toString("utf8", start, ends[index]);
    }
    rows[row] = cells;
  }
  return rows;
}

function sliceBlock(block: RowBlock, first: number, last: number): RowBlock {
  if (!isUtf8Rows(block)) return block.slice(first, last);
  const { width } = block;
  return {
    bytes: block.bytes,
    starts: block.starts.subarray(first * width, last * width),
    ends: block.ends.subarray(first * width, last * width),
    length: last - first,
    width,
  };
}

/**
 * A block cut into slices of at most `size` rows, with a turn of the event
 * loop between slices, so that one huge batch cannot stall the other
 * exports, health checks and metrics while it renders. Blocks of ordinary
 * size pass through whole, at no cost.
 */
export async function* slicesOf<Block extends RowBlock>(
  block: Block,
  size: number,
): AsyncGenerator<Block> {
  if (block.length <= size) {
    yield block;
    return;
  }
  for (let first = 0; first < block.length; first += size) {
    if (first > 0) await nextTurn();
    yield sliceBlock(block, first, Math.min(first + size, block.length)) as Block;
  }
}
