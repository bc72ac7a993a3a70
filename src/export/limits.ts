/** Per-export limits, from the server's configuration. */
export interface ExportLimits {
  /** Most columns one export may declare. */
  readonly maxColumns: number;
  /** Longest cell, in UTF-16 code units (JavaScript string length). */
  readonly maxCellChars: number;
  /** Most rows one export may carry. */
  readonly maxExportRows: number;
  /** Largest file one export may produce, in bytes. */
  readonly maxExportBytes: number;
  /** Longest an export may run, from its accepted start to its summary. */
  readonly maxExportDurationMs: number;
}
