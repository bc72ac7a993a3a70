/**
 * The table of a PDF report: layout and drawing, row by row and page by page.
 */
import type { Cell, CellRows, ColumnKind, ColumnSpec, RenderJob } from "../renderer.js";
import type { FontChain } from "./fonts.js";
import {
  allocateWidths,
  type ColumnDemand,
  headerHeight,
  type PageGeometry,
  PDF_LAYOUT,
  pageGeometry,
  requestedWidth,
  rowHeight,
  titleBlockHeight,
  validDate,
} from "./layout.js";
import { LineCache } from "./line-cache.js";
import type { Doc } from "./pdfkit.js";
import { clip, type Line, lastLine, layoutText, paragraphs } from "./text.js";
import { ContentBuilder, type PageDeflater, type Rgb, Typesetter } from "./typeset.js";

/** A font chain and the prefix of the names its fonts are registered under in the document. */
export interface RegisteredChain {
  readonly chain: FontChain;
  readonly prefix: string;
}

const COLORS = {
  text: [0.11, 0.13, 0.16],
  headerText: [0.07, 0.09, 0.12],
  headerFill: [0.9, 0.92, 0.95],
  headerRule: [0.55, 0.6, 0.66],
  stripe: [0.955, 0.963, 0.973],
  tableRule: [0.8, 0.83, 0.86],
  muted: [0.42, 0.46, 0.52],
} as const satisfies Record<string, Rgb>;

const COMBINING = /[\u0300-\u036f]/;

interface Column {
  readonly kind: ColumnKind;
  readonly x: number;
  readonly width: number;
  /** Width available to text (column width minus padding). */
  readonly inner: number;
  /** Most characters of a cell ever looked at (enough for maxLines full lines). */
  readonly maxChars: number;
  readonly layouts: LineCache;
}

/** Lays the table out and draws it, row by row and page by page. */
export class TableWriter {
  private readonly regular: Typesetter;
  private readonly bold: Typesetter;
  private readonly content: ContentBuilder;
  private readonly geometry: PageGeometry;
  private readonly columns: readonly Column[];
  private readonly header: readonly (readonly Line[])[];
  private readonly headerHeight: number;
  private readonly measureBody: (text: string) => number;
  private readonly baseline: number;
  private page = 0;
  private y = 0;
  private rowOnPage = 0;
  private rows = 0;
  private footerTitle: Line | undefined;

  constructor(
    private readonly doc: Doc,
    private readonly job: RenderJob,
    fonts: { readonly regular: RegisteredChain; readonly bold: RegisteredChain },
    sample: CellRows,
    deflater?: PageDeflater,
  ) {
    this.regular = new Typesetter(doc, fonts.regular.chain, fonts.regular.prefix);
    this.bold = new Typesetter(doc, fonts.bold.chain, fonts.bold.prefix);
    this.content = new ContentBuilder(doc, deflater);
    this.geometry = pageGeometry(job.pdf);
    const size = PDF_LAYOUT.fontSize;
    this.measureBody = (text) => this.regular.width(text, size);
    const measureBold = (text: string) => this.bold.width(text, size);

    const widths = allocateWidths(
      job.columns.map((column, i) => demand(column, i, sample, this.measureBody, measureBold)),
      this.geometry.tableWidth,
    );
    let x = PDF_LAYOUT.marginX;
    this.columns = job.columns.map((column, i) => {
      const width = widths[i] ?? PDF_LAYOUT.minColumnWidth;
      const inner = Math.max(1, width - 2 * PDF_LAYOUT.cellPaddingX);
      const col: Column = {
        kind: column.kind,
        x,
        width,
        inner,
        maxChars: maxChars(inner, size),
        layouts: new LineCache(),
      };
      x += width;
      return col;
    });
    this.header = job.columns.map((column, i) => {
      const col = this.columns[i] as Column;
      const title = column.title.normalize("NFC");
      return layoutText(title, col.inner, PDF_LAYOUT.maxLines, col.maxChars, measureBold);
    });
    this.headerHeight = headerHeight(this.header.reduce((max, l) => Math.max(max, l.length), 1));
    // Baseline of a cell's first line, measured from the top of its text area:
    // the font's ascent and descent centred in one line height.
    const ascent = (this.regular.ascender * size) / 1000;
    const descent = (-this.regular.descender * size) / 1000;
    this.baseline = (PDF_LAYOUT.lineHeight - ascent - descent) / 2 + ascent;
    this.startPage();
  }

