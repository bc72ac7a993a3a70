import { withTimeout } from "./async.js";
import { type ExportClient, type RequestInit, requestStream } from "./connect-client.js";

export interface FirstChunkWhileSending {
  /** Batches the client had sent when the first chunk arrived. */
  readonly batchesAtFirstChunk: number;
  /** Rows in the summary. */
  readonly rows: bigint;
}

/**
 * Sends `start` and the `before` batches, then holds the request stream
 * open until a chunk has arrived, and only then sends `after`: an export
 * that buffered its file whole would never send that chunk and fail here.
 */
export async function firstChunkWhileSending(
  client: ExportClient,
  start: RequestInit,
  before: Iterable<RequestInit>,
  after: Iterable<RequestInit>,
  timeoutMs = 10_000,
): Promise<FirstChunkWhileSending> {
  let chunkArrived = () => {};
  const arrived = new Promise<void>((resolve) => {
    chunkArrived = resolve;
  });
  let batchesSent = 0;
  async function* requests() {
    yield start;
    for (const batch of before) {
      yield batch;
      batchesSent++;
    }
    await withTimeout(arrived, timeoutMs, "no chunk arrived while sending");
    yield* after;
  }
  let batchesAtFirstChunk = -1;
  let rows = 0n;
  for await (const response of client.export(requestStream(requests()))) {
    if (response.kind.case === "chunk" && batchesAtFirstChunk < 0) {
      batchesAtFirstChunk = batchesSent;
      chunkArrived();
    }
    if (response.kind.case === "summary") rows = response.kind.value.rows;
  }
  return { batchesAtFirstChunk, rows };
}
