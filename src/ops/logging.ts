import { type Logger, pino } from "pino";
import type { ExportObserver } from "../export/observer.js";

export function createLogger(level: string): Logger {
  return pino(
    { level, base: { service: "export-at-scale" } },
    pino.destination({ dest: 1, sync: true }),
  );
}

const QUIET_OUTCOMES = new Set(["ok", "cancelled", "deadline"]);

/**
 * One line when an export starts and one when it ends. Cell values are never
 * logged: only counts, ids and the error message of a failure.
 */
export function createLoggingObserver(logger: Logger): ExportObserver {
  return {
    started(event) {
      logger.info({ event: "export_started", ...event }, "export started");
    },
    progress() {},
    finished({ error, durationMs, ...event }) {
      const fields = { event: "export_finished", ...event, durationMs: Math.round(durationMs) };
      if (event.outcome === "internal") {
        logger.error({ ...fields, err: error }, "export failed");
      } else if (QUIET_OUTCOMES.has(event.outcome)) {
        logger.info(fields, "export finished");
      } else {
        logger.warn({ ...fields, reason: (error as Error | undefined)?.message }, "export failed");
      }
    },
    refused({ error, ...event }) {
      logger.info(
        { event: "export_refused", ...event, reason: (error as Error | undefined)?.message },
        "export refused",
      );
    },
  };
}
