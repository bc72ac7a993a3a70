import { strToU8, Zip, ZipDeflate } from "fflate";
import type {
  CellRows,
  ColumnKind,
  ColumnSpec,
  Renderer,
  RenderJob,
  RowBlock,
} from "../renderer.js";
import { cellRows, slicesOf } from "../slices.js";
import { cellRef, columnLetters, headerCell, valueCell } from "./cells.js";
import {
  CONTENT_TYPES_PATH,
  contentTypes,
  leadingUnits,
  MAX_SHEET_NAME_UNITS,
  ROOT_RELATIONSHIPS,
  type SheetEntry,
  STYLES,
  sheetEnd,
  sheetPath,
  sheetStart,
  workbook,
  workbookRelationships,
} from "./parts.js";

/** Excel's most rows a sheet, the header row included. */
export const EXCEL_MAX_ROWS = 1_048_576;
/** A sheet's XML past this starts a new sheet, so no zip entry nears 4 GiB (no ZIP64). */
const MAX_SHEET_XML_BYTES = 2 * 1024 ** 3;
/** Rows looked at to size the columns, from the first batch. */
const WIDTH_SAMPLE_ROWS = 100;
const MIN_WIDTH = 6;
const MAX_WIDTH = 60;
const ROWS_PER_SLICE = 2_000;

export interface XlsxRendererOptions {
  /** Rows a sheet holds before the next begins; Excel's limit unless testing. */
  readonly maxRowsPerSheet?: number;
  /** Deflate level, 0 to 9. */
  readonly level?: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
}

/** Column widths in characters, from the titles and the first rows. */
function columnWidths(columns: readonly ColumnSpec[], sample: CellRows): number[] {
  return columns.map((column, index) => {
    let widest = column.title.length;
    for (const row of sample.slice(0, WIDTH_SAMPLE_ROWS)) {
      widest = Math.max(widest, row[index]?.length ?? 0);
    }
    return Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, widest + 2));
  });
}

/** `Name`, `Name (2)`, … within Excel's 31 characters. */
function sheetName(first: string, index: number): string {
  if (index === 0) return first;
  const suffix = ` (${index + 1})`;
  return leadingUnits(first, MAX_SHEET_NAME_UNITS - suffix.length) + suffix;
}

/**
 * An Excel workbook, streamed: each row goes into the sheet's XML and
 * through deflate into the zip as it arrives, and what the zip has written
 * goes out after every batch. Strings are inline (no shared strings table),
 * so memory stays flat whatever the row count. Rows past a sheet's limit go
 * on to a new sheet with the header repeated.
 */
export function createXlsxRenderer(options: XlsxRendererOptions = {}): Renderer {
  const maxRowsPerSheet = options.maxRowsPerSheet ?? EXCEL_MAX_ROWS;
  // Level 1: a fifth of level 6's time for 2% more bytes (measured on 8-column rows).
  const level = options.level ?? 1;
  return {
    contentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    fileExtension: "xlsx",
    async *render(blocks: AsyncIterable<RowBlock>, job: RenderJob) {
      const written: Uint8Array[] = [];
      const zip = new Zip((error, data) => {
        if (error) throw error;
        written.push(data);
      });
      const takeWritten = () => {
        const bytes = Buffer.concat(written);
        written.length = 0;
        return bytes;
      };
      const { columns } = job;
      const refs = columns.map((_, index) => columnLetters(index));
      const kinds = columns.map((column) => column.kind);
      const lastColumn = refs.at(-1) as string;
      const sheets: SheetEntry[] = [];
      let widths: number[] | undefined;
      let entry: ZipDeflate | undefined;
      let rowNumber = 0;
      let sheetBytes = 0;

      const write = (xml: string) => {
        const bytes = strToU8(xml);
        sheetBytes += bytes.length;
        (entry as ZipDeflate).push(bytes);
      };
      const endSheet = () => {
        const filterRef = `A1:${lastColumn}${rowNumber}`;
        (entry as ZipDeflate).push(strToU8(sheetEnd(filterRef)), true);
        sheets.push({ name: sheetName(job.xlsx.sheetName, sheets.length), filterRef });
        entry = undefined;
      };
      const startSheet = (sample: CellRows) => {
        widths ??= columnWidths(columns, sample);
        entry = new ZipDeflate(sheetPath(sheets.length), { level });
        zip.add(entry);
        sheetBytes = 0;
        rowNumber = 1;
        write(
          `${sheetStart(widths)}<row r="1">${columns.map((column) => headerCell(column.title)).join("")}</row>`,
        );
      };

      for await (const block of blocks) {
        for await (const slice of slicesOf(cellRows(block), ROWS_PER_SLICE)) {
          let xml = "";
          for (const row of slice) {
            if (entry && (rowNumber >= maxRowsPerSheet || sheetBytes >= MAX_SHEET_XML_BYTES)) {
              write(xml);
              xml = "";
              endSheet();
            }
            if (!entry) startSheet(slice);
            rowNumber++;
            xml += `<row r="${rowNumber}">`;
            // A null is no cell at all; the cell after one says where it is.
            let afterGap = false;
            for (let index = 0; index < columns.length; index++) {
              const cell = row[index] ?? null;
              if (cell === null) {
                afterGap = true;
                continue;
              }
              const at = afterGap ? cellRef(`${refs[index]}${rowNumber}`) : "";
              xml += valueCell(at, cell, kinds[index] as ColumnKind);
              afterGap = false;
            }
            xml += "</row>";
          }
          write(xml);
          const bytes = takeWritten();
          if (bytes.length > 0) yield bytes;
        }
      }
      // An export without rows is still a workbook: its header row alone.
      if (!entry) startSheet([]);
      endSheet();
      const addPart = (path: string, xml: string) => {
        const part = new ZipDeflate(path, { level });
        zip.add(part);
        part.push(strToU8(xml), true);
      };
      addPart("xl/workbook.xml", workbook(sheets));
      addPart("xl/_rels/workbook.xml.rels", workbookRelationships(sheets));
      addPart("xl/styles.xml", STYLES);
      addPart("_rels/.rels", ROOT_RELATIONSHIPS);
      addPart(CONTENT_TYPES_PATH, contentTypes(sheets));
      zip.end();
      yield takeWritten();
    },
  };
}
