import { Sema } from "async-sema";
import { ShuttingDownError, SlotsExhaustedError, UserSlotsExhaustedError } from "./errors.js";

/** One taken export slot. `release` may be called any number of times. */
export interface SlotLease {
  release(): void;
}

export interface AdmissionOptions {
  /** How many exports may run at once. */
  readonly limit: number;
  /** How many of them one user may run; 0 for no per-user limit. */
  readonly perUserLimit: number;
  /** The delay suggested to a rejected client (RetryInfo). */
  readonly retryAfterMs: number;
}

export interface Admission {
  readonly limit: number;
  /** Exports holding a slot now. */
  inUse(): number;
  /**
   * Takes a slot for `user` (undefined when authentication is off) or
   * throws at once: never queues.
   */
  acquire(user: string | undefined): SlotLease;
  /** Refuses new exports from now on and resolves once every slot is free. */
  close(): Promise<void>;
}

/**
 * Export slots, with an optional share per user. async-sema gives a try-acquire that never waits (the sixth
 * export is refused at once) and a drain that waits for all slots on shutdown.
 */
export function createAdmission(options: AdmissionOptions): Admission {
  const slots = new Sema(options.limit);
  let taken = 0;
  let closed = false;
  const takenByUser = new Map<string, number>();
  return {
    limit: options.limit,
    inUse: () => taken,
    acquire(user) {
      if (closed) throw new ShuttingDownError();
      const userTaken = user === undefined ? 0 : (takenByUser.get(user) ?? 0);
      if (user !== undefined && options.perUserLimit > 0 && userTaken >= options.perUserLimit) {
        throw new UserSlotsExhaustedError(user, options.perUserLimit, options.retryAfterMs);
      }
      if (slots.tryAcquire() === undefined) {
        throw new SlotsExhaustedError(options.limit, options.retryAfterMs);
      }
      taken++;
      if (user !== undefined) takenByUser.set(user, userTaken + 1);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          taken--;
          if (user !== undefined) {
            const left = (takenByUser.get(user) ?? 1) - 1;
            if (left === 0) takenByUser.delete(user);
            else takenByUser.set(user, left);
          }
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
