import { isUtf8 } from "node:buffer";
import type { Utf8Rows } from "../render/renderer.js";

/**
 * Reads the `rows` of an encoded RowBatch straight from its wire bytes, for
 * the common case only: every row well-formed, exactly `width` cells, each
 * valid UTF-8 and short enough, every null index in range, no `json_rows`
 * and no unknown fields. Cells stay where they are in the buffer, so no
 * string or message object is made per cell.
 *
 * Undefined for anything else, and the caller then decodes the batch with
 * protobuf-es and the full checks, which name the exact problem: this path
 * never decides that input is wrong, so its errors and the slow path's are
 * the same by construction.
 */
export function readUtf8Rows(
  bytes: Uint8Array,
  width: number,
  maxCellChars: number,
): Utf8Rows | undefined {
  let capacity = 1024 * width;
  let starts = new Int32Array(capacity);
  let ends = new Int32Array(capacity);
  let rows = 0;
  const nulls: number[] = [];
  let pos = 0;
  const end = bytes.length;
  const varint = { value: 0, end: 0 };
  // One native check of the whole batch stands for a check of every cell: a
  // cell lies between the last byte of its length (below 0x80) and a tag or
  // the batch's end, so no UTF-8 sequence crosses its edges, and a valid
  // whole has valid cells. (A length of 128 or more takes bytes that mostly
  // make the whole invalid by themselves; each cell is then checked alone.)
  const validWhole = isUtf8(bytes);

  while (pos < end) {
    // Field 1 (rows), length-delimited; anything else is for the slow path.
    if (bytes[pos] !== 0x0a || !readVarint(bytes, pos + 1, end, varint)) return undefined;
    pos = varint.end;
    const rowEnd = pos + varint.value;
    if (rowEnd > end) return undefined;
    if ((rows + 1) * width > capacity) {
      capacity *= 2;
      const grownStarts = new Int32Array(capacity);
      grownStarts.set(starts);
      starts = grownStarts;
      const grownEnds = new Int32Array(capacity);
      grownEnds.set(ends);
      ends = grownEnds;
    }
    const first = rows * width;
    let cells = 0;
    nulls.length = 0;
    while (pos < rowEnd) {
      const tag = bytes[pos];
      if (!readVarint(bytes, pos + 1, rowEnd, varint)) return undefined;
      pos = varint.end;
      if (tag === 0x0a) {
        // cells
        const cellEnd = pos + varint.value;
        if (cellEnd > rowEnd || cells === width) return undefined;
        const checked = validWhole && cellEnd - pos <= maxCellChars;
        if (!checked && !validCell(bytes, pos, cellEnd, maxCellChars)) return undefined;
        starts[first + cells] = pos;
        ends[first + cells] = cellEnd;
        pos = cellEnd;
        cells++;
      } else if (tag === 0x12) {
        // null_cells, packed
        const packedEnd = pos + varint.value;
        if (packedEnd > rowEnd) return undefined;
        while (pos < packedEnd) {
          if (!readVarint(bytes, pos, packedEnd, varint) || varint.value >= width) return undefined;
          pos = varint.end;
          nulls.push(varint.value);
        }
      } else if (tag === 0x10) {
        // null_cells, one unpacked
        if (varint.value >= width) return undefined;
        nulls.push(varint.value);
      } else {
        return undefined;
      }
    }
    if (cells !== width) return undefined;
    for (const index of nulls) starts[first + index] = -1;
    rows++;
  }
  return { bytes, starts, ends, length: rows, width };
}

/**
 * Reads a varint of at most 31 bits at `pos` into `into`; false when it runs
 * past `end` or is longer (no cell or index is that large).
 */
function readVarint(
  bytes: Uint8Array,
  pos: number,
  end: number,
  into: { value: number; end: number },
): boolean {
  let value = 0;
  for (let shift = 0, at = pos; shift < 35 && at < end; shift += 7, at++) {
    const byte = bytes[at] as number;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) {
      into.value = value;
      into.end = at + 1;
      return value <= 0x7fffffff;
    }
  }
  return false;
}

/**
 * Whether bytes [start, end) are valid UTF-8 (as protobuf-es's strict
 * decoding requires of a string) of at most `maxChars` UTF-16 units.
 */
function validCell(bytes: Uint8Array, start: number, end: number, maxChars: number): boolean {
  let pos = start;
  while (pos < end && (bytes[pos] as number) < 0x80) pos++;
  if (pos === end) return end - start <= maxChars;
  let units = pos - start;
  while (pos < end) {
    const byte = bytes[pos] as number;
    if (byte < 0x80) {
      pos++;
      units++;
      continue;
    }
    let needed: number;
    let lower = 0x80;
    let upper = 0xbf;
    if (byte >= 0xc2 && byte <= 0xdf) {
      needed = 1;
    } else if (byte >= 0xe0 && byte <= 0xef) {
      needed = 2;
      // No overlong forms, no surrogates.
      if (byte === 0xe0) lower = 0xa0;
      else if (byte === 0xed) upper = 0x9f;
    } else if (byte >= 0xf0 && byte <= 0xf4) {
      needed = 3;
      // No overlong forms, nothing past U+10FFFF.
      if (byte === 0xf0) lower = 0x90;
      else if (byte === 0xf4) upper = 0x8f;
    } else {
      return false;
    }
    if (pos + needed >= end) return false;
    const second = bytes[pos + 1] as number;
    if (second < lower || second > upper) return false;
    for (let next = 2; next <= needed; next++) {
      const continuation = bytes[pos + next] as number;
      if (continuation < 0x80 || continuation > 0xbf) return false;
    }
    pos += needed + 1;
    units += needed === 3 ? 2 : 1;
  }
  return units <= maxChars;
}
