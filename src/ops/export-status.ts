import type { ExportObserver } from "../export/observer.js";
import type { ExportFormat } from "../export/validation.js";

/** One running export as `GET /export/status` shows it: no cell values, no credentials. */
export interface RunningExport {
  readonly id: string;
  readonly format: ExportFormat;
  /** The authenticated owner; left out when authentication is off. */
  readonly user?: string;
  readonly peer: string;
  readonly columns: number;
  /** Rows rendered and file bytes sent so far. */
  readonly rows: number;
  readonly bytes: number;
  /** ISO 8601 UTC. */
  readonly startedAt: string;
  readonly ageMs: number;
}

/** The body of `GET /export/status`. */
export interface ExportStatusReport {
  /** "draining" from the moment shutdown begins. */
  readonly status: "ready" | "draining";
  readonly slotsInUse: number;
  readonly slotsLimit: number;
  /** Oldest first. */
  readonly exports: readonly RunningExport[];
}

export interface ExportStatusOptions {
  readonly slotsLimit: number;
  /** Slots taken now (the admission's count). */
  readonly slotsInUse: () => number;
  /** True once shutdown has begun. */
  readonly draining: () => boolean;
}

export interface ExportStatus extends ExportObserver {
  report(): ExportStatusReport;
}

interface Tracked {
  readonly id: string;
  readonly format: ExportFormat;
  readonly user: string | undefined;
  readonly peer: string;
  readonly columns: number;
  readonly startedAtMs: number;
  rows: number;
  bytes: number;
}

/**
 * What is running now, for operators, as a database's process list shows
 * it: fed by the pipeline's observer events, read by the side port.
 */
export function createExportStatus(options: ExportStatusOptions): ExportStatus {
  // Insertion order is start order, so the report lists the oldest first.
  const running = new Map<string, Tracked>();
  return {
    started(event) {
      running.set(event.exportId, {
        id: event.exportId,
        format: event.format,
        user: event.user,
        peer: event.peer,
        columns: event.columns,
        startedAtMs: Date.now(),
        rows: 0,
        bytes: 0,
      });
    },
    progress(event) {
      const tracked = running.get(event.exportId);
      if (!tracked) return;
      tracked.rows += event.rows;
      tracked.bytes += event.bytes;
    },
    finished(event) {
      running.delete(event.exportId);
    },
    refused() {},
    report() {
      const at = Date.now();
      return {
        status: options.draining() ? "draining" : "ready",
        slotsInUse: options.slotsInUse(),
        slotsLimit: options.slotsLimit,
        exports: [...running.values()].map((tracked) => ({
          id: tracked.id,
          format: tracked.format,
          ...(tracked.user === undefined ? {} : { user: tracked.user }),
          peer: tracked.peer,
          columns: tracked.columns,
          rows: tracked.rows,
          bytes: tracked.bytes,
          startedAt: new Date(tracked.startedAtMs).toISOString(),
          ageMs: at - tracked.startedAtMs,
        })),
      };
    },
  };
}
