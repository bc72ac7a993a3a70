import { type Logger, pino } from "pino";
import { ExportError } from "../export/errors.js";
import type { ExportObserver, ExportOutcome } from "../export/observer.js";

export function createLogger(level: string): Logger {
  // Synchronous writes: with an asynchronous destination, a closed stdout
  // (a log pipe gone away) made the final flush at exit retry for ever.
  return pino(
    { level, base: { service: "export-at-scale" } },
    pino.destination({ dest: 1, sync: true }),
  );
}

/** Outcomes that are part of normal operation, not a problem to look at. */
const QUIET_OUTCOMES: ReadonlySet<ExportOutcome> = new Set([
  "ok",
  "cancelled",
  "deadline",
  "unavailable",
]);

/** Logs `fields` at the level the outcome deserves; a bug carries its cause. */
function logOutcome(
  logger: Logger,
  outcome: ExportOutcome,
  fields: Record<string, unknown>,
  error: unknown,
  message: string,
) {
  if (outcome === "internal") {
    logger.error({ ...fields, err: error }, message);
  } else if (QUIET_OUTCOMES.has(outcome)) {
    logger.info(fields, message);
  } else {
    const reason = error instanceof ExportError ? error.loggedMessage : (error as Error)?.message;
    logger.warn({ ...fields, reason }, message);
  }
}

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
      const message = event.outcome === "ok" ? "export finished" : "export failed";
      logOutcome(logger, event.outcome, fields, error, message);
    },
    refused({ error, ...event }) {
      logOutcome(
        logger,
        event.outcome,
        { event: "export_refused", ...event },
        error,
        "export refused",
      );
    },
  };
}