  addRows(block: CellRows): void {
    const columns = this.columns;
    const lines: (readonly Line[])[] = new Array(columns.length);
    for (const row of block) {
      let tallest = 1;
      for (let i = 0; i < columns.length; i++) {
        const col = columns[i] as Column;
        const cellLines = this.cell(row[i] ?? null, col);
        lines[i] = cellLines;
        if (cellLines.length > tallest) tallest = cellLines.length;
      }
      const height = rowHeight(tallest);
      if (this.y + height > this.geometry.tableBottom) {
        this.endPage();
        this.startPage();
      }
      if (this.rowOnPage % 2 === 1) {
        this.content.rect(PDF_LAYOUT.marginX, this.y, this.tableWidth(), height, COLORS.stripe);
      }
      const top = this.y + PDF_LAYOUT.cellPaddingY;
      for (let i = 0; i < columns.length; i++) {
        this.drawLines(lines[i] ?? [], columns[i] as Column, top, this.regular, COLORS.text);
      }
      this.y += height;
      this.rowOnPage++;
      this.rows++;
    }
  }

  /** See {@link ContentBuilder.settle}. */
  settle(pages: number): Promise<void> | undefined {
    return this.content.settle(pages);
  }

  finish(): void {
    if (this.rows === 0 && this.columns.length > 0) {
      const text = "No rows.";
      const size = PDF_LAYOUT.fontSize;
      const x = PDF_LAYOUT.marginX + PDF_LAYOUT.cellPaddingX;
      const baseline = this.y + PDF_LAYOUT.cellPaddingY + this.baseline;
      this.drawLine(this.regular, size, this.plainLine(text, size), x, baseline, COLORS.muted);
    }
    this.endPage();
  }

  /** Lines of one cell. Null and "" are both drawn as an empty cell. */
  private cell(value: Cell, col: Column): readonly Line[] {
    if (value === null || value === "") return [];
    let lines = col.layouts.get(value);
    if (lines === undefined) {
      // "e" + U+0301 becomes "é": one glyph, drawn without shaping.
      const text = COMBINING.test(value) ? value.normalize("NFC") : value;
      lines = layoutText(text, col.inner, PDF_LAYOUT.maxLines, col.maxChars, this.measureBody);
      col.layouts.set(value, lines);
    }
    return lines;
  }

  private drawLines(
    lines: readonly Line[],
    col: Column,
    top: number,
    face: Typesetter,
    color: Rgb,
  ) {
    const size = PDF_LAYOUT.fontSize;
    for (let j = 0; j < lines.length; j++) {
      const line = lines[j] as Line;
      let x = col.x + PDF_LAYOUT.cellPaddingX;
      if (col.kind === "number") x += col.inner - line.width;
      else if (col.kind === "boolean") x += (col.inner - line.width) / 2;
      const baseline = top + j * PDF_LAYOUT.lineHeight + this.baseline;
      this.drawLine(face, size, line, x, baseline, color);
    }
  }

  private drawLine(
    face: Typesetter,
    size: number,
    line: Line,
    x: number,
    baseline: number,
    color: Rgb,
  ) {
    face.drawLine(this.content, line, size, x, baseline, color);
  }

  /** Text of the table's own (a label, the generation time) as one line in the regular face. */
  private plainLine(text: string, size: number): Line {
    return { text, width: this.regular.width(text, size) };
  }

  private tableWidth(): number {
    const last = this.columns[this.columns.length - 1];
    return last === undefined ? 0 : last.x + last.width - PDF_LAYOUT.marginX;
  }

  private startPage(): void {
    const { pdf } = this.job;
    this.doc.addPage({ size: pdf.pageSize, layout: pdf.orientation, margin: 0 });
    this.page++;
    this.content.startPage(this.geometry.height);
    this.regular.trimCaches();
    this.bold.trimCaches();
    this.y = PDF_LAYOUT.marginTop;
    this.rowOnPage = 0;
    if (this.page === 1) this.drawTitle();
    this.drawFooter();
    if (this.columns.length > 0) this.drawHeader();
  }

  private endPage(): void {
    if (this.rowOnPage > 0) {
      const x = PDF_LAYOUT.marginX;
      this.content.hline(x, x + this.tableWidth(), this.y, 0.5, COLORS.tableRule);
    }
    this.content.flush();
  }

