import type { ExportFormat } from "./validation.js";

/** How an export ended, as logs and metrics name it. */
export type ExportOutcome =
  | "ok"
  | "invalid_argument"
  | "rejected"
  | "limit_exceeded"
  | "unauthenticated"
  | "cancelled"
  | "deadline"
  | "idle_timeout"
  | "unavailable"
  | "internal";

export interface ExportStarted {
  readonly exportId: string;
  readonly format: ExportFormat;
  readonly columns: number;
  readonly peer: string;
  /** The authenticated owner; undefined when authentication is off. */
  readonly user: string | undefined;
}

/** Sent with each chunk: the increments since the previous chunk. */
export interface ExportProgress {
  readonly exportId: string;
  readonly format: ExportFormat;
  readonly rows: number;
  readonly bytes: number;
  /** Rendered bytes the export holds on the server now, this chunk included. */
  readonly bufferedBytes: number;
}

export interface ExportFinished extends ExportStarted {
  readonly outcome: ExportOutcome;
  readonly rows: number;
  readonly bytes: number;
  readonly durationMs: number;
  readonly error?: unknown;
}

export interface ExportRefused {
  readonly outcome: ExportOutcome;
  readonly format: ExportFormat | undefined;
  readonly peer: string;
  readonly user: string | undefined;
  readonly error: unknown;
}

/**
 * What the pipeline reports about each export; logging and metrics listen.
 * Calls are synchronous and must not throw.
 */
export interface ExportObserver {
  /** An export took a slot and will stream a file. */
  started(event: ExportStarted): void;
  /** A chunk is being handed to the transport. */
  progress(event: ExportProgress): void;
  /** An export that had started ended, however it ended. */
  finished(event: ExportFinished): void;
  /** A stream ended before an export started: bad start, no slot, shutdown. */
  refused(event: ExportRefused): void;
}
