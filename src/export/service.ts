import { randomUUID } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ExportRequestWire } from "../../gen/export/internal/v1/wire_pb.js";
import {
  type ExportRequest,
  type ExportResponse,
  ExportResponseSchema,
  type ExportStart,
} from "../../gen/export/v1/export_pb.js";
import type { ColumnSpec, Renderer, RowBlock } from "../render/renderer.js";
import type { Admission, SlotLease } from "./admission.js";
import { type ChunkerOptions, chunkFile } from "./chunker.js";
import {
  ClientStalledError,
  ConnectionsExhaustedError,
  ExportError,
  InternalExportError,
  InvalidRequestError,
  LimitExceededError,
  RequestStreamError,
} from "./errors.js";
import { createMessageReader, type MessageReader } from "./input.js";
import type { ExportLimits } from "./limits.js";
import type { ExportObserver, ExportOutcome } from "./observer.js";
import { watchForSilence } from "./silence.js";
import { decodeBatch, type ExportFormat, type ExportPlan, validateStart } from "./validation.js";

/**
 * A request message as the pipeline reads it: with its batch decoded (JSON
 * requests), or left encoded for the pipeline to read (binary ones).
 */
export type ExportRequestMessage = ExportRequest | ExportRequestWire;

export interface ExportServiceOptions extends ChunkerOptions, ExportLimits {
  /** A request stream silent for this long is failed and its slot freed. */
  readonly idleTimeoutMs: number;
}

export interface ExportDeps {
  readonly options: ExportServiceOptions;
  readonly admission: Admission;
  readonly renderers: Readonly<Record<ExportFormat, Renderer>>;
  readonly observer: ExportObserver;
}

/** What the pipeline needs to know of the call that carries an export. */
export interface ExportCall {
  /** Aborted when the client cancels, the deadline passes or the call ends. */
  readonly signal: AbortSignal;
  readonly peer: string;
  /** The authenticated user; undefined when authentication is off. */
  readonly user: string | undefined;
  /** Refuses the export before it starts: a server limit the transport enforces. */
  readonly refusal: ExportError | undefined;
  /**
   * Names the outcome of a transport failure: the signal's abort reason, or
   * the cause of a RequestStreamError.
   */
  transportOutcome(cause: unknown): ExportOutcome;
  /** True once the client has reset the stream. */
  clientGone(): boolean;
  /**
   * Resolves once the call's stream has closed: true if it closed without a
   * client reset. A client that cancels may end its side before its reset
   * arrives, so a success or an "ended before start" is counted only then.
   */
  closedCleanly(): Promise<boolean>;
  /** Ends the call at once, without waiting for the client. */
  abandon(): void;
  /**
   * True once the call's deadline has come, or nearly: a client that gives
   * up then has given up on its deadline, not cancelled.
   */
  deadlineReached(): boolean;
  /**
   * True if the requests ended as the deadline came: a client that gives
   * up at its deadline ends its side just before its reset, so rows that
   * end then were cut short, whatever follows.
   */
  requestsEndedAtDeadline(): boolean;
}

/** A client that went away: at its deadline, or of its own accord. */
function givenUp(call: ExportCall): ExportOutcome {
  return call.deadlineReached() ? "deadline" : "cancelled";
}

const OUTCOME_OF_KIND: Readonly<Record<ExportError["kind"], ExportOutcome>> = {
  invalid_argument: "invalid_argument",
  slots_exhausted: "rejected",
  user_slots_exhausted: "rejected",
  limit_exceeded: "limit_exceeded",
  unauthenticated: "unauthenticated",
  idle_timeout: "idle_timeout",
  stalled: "idle_timeout",
  shutting_down: "unavailable",
  request_stream: "internal",
  cancelled: "cancelled",
  internal: "internal",
};

function outcomeOf(error: unknown, call: ExportCall): ExportOutcome {
  const aborted = call.signal.aborted ? call.transportOutcome(call.signal.reason) : undefined;
  if (aborted === "deadline") return aborted;
  // A client that reset its stream (with any code: connect-node names the
  // abort after it, INTERNAL_ERROR included) or broke its connection ended
  // the export itself: whatever the pipeline saw then is a symptom.
  if (call.clientGone()) return givenUp(call);
  if (aborted) return aborted;
  if (error instanceof RequestStreamError) return call.transportOutcome(error.cause);
  if (error instanceof ConnectionsExhaustedError) return "rejected";
  return error instanceof ExportError ? OUTCOME_OF_KIND[error.kind] : "internal";
}

