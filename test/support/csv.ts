import { parse } from "csv-parse/sync";

/** Parses CSV back, telling a quoted empty string from an unquoted null. */
export function parseCsv(data: Buffer | string, options: { delimiter?: string } = {}) {
  return parse(data, {
    delimiter: options.delimiter ?? ",",
    bom: true,
    relax_column_count: false,
    cast: (value, context) => (value === "" && !context.quoting ? null : value),
  }) as (string | null)[][];
}
