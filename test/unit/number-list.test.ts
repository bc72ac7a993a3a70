import { describe, expect, it } from "vitest";
import { NumberList } from "../../src/render/pdf/number-list.js";

describe("NumberList", () => {
  it("keeps numbers in order across its blocks, exactly", () => {
    const list = new NumberList();
    const count = 200_000;
    for (let i = 0; i < count; i++) list.push(i * 4_096 + 1);
    expect(list.length).toBe(count);
    expect(list.get(4_095)).toBe(4_095 * 4_096 + 1);
    expect(list.get(4_096)).toBe(4_096 * 4_096 + 1);
    list.set(131_072, 2 ** 40 + 3);
    expect(list.get(131_072)).toBe(2 ** 40 + 3);
    let i = 0;
    for (const value of list) {
      expect(value).toBe(i === 131_072 ? 2 ** 40 + 3 : i * 4_096 + 1);
      i++;
    }
    expect(i).toBe(count);
  });

  it("refuses to set what it does not hold", () => {
    const list = new NumberList();
    list.push(1);
    expect(() => list.set(1, 2)).toThrow(RangeError);
    expect(() => list.set(-1, 2)).toThrow(RangeError);
    expect(() => list.set(0.5, 2)).toThrow(RangeError);
  });
});
