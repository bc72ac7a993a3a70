/**
 * Numbers in content streams, to the hundredth of a point: what
 * `(Math.round(value * 100) / 100).toString()` writes, without formatting
 * a double, which costs twice as much and runs several times a cell.
 */

/**
 * Numbers written lately. A table moves by the same few distances again and
 * again (column to column, row to row), so most numbers are found here.
 */
const recent = new Map<number, string>();
const RECENT_NUMBERS = 4096;

/** `hundredths / 100` as a PDF number: "12", "12.5", "-0.05". */
export function fromHundredths(hundredths: number): string {
  let text = recent.get(hundredths);
  if (text === undefined) {
    text = format(hundredths);
    if (recent.size === RECENT_NUMBERS) recent.clear();
    recent.set(hundredths, text);
  }
  return text;
}

function format(hundredths: number): string {
  if (hundredths % 100 === 0) return String(hundredths / 100);
  const sign = hundredths < 0 ? "-" : "";
  const magnitude = Math.abs(hundredths);
  const fraction = magnitude % 100;
  const digits = fraction % 10 === 0 ? fraction / 10 : fraction < 10 ? `0${fraction}` : fraction;
  return `${sign}${Math.floor(magnitude / 100)}.${digits}`;
}

/** A coordinate or size as a PDF number, rounded to the hundredth. */
export function pdfNumber(value: number): string {
  return fromHundredths(Math.round(value * 100));
}
