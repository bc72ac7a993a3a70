import { strFromU8, unzipSync } from "fflate";
import { describe, expect, it } from "vitest";
import { createXlsxRenderer } from "../../src/render/xlsx/renderer.js";
import { inBlocks, pdfJob } from "../support/pdf.js";

describe("XLSX sheets past the row limit", () => {
  it("are named within 31 characters, never cutting an emoji in half", async () => {
    const renderer = createXlsxRenderer({ maxRowsPerSheet: 3 });
    const job = {
      ...pdfJob([{ key: "n", title: "N", kind: "text", width: undefined }]),
      xlsx: { sheetName: `${"b".repeat(26)}😀ccc` },
    };
    const rows = Array.from({ length: 5 }, (_, index) => [String(index)]);
    const parts: Uint8Array[] = [];
    for await (const chunk of renderer.render(inBlocks(rows), job)) parts.push(chunk);
    const workbook = strFromU8(unzipSync(Buffer.concat(parts))["xl/workbook.xml"] as Uint8Array);
    const names = [...workbook.matchAll(/<sheet name="([^"]*)"/g)].map((match) => match[1]);
    expect(names).toEqual([
      `${"b".repeat(26)}😀ccc`,
      `${"b".repeat(26)} (2)`,
      `${"b".repeat(26)} (3)`,
    ]);
    for (const name of names) expect(name).not.toContain("\uFFFD");
  });
});
