import { NumberList } from "./number-list.js";
import type { Doc } from "./pdfkit.js";

interface OffsetInternals {
  _offsets?: unknown;
}

/**
 * Moves the offsets pdfkit notes for its cross-reference table, one for
 * every object in the file (about four a page), off V8's heap into a
 * {@link NumberList}. pdfkit keeps them in an array and uses it as one:
 * `push(null)` when it hands out an object, `[id - 1] = offset` when the
 * object is written, `length`, and `for … of` at the end; the list answers
 * those, with `null` for an object not yet written.
 */
export function keepObjectOffsetsOffHeap(doc: Doc): void {
  const internals = doc as unknown as OffsetInternals;
  const offsets = internals._offsets;
  if (!Array.isArray(offsets) || offsets.some((offset) => offset !== null)) {
    throw new Error(
      "pdfkit's object offsets are not as this renderer expects; was pdfkit upgraded?",
    );
  }
  const list = new NumberList();
  for (let i = 0; i < offsets.length; i++) list.push(Number.NaN);
  const asArray = {
    push(offset: number | null): number {
      list.push(offset ?? Number.NaN);
      return list.length;
    },
    *[Symbol.iterator](): Generator<number | null> {
      for (const offset of list) yield Number.isNaN(offset) ? null : offset;
    },
  };
  internals._offsets = new Proxy(asArray, {
    get(target, key, receiver) {
      return key === "length" ? list.length : Reflect.get(target, key, receiver);
    },
    set(_target, key, value: number) {
      // Only `[index] = offset`; anything else fails loudly (strict mode).
      if (typeof key !== "string" || !/^\d+$/.test(key)) return false;
      list.set(Number(key), value);
      return true;
    },
  });
}
