/** Per-export size limits, from the server's configuration. */
export interface ExportLimits {
  /** Most columns one export may declare. */
  readonly maxColumns: number;
  /** Longest cell, in UTF-16 code units (JavaScript string length). */
  readonly maxCellChars: number;
}
