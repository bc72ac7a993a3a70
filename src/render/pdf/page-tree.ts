import { NumberList } from "./number-list.js";
import type { Doc } from "./pdfkit.js";

interface PdfkitReference {
  readonly id: number;
  readonly gen: number;
}

interface PageTreeInternals {
  _root?: { data?: { Pages?: { data?: { Kids?: unknown } } } };
}

/**
 * Makes pdfkit's page tree keep each page's object number instead of the
 * page. pdfkit lists every page's dictionary there until the document ends,
 * and through it the page's resources and content streams, long after the
 * page was written: about 1.3 kB a page, 32 MB of heap by the end of a
 * 1,000,000-row export of 8 columns (25,000 pages). The tree is written at
 * the end as the same array of references, so the file is byte for byte the
 * same; the numbers take 8 bytes a page, off the heap. pdfkit's links and
 * outline entries to a page by number read the tree as an array: the
 * renderer makes neither.
 */
export function keepPageNumbersOnly(doc: Doc): void {
  const root = (doc as unknown as PageTreeInternals)._root;
  const pages = root?.data?.Pages?.data;
  // pdfkit writes an object that is one of its references by its toString()
  // (PDFObject.convert); its reference class is not exported, but the root's
  // class extends it.
  const abstractReference =
    root === undefined ? undefined : Object.getPrototypeOf(Object.getPrototypeOf(root));
  if (
    !Array.isArray(pages?.Kids) ||
    pages.Kids.length > 0 ||
    typeof abstractReference !== "object" ||
    abstractReference === null ||
    abstractReference === Object.prototype ||
    !Object.hasOwn(abstractReference, "toString")
  ) {
    throw new Error("pdfkit's page tree is not as this renderer expects; was pdfkit upgraded?");
  }
  const ids = new NumberList();
  pages.Kids = Object.assign(Object.create(abstractReference) as object, {
    push(page: PdfkitReference): void {
      // pdfkit numbers every object in generation 0.
      if (page.gen !== 0) throw new Error(`pdfkit gave page ${page.id} generation ${page.gen}`);
      ids.push(page.id);
    },
    toString(): string {
      return `[${Array.from(ids, (id) => `${id} 0 R`).join(" ")}]`;
    },
  });
}
