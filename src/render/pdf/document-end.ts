import type { Doc } from "./pdfkit.js";

/** Largest chunk gathered from what pdfkit writes at the end of a document. */
const END_CHUNK_BYTES = 64 * 1024;

interface Pushable {
  push(chunk: Uint8Array | null): boolean;
}

/**
 * Ends the document, gathering what pdfkit writes at its end into chunks of
 * up to 64 KiB. pdfkit pushes each line of the cross-reference table, one a
 * PDF object, as a chunk of its own, and nothing reads them before `end`
 * returns: a 1,000,000-row export has about 100,000 objects, so its end
 * held tens of megabytes of 20-byte chunks at once.
 */
export function endDocument(doc: Doc): void {
  const stream = doc as unknown as Pushable;
  const push = stream.push;
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = () => {
    if (pending.length === 0) return;
    push.call(stream, pending.length === 1 ? (pending[0] as Uint8Array) : Buffer.concat(pending));
    pending = [];
    pendingBytes = 0;
  };
  stream.push = (chunk) => {
    if (chunk === null) {
      flush();
      return push.call(stream, null);
    }
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes >= END_CHUNK_BYTES) flush();
    return true;
  };
  try {
    doc.end();
    flush();
  } finally {
    // Back to the stream's own push, for anything pdfkit writes later.
    delete (stream as Partial<Pushable>).push;
  }
}
