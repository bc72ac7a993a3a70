import { createContextKey } from "@connectrpc/connect";
import type { ExportError } from "../export/errors.js";

/** What the server knows of each call beyond its messages, set per request. */

/** The client's address and port, set per request by the server. */
export const peerKey = createContextKey("unknown", { description: "client address" });

/** Resets the call's stream at once, set per request by the server. */
export const abandonKey = createContextKey<() => void>(() => {}, {
  description: "reset the stream",
});

/** Resolves when the stream has closed, true if without a client reset; set per request. */
export const closedCleanlyKey = createContextKey<() => Promise<boolean>>(
  () => Promise.resolve(true),
  { description: "stream closed without a client reset" },
);

/** Whether the client has reset the stream, set per request by the server. */
export const clientGoneKey = createContextKey<() => boolean>(() => false, {
  description: "client reset the stream",
});

/**
 * The caller's identity: the bearer token's user, else the subject of a
 * verified client certificate (mutual TLS), else undefined.
 */
export const userKey = createContextKey<string | undefined>(undefined, {
  description: "authenticated user",
});

/** Why the transport refuses every export on this call's connection, if it does. */
export const refusalKey = createContextKey<ExportError | undefined>(undefined, {
  description: "connection refused by a server limit",
});
