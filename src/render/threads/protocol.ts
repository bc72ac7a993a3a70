/**
 * Messages between the main thread and a render thread (see pool.ts). Every
 * message names the export it is for.
 */
import type { RenderJob, RowBlock } from "../renderer.js";

export type ToRenderThread =
  | { readonly type: "start"; readonly id: number; readonly job: RenderJob }
  /** Rows for the export's renderer, in order. */
  | { readonly type: "block"; readonly id: number; readonly block: RowBlock }
  /** No more rows: the renderer finishes the file. */
  | { readonly type: "end"; readonly id: number }
  /** The transport took a chunk: the thread may send one more. */
  | { readonly type: "credit"; readonly id: number }
  /** Abandon the export (the client went away, or the rows failed). */
  | { readonly type: "stop"; readonly id: number };

export type FromRenderThread =
  | { readonly type: "chunk"; readonly id: number; readonly data: Uint8Array }
  /** The renderer took a block: room for one more. */
  | { readonly type: "took"; readonly id: number }
  | { readonly type: "done"; readonly id: number }
  | { readonly type: "failed"; readonly id: number; readonly message: string };
