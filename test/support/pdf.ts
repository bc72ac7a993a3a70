import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { inflateSync } from "node:zlib";
import type {
  Cell,
  ColumnSpec,
  PdfSettings,
  Renderer,
  RenderJob,
  RowBlock,
} from "../../src/render/renderer.js";

const run = promisify(execFile);

/** A render job for a PDF with these columns (CSV and XLSX settings unused). */
export function pdfJob(columns: readonly ColumnSpec[], pdf: Partial<PdfSettings> = {}): RenderJob {
  return {
    columns,
    csv: {
      header: true,
      delimiter: ",",
      recordDelimiter: "\n",
      quoteAll: false,
      bom: false,
      escapeFormulas: false,
    },
    pdf: { title: "", pageSize: "A4", orientation: "portrait", generatedAt: undefined, ...pdf },
    xlsx: { sheetName: "Sheet1" },
  };
}

export async function* inBlocks(
  rows: readonly (readonly Cell[])[],
  size = 100,
): AsyncGenerator<RowBlock> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

/** The whole file `renderer` makes of `rows`. */
export function renderPdf(
  renderer: Renderer,
  rows: readonly (readonly Cell[])[],
  job: RenderJob,
): Promise<Buffer> {
  return collect(renderer.render(inBlocks(rows), job));
}

/** pdfinfo's page count and size for a PDF file; fails for an invalid file. */
export async function pdfinfo(
  path: string,
): Promise<{ pages: number; pageSize: string; raw: string }> {
  const { stdout } = await run("pdfinfo", [path]);
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(stdout)?.[1] ?? "";
  return { pages: Number(field("Pages")), pageSize: field("Page size"), raw: stdout };
}

/** Text of every page, laid out like the page (pdftotext -layout). */
export async function pageTexts(path: string): Promise<string[]> {
  const { stdout } = await run("pdftotext", ["-layout", "-enc", "UTF-8", path, "-"], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const pages = stdout.split("\f");
  if (pages.at(-1)?.trim() === "") pages.pop();
  return pages;
}

/** Names of the fonts embedded in a PDF (pdffonts). */
export async function pdffonts(path: string): Promise<string> {
  return (await run("pdffonts", [path])).stdout;
}

export interface WordBox {
  readonly page: number;
  readonly xMin: number;
  readonly yMin: number;
  readonly xMax: number;
  readonly text: string;
}

const XML_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/**
 * Every word pdftotext finds, with its box (pdftotext -bbox). Words come as
 * drawn: a right-to-left word's letters are in visual order, last letter first.
 */
export async function wordBoxes(path: string): Promise<WordBox[]> {
  const { stdout } = await run("pdftotext", ["-bbox", "-enc", "UTF-8", path, "-"], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const words: WordBox[] = [];
  let page = 0;
  for (const line of stdout.split("\n")) {
    if (line.includes("<page ")) page++;
    const word =
      /<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">(.*)<\/word>/.exec(line);
    if (word === null) continue;
    words.push({
      page,
      xMin: Number(word[1]),
      yMin: Number(word[2]),
      xMax: Number(word[3]),
      text: (word[4] ?? "").replace(/&(\w+);/g, (all, name: string) => XML_ENTITIES[name] ?? all),
    });
  }
  return words;
}

/** The words of the line that starts with the word `first`, left to right. */
export function lineStartingWith(words: readonly WordBox[], first: string): string[] {
  const head = words.find((word) => word.text === first);
  if (head === undefined) throw new Error(`no word ${first}`);
  return words
    .filter((word) => word.page === head.page && Math.abs(word.yMin - head.yMin) < 3)
    .sort((a, b) => a.xMin - b.xMin)
    .map((word) => word.text);
}

/** Decodes a PDF literal string as the renderer writes them (escapes: \\ \( \) \n \r). */
function literalBytes(literal: string): number[] {
  const bytes: number[] = [];
  for (let i = 1; i < literal.length - 1; i++) {
    let char = literal[i] as string;
    if (char === "\\") {
      i++;
      char = literal[i] as string;
      if (char === "n") char = "\n";
      else if (char === "r") char = "\r";
    }
    bytes.push(char.charCodeAt(0));
  }
  return bytes;
}

const LITERAL = /\((?:\\[\s\S]|[^\\)])*\)/g;
const SHOWN =
  /\((?:\\[\s\S]|[^\\)])*\)\s*Tj|\[(?:\s*\((?:\\[\s\S]|[^\\)])*\)|\s*-?[\d.]+)*\s*\]\s*TJ/g;

/**
 * The glyph ids a PDF's text operators draw (every font is Identity-H, two
 * bytes a glyph). Glyph 0 is a font's empty box.
 */
export function drawnGlyphIds(pdf: Buffer): number[] {
  const ids: number[] = [];
  const text = pdf.toString("latin1");
  for (const match of text.matchAll(
    /<<\s*\/Length (\d+)\s*\/Filter \/FlateDecode\s*>>\s*stream\r?\n/g,
  )) {
    const start = (match.index ?? 0) + match[0].length;
    const content = inflateSync(pdf.subarray(start, start + Number(match[1]))).toString("latin1");
    if (!content.includes("BT")) continue;
    for (const shown of content.matchAll(SHOWN)) {
      for (const literal of shown[0].matchAll(LITERAL)) {
        const bytes = literalBytes(literal[0]);
        for (let i = 0; i + 1 < bytes.length; i += 2) {
          ids.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
        }
      }
    }
  }
  return ids;
}