function response(kind: MessageInitShape<typeof ExportResponseSchema>["kind"]): ExportResponse {
  return create(ExportResponseSchema, { kind });
}

/** The first message, which must be `start`. */
async function readStart(reader: MessageReader<ExportRequestMessage>): Promise<ExportStart> {
  const first = await reader.next();
  if (first.done) {
    throw new InvalidRequestError({
      field: "start",
      description: "the stream ended before the start message",
    });
  }
  if (first.value.kind.case !== "start") {
    throw new InvalidRequestError({
      field: "start",
      description: `the first message must be start, got ${first.value.kind.case ?? "an empty message"}`,
    });
  }
  return first.value.kind.value;
}

interface RowCounts {
  rows: number;
  batches: number;
}

/**
 * The rows of the batches after start, checked against the columns, one
 * block per batch, read only when the renderer asks for the next block.
 */
async function* rowBlocks(
  reader: MessageReader<ExportRequestMessage>,
  columns: readonly ColumnSpec[],
  limits: ExportLimits,
  counts: RowCounts,
): AsyncGenerator<RowBlock> {
  for (let batchIndex = 0; ; batchIndex++) {
    const next = await reader.next();
    if (next.done) return;
    const message = next.value;
    if (message.kind.case === "start") {
      throw new InvalidRequestError({
        field: `batch[${batchIndex}]`,
        description: "start may be sent only once, as the first message",
      });
    }
    if (message.kind.case !== "batch") {
      throw new InvalidRequestError({
        field: `batch[${batchIndex}]`,
        description: "empty request message; send start or batch",
      });
    }
    const position = { batchIndex, rowsBefore: counts.rows };
    const block = decodeBatch(message.kind.value, columns, position, limits);
    const rows = counts.rows + block.length;
    if (rows > limits.maxExportRows) {
      throw new LimitExceededError(
        `batch[${batchIndex}]`,
        "max_export_rows",
        limits.maxExportRows,
        rows,
        `the export passed ${limits.maxExportRows} rows, the most one export may carry (MAX_EXPORT_ROWS); split it into smaller exports`,
      );
    }
    counts.batches++;
    counts.rows += block.length;
    if (block.length > 0) yield block;
  }
}

/**
 * The Export RPC: validates the start message, takes a slot, and streams the
 * rendered file back while rows are still arriving. Pull-based end to end:
 * the next request message is read only when the renderer wants rows, and
 * the renderer runs only when the last chunk has been taken by the transport.
 */
