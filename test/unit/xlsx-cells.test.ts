import { describe, expect, it } from "vitest";
import { columnLetters, excelSerial, valueCell, xmlText } from "../../src/render/xlsx/cells.js";

describe("XLSX cells", () => {
  it("names columns as Excel does", () => {
    expect([0, 25, 26, 51, 52, 701, 702, 16_383].map(columnLetters)).toEqual([
      "A",
      "Z",
      "AA",
      "AZ",
      "BA",
      "ZZ",
      "AAA",
      "XFD",
    ]);
  });

  it("turns ISO 8601 timestamps into Excel serial days", () => {
    expect(excelSerial("1970-01-01")).toEqual({ serial: 25_569, withTime: false });
    expect(excelSerial("1900-03-01")).toEqual({ serial: 61, withTime: false });
    expect(excelSerial("2024-01-01T12:00:00Z")).toEqual({ serial: 45_292.5, withTime: true });
    expect(excelSerial("2024-01-01T14:00+02:00")).toEqual({ serial: 45_292.5, withTime: true });
    expect(excelSerial("2024-01-02T02:00+14:00")).toEqual({ serial: 45_292.5, withTime: true });
    for (const text of [
      "1900-02-28",
      "2023-02-29",
      "2024-13-01",
      "2024-01-01T24:00",
      "2024-01-01T00:00+99:99",
      "2024-01-01T00:00+15:00",
      "2024-01-01T00:00+14:30",
      "2024-01-01T00:00-01:60",
      "01/02/2024",
      "",
    ]) {
      expect(excelSerial(text)).toBeUndefined();
    }
  });

  it("keeps a number as a number only when a double holds it exactly", () => {
    expect(valueCell("", "-0.75", "number")).toBe("<c><v>-0.75</v></c>");
    expect(valueCell("", "123456789012345", "number")).toBe("<c><v>123456789012345</v></c>");
    expect(valueCell("", "2.3e-308", "number")).toContain("<v>");
    expect(valueCell("", "0e-400", "number")).toContain("<v>");
    const subnormals = ["1.23456789012345e-310", "4.9e-324", "-1e-310"];
    for (const text of [
      "1234567890123456",
      "1e400",
      "1e-400",
      "+1",
      "007",
      "1,5",
      "NaN",
      ...subnormals,
    ]) {
      expect(valueCell("", text, "number")).toContain('t="inlineStr"');
    }
  });

  it("writes every character of text, escaping what XML cannot hold", () => {
    expect(xmlText('<a & "b">\r')).toBe("&lt;a &amp; &quot;b&quot;&gt;&#13;");
    expect(xmlText("\u0000\u001f\uffff _x00A0_")).toBe("_x0000__x001F__xFFFF_ _x005F_x00A0_");
    expect(valueCell(' r="C2"', " x", "text")).toBe(
      '<c r="C2" t="inlineStr"><is><t xml:space="preserve"> x</t></is></c>',
    );
  });
});
