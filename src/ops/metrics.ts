import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { ANONYMOUS_USER, OTHER_USERS } from "../auth/users.js";
import { ConnectionsExhaustedError, UserSlotsExhaustedError } from "../export/errors.js";
import type { ExportObserver, ExportOutcome, ExportRefused } from "../export/observer.js";
import type { ExportFormat } from "../export/validation.js";

/**
 * A coarse size class of an export, by rows, so that the duration histogram
 * tells a slow small export from a big one without a label per row count.
 */
export type SizeClass = "lt_1k" | "lt_100k" | "lt_1m" | "ge_1m";

export function sizeClassOf(rows: number): SizeClass {
  if (rows < 1_000) return "lt_1k";
  if (rows < 100_000) return "lt_100k";
  if (rows < 1_000_000) return "lt_1m";
  return "ge_1m";
}

/** 10 ms to 10 min: a one-row CSV to a million-row PDF. */
export const DURATION_BUCKETS_SECONDS = [
  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
] as const;

/** 16 KiB to 64 MiB: a chunk (64 KiB by default) is the expected size. */
export const BUFFERED_BUCKETS_BYTES = [
  16_384, 65_536, 131_072, 262_144, 524_288, 1_048_576, 4_194_304, 16_777_216, 67_108_864,
] as const;

const FORMATS: readonly ExportFormat[] = ["csv", "pdf", "xlsx"];
const OUTCOMES: readonly ExportOutcome[] = [
  "ok",
  "invalid_argument",
  "rejected",
  "limit_exceeded",
  "unauthenticated",
  "cancelled",
  "deadline",
  "idle_timeout",
  "unavailable",
  "internal",
];

const MISNAMED_DEFAULT_METRICS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
] as const;

/** Why an export was turned away before it started, as `export_rejected_total` names it. */
export type RejectReason =
  | "slots_exhausted"
  | "user_slots_exhausted"
  | "shutting_down"
  | "unauthenticated"
  | "max_connections";

const REJECT_REASONS: readonly RejectReason[] = [
  "slots_exhausted",
  "user_slots_exhausted",
  "max_connections",
  "shutting_down",
  "unauthenticated",
];

function rejectReasonOf(event: ExportRefused): RejectReason | undefined {
  switch (event.outcome) {
    case "rejected":
      if (event.error instanceof UserSlotsExhaustedError) return "user_slots_exhausted";
      if (event.error instanceof ConnectionsExhaustedError) return "max_connections";
      return "slots_exhausted";
    case "unavailable":
      return "shutting_down";
    case "unauthenticated":
      return "unauthenticated";
    default:
      return undefined;
  }
}

/**
 * Bounds the `user` label: the first `max` users seen keep their own
 * series, later ones share `other`, so a flood of users (or of bad
 * tokens' users) cannot grow the metrics without end.
 */
function createUserLabels(max: number): (user: string | undefined) => string {
  const labelled = new Set<string>();
  return (user) => {
    if (user === undefined) return ANONYMOUS_USER;
    if (labelled.has(user)) return user;
    if (labelled.size >= max) return OTHER_USERS;
    labelled.add(user);
    return user;
  };
}

export interface ExportMetricsOptions {
  /** The configured number of export slots, exported as `export_slots_limit`. */
  readonly slotsLimit: number;
  /** Distinct `user` label values before later users share `other` (METRICS_MAX_USERS). */
  readonly maxUserLabels: number;
  /** Exports holding a slot now, read at each scrape (the admission's count). */
  readonly running: () => number;
  /**
   * Also collect prom-client's Node.js process metrics (CPU, memory, heap,
   * event loop lag, GC) into the same registry. Default true.
   */
  readonly processMetrics?: boolean;
}

export interface ExportMetrics extends ExportObserver {
  /** This server's own registry: never prom-client's global one. */
  readonly registry: Registry;
}

/**
 * The export pipeline's Prometheus metrics, fed by the observer events. Each
 * call builds a fresh `Registry`, so two servers in one process never share
 * or clash over a metric. See the metrics table in README.md.
 */
