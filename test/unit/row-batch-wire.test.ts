import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RowBatchSchema } from "../../gen/export/v1/export_pb.js";
import { readUtf8Rows } from "../../src/export/row-batch-wire.js";
import { decodeBatch } from "../../src/export/validation.js";
import type { CellRows, ColumnSpec } from "../../src/render/renderer.js";
import { cellRows } from "../../src/render/slices.js";

const SEED = Number(process.env.FC_SEED ?? 20261126);
const MAX_CELL_CHARS = 6;

function columns(width: number): ColumnSpec[] {
  return Array.from({ length: width }, (_, index) => ({
    key: `c${index}`,
    title: `C${index}`,
    kind: "text",
    width: undefined,
  }));
}

/** What the full path makes of a batch: its cells, or the error it names. */
function slowPath(bytes: Uint8Array, width: number): CellRows | Error {
  try {
    const batch = fromBinary(RowBatchSchema, bytes, { readUnknownFields: false });
    const block = decodeBatch(batch, columns(width), { batchIndex: 0, rowsBefore: 0 }, {
      maxCellChars: MAX_CELL_CHARS,
    } as never);
    return cellRows(block);
  } catch (error) {
    return error as Error;
  }
}

// Long cells make rows of 128 bytes or more, whose lengths take two bytes.
const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: "grapheme", maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: 30, maxLength: 90 }) },
);
const row = fc.record({
  cells: fc.array(text, { maxLength: 4 }),
  nullCells: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 2 }),
});
/** Encoded batches, mostly well-formed, some with what the fast path must leave alone. */
const batches = fc.oneof(
  fc
    .array(row, { maxLength: 6 })
    .map((rows) => toBinary(RowBatchSchema, create(RowBatchSchema, { rows }))),
  fc.array(row, { maxLength: 3 }).map((rows) => {
    // json_rows after the rows
    const batch = create(RowBatchSchema, {
      rows,
      jsonRows: [{ values: [{ kind: { case: "stringValue", value: "x" } }] }],
    });
    return toBinary(RowBatchSchema, batch);
  }),
  fc
    .tuple(fc.array(row, { maxLength: 3 }), fc.integer({ min: 3, max: 50 }))
    .map(([rows, field]) => {
      // an unknown field inside the first row
      const writer = new BinaryWriter();
      for (const [index, { cells, nullCells }] of rows.entries()) {
        writer.tag(1, WireType.LengthDelimited).fork();
        for (const value of cells) writer.tag(1, WireType.LengthDelimited).string(value);
        if (index === 0) writer.tag(field, WireType.Varint).uint32(7);
        for (const value of nullCells) writer.tag(2, WireType.Varint).uint32(value);
        writer.join();
      }
      return writer.finish();
    }),
  fc.uint8Array({ maxLength: 40 }),
);
const mutated = fc
  .tuple(batches, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean())
  .map(([bytes, at, byte, cut]) => {
    if (bytes.length === 0) return bytes;
    const copy = bytes.slice();
    const index = at % copy.length;
    if (cut) return copy.subarray(0, index);
    copy[index] = byte;
    return copy;
  });

describe("reading rows in place from an encoded batch", () => {
  it("gives the cells the full path gives, or leaves the batch to it", () => {
    let read = 0;
    fc.assert(
      fc.property(fc.oneof(batches, mutated), fc.integer({ min: 1, max: 4 }), (bytes, width) => {
        const expected = slowPath(bytes, width);
        const fast = readUtf8Rows(bytes, width, MAX_CELL_CHARS);
        if (expected instanceof Error) {
          expect(fast).toBeUndefined();
          return;
        }
        if (fast === undefined) return;
        read++;
        expect(cellRows(fast)).toEqual(expected);
      }),
      { seed: SEED, numRuns: 5_000 },
    );
    // Not a path that leaves everything to the slow one.
    expect(read).toBeGreaterThan(500);
  });

  it("reads every well-formed batch of valid rows itself", () => {
    const rows = [
      { cells: ["a", "Zürich", "", "😀"], nullCells: [2] },
      { cells: ["x,y", '"', "Αθήνα", "\r\n"], nullCells: [] },
    ];
    const bytes = toBinary(RowBatchSchema, create(RowBatchSchema, { rows }));
    const fast = readUtf8Rows(bytes, 4, 100);
    expect(fast && cellRows(fast)).toEqual([
      ["a", "Zürich", null, "😀"],
      ["x,y", '"', "Αθήνα", "\r\n"],
    ]);
  });

  it("leaves invalid UTF-8, overlong forms and surrogates to the full path", () => {
    for (const cell of [
      [0xc3],
      [0xc0, 0xaf],
      [0xe0, 0x80, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xff],
    ]) {
      const bytes = Uint8Array.of(0x0a, cell.length + 2, 0x0a, cell.length, ...cell);
      expect(readUtf8Rows(bytes, 1, 100)).toBeUndefined();
      expect(slowPath(bytes, 1)).toBeInstanceOf(Error);
      // The same beside a 200-byte cell, whose row's length takes two bytes.
      const wide = new Uint8Array([
        0x0a,
        ...[((cell.length + 205) & 0x7f) | 0x80, (cell.length + 205) >> 7],
        0x0a,
        ...[200 | 0x80, 1],
        ...new Uint8Array(200).fill(0x61),
        0x0a,
        cell.length,
        ...cell,
      ]);
      expect(slowPath(wide, 2)).toBeInstanceOf(Error);
      expect(readUtf8Rows(wide, 2, 1_000)).toBeUndefined();
    }
  });

  it("counts a cell's length in UTF-16 units, as the full path does", () => {
    // Three emoji: 12 bytes, 6 UTF-16 units, within 6 characters.
    const bytes = toBinary(
      RowBatchSchema,
      create(RowBatchSchema, { rows: [{ cells: ["😀😀😀"] }] }),
    );
    expect(readUtf8Rows(bytes, 1, 6)).toBeDefined();
    expect(readUtf8Rows(bytes, 1, 5)).toBeUndefined();
  });
});
