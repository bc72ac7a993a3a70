/**
 * What the renderer changes in pdfkit's document so that memory does not grow
 * with the pages: the page tree keeps page numbers, object offsets live off
 * the heap, and the document's end comes out in a few chunks. All must leave
 * the file byte for byte as pdfkit writes it.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { endDocument } from "../../src/render/pdf/document-end.js";
import { keepObjectOffsetsOffHeap } from "../../src/render/pdf/object-offsets.js";
import { keepPageNumbersOnly } from "../../src/render/pdf/page-tree.js";
import { type Doc, PDFDocument } from "../../src/render/pdf/pdfkit.js";

setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

const PAGES = 300;

function openDocument(): Doc {
  return new PDFDocument({
    autoFirstPage: false,
    bufferPages: false,
    info: { CreationDate: new Date(0) },
  });
}

function addPage(doc: Doc, n: number): void {
  doc.addPage({ size: "A4", margin: 0 });
  doc.text(`page ${n}`, 50, 50);
}

/** Everything the document has pushed so far, chunk by chunk. */
function read(doc: Doc): Buffer[] {
  const chunks: Buffer[] = [];
  for (let chunk = doc.read() as Buffer | null; chunk !== null; chunk = doc.read()) {
    chunks.push(chunk);
  }
  return chunks;
}

/** A document of `pages` pages, ended as `end` does, and the sizes of the chunks its end pushed. */
function write(change: (doc: Doc) => void, end: (doc: Doc) => void, pages = PAGES) {
  const doc = openDocument();
  change(doc);
  const body: Buffer[] = [];
  for (let n = 1; n <= pages; n++) {
    addPage(doc, n);
    body.push(...read(doc));
  }
  const pushedAtEnd: (number | null)[] = [];
  const push = doc.push;
  Object.assign(doc, {
    push(chunk: Uint8Array | null) {
      pushedAtEnd.push(chunk === null ? null : chunk.length);
      return push.call(doc, chunk);
    },
  });
  end(doc);
  return { file: Buffer.concat([...body, ...read(doc)]), pushedAtEnd };
}

const asPdfkitWrites = write(
  () => {},
  (doc) => doc.end(),
);

describe("the page tree", () => {
  it("lists every page as pdfkit does", () => {
    const file = write(keepPageNumbersOnly, (doc) => doc.end()).file;
    expect(file.equals(asPdfkitWrites.file)).toBe(true);
    expect(file.toString("latin1")).toMatch(
      new RegExp(`/Count ${PAGES}\\n/Kids \\[\\d+ 0 R( \\d+ 0 R){${PAGES - 1}}\\]`),
    );
  });

  it("lets a written page go", async () => {
    const pageOf = (doc: Doc) =>
      (doc as unknown as { page: { dictionary: object } }).page.dictionary;
    const written = async (change: (doc: Doc) => void) => {
      const doc = openDocument();
      change(doc);
      addPage(doc, 1);
      const first = new WeakRef(pageOf(doc));
      // pdfkit writes a page when the next one starts (bufferPages off).
      addPage(doc, 2);
      read(doc);
      // A WeakRef holds its target until the current task ends.
      await new Promise((resolve) => setImmediate(resolve));
      collectGarbage();
      return first.deref() === undefined;
    };
    expect(await written(keepPageNumbersOnly)).toBe(true);
    // What the test tells apart: pdfkit alone keeps it.
    expect(await written(() => {})).toBe(false);
  });

  it("refuses a document whose page tree is not pdfkit's empty list", () => {
    const doc = openDocument();
    addPage(doc, 1);
    expect(() => keepPageNumbersOnly(doc)).toThrow(/was pdfkit upgraded/);
  });
});

describe("the object offsets", () => {
  it("give the same cross-reference table, with every change at once", () => {
    const everything = (doc: Doc) => {
      keepPageNumbersOnly(doc);
      keepObjectOffsetsOffHeap(doc);
    };
    expect(write(everything, endDocument).file.equals(asPdfkitWrites.file)).toBe(true);
    const pages = 5_000;
    const alone = write(
      () => {},
      (doc) => doc.end(),
      pages,
    );
    expect(write(everything, endDocument, pages).file.equals(alone.file)).toBe(true);
  });

  it("take only what pdfkit writes to them", () => {
    const doc = openDocument();
    keepObjectOffsetsOffHeap(doc);
    const offsets = (doc as unknown as { _offsets: Record<string, unknown> })._offsets;
    expect(() => {
      offsets.size = 1;
    }).toThrow(TypeError);
    expect(() => {
      offsets[offsets.length as number] = 1;
    }).toThrow(RangeError);
  });

  it("refuse offsets that are not pdfkit's array of unwritten objects", () => {
    const doc = openDocument();
    (doc as unknown as { _offsets: unknown })._offsets = [15];
    expect(() => keepObjectOffsetsOffHeap(doc)).toThrow(/was pdfkit upgraded/);
  });
});

describe("the end of the document", () => {
  it("comes out in a few chunks, the same bytes", () => {
    const ended = write(() => {}, endDocument);
    expect(ended.file.equals(asPdfkitWrites.file)).toBe(true);
    // pdfkit alone pushes a chunk for each line of the cross-reference
    // table, an object a line and several objects a page.
    expect(asPdfkitWrites.pushedAtEnd.length).toBeGreaterThan(PAGES * 2);
    // The end's few kilobytes, then the end of the stream.
    expect(ended.pushedAtEnd).toEqual([expect.any(Number), null]);
  });

  it("cuts a long end into chunks of up to 64 KiB, in order", () => {
    const pages = 5_000;
    const alone = write(
      () => {},
      (doc) => doc.end(),
      pages,
    );
    const ended = write(() => {}, endDocument, pages);
    expect(ended.file.equals(alone.file)).toBe(true);
    const sizes = ended.pushedAtEnd.slice(0, -1) as number[];
    expect(ended.pushedAtEnd.at(-1)).toBeNull();
    expect(sizes.length).toBeGreaterThan(2);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(64 * 1024);
    // Gathered, not just passed on: all but the last come near the size.
    for (const size of sizes.slice(0, -1)) expect(size).toBeGreaterThan(60 * 1024);
  });

  it("gives the stream back the push it had", () => {
    const doc = openDocument();
    addPage(doc, 1);
    endDocument(doc);
    expect(Object.hasOwn(doc, "push")).toBe(false);

    const other = openDocument();
    addPage(other, 1);
    const push = other.push;
    const own = (chunk: Uint8Array | null) => push.call(other, chunk);
    Object.assign(other, { push: own });
    endDocument(other);
    expect(other.push).toBe(own);
  });

  it("fails when pdfkit cannot finish the document", () => {
    const doc = openDocument();
    addPage(doc, 1);
    // An object handed out and never written: pdfkit waits for it.
    doc.ref({});
    expect(() => endDocument(doc)).toThrow(/objects are still open/);
  });
});
