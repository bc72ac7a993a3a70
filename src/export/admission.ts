import { Sema } from "async-sema";
import { ShuttingDownError, SlotsExhaustedError } from "./errors.js";

/** One taken export slot. `release` may be called any number of times. */
export interface SlotLease {
  release(): void;
}

export interface AdmissionOptions {
  /** How many exports may run at once. */
  readonly limit: number;
  /** The delay suggested to a rejected client (RetryInfo). */
  readonly retryAfterMs: number;
}

export interface Admission {
  readonly limit: number;
  /** Exports holding a slot now. */
  inUse(): number;
  /** Takes a slot or throws at once: never queues. */
  acquire(): SlotLease;
  /** Refuses new exports from now on and resolves once every slot is free. */
  close(): Promise<void>;
}

/**
 * Export slots. async-sema gives a try-acquire that never waits (the sixth
 * export is refused at once) and a drain that waits for all slots on shutdown.
 */
export function createAdmission(options: AdmissionOptions): Admission {
  const slots = new Sema(options.limit);
  let taken = 0;
  let closed = false;
  return {
    limit: options.limit,
    inUse: () => taken,
    acquire() {
      if (closed) throw new ShuttingDownError();
      if (slots.tryAcquire() === undefined) {
        throw new SlotsExhaustedError(options.limit, options.retryAfterMs);
      }
      taken++;
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          taken--;
          slots.release();
        },
      };
    },
    async close() {
      closed = true;
      await slots.drain();
    },
  };
}
