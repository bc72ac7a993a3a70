import type { Interceptor } from "@connectrpc/connect";
import type { TokenStore } from "../auth/tokens.js";
import { UnauthenticatedError } from "../export/errors.js";
import { peerKey, userKey } from "./context.js";
import { toConnectError } from "./errors.js";

export interface AuthOptions {
  readonly tokens: TokenStore;
  /** Fully qualified names of services callable without a token. */
  readonly openServices: ReadonlySet<string>;
  /** Told of every call turned away, before it reaches its handler. */
  readonly refused: (service: string, peer: string, error: UnauthenticatedError) => void;
}

const BEARER = /^Bearer +([^ ]+) *$/i;

/**
 * Checks `authorization: Bearer <token>` before the handler runs, so an
 * unauthenticated call learns nothing and takes nothing (no slot, no read
 * of its messages). The token is never logged nor echoed.
 */
export function createAuthInterceptor(options: AuthOptions): Interceptor {
  return (next) => async (request) => {
    if (!options.tokens.enabled || options.openServices.has(request.service.typeName)) {
      return next(request);
    }
    const token = BEARER.exec(request.header.get("authorization") ?? "")?.[1];
    const user = token === undefined ? undefined : options.tokens.authenticate(token);
    if (user === undefined) {
      const error = new UnauthenticatedError(
        token === undefined
          ? "authentication required: send the header `authorization: Bearer <token>`"
          : "the bearer token is not valid",
      );
      options.refused(request.service.typeName, request.contextValues.get(peerKey), error);
      throw toConnectError(error);
    }
    request.contextValues.set(userKey, user);
    return next(request);
  };
}
