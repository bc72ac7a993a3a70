/**
 * The typed client of ExportService, the package's `./client` entry. See
 * "Client and command line" in README.md.
 */
export { Code } from "@connectrpc/connect";
export type { ColumnDefinition, ColumnInput, ColumnKind, ExportRecord } from "./cells.js";
export type {
  CsvExportOptions,
  ExportClient,
  ExportClientOptions,
  ExportClientTls,
  ExportFormat,
  ExportHeaderInfo,
  ExportOptions,
  ExportProtocol,
  ExportRun,
  ExportSummaryInfo,
  PdfExportOptions,
  RowSource,
  XlsxExportOptions,
} from "./client.js";
export { createExportClient } from "./client.js";
export type { FieldViolation, IntegrityCheck } from "./errors.js";
export {
  ExportCallError,
  ExportClientError,
  ExportInputError,
  ExportIntegrityError,
} from "./errors.js";
export type { RetryOptions } from "./retry.js";
