import { IdleTimeoutError, RequestStreamError } from "./errors.js";

/**
 * Reads a request stream one message at a time, failing with
 * IdleTimeoutError when the client sends nothing for `idleMs`, so a silent
 * client cannot hold an export slot forever, and with RequestStreamError
 * when the transport cannot deliver the next message.
 */
export function createMessageReader<T>(
  messages: AsyncIterable<T>,
  idleMs: number,
): {
  next(): Promise<IteratorResult<T>>;
  return(): void;
} {
  const iterator = messages[Symbol.asyncIterator]();
  return {
    async next() {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new IdleTimeoutError(idleMs)), idleMs);
      });
      try {
        const next = iterator.next().catch((error: unknown) => {
          throw new RequestStreamError(error);
        });
        return await Promise.race([next, idle]);
      } finally {
        clearTimeout(timer);
      }
    },
    return() {
      iterator.return?.()?.catch(() => {});
    },
  };
}
