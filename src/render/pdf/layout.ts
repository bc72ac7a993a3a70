/**
 * Page geometry and column widths for the PDF table. Everything here is pure
 * arithmetic on points (1/72 inch) so tests can predict page counts exactly.
 */
import type { ColumnSpec, PdfSettings } from "../renderer.js";

export const PDF_LAYOUT = {
  /** Left, right and top page margin. */
  marginX: 36,
  marginTop: 36,
  /** The table stops this far above the bottom edge; the footer sits below it. */
  marginBottom: 44,
  /** Baseline of the footer ("Page N"), measured up from the bottom edge. */
  footerBaseline: 24,
  footerFontSize: 7,

  titleFontSize: 14,
  titleLineHeight: 20,
  generatedFontSize: 8,
  generatedLineHeight: 12,
  /** Space between the title block and the table on the first page. */
  titleGap: 10,

  fontSize: 8,
  /** Distance between the baselines of two lines inside one cell. */
  lineHeight: 10,
  cellPaddingX: 4,
  cellPaddingY: 3,
  headerPaddingY: 4,
  /** Lines a cell (or a column title) may take before it is cut with "…". */
  maxLines: 3,

  minColumnWidth: 30,
  /** An automatic column never asks for more than this before sharing leftover space. */
  maxAutoColumnWidth: 240,
  /** The longest unbreakable word a column insists on keeping whole. */
  maxWordWidth: 160,
  /** Rows of the first block looked at to size automatic columns. */
  sampleRows: 200,
  /** Characters of a cell looked at when sizing columns. */
  sampleChars: 200,
} as const;

const SIZES = { A4: [595.28, 841.89], LETTER: [612, 792] } as const;

export interface PageGeometry {
  readonly width: number;
  readonly height: number;
  /** Usable width between the left and right margins. */
  readonly tableWidth: number;
  /** The y (from the top) below which no row may extend. */
  readonly tableBottom: number;
}

export function pageGeometry(pdf: Pick<PdfSettings, "pageSize" | "orientation">): PageGeometry {
  const [short, long] = SIZES[pdf.pageSize];
  const landscape = pdf.orientation === "landscape";
  const width = landscape ? long : short;
  const height = landscape ? short : long;
  return {
    width,
    height,
    tableWidth: width - 2 * PDF_LAYOUT.marginX,
    tableBottom: height - PDF_LAYOUT.marginBottom,
  };
}

/**
 * The most columns a page takes, each at least `minColumnWidth` wide: past
 * that, every cell would show a letter or two and run into its neighbours.
 */
export function maxColumnsOnPage(pdf: Pick<PdfSettings, "pageSize" | "orientation">): number {
  return Math.floor(pageGeometry(pdf).tableWidth / PDF_LAYOUT.minColumnWidth);
}

/** Height of a body row whose tallest cell has `lines` lines. */
export function rowHeight(lines: number): number {
  return 2 * PDF_LAYOUT.cellPaddingY + Math.max(1, lines) * PDF_LAYOUT.lineHeight;
}

/** Height of the header row whose tallest title has `lines` lines. */
export function headerHeight(lines: number): number {
  return 2 * PDF_LAYOUT.headerPaddingY + Math.max(1, lines) * PDF_LAYOUT.lineHeight;
}

/** Height of the title / "Generated …" block on page 1, including the gap below it. */
export function titleBlockHeight(pdf: Pick<PdfSettings, "title" | "generatedAt">): number {
  let height = 0;
  if (pdf.title !== "") height += PDF_LAYOUT.titleLineHeight;
  if (validDate(pdf.generatedAt)) height += PDF_LAYOUT.generatedLineHeight;
  return height === 0 ? 0 : height + PDF_LAYOUT.titleGap;
}

export function validDate(date: Date | undefined): date is Date {
  return date !== undefined && Number.isFinite(date.getTime());
}

export interface RowShape {
  /** Lines of the tallest column title (1 unless titles wrap). */
  readonly headerLines?: number;
  /** Lines of every body row (1 for plain single-line values). */
  readonly rowLines?: number;
}

/** How many rows of `rowLines` lines fit on the first page and on every later page. */
export function pageCapacity(
  pdf: PdfSettings,
  { headerLines = 1, rowLines = 1 }: RowShape = {},
): { readonly firstPage: number; readonly otherPages: number } {
  const { tableBottom } = pageGeometry(pdf);
  const perPage = (top: number) =>
    Math.max(1, Math.floor((tableBottom - top - headerHeight(headerLines)) / rowHeight(rowLines)));
  return {
    firstPage: perPage(PDF_LAYOUT.marginTop + titleBlockHeight(pdf)),
    otherPages: perPage(PDF_LAYOUT.marginTop),
  };
}

