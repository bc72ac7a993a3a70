/**
 * The export pipeline's failures, typed by what went wrong rather than by
 * transport status; `src/transport/errors.ts` maps each kind to a gRPC code.
 */

/** One wrong field of the request, named by its path in the stream. */
export interface FieldViolation {
  /** e.g. `start.columns[2].key`, `batch[3].rows[17].cells[4]` */
  readonly field: string;
  readonly description: string;
}

export type ExportErrorKind =
  | "invalid_argument"
  | "slots_exhausted"
  | "user_slots_exhausted"
  | "limit_exceeded"
  | "unauthenticated"
  | "idle_timeout"
  | "stalled"
  | "shutting_down"
  | "request_stream"
  | "cancelled"
  | "internal";

export abstract class ExportError extends Error {
  abstract readonly kind: ExportErrorKind;

  /** The message as the log may hold it: never a cell's value. */
  get loggedMessage(): string {
    return this.message;
  }
}

/** The client sent something the contract does not allow. */
export class InvalidRequestError extends ExportError {
  override readonly name = "InvalidRequestError";
  readonly kind = "invalid_argument";
  readonly violations: readonly FieldViolation[];
  readonly #logged: string | undefined;

  /** `logged`: the message for the log, where the client's own quotes its data. */
  constructor(violation: FieldViolation, logged?: string) {
    super(`${violation.field}: ${violation.description}`);
    this.violations = [violation];
    this.#logged = logged;
  }

  override get loggedMessage(): string {
    return this.#logged ?? this.message;
  }
}

/**
 * A decoder's reason up to where it would quote the request: protobuf-es
 * names the JSON field and then the value it could not take, and a JSON
 * syntax error quotes the text around it. Binary decoders name no data.
 */
function withoutQuotedData(reason: string): string {
  const field = /^cannot decode (?:field|message) [\w.]+ from JSON/.exec(reason);
  if (field) return `${field[0]} (the rest quotes the request's data)`;
  return reason.includes("JSON") ? "not valid JSON (the rest quotes the request's data)" : reason;
}

/**
 * A request message that could not be decoded: the field is the whole
 * `request`. The client hears the decoder's whole reason; the log, not
 * what it quotes of the client's data.
 */
export function malformedRequestError(reason: string): InvalidRequestError {
  const field = "request";
  const description = "malformed request message";
  return new InvalidRequestError(
    { field, description: `${description}: ${reason}` },
    `${field}: ${description}: ${withoutQuotedData(reason)}`,
  );
}

/** Every export slot of this server is taken. */
export class SlotsExhaustedError extends ExportError {
  override readonly name = "SlotsExhaustedError";
  readonly kind = "slots_exhausted";

  constructor(
    readonly limit: number,
    readonly retryAfterMs: number,
  ) {
    super(
      `all ${limit} export slots are in use; retry in ${retryAfterMs / 1000}s or lower your concurrency`,
    );
  }
}

/** The user already runs as many exports as one user may. */
export class UserSlotsExhaustedError extends ExportError {
  override readonly name = "UserSlotsExhaustedError";
  readonly kind = "user_slots_exhausted";

  constructor(
    readonly user: string,
    readonly limit: number,
    readonly retryAfterMs: number,
  ) {
    super(
      `user ${user} already runs ${limit} exports, the most one user may (MAX_CONCURRENT_EXPORTS_PER_USER); retry in ${retryAfterMs / 1000}s`,
    );
  }
}

/**
 * A configured limit was passed: request size (columns, cell length) or the
 * export's own (rows, bytes, duration), or the server's connections.
 */
export class LimitExceededError extends ExportError {
  override readonly name = "LimitExceededError";
  readonly kind = "limit_exceeded";

  constructor(
    /** The request field at fault; undefined when no one field is. */
    readonly field: string | undefined,
    /** The setting's name, e.g. `max_columns`. */
    readonly limitName: string,
    readonly limit: number,
    /** What the request had, in the limit's unit. */
    readonly actual: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The call came on a connection past MAX_CONNECTIONS: answered as the
 * limit it is, counted as a refusal for want of room, as a full slot is.
 */
export class ConnectionsExhaustedError extends LimitExceededError {
  constructor(limit: number, actual: number, message: string) {
    super(undefined, "max_connections", limit, actual, message);
  }
}

/** The client sent nothing for longer than the idle timeout. */
export class IdleTimeoutError extends ExportError {
  override readonly name = "IdleTimeoutError";
  readonly kind = "idle_timeout";

  constructor(readonly idleMs: number) {
    super(
      `no request message for ${idleMs / 1000}s; the export was abandoned to free its slot (send batches more often or close the stream when done)`,
    );
  }
}

/** The client took no response message for longer than the idle timeout. */
export class ClientStalledError extends ExportError {
  override readonly name = "ClientStalledError";
  readonly kind = "stalled";

  constructor(readonly idleMs: number) {
    super(
      `the client read nothing for ${idleMs / 1000}s; the export was abandoned to free its slot (read the response while sending)`,
    );
  }
}

/** Authentication is on and the call carried no valid bearer token. */
export class UnauthenticatedError extends ExportError {
  override readonly name = "UnauthenticatedError";
  readonly kind = "unauthenticated";
}

/** The server is draining and takes no new exports. */
export class ShuttingDownError extends ExportError {
  override readonly name = "ShuttingDownError";
  readonly kind = "shutting_down";

  constructor() {
    super("the server is shutting down; retry on another instance");
  }
}

/**
 * Reading the request stream failed in the transport (a message over the
 * size limit, a malformed frame, a reset); the cause keeps the transport's
 * own error and status.
 */
export class RequestStreamError extends ExportError {
  override readonly name = "RequestStreamError";
  readonly kind = "request_stream";

  constructor(cause: unknown) {
    super(`reading the request stream failed: ${(cause as Error)?.message ?? String(cause)}`, {
      cause,
    });
  }
}

/** The client reset the stream before the file was complete. */
export class ClientCancelledError extends ExportError {
  override readonly name = "ClientCancelledError";
  readonly kind = "cancelled";

  constructor() {
    super("the client cancelled the export");
  }
}

/** A bug: the client learns only the export id to quote. */
export class InternalExportError extends ExportError {
  override readonly name = "InternalExportError";
  readonly kind = "internal";

  constructor(exportId: string, cause: unknown) {
    super(`internal error in export ${exportId}; the server log has the details`, { cause });
  }
}

/** Every concrete export error, for exhaustive switches on `kind`. */
export type DomainError =
  | InvalidRequestError
  | SlotsExhaustedError
  | UserSlotsExhaustedError
  | LimitExceededError
  | UnauthenticatedError
  | IdleTimeoutError
  | ClientStalledError
  | ShuttingDownError
  | RequestStreamError
  | ClientCancelledError
  | InternalExportError;

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof ExportError;
}
