/**
 * The contract between the export pipeline and the output formats. Renderers
 * see plain rows and settings; they know nothing of gRPC or HTTP/2.
 */

/** A cell as the renderers see it: text, or null for "no value". */
export type Cell = string | null;

/** Rows as cells, each row with exactly one cell per column. */
export type CellRows = readonly (readonly Cell[])[];

/**
 * Rows whose cells are UTF-8 text in one buffer, where they arrived: cell
 * `row * width + column` spans `bytes[starts[i], ends[i])`, and a null cell
 * has a start of -1. Renderers that can write bytes as they are use them
 * without making a string per cell.
 */
export interface Utf8Rows {
  readonly bytes: Uint8Array;
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  /** Rows. */
  readonly length: number;
  /** Cells a row. */
  readonly width: number;
}

/** Rows of one request batch, each with exactly one cell per column. */
export type RowBlock = CellRows | Utf8Rows;

export type ColumnKind = "text" | "number" | "boolean" | "timestamp";

export interface ColumnSpec {
  readonly key: string;
  readonly title: string;
  readonly kind: ColumnKind;
  /** PDF width in points; undefined lets the renderer choose. */
  readonly width: number | undefined;
}

export interface CsvSettings {
  readonly header: boolean;
  readonly delimiter: string;
  readonly recordDelimiter: "\r\n" | "\n";
  readonly quoteAll: boolean;
  readonly bom: boolean;
  readonly escapeFormulas: boolean;
}

export interface PdfSettings {
  readonly title: string;
  readonly pageSize: "A4" | "LETTER";
  readonly orientation: "portrait" | "landscape";
  readonly generatedAt: Date | undefined;
}

export interface XlsxSettings {
  /** The first sheet's name, valid for Excel. */
  readonly sheetName: string;
}

export interface RenderJob {
  readonly columns: readonly ColumnSpec[];
  readonly csv: CsvSettings;
  readonly pdf: PdfSettings;
  readonly xlsx: XlsxSettings;
}

export interface Renderer {
  readonly contentType: string;
  readonly fileExtension: string;
  /**
   * Turns row blocks into the file's bytes. It pulls the next block only when
   * it has handed on what the previous one produced, so a slow reader slows
   * the rows coming in rather than growing memory.
   */
  render(blocks: AsyncIterable<RowBlock>, job: RenderJob): AsyncIterable<Uint8Array>;
}