export async function* runExport(
  requests: AsyncIterable<ExportRequestMessage>,
  call: ExportCall,
  deps: ExportDeps,
): AsyncGenerator<ExportResponse> {
  const { options, admission, observer } = deps;
  // Aborted by the transport (cancel, deadline, shutdown) or by the
  // export's own duration limit; either ends reading at once.
  const overTime = new AbortController();
  const signal = AbortSignal.any([call.signal, overTime.signal]);
  const reader = createMessageReader(requests, {
    idleMs: options.idleTimeoutMs,
    signal,
    clientGone: call.clientGone,
  });
  let plan: ExportPlan | undefined;
  let lease: SlotLease;
  try {
    if (call.refusal) throw call.refusal;
    plan = validateStart(await readStart(reader), options, new Date());
    lease = admission.acquire(call.user);
  } catch (error) {
    reader.return();
    const refusal = {
      outcome: outcomeOf(error, call),
      format: plan?.format,
      error,
      peer: call.peer,
      user: call.user,
    };
    // Bad input may be a client's cancel seen from its end of stream
    // before its reset: wait for the stream to close to tell them apart.
    if (refusal.outcome === "invalid_argument") {
      void call
        .closedCleanly()
        .then((clean) =>
          observer.refused(clean ? refusal : { ...refusal, outcome: givenUp(call) }),
        );
    } else {
      observer.refused(refusal);
    }
    throw error;
  }

  const exportId = randomUUID();
  const startedAt = performance.now();
  const columns = plan.columns;
  const counts: RowCounts = { rows: 0, batches: 0 };
  const renderer = deps.renderers[plan.format];

  const started = {
    exportId,
    format: plan.format,
    columns: columns.length,
    peer: call.peer,
    user: call.user,
  };
  observer.started(started);
  const file = chunkFile(
    renderer.render(
      rowBlocks(reader, columns, { ...options, maxCellChars: plan.maxCellChars }, counts),
      plan,
    ),
    options,
  );
  let rowsReported = 0;
  let reported = false;
  const durationLimit = setTimeout(() => {
    const limit = options.maxExportDurationMs;
    overTime.abort(
      new LimitExceededError(
        undefined,
        "max_export_duration_ms",
        limit,
        Math.round(performance.now() - startedAt),
        `the export ran longer than ${limit / 1000}s, the most one export may (MAX_EXPORT_DURATION_MS); split it into smaller exports`,
      ),
    );
  }, options.maxExportDurationMs);
  /** Frees the slot once; false if it was already freed. */
  const release = () => {
    if (reported) return false;
    reported = true;
    clearTimeout(durationLimit);
    lease.release();
    call.signal.removeEventListener("abort", onAbort);
    reader.return();
    return true;
  };
  const ended = (outcome: ExportOutcome, error?: unknown) => ({
    ...started,
    outcome,
    rows: counts.rows,
    bytes: file.tally.bytes,
    durationMs: performance.now() - startedAt,
    error,
  });
  const finish = (outcome: ExportOutcome, error?: unknown) => {
    if (release()) observer.finished(ended(outcome, error));
  };
  // The transport resumes this generator once a message is written; a
  // client that reads nothing keeps it suspended, so a watchdog frees the
  // slot (connect-node itself waits for a write without limit).
  async function* handedOver(
    kind: MessageInitShape<typeof ExportResponseSchema>["kind"],
  ): AsyncGenerator<ExportResponse> {
    const watchdog = watchForSilence(options.idleTimeoutMs, () => {
      finish("idle_timeout", new ClientStalledError(options.idleTimeoutMs));
      call.abandon();
    });
    try {
      yield response(kind);
    } finally {
      watchdog.cancel();
    }
  }
  // A client that vanishes while this generator waits on a write may leave
  // it suspended for good: account for the export on abort, not only when
  // the generator ends.
  const onAbort = () => finish(outcomeOf(call.signal.reason, call), call.signal.reason);
  call.signal.addEventListener("abort", onAbort, { once: true });
  // A deadline may have passed while the start message was on its way.
  if (call.signal.aborted) onAbort();

  try {
    yield* handedOver({
      case: "header",
      value: {
        exportId,
        contentType: renderer.contentType,
        fileName: plan.fileName ?? `export-${exportId}.${renderer.fileExtension}`,
      },
    });
    for await (const chunk of file.chunks) {
      // Aborted while this chunk was rendered (a deadline in a long batch):
      // the export is already accounted for, and gets its status, not more bytes.
      if (signal.aborted) throw signal.reason;
      const bytes = chunk.offset + chunk.data.length;
      if (bytes > plan.maxExportBytes) {
        throw new LimitExceededError(
          undefined,
          "max_export_bytes",
          plan.maxExportBytes,
          bytes,
          `the file grew past ${plan.maxExportBytes} bytes, the most one ${plan.format.toUpperCase()} export may produce (MAX_EXPORT_BYTES; 4 GiB less 1 MiB for XLSX); split it into smaller exports`,
        );
      }
      observer.progress({
        exportId,
        format: plan.format,
        rows: counts.rows - rowsReported,
        bytes: chunk.data.length,
        bufferedBytes: chunk.data.length + file.tally.pendingBytes,
      });
      rowsReported = counts.rows;
      yield* handedOver({
        case: "chunk",
        value: { data: chunk.data, offset: BigInt(chunk.offset) },
      });
    }
    // Whatever was rendered, a call that was aborted meanwhile gets its
    // status, never a summary: the client's deadline or the shutdown wins.
    if (signal.aborted) throw signal.reason;
    yield* handedOver({
      case: "summary",
      value: {
        rows: BigInt(counts.rows),
        bytes: BigInt(file.tally.bytes),
        sha256: file.tally.sha256(),
        duration: durationFromMs(Math.round(performance.now() - startedAt)),
        chunks: file.tally.chunks,
        batches: counts.batches,
      },
    });
    // The summary is handed over; the export succeeded only if the stream
    // then closes without a reset (the client may have cancelled meanwhile),
    // and if its rows did not end at the deadline: a client that gave up
    // then ended its side (what ended the rows) just before its reset, and
    // read no summary.
    if (release()) {
      const succeeded = ended(call.requestsEndedAtDeadline() ? "deadline" : "ok");
      void call
        .closedCleanly()
        .then((clean) =>
          observer.finished(clean ? succeeded : { ...succeeded, outcome: givenUp(call) }),
        );
    }
  } catch (error) {
    finish(outcomeOf(error, call), error);
    throw error instanceof ExportError || call.signal.aborted
      ? error
      : new InternalExportError(exportId, error);
  } finally {
    // Closed early by the transport (the client went away mid-write).
    finish(givenUp(call));
  }
}
