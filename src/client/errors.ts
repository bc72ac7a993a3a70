import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "../../gen/google/rpc/error_details_pb.js";

/** A field the server named as wrong, from google.rpc.BadRequest. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** gRPC's names of the status codes (Connect spells CANCELLED "canceled"). */
const CODE_NAMES: Readonly<Record<Code, string>> = {
  [Code.Canceled]: "CANCELLED",
  [Code.Unknown]: "UNKNOWN",
  [Code.InvalidArgument]: "INVALID_ARGUMENT",
  [Code.DeadlineExceeded]: "DEADLINE_EXCEEDED",
  [Code.NotFound]: "NOT_FOUND",
  [Code.AlreadyExists]: "ALREADY_EXISTS",
  [Code.PermissionDenied]: "PERMISSION_DENIED",
  [Code.ResourceExhausted]: "RESOURCE_EXHAUSTED",
  [Code.FailedPrecondition]: "FAILED_PRECONDITION",
  [Code.Aborted]: "ABORTED",
  [Code.OutOfRange]: "OUT_OF_RANGE",
  [Code.Unimplemented]: "UNIMPLEMENTED",
  [Code.Internal]: "INTERNAL",
  [Code.Unavailable]: "UNAVAILABLE",
  [Code.DataLoss]: "DATA_LOSS",
  [Code.Unauthenticated]: "UNAUTHENTICATED",
};

/** Every error this client throws is one of its subclasses. */
export class ExportClientError extends Error {
  override readonly name: string = "ExportClientError";
}

/**
 * The export ended with a gRPC status: from the server (bad input, no free
 * slot, a limit, shutdown) or from the client's side of the call (server
 * unreachable, deadline, cancel). Carries the google.rpc details the server
 * attached.
 */
export class ExportCallError extends ExportClientError {
  override readonly name = "ExportCallError";
  readonly code: Code;
  /** The code as gRPC spells it: `RESOURCE_EXHAUSTED`. */
  readonly codeName: string;
  /** The status message without the code prefix. */
  readonly rawMessage: string;
  /** ErrorInfo.reason, e.g. `EXPORT_SLOTS_EXHAUSTED`; undefined without ErrorInfo. */
  readonly reason: string | undefined;
  /** ErrorInfo.domain, `export.v1` for this service's errors. */
  readonly domain: string | undefined;
  /** ErrorInfo.metadata, e.g. `{limit: "5"}`; empty without ErrorInfo. */
  readonly metadata: Readonly<Record<string, string>>;
  /** RetryInfo.retry_delay in milliseconds; undefined without RetryInfo. */
  readonly retryDelayMs: number | undefined;
  /** BadRequest.field_violations; empty without BadRequest. */
  readonly fieldViolations: readonly FieldViolation[];

  constructor(cause: ConnectError) {
    const codeName = CODE_NAMES[cause.code] ?? `CODE_${cause.code}`;
    super(`${codeName}: ${cause.rawMessage}`, { cause });
    this.code = cause.code;
    this.codeName = codeName;
    this.rawMessage = cause.rawMessage;
    const [info] = cause.findDetails(ErrorInfoSchema);
    this.reason = info?.reason;
    this.domain = info?.domain;
    this.metadata = { ...info?.metadata };
    const delay = cause.findDetails(RetryInfoSchema)[0]?.retryDelay;
    this.retryDelayMs =
      delay === undefined ? undefined : Number(delay.seconds) * 1000 + delay.nanos / 1e6;
    this.fieldViolations = cause
      .findDetails(BadRequestSchema)
      .flatMap((badRequest) => badRequest.fieldViolations)
      .map(({ field, description }) => ({ field, description }));
  }
}

/** What the file check compared when it failed. */
export type IntegrityCheck = "offset" | "bytes" | "sha256" | "rows" | "stream";

/**
 * The file that arrived is not the file the server says it sent: a chunk
 * out of place, a byte count, row count or SHA-256 that differs from the
 * summary, or a stream that broke the header → chunks → summary order. Bytes
 * already handed out must be thrown away.
 */
export class ExportIntegrityError extends ExportClientError {
  override readonly name = "ExportIntegrityError";
  constructor(
    readonly check: IntegrityCheck,
    readonly expected: string,
    readonly actual: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A row this client cannot send: a cell of a type with no documented text
 * form, a non-finite number, an object row with a key that is no column,
 * or rows whose columns cannot be inferred. Thrown before the row is sent.
 */
export class ExportInputError extends ExportClientError {
  override readonly name = "ExportInputError";
  constructor(
    message: string,
    /** 1-based, as the server counts rows; undefined when no row is at fault. */
    readonly row?: number,
    readonly column?: string,
  ) {
    super(message);
  }
}

/**
 * A failed call as this client's typed error. Anything else passes through
 * unchanged: this client's own errors, and the row source's, which the
 * caller should see as its source threw them.
 */
export function typedError(error: unknown): unknown {
  return error instanceof ConnectError ? new ExportCallError(error) : error;
}

/**
 * A refusal the server asks to retry later: RESOURCE_EXHAUSTED with a
 * RetryInfo (no free slot, or the user's share of slots taken). A limit
 * passed or a message too large carries no RetryInfo: retrying cannot help.
 */
export function isRetryableRefusal(error: unknown): error is ExportCallError {
  return (
    error instanceof ExportCallError &&
    error.code === Code.ResourceExhausted &&
    error.retryDelayMs !== undefined
  );
}