/** Pages needed for `rows` rows of equal height (an empty table still takes one page). */
export function expectedPages(pdf: PdfSettings, rows: number, shape: RowShape = {}): number {
  const { firstPage, otherPages } = pageCapacity(pdf, shape);
  return rows <= firstPage ? 1 : 1 + Math.ceil((rows - firstPage) / otherPages);
}

/** What a column would like, in points, padding included. */
export interface ColumnDemand {
  /** Width set by the request; honoured exactly when the page allows it. */
  readonly fixed: number | undefined;
  /** Width that shows the widest sampled value on one line (capped). */
  readonly preferred: number;
  /** Width that keeps the longest sampled word whole (capped); at most `preferred`. */
  readonly minimum: number;
  /** A text column: the first to receive space the other columns do not need. */
  readonly text: boolean;
}

/** The width a request asked for, if it is a usable number. */
export function requestedWidth(column: ColumnSpec): number | undefined {
  const { width } = column;
  return width !== undefined && Number.isFinite(width) && width > 0 ? width : undefined;
}

/**
 * Shares `available` points between the columns, HTML-table style:
 *
 * 1. If every column gets its preferred width, the leftover is shared by the
 *    automatic text columns (or, if there are none, all automatic columns) in
 *    proportion to their preferred widths, so the table spans the page. Fixed
 *    columns keep their requested width.
 * 2. Otherwise every column keeps at least its longest word, and the widest
 *    columns are cut back to a common width L (chosen so the table fills the
 *    page): a column narrower than L keeps its preferred width, so short
 *    values (ids, amounts, dates) stay on one line and long text wraps.
 * 3. If even the longest words do not fit, all widths are scaled down
 *    proportionally, but no column drops below `minColumnWidth` (when there are
 *    too many columns for that, they share the width equally).
 */
export function allocateWidths(demands: readonly ColumnDemand[], available: number): number[] {
  const count = demands.length;
  if (count === 0) return [];
  const min = PDF_LAYOUT.minColumnWidth;
  if (count * min >= available) return demands.map(() => available / count);

  const preferred = demands.map((d) => Math.max(min, d.fixed ?? d.preferred));
  const minimum = demands.map((d, i) =>
    Math.max(min, Math.min(d.fixed ?? d.minimum, preferred[i] ?? min)),
  );
  const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
  const totalPreferred = sum(preferred);

  if (totalPreferred <= available) {
    const auto = demands.map((d) => d.fixed === undefined);
    const text = demands.map((d, i) => auto[i] === true && d.text);
    const growing = text.includes(true) ? text : auto;
    const growTotal = sum(preferred.filter((_, i) => growing[i]));
    if (growTotal === 0) return preferred;
    const extra = available - totalPreferred;
    return preferred.map((w, i) => (growing[i] ? w + (extra * w) / growTotal : w));
  }

  const totalMinimum = sum(minimum);
  if (totalMinimum <= available) {
    // Find the level L at which clamp(L, minimum, preferred) fills the page.
    const at = (level: number) =>
      minimum.map((lo, i) => Math.min(preferred[i] ?? lo, Math.max(lo, level)));
    let low = 0;
    let high = Math.max(...preferred);
    for (let step = 0; step < 50; step++) {
      const mid = (low + high) / 2;
      if (sum(at(mid)) > available) high = mid;
      else low = mid;
    }
    return at(low);
  }

  return scaleWithFloor(minimum, available, min);
}

/** Scales `widths` to sum to `available`, pinning any that would fall below `floor`. */
function scaleWithFloor(widths: readonly number[], available: number, floor: number): number[] {
  const pinned = new Array<boolean>(widths.length).fill(false);
  for (;;) {
    let free = available;
    let scalable = 0;
    widths.forEach((w, i) => {
      if (pinned[i]) free -= floor;
      else scalable += w;
    });
    const factor = free / scalable;
    let changed = false;
    widths.forEach((w, i) => {
      if (!pinned[i] && w * factor < floor) {
        pinned[i] = true;
        changed = true;
      }
    });
    if (!changed) return widths.map((w, i) => (pinned[i] ? floor : w * factor));
  }
}
