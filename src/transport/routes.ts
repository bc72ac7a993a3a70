import type { Http2ServerRequest } from "node:http2";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { ExportRequestWireSchema } from "../../gen/export/internal/v1/wire_pb.js";
import {
  type ExportResponse,
  type ExportResponseSchema,
  ExportService,
} from "../../gen/export/v1/export_pb.js";
import {
  ClientCancelledError,
  InvalidRequestError,
  malformedRequestError,
} from "../export/errors.js";
import type { ExportOutcome } from "../export/observer.js";
import {
  type ExportCall,
  type ExportDeps,
  type ExportRequestMessage,
  runExport,
} from "../export/service.js";
import {
  abandonKey,
  clientGoneKey,
  closedCleanlyKey,
  peerKey,
  refusalKey,
  userKey,
} from "./context.js";
import { deadlineReached, END_MARGIN_MS, RESET_MARGIN_MS } from "./deadline.js";
import { toConnectError } from "./errors.js";
import { quoteCut } from "./quote.js";

const OUTCOME_OF_CODE: Partial<Record<Code, ExportOutcome>> = {
  [Code.Canceled]: "cancelled",
  [Code.DeadlineExceeded]: "deadline",
  [Code.InvalidArgument]: "invalid_argument",
  [Code.ResourceExhausted]: "limit_exceeded",
  [Code.Unavailable]: "unavailable",
  // A compressed request to a server that takes none: the client's to change.
  [Code.Unimplemented]: "invalid_argument",
};

function transportOutcome(cause: unknown): ExportOutcome {
  return OUTCOME_OF_CODE[ConnectError.from(cause).code] ?? "internal";
}

/**
 * connect-node's words for a deadline header it cannot read, raised at the
 * first read. Bad input, so it becomes a bad request here with the others;
 * a compression refusal keeps its own status (see requestStreamStatus).
 */
const INVALID_TIMEOUT = /^protocol error: invalid (grpc|connect) timeout value: (.*)$/s;

/** Each protocol's deadline header, and what it must hold. */
const TIMEOUT_HEADERS = {
  grpc: {
    name: "grpc-timeout",
    form: "1 to 8 digits and a unit, one of H, M, S, m, u and n (30S is 30 seconds)",
  },
  connect: { name: "connect-timeout-ms", form: "1 to 10 digits, in milliseconds" },
} as const;

/** The most characters of a header's value that an error quotes. */
const SHOWN_HEADER_CHARS = 40;

/**
 * connect-node reports a request message it cannot decode (truncated,
 * invalid UTF-8, nested past protobuf-es's depth limit) as INTERNAL, and a
 * stream that ends inside a message or malformed JSON as INVALID_ARGUMENT;
 * either way it is the client's input that is wrong, so the pipeline sees
 * a bad request naming the field `request`, or the deadline header that it
 * could not read. The same errors after the
 * client reset its stream are that reset, not bad input.
 */
async function* decodedRequests<T>(
  requests: AsyncIterable<T>,
  clientGone: () => boolean,
  ended: () => void,
): AsyncGenerator<T> {
  try {
    yield* requests;
    ended();
  } catch (error) {
    if (clientGone()) throw new ClientCancelledError();
    const cause = ConnectError.from(error);
    if (cause.code !== Code.Internal && cause.code !== Code.InvalidArgument) throw error;
    const timeout = INVALID_TIMEOUT.exec(cause.rawMessage);
    if (timeout) {
      const header = TIMEOUT_HEADERS[timeout[1] as keyof typeof TIMEOUT_HEADERS];
      const value = quoteCut(timeout[2] as string, SHOWN_HEADER_CHARS);
      throw new InvalidRequestError({
        field: header.name,
        description: `the header is ${value}; a deadline is ${header.form}`,
      });
    }
    throw malformedRequestError(cause.rawMessage);
  }
}

/**
 * ExportService as binary requests reach it: the same method, path and
 * wire format, with each batch left encoded for the pipeline to read in
 * place. JSON requests cannot use it (a batch would be base64 text there).
 */
const exportMethod = ExportService.method.export;
const wireMethod = { ...exportMethod, input: ExportRequestWireSchema };
const ExportServiceWire = {
  ...ExportService,
  methods: [wireMethod],
  method: { export: wireMethod },
} as unknown as GenService<{
  export: {
    methodKind: "bidi_streaming";
    input: typeof ExportRequestWireSchema;
    output: typeof ExportResponseSchema;
  };
}>;

const EXPORT_PATH = `/${ExportService.typeName}/${exportMethod.name}`;

/**
 * Whether a request is an Export call in a binary encoding, which the
 * routes of {@link createWireRoutes} serve; JSON ones (`+json` content
 * types) and every other call go to {@link createRoutes}.
 */
export function isBinaryExport(request: Http2ServerRequest): boolean {
  return request.url === EXPORT_PATH && !(request.headers["content-type"] ?? "").includes("json");
}

/**
 * Registers the services. Handlers only adapt the call context and map
 * errors; the export pipeline does the work.
 */
export function createRoutes(deps: ExportDeps) {
  return (router: ConnectRouter) => {
    router.service(ExportService, {
      export: (requests, context) => handleExport(requests, context, deps),
    });
  };
}

/** Export, for binary requests, with batches read in place (see {@link isBinaryExport}). */
export function createWireRoutes(deps: ExportDeps) {
  return (router: ConnectRouter) => {
    router.service(ExportServiceWire, {
      export: (requests, context) => handleExport(requests, context, deps),
    });
  };
}

async function* handleExport(
  requests: AsyncIterable<ExportRequestMessage>,
  context: HandlerContext,
  deps: ExportDeps,
): AsyncGenerator<ExportResponse> {
  const reached = deadlineReached(context.timeoutMs(), RESET_MARGIN_MS);
  const endedNearDeadline = deadlineReached(context.timeoutMs(), END_MARGIN_MS);
  let requestsEndedAtDeadline = false;
  const call: ExportCall = {
    signal: context.signal,
    peer: context.values.get(peerKey),
    user: context.values.get(userKey),
    refusal: context.values.get(refusalKey),
    transportOutcome,
    clientGone: context.values.get(clientGoneKey),
    closedCleanly: context.values.get(closedCleanlyKey),
    abandon: context.values.get(abandonKey),
    deadlineReached: reached,
    requestsEndedAtDeadline: () => requestsEndedAtDeadline,
  };
  const onRequestsEnded = () => {
    requestsEndedAtDeadline = endedNearDeadline();
  };
  try {
    yield* runExport(decodedRequests(requests, call.clientGone, onRequestsEnded), call, deps);
  } catch (error) {
    throw toConnectError(error);
  }
}
