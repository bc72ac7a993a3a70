import { xmlText } from "./cells.js";

/**
 * The fixed parts of a workbook (Office Open XML, ECMA-376): written once
 * the sheets are done, since they list the sheets.
 */

const MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships";
const DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';

export interface SheetEntry {
  readonly name: string;
  /** The autofilter's range, e.g. `A1:H1048576`. */
  readonly filterRef: string;
}

export const sheetPath = (index: number) => `xl/worksheets/sheet${index + 1}.xml`;

/** Excel's longest sheet name, in UTF-16 units. */
export const MAX_SHEET_NAME_UNITS = 31;

/**
 * The first `units` UTF-16 units of `text`, one fewer where the cut would
 * leave half an emoji (which UTF-8 would write as U+FFFD).
 */
export function leadingUnits(text: string, units: number): string {
  const prefix = text.slice(0, units);
  const last = prefix.charCodeAt(prefix.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? prefix.slice(0, -1) : prefix;
}
export const CONTENT_TYPES_PATH = "[Content_Types].xml";

/** `'Name'!$A$1:$H$9`: a range in another sheet, for a defined name. */
function absoluteRange(sheet: SheetEntry): string {
  const [first, last] = sheet.filterRef.split(":") as [string, string];
  const absolute = (ref: string) => ref.replace(/^([A-Z]+)(\d+)$/, "$$$1$$$2");
  return `'${sheet.name.replaceAll("'", "''")}'!${absolute(first)}:${absolute(last)}`;
}

export function contentTypes(sheets: readonly SheetEntry[]): string {
  const overrides = sheets
    .map(
      (_, index) =>
        `<Override PartName="/${sheetPath(index)}" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`,
    )
    .join("");
  return `${DECLARATION}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>${overrides}</Types>`;
}

export const ROOT_RELATIONSHIPS = `${DECLARATION}<Relationships xmlns="${PACKAGE_RELATIONSHIPS}"><Relationship Id="rId1" Type="${RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/></Relationships>`;

export function workbook(sheets: readonly SheetEntry[]): string {
  const entries = sheets
    .map(
      (sheet, index) =>
        `<sheet name="${xmlText(sheet.name)}" sheetId="${index + 1}" r:id="rId${index + 1}"/>`,
    )
    .join("");
  // Excel keeps each sheet's autofilter range in this hidden name.
  const filters = sheets
    .map(
      (sheet, index) =>
        `<definedName name="_xlnm._FilterDatabase" localSheetId="${index}" hidden="1">${xmlText(absoluteRange(sheet))}</definedName>`,
    )
    .join("");
  return `${DECLARATION}<workbook xmlns="${MAIN}" xmlns:r="${RELATIONSHIPS}"><bookViews><workbookView/></bookViews><sheets>${entries}</sheets><definedNames>${filters}</definedNames></workbook>`;
}

export function workbookRelationships(sheets: readonly SheetEntry[]): string {
  const sheetLinks = sheets
    .map(
      (_, index) =>
        `<Relationship Id="rId${index + 1}" Type="${RELATIONSHIPS}/worksheet" Target="worksheets/sheet${index + 1}.xml"/>`,
    )
    .join("");
  return `${DECLARATION}<Relationships xmlns="${PACKAGE_RELATIONSHIPS}">${sheetLinks}<Relationship Id="rId${sheets.length + 1}" Type="${RELATIONSHIPS}/styles" Target="styles.xml"/></Relationships>`;
}

/** cellXfs in the order of `Style` in cells.ts: plain, bold header, date-time, date. */
export const STYLES = `${DECLARATION}<styleSheet xmlns="${MAIN}"><numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/><numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></numFmts><fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/><xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/><xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>`;

/** A sheet's opening: frozen header row, column widths, then its rows. */
export function sheetStart(widths: readonly number[]): string {
  const cols = widths
    .map(
      (width, index) =>
        `<col min="${index + 1}" max="${index + 1}" width="${width}" customWidth="1"/>`,
    )
    .join("");
  return `${DECLARATION}<worksheet xmlns="${MAIN}" xmlns:r="${RELATIONSHIPS}"><sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/><cols>${cols}</cols><sheetData>`;
}

export function sheetEnd(filterRef: string): string {
  return `</sheetData><autoFilter ref="${filterRef}"/></worksheet>`;
}
