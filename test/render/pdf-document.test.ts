/**
 * What the renderer changes in pdfkit's document so that memory does not grow
 * with the pages: the page tree keeps page numbers, and the document's end
 * comes out in a few chunks. Both must leave the file byte for byte as
 * pdfkit writes it.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { endDocument } from "../../src/render/pdf/document-end.js";
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

/** A document of `PAGES` pages, ended as `end` does, and how many chunks its end pushed. */
function write(change: (doc: Doc) => void, end: (doc: Doc) => void) {
  const doc = openDocument();
  change(doc);
  const body: Buffer[] = [];
  for (let n = 1; n <= PAGES; n++) {
    addPage(doc, n);
    body.push(...read(doc));
  }
  let pushesAtEnd = 0;
  const push = doc.push;
  Object.assign(doc, {
    push(chunk: Uint8Array | null) {
      pushesAtEnd++;
      return push.call(doc, chunk);
    },
  });
  end(doc);
  return { file: Buffer.concat([...body, ...read(doc)]), pushesAtEnd };
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

describe("the end of the document", () => {
  it("comes out in a few chunks, the same bytes", () => {
    const ended = write(() => {}, endDocument);
    expect(ended.file.equals(asPdfkitWrites.file)).toBe(true);
    // pdfkit alone pushes a chunk for each line of the cross-reference
    // table, an object a line and several objects a page.
    expect(asPdfkitWrites.pushesAtEnd).toBeGreaterThan(PAGES * 2);
    // The end's few kilobytes, then the end of the stream.
    expect(ended.pushesAtEnd).toBe(2);
  });

  it("gives the stream back its own push", () => {
    const doc = openDocument();
    addPage(doc, 1);
    endDocument(doc);
    expect(Object.hasOwn(doc, "push")).toBe(false);
  });
});
