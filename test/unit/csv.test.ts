import { describe, expect, it } from "vitest";
import { createCsvRenderer } from "../../src/render/csv.js";
import type { CsvSettings, RenderJob, RowBlock } from "../../src/render/renderer.js";

const defaults: CsvSettings = {
  header: true,
  delimiter: ",",
  recordDelimiter: "\r\n",
  quoteAll: false,
  bom: false,
  escapeFormulas: false,
};

async function render(blocks: RowBlock[], csv: Partial<CsvSettings> = {}) {
  const job: RenderJob = {
    columns: [
      { key: "a", title: "A", kind: "text", width: undefined },
      { key: "b", title: "B b", kind: "number", width: undefined },
    ],
    csv: { ...defaults, ...csv },
    pdf: { title: "", pageSize: "A4", orientation: "portrait", generatedAt: undefined },
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
    expect(await render([rows], { header: false, escapeFormulas: true })).toBe("'=SUM(A1),'-3\r\n");
  });
});
