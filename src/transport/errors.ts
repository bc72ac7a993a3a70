import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "../../gen/google/rpc/error_details_pb.js";
import { type FieldViolation, isDomainError } from "../export/errors.js";

/** The google.rpc ErrorInfo domain of this service's errors. */
export const ERROR_DOMAIN = "export.v1";

/** ErrorInfo reasons clients can match on. */
export const ErrorReason = {
  slotsExhausted: "EXPORT_SLOTS_EXHAUSTED",
  userSlotsExhausted: "EXPORT_USER_SLOTS_EXHAUSTED",
  limitExceeded: "EXPORT_LIMIT_EXCEEDED",
} as const;

function badRequest(violations: readonly FieldViolation[]) {
  return {
    desc: BadRequestSchema,
    value: create(BadRequestSchema, { fieldViolations: [...violations] }),
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

/**
 * The one place that turns failures into gRPC status: domain errors get
 * their code and details, anything unknown becomes INTERNAL with nothing of
 * its internals in the message (the cause is kept for the log).
 */
export function toConnectError(error: unknown): ConnectError {
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
      return ConnectError.from(error.cause);
    case "internal":
      return new ConnectError(error.message, Code.Internal, undefined, undefined, error.cause);
  }
}
