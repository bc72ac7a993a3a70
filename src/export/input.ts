import {
  ClientCancelledError,
  ExportError,
  IdleTimeoutError,
  RequestStreamError,
} from "./errors.js";
import { type SilenceWatch, watchForSilence } from "./silence.js";

export interface MessageReaderOptions {
  /** Fail with IdleTimeoutError when no message arrives for this long. */
  readonly idleMs: number;
  /** The call's signal: its abort (deadline, cancel, shutdown) ends reading. */
  readonly signal: AbortSignal;
  /** Whether the client reset the stream, which also ends the messages. */
  readonly clientGone: () => boolean;
}

export interface MessageReader<T> {
  /**
   * The next message, or done only when the client closed its side after
   * its last message. Throws the signal's reason once the call is aborted,
   * ClientCancelledError after a reset, IdleTimeoutError after a silence,
   * and RequestStreamError when the transport cannot deliver a message.
   */
  next(): Promise<IteratorResult<T>>;
  /** Stops reading; never waits. */
  return(): void;
}

/**
 * Reads a request stream one message at a time, so that neither a silent
 * client nor a passed deadline nor a shutdown leaves an export waiting for
 * input while it holds a slot, and an end of input is never mistaken for
 * the end of the rows unless the client really said so.
 */
export function createMessageReader<T>(
  messages: AsyncIterable<T>,
  options: MessageReaderOptions,
): MessageReader<T> {
  const { signal } = options;
  const iterator = messages[Symbol.asyncIterator]();
  return {
    async next() {
      if (signal.aborted) throw signal.reason;
      // A fresh promise per read: racing every read against one long-lived
      // promise would keep each read's result reachable from it for good.
      let silence: SilenceWatch | undefined;
      let onAbort = () => {};
      const interrupted = new Promise<never>((_, reject) => {
        silence = watchForSilence(options.idleMs, () =>
          reject(new IdleTimeoutError(options.idleMs)),
        );
        onAbort = () => reject(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
      });
      const next = iterator.next().catch((error: unknown) => {
        throw error instanceof ExportError ? error : new RequestStreamError(error);
      });
      let result: IteratorResult<T>;
      try {
        result = await Promise.race([next, interrupted]);
      } finally {
        silence?.cancel();
        signal.removeEventListener("abort", onAbort);
      }
      if (result.done) {
        if (signal.aborted) throw signal.reason;
        if (options.clientGone()) throw new ClientCancelledError();
      }
      return result;
    },
    return() {
      iterator.return?.()?.catch(() => {});
    },
  };
}
