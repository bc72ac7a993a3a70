import type { Line } from "./text.js";

/** Values a column remembers the lines of. */
export const CACHE_SIZE = 256;

/** Cells a column of mostly new values goes without remembering, before it tries again. */
export const REST_CELLS = 16 * CACHE_SIZE;

/**
 * The lines of a column's recent values. Columns of few values (statuses,
 * dates, cities, flags) then skip measuring and wrapping. A column of
 * unique values (ids, amounts, e-mail addresses) gains nothing, and
 * remembering would keep every value alive until the map is cleared, long
 * enough for the garbage collector to copy it once or twice: so when a
 * full map has been hit fewer times than it holds values, the column stops
 * remembering for a while, then tries again.
 */
export class LineCache {
  private lines = new Map<string, readonly Line[]>();
  private hits = 0;
  /** Cells left before the column remembers again. */
  private resting = 0;

  get(value: string): readonly Line[] | undefined {
    if (this.resting > 0) {
      this.resting--;
      return undefined;
    }
    const lines = this.lines.get(value);
    if (lines !== undefined) this.hits++;
    return lines;
  }

  /** Remembers the lines of a value `get` did not find. */
  set(value: string, lines: readonly Line[]): void {
    if (this.resting > 0) return;
    if (this.lines.size === CACHE_SIZE) {
      if (this.hits < CACHE_SIZE) this.resting = REST_CELLS;
      this.hits = 0;
      this.lines = new Map();
      if (this.resting > 0) return;
    }
    this.lines.set(value, lines);
  }
}
