/**
 * CSV-injection defence for the `escape_formulas` option.
 *
 * A cell is escaped, by prefixing a single quote `'`, when a spreadsheet
 * would run it as a formula and it is not a plain number:
 *
 * - it runs as a formula when it starts with `=`, `+`, `-`, `@`, tab or CR
 *   (the OWASP CSV-injection list), or with the full-width `＝`, `＋`, `－`,
 *   `＠`, which Apple Numbers folds to their ASCII forms;
 * - it is a plain number when the whole cell matches {@link PLAIN_NUMBER}:
 *   an optional ASCII sign, decimal digits with an optional fraction, and an
 *   optional exponent (`-0.75`, `+1`, `-12`, `-.5`, `1e5`, `-1.5E-3`). A
 *   sign alone (`-`, `+`), spaces, thousands separators, decimal commas,
 *   `Infinity` and hex are not plain numbers.
 *
 * Plain numbers are left alone because a spreadsheet reads them as the
 * number they are, while the quote would turn a column of amounts into
 * text. Only `+` and `-` can lead a plain number, so the regex runs for those
 * two first characters alone. Which columns are escaped at all is the CSV
 * renderer's choice.
 */
const PLAIN_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The cell, with `'` in front when a spreadsheet would run it as a formula. */
export function escapeFormula(cell: string): string {
  switch (cell[0]) {
    case "+":
    case "-":
      return PLAIN_NUMBER.test(cell) ? cell : `'${cell}`;
    case "=":
    case "@":
    case "\t":
    case "\r":
    case "\uFF1D":
    case "\uFF0B":
    case "\uFF0D":
    case "\uFF20":
      return `'${cell}`;
    default:
      return cell;
  }
}
