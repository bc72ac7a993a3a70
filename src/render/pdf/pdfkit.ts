/**
 * pdfkit, loaded through `require`: its type definitions use `export =`,
 * which this project's compiler settings only allow to be imported that way.
 */
import { createRequire } from "node:module";

export const PDFDocument: typeof import("pdfkit") = createRequire(import.meta.url)("pdfkit");
export type Doc = InstanceType<typeof PDFDocument>;