  private drawTitle(): void {
    const { pdf } = this.job;
    const x = PDF_LAYOUT.marginX;
    const width = this.geometry.tableWidth;
    let y = this.y;
    if (pdf.title !== "") {
      const size = PDF_LAYOUT.titleFontSize;
      const title = paragraphs(clip(pdf.title, 1000)).join(" ");
      const line = lastLine(title, false, width, (s) => this.bold.width(s, size));
      const baseline = y + (this.bold.ascender * size) / 1000;
      this.drawLine(this.bold, size, line, x, baseline, COLORS.headerText);
      y += PDF_LAYOUT.titleLineHeight;
    }
    if (validDate(pdf.generatedAt)) {
      const size = PDF_LAYOUT.generatedFontSize;
      const text = `Generated ${pdf.generatedAt.toISOString().replace(/\.\d{3}Z$/, "Z")}`;
      const baseline = y + (this.regular.ascender * size) / 1000;
      this.drawLine(this.regular, size, this.plainLine(text, size), x, baseline, COLORS.muted);
    }
    this.y += titleBlockHeight(pdf);
  }

  private drawFooter(): void {
    const size = PDF_LAYOUT.footerFontSize;
    const baseline = this.geometry.height - PDF_LAYOUT.footerBaseline;
    const right = this.geometry.width - PDF_LAYOUT.marginX;
    const label = this.plainLine(`Page ${this.page}`, size);
    this.drawLine(this.regular, size, label, right - label.width, baseline, COLORS.muted);
    const { title } = this.job.pdf;
    if (title !== "") {
      // The title, cut to leave room for the widest page label this document is likely to have.
      this.footerTitle ??= lastLine(
        paragraphs(clip(title, 1000)).join(" "),
        false,
        this.geometry.tableWidth - this.regular.width("Page 000000", size) - 24,
        (s) => this.regular.width(s, size),
      );
      this.drawLine(
        this.regular,
        size,
        this.footerTitle,
        PDF_LAYOUT.marginX,
        baseline,
        COLORS.muted,
      );
    }
  }

  private drawHeader(): void {
    const x = PDF_LAYOUT.marginX;
    const width = this.tableWidth();
    this.content.rect(x, this.y, width, this.headerHeight, COLORS.headerFill);
    const top = this.y + PDF_LAYOUT.headerPaddingY;
    this.columns.forEach((col, i) => {
      this.drawLines(this.header[i] ?? [], col, top, this.bold, COLORS.headerText);
    });
    this.y += this.headerHeight;
    this.content.hline(x, x + width, this.y, 0.75, COLORS.headerRule);
  }
}

/** What one column would like, from its title and the sampled rows. */
function demand(
  column: ColumnSpec,
  index: number,
  sample: CellRows,
  measure: (text: string) => number,
  measureBold: (text: string) => number,
): ColumnDemand {
  const pad = 2 * PDF_LAYOUT.cellPaddingX;
  const fixed = requestedWidth(column);
  const text = column.kind === "text";
  if (fixed !== undefined) return { fixed, preferred: fixed, minimum: fixed, text };
  let preferred = 0;
  let minimum = 0;
  const consider = (text: string, measureText: (text: string) => number) => {
    for (const para of paragraphs(clip(text, PDF_LAYOUT.sampleChars))) {
      preferred = Math.max(preferred, measureText(para));
      for (const word of para.split(" ")) minimum = Math.max(minimum, measureText(word));
    }
  };
  consider(column.title, measureBold);
  const rows = Math.min(sample.length, PDF_LAYOUT.sampleRows);
  for (let r = 0; r < rows; r++) {
    const value = sample[r]?.[index];
    if (value != null && value !== "") consider(value, measure);
  }
  preferred = Math.min(preferred + pad, PDF_LAYOUT.maxAutoColumnWidth);
  minimum = Math.min(minimum + pad, PDF_LAYOUT.maxWordWidth, preferred);
  return { fixed: undefined, preferred, minimum, text };
}

/**
 * Characters of a cell worth measuring: enough to fill `maxLines` lines of
 * the narrowest glyphs (about a quarter em), plus slack.
 */
function maxChars(inner: number, size: number): number {
  return Math.ceil((PDF_LAYOUT.maxLines * inner) / (0.25 * size)) + 16;
}
