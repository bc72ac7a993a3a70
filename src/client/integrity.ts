import { createHash } from "node:crypto";
import type { ExportSummary } from "../../gen/export/v1/export_pb.js";
import { ExportIntegrityError } from "./errors.js";

/**
 * Checks the file as it arrives against what the server says it sent: each
 * chunk starts where the previous one ended, and at the end the byte count,
 * the SHA-256 and the row count match the summary.
 */
export class FileCheck {
  private readonly hash = createHash("sha256");
  private bytes = 0;

  chunk(data: Uint8Array, offset: bigint): void {
    if (offset !== BigInt(this.bytes)) {
      throw new ExportIntegrityError(
        "offset",
        String(this.bytes),
        String(offset),
        `a chunk starts at byte ${offset}, but ${this.bytes} bytes had arrived: a chunk was lost or repeated`,
      );
    }
    this.hash.update(data);
    this.bytes += data.length;
  }

  /** `rowsSent`: rows this client sent, which the server must have rendered. */
  finish(summary: ExportSummary, rowsSent: number): void {
    if (summary.bytes !== BigInt(this.bytes)) {
      throw new ExportIntegrityError(
        "bytes",
        String(summary.bytes),
        String(this.bytes),
        `the server sent ${summary.bytes} bytes, ${this.bytes} arrived`,
      );
    }
    const sha256 = this.hash.digest("hex");
    if (summary.sha256 !== sha256) {
      throw new ExportIntegrityError(
        "sha256",
        summary.sha256,
        sha256,
        `the file's SHA-256 is ${sha256}, the server's summary says ${summary.sha256}: the file was altered on the way`,
      );
    }
    if (summary.rows !== BigInt(rowsSent)) {
      throw new ExportIntegrityError(
        "rows",
        String(rowsSent),
        String(summary.rows),
        `${rowsSent} rows were sent, the server rendered ${summary.rows}`,
      );
    }
  }
}
