import type { IncomingHttpHeaders } from "node:http2";

/** The longest delay Node's timers keep; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** gRPC's `grpc-timeout` units, in milliseconds. */
const GRPC_TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};

function timeoutMs(headers: IncomingHttpHeaders): { header: string; ms: number } | undefined {
  const grpc = headers["grpc-timeout"];
  const match = typeof grpc === "string" ? /^(\d{1,8})([HMSmun])$/.exec(grpc) : null;
  if (match) {
    return {
      header: "grpc-timeout",
      ms: Number(match[1]) * (GRPC_TIMEOUT_UNIT_MS[match[2] as string] as number),
    };
  }
  const connect = headers["connect-timeout-ms"];
  if (typeof connect === "string" && /^\d{1,10}$/.test(connect)) {
    return { header: "connect-timeout-ms", ms: Number(connect) };
  }
  return undefined;
}

/**
 * How near its deadline a client that resets the call counts as having
 * given up on it: the client's own timer fires first, earlier by the time
 * the request took to arrive.
 */
export const RESET_MARGIN_MS = 250;
/**
 * How near its deadline a client that ends its requests counts as having
 * ended them for it: a client giving up ends its side, then resets, and
 * its end arrives about when the server's own timer fires. One that ends
 * its rows in time is earlier than that.
 */
export const END_MARGIN_MS = 50;

/**
 * Whether a call with `timeoutMs` left (undefined: no deadline) has reached
 * its deadline, or nearly: within a tenth of the timeout, at most
 * `marginMs`.
 */
export function deadlineReached(timeoutMs: number | undefined, marginMs: number): () => boolean {
  if (timeoutMs === undefined) return () => false;
  const near = performance.now() + timeoutMs - Math.min(marginMs, timeoutMs / 10);
  return () => performance.now() >= near;
}

/**
 * Drops a call's deadline when it is further away than Node's timers reach
 * (about 24.8 days; grpc-js sends a 30-day deadline as `2592000S`):
 * connect-node would arm it as a timer that fires at once and fail the
 * call with DEADLINE_EXCEEDED. Such a call is bounded by the export's own
 * longest duration (MAX_EXPORT_DURATION_MS, at most 7 days) instead.
 */
export function dropUnreachableDeadline(headers: IncomingHttpHeaders): void {
  const deadline = timeoutMs(headers);
  if (deadline !== undefined && deadline.ms > MAX_TIMER_MS) delete headers[deadline.header];
}
