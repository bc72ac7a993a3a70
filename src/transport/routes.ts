import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { ExportService } from "../../gen/export/v1/export_pb.js";
import { ClientCancelledError, InvalidRequestError } from "../export/errors.js";
import type { ExportOutcome } from "../export/observer.js";
import { type ExportCall, type ExportDeps, runExport } from "../export/service.js";
import {
  abandonKey,
  clientGoneKey,
  closedCleanlyKey,
  peerKey,
  refusalKey,
  userKey,
} from "./context.js";
import { toConnectError } from "./errors.js";

const OUTCOME_OF_CODE: Partial<Record<Code, ExportOutcome>> = {
  [Code.Canceled]: "cancelled",
  [Code.DeadlineExceeded]: "deadline",
  [Code.InvalidArgument]: "invalid_argument",
  [Code.ResourceExhausted]: "limit_exceeded",
  [Code.Unavailable]: "unavailable",
};

function transportOutcome(cause: unknown): ExportOutcome {
  return OUTCOME_OF_CODE[ConnectError.from(cause).code] ?? "internal";
}

/**
 * connect-node reports a request message it cannot decode (truncated,
 * invalid UTF-8, nested past protobuf-es's depth limit) as INTERNAL, and a
 * stream that ends inside a message or malformed JSON as INVALID_ARGUMENT;
 * either way it is the client's input that is wrong, so the pipeline sees
 * a bad request naming the field `request`. The same errors after the
 * client reset its stream are that reset, not bad input.
 */
async function* decodedRequests<T>(
  requests: AsyncIterable<T>,
  clientGone: () => boolean,
): AsyncGenerator<T> {
  try {
    yield* requests;
  } catch (error) {
    if (clientGone()) throw new ClientCancelledError();
    const cause = ConnectError.from(error);
    if (cause.code !== Code.Internal && cause.code !== Code.InvalidArgument) throw error;
    throw new InvalidRequestError({
      field: "request",
      description: `malformed request message: ${cause.rawMessage}`,
    });
  }
}

/**
 * Registers the services. Handlers only adapt the call context and map
 * errors; the export pipeline does the work.
 */
export function createRoutes(deps: ExportDeps) {
  return (router: ConnectRouter) => {
    router.service(ExportService, {
      async *export(requests, context) {
        const call: ExportCall = {
          signal: context.signal,
          peer: context.values.get(peerKey),
          user: context.values.get(userKey),
          refusal: context.values.get(refusalKey),
          transportOutcome,
          clientGone: context.values.get(clientGoneKey),
          closedCleanly: context.values.get(closedCleanlyKey),
          abandon: context.values.get(abandonKey),
        };
        try {
          yield* runExport(decodedRequests(requests, call.clientGone), call, deps);
        } catch (error) {
          throw toConnectError(error);
        }
      },
    });
  };
}
