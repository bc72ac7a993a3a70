import { describe, expect, it } from "vitest";
import { CACHE_SIZE, LineCache, REST_CELLS } from "../../src/render/pdf/line-cache.js";
import type { Line } from "../../src/render/pdf/text.js";

const linesOf = (value: string): readonly Line[] => [{ text: value, width: value.length }];

/** Looks `value` up as the table does, remembering it on a miss; whether it was found. */
function lookUp(cache: LineCache, value: string): boolean {
  if (cache.get(value) !== undefined) return true;
  cache.set(value, linesOf(value));
  return false;
}

describe("a column's line cache", () => {
  it("finds the lines of a value it has seen, for a column of few values", () => {
    const cache = new LineCache();
    const values = ["true", "false", "Zürich", "Αθήνα"];
    let hits = 0;
    for (let i = 0; i < 10 * REST_CELLS; i++)
      if (lookUp(cache, values[i % values.length] as string)) hits++;
    expect(hits).toBe(10 * REST_CELLS - values.length);
    expect(cache.get("Zürich")).toEqual(linesOf("Zürich"));
  });

  it("keeps remembering while a full map was hit at least as often as it holds values", () => {
    const cache = new LineCache();
    let hits = 0;
    // Each value comes back once: half the lookups hit.
    for (let i = 0; i < 4 * REST_CELLS; i++)
      if (lookUp(cache, `value ${Math.floor(i / 2)}`)) hits++;
    expect(hits).toBe(2 * REST_CELLS);
  });

  it("rests in a column of unique values for exactly REST_CELLS look-ups, then tries again", () => {
    const cache = new LineCache();
    let next = 0;
    for (; next <= CACHE_SIZE; next++) lookUp(cache, `id ${next}`);
    // Full without a hit: from here, REST_CELLS look-ups find nothing and nothing is remembered.
    let looked = 0;
    while (looked < REST_CELLS - 1) {
      expect(lookUp(cache, `id ${next++}`)).toBe(false);
      looked++;
    }
    cache.set("again", linesOf("again"));
    expect(cache.get("again")).toBeUndefined();
    // That was the last look-up of the rest: the column remembers again.
    cache.set("again", linesOf("again"));
    expect(cache.get("again")).toEqual(linesOf("again"));
  });
});
