/** What the bench asks of a worker process, and what it answers. */

/** One export through the service, as a gRPC client (Connect for Node). */
export interface ExportJob {
  readonly kind: "export";
  readonly baseUrl: string;
  readonly format: "csv" | "pdf";
  readonly rows: number;
  /** `rows` (text cells, the fast path) or `json_rows` (google.protobuf.ListValue). */
  readonly encoding: "rows" | "json_rows";
  /** Accept gzip responses; the server compresses only with COMPRESSION=gzip. */
  readonly gzip: boolean;
  /**
   * Send start and the first batch, then nothing more until the first chunk
   * has arrived, so the time to it is the server's alone.
   */
  readonly holdUntilFirstChunk: boolean;
}

/** One export through the replaced design: the whole JSON body, one CSV answer. */
export interface ReplacedJob {
  readonly kind: "replaced";
  readonly url: string;
  readonly rows: number;
}

/** An in-process baseline: the renderer alone, to a sink that only counts bytes. */
export interface BaselineJob {
  readonly kind: "csv-stringify-stream" | "csv-stringify-sync" | "pdfkit";
  readonly rows: number;
}

export type Job = ExportJob | ReplacedJob | BaselineJob;

export interface JobResult {
  readonly rows: number;
  readonly bytes: number;
  /** When the job started, in ms since the epoch (comparable across processes). */
  readonly startedAt: number;
  readonly seconds: number;
  /** CPU time of the worker process over the job (user + system), in µs. */
  readonly cpuUs: number;
  /** From the call to the first byte of the file. */
  readonly firstByteMs?: number;
  /** sha256 hex of the file: the service's summary, or hashed by the replaced design's client. */
  readonly sha256?: string;
}

export type WorkerRequest = { readonly id: number; readonly job: Job };
export type WorkerReply =
  | { readonly id: number; readonly result: JobResult }
  | { readonly id: number; readonly error: string };
