import type { ColumnKind } from "../renderer.js";

/**
 * SpreadsheetML cells, written as inline strings or values: no shared
 * strings table, whose size would grow with every distinct string.
 */

/** Cell styles, indexes into styles.xml's cellXfs (see parts.ts). */
export const Style = { plain: 0, header: 1, dateTime: 2, date: 3 } as const;

const XML_SPECIAL = /[&<>"\r]/g;
const XML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  // A raw CR would be read back as LF (XML end-of-line handling).
  "\r": "&#13;",
};
// XML 1.0 allows none of these, even as character references; Excel writes
// them as _xHHHH_, and a literal _xHHHH_ in the text must be escaped too.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)/g;

function excelEscape(character: string): string {
  return `_x${character.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}_`;
}

/** Text as XML character data, every character kept. */
export function xmlText(text: string): string {
  return text
    .replace(NOT_XML, (character) => (character === "_" ? "_x005F_" : excelEscape(character)))
    .replace(XML_SPECIAL, (character) => XML_ESCAPES[character] as string);
}

/** `A`, `B`, … `Z`, `AA`, … for a 0-based column index. */
export function columnLetters(index: number): string {
  let letters = "";
  for (let rest = index + 1; rest > 0; rest = Math.floor((rest - 1) / 26)) {
    letters = String.fromCharCode(65 + ((rest - 1) % 26)) + letters;
  }
  return letters;
}

/** A JSON number, as cells carry numbers. */
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
/** Digits a double always keeps; a longer number stays text, every digit intact. */
const EXACT_DIGITS = 15;
/**
 * The smallest double with all of its precision: below it (subnormals) a
 * double keeps fewer digits, and Excel keeps none.
 */
const SMALLEST_NORMAL = 2.2250738585072014e-308;

/** Whether a double holds the number as written: few enough digits, in range. */
function isExactDouble(text: string): boolean {
  const mantissa = text
    .replace(/^-/, "")
    .replace(/[eE].*$/, "")
    .replace(".", "");
  const digits = mantissa.replace(/^0+/, "").replace(/0+$/, "");
  const value = Number(text);
  return (
    digits.length <= EXACT_DIGITS &&
    Number.isFinite(value) &&
    (value !== 0) === (digits !== "") &&
    (value === 0 || Math.abs(value) >= SMALLEST_NORMAL)
  );
}

const ISO_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const MS_PER_DAY = 86_400_000;
/** Days from Excel's day 0 (1899-12-30, for its 1900 leap-year bug) to 1970-01-01. */
const EXCEL_EPOCH_DAYS = 25_569;

/**
 * An ISO 8601 date or date-time as an Excel serial day number, in UTC when
 * the text has an offset and as written when it has none; undefined when
 * the text is not one, or is before 1900-03-01 (where Excel's calendar is off).
 */
export function excelSerial(text: string): { serial: number; withTime: boolean } | undefined {
  const parts = ISO_TIMESTAMP.exec(text);
  if (!parts) return undefined;
  const [, year, month, day, hour, minute, second, fraction, zone] = parts;
  let ms = Date.UTC(
    Number(year),
    Number(month) - 1,
    Number(day),
    Number(hour ?? 0),
    Number(minute ?? 0),
    Number(second ?? 0),
    Math.round(Number(`0.${fraction ?? 0}`) * 1000),
  );
  const date = new Date(ms);
  if (
    date.getUTCFullYear() !== Number(year) ||
    date.getUTCMonth() !== Number(month) - 1 ||
    date.getUTCDate() !== Number(day) ||
    Number(hour ?? 0) > 23 ||
    Number(minute ?? 0) > 59 ||
    Number(second ?? 0) > 59
  ) {
    return undefined;
  }
  if (zone && zone !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    const offsetHours = Number(digits.slice(0, 2));
    const offsetMinutes = Number(digits.slice(2));
    // No place is more than 14 hours from UTC; +99:99 is no offset at all.
    if (offsetMinutes > 59 || offsetHours * 60 + offsetMinutes > 14 * 60) return undefined;
    ms -= sign * (offsetHours * 60 + offsetMinutes) * 60_000;
  }
  const serial = ms / MS_PER_DAY + EXCEL_EPOCH_DAYS;
  return serial < 61 ? undefined : { serial, withTime: hour !== undefined };
}

/** Leading or trailing white space, which XML would otherwise let go. */
const EDGE_SPACE = /^\s|\s$/;

function inlineString(at: string, text: string, style: number): string {
  const styled = style === Style.plain ? "" : ` s="${style}"`;
  const space = EDGE_SPACE.test(text) ? ' xml:space="preserve"' : "";
  return `<c${at}${styled} t="inlineStr"><is><t${space}>${xmlText(text)}</t></is></c>`;
}

/** A cell's ` r="B7"`: needed only after a cell left out (a null), else implied. */
export function cellRef(ref: string | undefined): string {
  return ref === undefined ? "" : ` r="${ref}"`;
}

/** The header row's cell: bold text. */
export function headerCell(title: string): string {
  return inlineString("", title, Style.header);
}

/**
 * One cell by its column's kind: a number cell for a number that a double
 * holds exactly, a boolean for true/false, a date for an ISO 8601
 * timestamp; anything else stays text, so a value is never changed. `at`
 * is the cell's ` r="…"` or empty (see cellRef).
 */
export function valueCell(at: string, cell: string, kind: ColumnKind): string {
  switch (kind) {
    case "number":
      if (NUMBER.test(cell) && isExactDouble(cell)) return `<c${at}><v>${cell}</v></c>`;
      break;
    case "boolean":
      if (cell === "true" || cell === "false") {
        return `<c${at} t="b"><v>${cell === "true" ? 1 : 0}</v></c>`;
      }
      break;
    case "timestamp": {
      const date = excelSerial(cell);
      if (date) {
        const style = date.withTime ? Style.dateTime : Style.date;
        return `<c${at} s="${style}"><v>${date.serial}</v></c>`;
      }
      break;
    }
    case "text":
      break;
  }
  return inlineString(at, cell, Style.plain);
}
