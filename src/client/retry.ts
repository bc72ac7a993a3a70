/** Retrying exports the server refused for lack of a free slot. */
export interface RetryOptions {
  /** Attempts in all, the first one included. Default 5. */
  readonly maxAttempts?: number;
  /** Longest wait between two attempts, in ms. Default 30,000. */
  readonly maxDelayMs?: number;
}

export const DEFAULT_RETRY: Required<RetryOptions> = { maxAttempts: 5, maxDelayMs: 30_000 };

/**
 * The wait after the `attempt`-th refusal (1 for the first): never less
 * than the delay the server asked for (RetryInfo), random up to that delay
 * times 2^attempt so that clients refused together come back apart, and
 * never more than `maxDelayMs`.
 */
export function retryDelayMs(
  serverDelayMs: number,
  attempt: number,
  maxDelayMs: number,
  random: () => number = Math.random,
): number {
  const floor = Math.min(serverDelayMs, maxDelayMs);
  const ceiling = Math.min(maxDelayMs, Math.max(serverDelayMs, 1) * 2 ** attempt);
  return floor + random() * (ceiling - floor);
}
