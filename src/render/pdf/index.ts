import type { Renderer, RenderJob, RowBlock } from "../renderer.js";
import { cellRows, slicesOf } from "../slices.js";
import { endDocument } from "./document-end.js";
import { fontChains } from "./fonts.js";
import { PDF_LAYOUT, validDate } from "./layout.js";
import { keepObjectOffsetsOffHeap } from "./object-offsets.js";
import { keepPageNumbersOnly } from "./page-tree.js";
import { type Doc, PDFDocument } from "./pdfkit.js";
import { TableWriter } from "./table.js";
import { type PageDeflater, Typesetter } from "./typeset.js";

export {
  expectedPages,
  PDF_LAYOUT,
  pageCapacity,
  pageGeometry,
  type RowShape,
} from "./layout.js";

export interface PdfRendererOptions {
  /** A TrueType/OpenType font to use instead of the bundled DejaVu Sans as the first font. */
  readonly fontPath?: string | undefined;
  /** Its bold face; DejaVu Sans Bold by default, the regular font when only `fontPath` is set. */
  readonly boldFontPath?: string | undefined;
  /**
   * Fonts tried after the first and before the bundled fallbacks (CJK, Korean,
   * Arabic, Hebrew, emoji), for regular and bold text alike. None by default.
   */
  readonly fallbackFontPaths?: readonly string[] | undefined;
}

/** Where a renderer deflates its pages' content: in its own thread unless given. */
export interface PdfRendererPlace {
  readonly deflater?: PageDeflater | undefined;
}

/** About 10 ms of drawing: larger blocks are drawn in slices this size. */
const ROWS_PER_SLICE = 250;

/**
 * Finished pages whose content stream may wait after a slice: pages being
 * deflated elsewhere while the next slice is drawn. Streams are written at
 * the same points when pages are deflated here, so the file is the same
 * either way, and a page's content goes out at most a slice and this many
 * pages after the page.
 */
const PAGES_DEFLATING = 8;

// The column widths are measured on the first slice of rows.
if (PDF_LAYOUT.sampleRows > ROWS_PER_SLICE) {
  throw new Error("a slice must hold the rows sampled for column widths");
}

/**
 * PDF tables, streamed page by page.
 *
 * Column titles form a bold header row repeated on every page; rows are
 * zebra-striped; every page has a "Page N" footer; the first page carries the
 * title and the generation time when set. Text is set in a chain of fonts
 * (see fonts.ts): each character in the first font that has it, each font
 * embedded as a subset of the glyphs used.
 *
 * pdfkit writes each page out when the next one starts (`bufferPages` off),
 * and its content stream when it is settled (see {@link PAGES_DEFLATING}): after
 * every slice of rows the renderer hands on whatever pdfkit has produced and
 * only then asks for more.
 */
export function createPdfRenderer(
  options: PdfRendererOptions = {},
  { deflater }: PdfRendererPlace = {},
): Renderer {
  // Read (and check) the configured fonts once, when the service starts,
  // and fail now if pdfkit's internals are not as the typesetter, the page
  // tree and the object offsets expect.
  // The bundled fallbacks are read when a character first needs one.
  const chains = fontChains(options);
  const probe = new PDFDocument({ autoFirstPage: false });
  new Typesetter(probe, chains.regular, "R");
  keepPageNumbersOnly(probe);
  keepObjectOffsetsOffHeap(probe);

  return {
    contentType: "application/pdf",
    fileExtension: "pdf",
    async *render(blocks: AsyncIterable<RowBlock>, job: RenderJob) {
      const doc = openDocument(job.pdf);
      let finished = false;
      try {
        const fonts = {
          regular: { chain: chains.regular, prefix: "R" },
          bold: { chain: chains.bold, prefix: "B" },
        };
        // "%PDF-1.3" is out before the first row arrives.
        yield* drain(doc);

        let table: TableWriter | undefined;
        for await (const block of blocks) {
          for await (const rows of slicesOf(block, ROWS_PER_SLICE)) {
            // Strings are made a slice at a time, not a block at a time:
            // fewer are alive when the garbage collector copies what is.
            const slice = cellRows(rows);
            if (table === undefined) {
              if (slice.length === 0) continue;
              table = new TableWriter(doc, job, fonts, slice, deflater);
            }
            table.addRows(slice);
            const deflating = table.settle(PAGES_DEFLATING);
            if (deflating !== undefined) await deflating;
            yield* drain(doc);
          }
        }
        table ??= new TableWriter(doc, job, fonts, [], deflater);
        table.finish();
        await table.settle(0);
        endDocument(doc);
        yield* drain(doc);
        finished = true;
      } finally {
        // Stopped early (consumer gave up or the input failed): drop the
        // document; nothing else holds on to it.
        if (!finished) doc.destroy();
      }
    },
  };
}

/**
 * The document for one export, set up so that it does not keep its pages
 * once written. Built apart from the renderer's loop: inline, V8 threw away
 * the loop's optimised code at the start of new exports (--trace-deopt).
 */
function openDocument(pdf: RenderJob["pdf"]): Doc {
  const doc = new PDFDocument({
    size: pdf.pageSize,
    layout: pdf.orientation,
    margin: 0,
    autoFirstPage: false,
    bufferPages: false,
    displayTitle: pdf.title !== "",
    info: {
      ...(pdf.title === "" ? {} : { Title: pdf.title }),
      Creator: "Export@Scale",
      Producer: "Export@Scale (PDFKit)",
      // A fixed generation time makes the file byte-for-byte reproducible.
      CreationDate: validDate(pdf.generatedAt) ? pdf.generatedAt : new Date(),
    },
  });
  keepPageNumbersOnly(doc);
  keepObjectOffsetsOffHeap(doc);
  return doc;
}

/**
 * Largest piece {@link drain} joins: a slice of rows makes kilobytes, but the
 * end of a long document (its cross-reference table, 20 bytes an object)
 * makes megabytes at once, and joining them all would hold them twice.
 */
const DRAIN_BYTES = 1024 * 1024;

/** Whatever pdfkit has pushed so far, in pieces of up to {@link DRAIN_BYTES}. */
function* drain(doc: Doc): Generator<Uint8Array> {
  while (doc.readableLength > 0) {
    const piece = doc.read(Math.min(doc.readableLength, DRAIN_BYTES)) as Buffer | null;
    // A byte stream gives what it holds; anything else would cut the file short.
    if (piece === null) throw new Error("pdfkit's output stream held bytes it would not give");
    yield piece;
  }
}