export function createExportMetrics(options: ExportMetricsOptions): ExportMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    // Gauges named like counters (`promtool check metrics` rejects them);
    // each is the sum of its per-type gauge without the suffix, still exported.
    for (const name of MISNAMED_DEFAULT_METRICS) registry.removeSingleMetric(name);
  }
  const registers = [registry];

  const requests = new Counter({
    name: "export_requests_total",
    help: "Export streams that ended, by format, outcome (ok or the failure reason; format unknown when the start message was not valid) and user (anonymous without authentication; other past METRICS_MAX_USERS).",
    labelNames: ["format", "outcome", "user"] as const,
    registers,
  });
  const duration = new Histogram({
    name: "export_duration_seconds",
    help: "Time from the accepted start message to the summary of exports that succeeded, by format and size class by rows (lt_1k, lt_100k, lt_1m, ge_1m).",
    labelNames: ["format", "size_class"] as const,
    buckets: [...DURATION_BUCKETS_SECONDS],
    registers,
  });
  const rowsTotal = new Counter({
    name: "export_rows_total",
    help: "Rows rendered into export files, counted as chunks are sent.",
    labelNames: ["format"] as const,
    registers,
  });
  const bytesTotal = new Counter({
    name: "export_bytes_total",
    help: "File bytes sent to clients in chunks.",
    labelNames: ["format"] as const,
    registers,
  });
  const rejected = new Counter({
    name: "export_rejected_total",
    help: "Exports turned away before they started: slots_exhausted (every slot taken), user_slots_exhausted (the user's share taken), shutting_down or unauthenticated.",
    labelNames: ["reason"] as const,
    registers,
  });
  new Gauge({
    name: "export_running",
    help: "Exports holding a slot now.",
    registers,
    collect() {
      this.set(options.running());
    },
  });
  new Gauge({
    name: "export_slots_limit",
    help: "Exports that may hold a slot at once (MAX_CONCURRENT_EXPORTS).",
    registers,
  }).set(options.slotsLimit);

  // Each running export's rendered bytes on the server as of its last chunk.
  const bufferedByExport = new Map<string, number>();
  new Gauge({
    name: "export_buffered_bytes",
    help: "Rendered bytes held in server buffers now, summed over running exports.",
    registers,
    collect() {
      let sum = 0;
      for (const bytes of bufferedByExport.values()) sum += bytes;
      this.set(sum);
    },
  });
  const bufferedPerExport = new Histogram({
    name: "export_chunk_buffered_bytes",
    help: "Rendered bytes one export held in server buffers when it sent a chunk; grows with a memory regression.",
    labelNames: ["format"] as const,
    buckets: [...BUFFERED_BUCKETS_BYTES],
    registers,
  });

  // Start every series a dashboard or alert divides by at zero, so rate()
  // and ratios work before the first event of each kind.
  for (const format of FORMATS) {
    rowsTotal.inc({ format }, 0);
    bytesTotal.inc({ format }, 0);
  }
  for (const format of [...FORMATS, "unknown"]) {
    for (const outcome of OUTCOMES) requests.inc({ format, outcome, user: ANONYMOUS_USER }, 0);
  }
  for (const reason of REJECT_REASONS) rejected.inc({ reason }, 0);
  const userLabel = createUserLabels(options.maxUserLabels);

  return {
    registry,
    started() {},
    progress(event) {
      rowsTotal.inc({ format: event.format }, event.rows);
      bytesTotal.inc({ format: event.format }, event.bytes);
      bufferedByExport.set(event.exportId, event.bufferedBytes);
      bufferedPerExport.observe({ format: event.format }, event.bufferedBytes);
    },
    finished(event) {
      bufferedByExport.delete(event.exportId);
      requests.inc({ format: event.format, outcome: event.outcome, user: userLabel(event.user) });
      if (event.outcome === "ok") {
        duration.observe(
          { format: event.format, size_class: sizeClassOf(event.rows) },
          event.durationMs / 1000,
        );
      }
    },
    refused(event) {
      requests.inc({
        format: event.format ?? "unknown",
        outcome: event.outcome,
        user: userLabel(event.user),
      });
      const reason = rejectReasonOf(event);
      if (reason) rejected.inc({ reason });
    },
  };
}
