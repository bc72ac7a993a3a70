import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "../../gen/google/rpc/error_details_pb.js";
import { type FieldViolation, isDomainError } from "../export/errors.js";
import { quoteCut } from "./quote.js";

/** The google.rpc ErrorInfo domain of this service's errors. */
export const ERROR_DOMAIN = "export.v1";

/** ErrorInfo reasons clients can match on. */
export const ErrorReason = {
  slotsExhausted: "EXPORT_SLOTS_EXHAUSTED",
  userSlotsExhausted: "EXPORT_USER_SLOTS_EXHAUSTED",
  limitExceeded: "EXPORT_LIMIT_EXCEEDED",
} as const;

/**
 * The most UTF-8 bytes an error's message, or a field's description, may
 * take. A message can quote the request (a delimiter, column keys), and it
 * travels three times in the trailers: percent-encoded in grpc-message (up
 * to three bytes a byte) and twice, in base64, in grpc-status-details-bin.
 * gRPC C-core refuses trailers past 8 KiB with RESOURCE_EXHAUSTED and no
 * details, and Node's HTTP/2 sends no trailers at all past 64 KiB.
 */
const MAX_ERROR_MESSAGE_BYTES = 512;

const ELLIPSIS = "…";
const utf8 = new TextEncoder();

/** `text` cut, between code points and marked with "…", to MAX_ERROR_MESSAGE_BYTES. */
function bounded(text: string): string {
  if (Buffer.byteLength(text) <= MAX_ERROR_MESSAGE_BYTES) return text;
  const room = new Uint8Array(MAX_ERROR_MESSAGE_BYTES - Buffer.byteLength(ELLIPSIS));
  return text.slice(0, utf8.encodeInto(text, room).read) + ELLIPSIS;
}

function badRequest(violations: readonly FieldViolation[]) {
  return {
    desc: BadRequestSchema,
    value: create(BadRequestSchema, {
      fieldViolations: violations.map(({ field, description }) => ({
        field,
        description: bounded(description),
      })),
    }),
  };
}

function retryInfo(retryAfterMs: number) {
  return {
    desc: RetryInfoSchema,
    value: create(RetryInfoSchema, { retryDelay: durationFromMs(retryAfterMs) }),
  };
}

function errorInfo(reason: string, metadata: Record<string, string>) {
  return {
    desc: ErrorInfoSchema,
    value: create(ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata }),
  };
}

// connect-es's words for a request message past readMaxBytes, which the
// server sets from MAX_MESSAGE_BYTES: the size is there when the frame's
// length prefix gave it; a gzip message may grow past it once decompressed.
const OVERSIZED =
  /^message (?:size (?:(\d+) )?)?is larger than configured readMaxBytes (\d+)( after decompression)?$/;

// connect-es's words for request compression it does not take, with the
// encodings it does (none when the server runs with COMPRESSION=none).
const UNKNOWN_COMPRESSION = /^unknown compression "(.*)": supported encodings are (.*)$/s;

/** The most characters of a client's encoding name that an error quotes. */
const SHOWN_ENCODING_CHARS = 40;

/**
 * connect-es's refusal of a request's compression, in the service's words;
 * it keeps the trailer that lists the encodings taken (grpc-accept-encoding),
 * from which a client may pick another.
 */
function unknownCompressionStatus(status: ConnectError): ConnectError | undefined {
  const unknown = status.code === Code.Unimplemented && UNKNOWN_COMPRESSION.exec(status.rawMessage);
  if (!unknown) return undefined;
  const [, name = "", supported = ""] = unknown;
  const takes =
    supported === ""
      ? "uncompressed requests only"
      : `${supported.split(",").join(", ")} or uncompressed`;
  return new ConnectError(
    `requests compressed as ${quoteCut(name, SHOWN_ENCODING_CHARS)} are not taken: this server takes ${takes}`,
    status.code,
    status.metadata,
    undefined,
    status,
  );
}

/**
 * The transport's own status, in the service's words where it refused a
 * message for its size or its compression.
 */
function requestStreamStatus(cause: unknown): ConnectError {
  const status = ConnectError.from(cause);
  const compression = unknownCompressionStatus(status);
  if (compression) return compression;
  const oversized = status.code === Code.ResourceExhausted && OVERSIZED.exec(status.rawMessage);
  if (!oversized) return status;
  const [, actual, limit = "", decompressed] = oversized;
  const size = actual === undefined ? "" : ` of ${actual} bytes`;
  const when = decompressed === undefined ? "" : " once decompressed";
  return new ConnectError(
    `request message${size} is larger than MAX_MESSAGE_BYTES (${limit})${when}; send smaller batches`,
    Code.ResourceExhausted,
    undefined,
    [
      errorInfo(ErrorReason.limitExceeded, {
        name: "max_message_bytes",
        limit,
        ...(actual !== undefined && { actual }),
      }),
    ],
    cause,
  );
}

/**
 * The one place that turns failures into gRPC status: domain errors get
 * their code and details, anything unknown becomes INTERNAL with nothing of
 * its internals in the message (the cause is kept for the log). Messages
 * are bounded (see MAX_ERROR_MESSAGE_BYTES), so every client can read them.
 */
export function toConnectError(error: unknown): ConnectError {
  const status = statusOf(error);
  const message = bounded(status.rawMessage);
  if (message === status.rawMessage) return status;
  const shortened = new ConnectError(message, status.code, status.metadata, [], status.cause);
  shortened.details = status.details;
  return shortened;
}

function statusOf(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  if (!isDomainError(error)) {
    return new ConnectError("internal error", Code.Internal, undefined, undefined, error);
  }
  switch (error.kind) {
    case "invalid_argument":
      return new ConnectError(error.message, Code.InvalidArgument, undefined, [
        badRequest(error.violations),
      ]);
    case "slots_exhausted":
      return new ConnectError(error.message, Code.ResourceExhausted, undefined, [
        errorInfo(ErrorReason.slotsExhausted, { limit: String(error.limit) }),
        retryInfo(error.retryAfterMs),
      ]);
    case "user_slots_exhausted":
      return new ConnectError(error.message, Code.ResourceExhausted, undefined, [
        errorInfo(ErrorReason.userSlotsExhausted, {
          limit: String(error.limit),
          user: error.user,
        }),
        retryInfo(error.retryAfterMs),
      ]);
    case "limit_exceeded":
      return new ConnectError(error.message, Code.ResourceExhausted, undefined, [
        errorInfo(ErrorReason.limitExceeded, {
          name: error.limitName,
          limit: String(error.limit),
          actual: String(error.actual),
        }),
        ...(error.field === undefined
          ? []
          : [badRequest([{ field: error.field, description: error.message }])]),
      ]);
    case "unauthenticated":
      return new ConnectError(error.message, Code.Unauthenticated);
    case "idle_timeout":
    case "stalled":
      return new ConnectError(error.message, Code.DeadlineExceeded);
    case "shutting_down":
      return new ConnectError(error.message, Code.Unavailable);
    case "cancelled":
      return new ConnectError(error.message, Code.Canceled);
    case "request_stream":
      return requestStreamStatus(error.cause);
    case "internal":
      return new ConnectError(error.message, Code.Internal, undefined, undefined, error.cause);
  }
}
