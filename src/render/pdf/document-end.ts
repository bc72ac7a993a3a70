import type { Doc } from "./pdfkit.js";

/** Size to which pdfkit's small writes at the end of a document are gathered. */
const END_CHUNK_BYTES = 64 * 1024;

interface Pushable {
  push(chunk: Uint8Array | null): boolean;
}

/**
 * Ends the document, gathering pdfkit's small writes at its end into chunks
 * of up to 64 KiB; a larger write (the page tree of a long export) goes out
 * as it is. pdfkit pushes each line of the cross-reference table, one a PDF
 * object, as a chunk of its own, and nothing reads them before `end`
 * returns: a 1,000,000-row export has about 100,000 objects, and its
 * server peaked 16 MiB higher for them (a 3,000,000-row one, 90 MiB).
 */
export function endDocument(doc: Doc): void {
  const stream = doc as unknown as Pushable;
  const push = stream.push;
  const ownPush = Object.getOwnPropertyDescriptor(stream, "push");
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let ended = false;
  const flush = () => {
    if (pending.length === 0) return;
    push.call(stream, pending.length === 1 ? (pending[0] as Uint8Array) : Buffer.concat(pending));
    pending = [];
    pendingBytes = 0;
  };
  stream.push = (chunk) => {
    if (chunk === null || pendingBytes + chunk.length > END_CHUNK_BYTES) flush();
    if (chunk === null) {
      ended = true;
      return push.call(stream, null);
    }
    if (chunk.length >= END_CHUNK_BYTES) return push.call(stream, chunk);
    pending.push(chunk);
    pendingBytes += chunk.length;
    return true;
  };
  try {
    doc.end();
    flush();
  } finally {
    if (ownPush === undefined) delete (stream as Partial<Pushable>).push;
    else Object.defineProperty(stream, "push", ownPush);
  }
  // pdfkit finishes only once every object it handed out has been written;
  // the renderer ends its streams first, so one still open is a bug.
  if (!ended) throw new Error("pdfkit did not finish the document: objects are still open");
}
