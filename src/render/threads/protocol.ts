/**
 * Messages between the main thread and a render thread (see pool.ts). Every
 * message names the export it is for, except the deflating of a page's
 * content, which the main thread does for the thread (see worker.ts).
 */
import type { PdfRendererOptions } from "../pdf/index.js";
import type { RenderJob, RowBlock } from "../renderer.js";

/** What a render thread is started with. */
export interface RenderThreadData {
  readonly pdf: PdfRendererOptions;
  /**
   * Whether the thread hands its pages' content to the main thread to
   * deflate: with one render thread, which the main thread has the time
   * for; with more, each deflates its own, so the main thread does not
   * become the part all of them wait on.
   */
  readonly mainThreadDeflates: boolean;
}

export type ToRenderThread =
  | { readonly type: "start"; readonly id: number; readonly job: RenderJob }
  /** Rows for the export's renderer, in order. */
  | { readonly type: "block"; readonly id: number; readonly block: RowBlock }
  /** No more rows: the renderer finishes the file. */
  | { readonly type: "end"; readonly id: number }
  /** The transport took a chunk: the thread may send one more. */
  | { readonly type: "credit"; readonly id: number }
  /** Abandon the export (the client went away, or the rows failed). */
  | { readonly type: "stop"; readonly id: number }
  /** The pages the thread asked to have deflated, deflated; or why they could not be. */
  | { readonly type: "deflated"; readonly first: number; readonly data: readonly Uint8Array[] }
  | {
      readonly type: "deflate failed";
      readonly first: number;
      readonly count: number;
      readonly message: string;
    };

/** What a render thread says of one export. */
export type ExportMessage =
  | { readonly type: "chunk"; readonly id: number; readonly data: Uint8Array }
  /** The renderer took a block: room for one more. */
  | { readonly type: "took"; readonly id: number }
  | { readonly type: "done"; readonly id: number }
  | { readonly type: "failed"; readonly id: number; readonly message: string };

export type FromRenderThread =
  | ExportMessage
  /** Content of pages to deflate, numbered from `first` for the answer. */
  | { readonly type: "deflate"; readonly first: number; readonly contents: readonly Uint8Array[] };

/**
 * `data` in a buffer of its own, so its memory can move to the other thread
 * instead of being copied. A copy where it shares its buffer: moving that
 * buffer would take the rest of it from whoever else holds it. (Not
 * `data.slice()`, which for a Node Buffer is a view of the same memory.)
 */
export function movable(data: Uint8Array): Uint8Array {
  const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
  return whole && data.buffer instanceof ArrayBuffer ? data : new Uint8Array(data);
}
