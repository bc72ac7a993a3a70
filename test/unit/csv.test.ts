import { describe, expect, it } from "vitest";
import { createCsvRenderer } from "../../src/render/csv.js";
import type { ColumnSpec, CsvSettings, RenderJob, RowBlock } from "../../src/render/renderer.js";
import { parseCsv } from "../support/csv.js";

const defaults: CsvSettings = {
  header: true,
  delimiter: ",",
  recordDelimiter: "\r\n",
  quoteAll: false,
  bom: false,
  escapeFormulas: false,
};

const TEXT_THEN_NUMBER: ColumnSpec[] = [
  { key: "a", title: "A", kind: "text", width: undefined },
  { key: "b", title: "B b", kind: "number", width: undefined },
];

async function render(
  blocks: RowBlock[],
  csv: Partial<CsvSettings> = {},
  columns: readonly ColumnSpec[] = TEXT_THEN_NUMBER,
) {
  const job: RenderJob = {
    columns,
    csv: { ...defaults, ...csv },
    pdf: { title: "", pageSize: "A4", orientation: "portrait", generatedAt: undefined },
    xlsx: { sheetName: "Export" },
  };
  async function* source() {
    yield* blocks;
  }
  const parts: Uint8Array[] = [];
  for await (const part of createCsvRenderer().render(source(), job)) parts.push(part);
  return Buffer.concat(parts).toString("utf8");
}

describe("CSV renderer", () => {
  it("writes RFC 4180: CRLF, quotes only where needed, doubled quotes", async () => {
    expect(await render([[['x"y', "1,5"]], [["line\nbreak", " pad "]]])).toBe(
      'A,B b\r\n"x""y","1,5"\r\n"line\nbreak", pad \r\n',
    );
  });

  it("tells an empty string from a null", async () => {
    expect(await render([[["", null]]], { header: false })).toBe('"",\r\n');
  });

  it("honours delimiter, LF, quote-all, BOM and no header", async () => {
    const text = await render([[["a;b", "2"]]], {
      delimiter: ";",
      recordDelimiter: "\n",
      quoteAll: true,
      bom: true,
      header: false,
    });
    expect(text).toBe('\uFEFF"a;b";"2"\n');
  });

  it("neutralises formulas only when asked", async () => {
    const rows: RowBlock = [["=SUM(A1)", "-3"]];
    expect(await render([rows], { header: false })).toBe("=SUM(A1),-3\r\n");
    expect(await render([rows], { header: false, escapeFormulas: true })).toBe("'=SUM(A1),-3\r\n");
  });

  describe("with escape_formulas", () => {
    const escaping = { header: false, escapeFormulas: true };

    it("escapes formulas in text columns but not plain numbers", async () => {
      const rows: RowBlock = [
        ["-0.75", "-0.75"],
        ["+1", "+1"],
        ["-", "-"],
        ["@user", "@user"],
      ];
      expect(await render([rows], escaping)).toBe(
        "-0.75,-0.75\r\n+1,+1\r\n'-,-\r\n'@user,@user\r\n",
      );
    });

    it("never escapes a number column", async () => {
      expect(await render([[["=1+2", "=1+2"]]], escaping)).toBe("'=1+2,=1+2\r\n");
    });

    it("escapes before quoting, so the quote lands inside the field", async () => {
      const rows: RowBlock = [
        ["=SUM(A1,B1)", "1"],
        ["\t=1", "2"],
        ["\r=1", "3"],
      ];
      expect(await render([rows], escaping)).toBe(
        '"\'=SUM(A1,B1)",1\r\n\'\t=1,2\r\n"\'\r=1",3\r\n',
      );
      expect(await render([[["=1", "-1"]]], { ...escaping, quoteAll: true })).toBe(
        '"\'=1","-1"\r\n',
      );
    });

    it("keeps null and empty cells as they are", async () => {
      expect(await render([[["", null]], [[null, ""]]], escaping)).toBe('"",\r\n,""\r\n');
    });

    it("escapes titles, which are text whatever their column's kind", async () => {
      const columns: ColumnSpec[] = [
        { key: "a", title: "=A", kind: "text", width: undefined },
        { key: "b", title: "-B", kind: "number", width: undefined },
      ];
      expect(await render([], { escapeFormulas: true }, columns)).toBe("'=A,'-B\r\n");
      expect(await render([], {}, columns)).toBe("=A,-B\r\n");
    });

    it("reads back as the escaped text, numbers untouched", async () => {
      const rows: RowBlock = [
        ['=HYPERLINK("http://x","y")', "-0.75"],
        ["-1.5E-3", "=1+2"],
        ["+", "+1"],
        ["\r\n@a, b", null],
        [null, "-"],
        ["", "1e5"],
        ["plain", ""],
      ];
      const text = await render([rows], { escapeFormulas: true, delimiter: ";" });
      expect(parseCsv(text, { delimiter: ";" })).toEqual([
        ["A", "B b"],
        ['\'=HYPERLINK("http://x","y")', "-0.75"],
        ["-1.5E-3", "=1+2"],
        ["'+", "+1"],
        ["'\r\n@a, b", null],
        [null, "-"],
        ["", "1e5"],
        ["plain", ""],
      ]);
    });
  });
});
