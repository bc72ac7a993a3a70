import { createHash } from "node:crypto";

export interface ChunkerOptions {
  /** Largest chunk, and the size at which pending bytes are sent at once. */
  readonly chunkBytes: number;
  /**
   * Pending bytes smaller than a chunk are sent anyway once the source has
   * produced nothing for this long, so a pause in the input never leaves
   * rendered bytes sitting on the server.
   */
  readonly flushIdleMs: number;
}

export interface FileChunk {
  readonly data: Uint8Array;
  /** Position of data's first byte in the file. */
  readonly offset: number;
}

/** What the chunker has sent so far. */
export interface FileTally {
  readonly bytes: number;
  readonly chunks: number;
  /** Bytes waiting for a full chunk or an idle flush. */
  readonly pendingBytes: number;
  /** Lowercase hex SHA-256 of the bytes sent; final once the chunks end. */
  sha256(): string;
}

export interface ChunkedFile {
  readonly chunks: AsyncIterable<FileChunk>;
  readonly tally: FileTally;
}

const IDLE = Symbol("idle");

/**
 * Cuts a byte stream into chunks of at most `chunkBytes`, numbering offsets
 * and hashing as it goes.
 */
export function chunkFile(source: AsyncIterable<Uint8Array>, options: ChunkerOptions): ChunkedFile {
  const hash = createHash("sha256");
  let bytes = 0;
  let chunks = 0;
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;

  function take(size: number): FileChunk {
    const joined = pending.length === 1 ? (pending[0] as Uint8Array) : Buffer.concat(pending);
    const data = joined.subarray(0, size);
    const rest = joined.subarray(size);
    pending = rest.length > 0 ? [rest] : [];
    pendingBytes = rest.length;
    hash.update(data);
    const chunk = { data, offset: bytes };
    bytes += data.length;
    chunks++;
    return chunk;
  }

  async function* cut(): AsyncGenerator<FileChunk> {
    const iterator = source[Symbol.asyncIterator]();
    let finished = false;
    try {
      for (;;) {
        const next = iterator.next();
        let result: IteratorResult<Uint8Array> | typeof IDLE;
        if (pendingBytes === 0) {
          result = await next;
        } else {
          let timer: NodeJS.Timeout | undefined;
          const idle = new Promise<typeof IDLE>((resolve) => {
            timer = setTimeout(resolve, options.flushIdleMs, IDLE);
          });
          try {
            result = await Promise.race([next, idle]);
          } finally {
            clearTimeout(timer);
          }
          if (result === IDLE) {
            yield take(pendingBytes);
            result = await next;
          }
        }
        if (result.done) break;
        if (result.value.length === 0) continue;
        pending.push(result.value);
        pendingBytes += result.value.length;
        while (pendingBytes >= options.chunkBytes) yield take(options.chunkBytes);
      }
      finished = true;
      if (pendingBytes > 0) yield take(pendingBytes);
    } finally {
      // Stopped early (client gone, error downstream): let the source clean
      // up without waiting on a read that may never complete.
      if (!finished) iterator.return?.()?.catch(() => {});
    }
  }

  return {
    chunks: cut(),
    tally: {
      get bytes() {
        return bytes;
      },
      get chunks() {
        return chunks;
      },
      get pendingBytes() {
        return pendingBytes;
      },
      sha256: () => hash.copy().digest("hex"),
    },
  };
}
