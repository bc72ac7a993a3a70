import { readFileSync } from "node:fs";
import {
  createServer as createH2cServer,
  createSecureServer,
  type Http2SecureServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from "node:http2";
import type { TLSSocket } from "node:tls";
import { isUserName, USER_NAME_RULE } from "../auth/users.js";
import { ConnectionsExhaustedError, UnauthenticatedError } from "../export/errors.js";

export interface ListenerOptions {
  readonly maxStreamsPerConnection: number;
  readonly maxConnections: number;
  readonly keepaliveIntervalMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
  readonly tlsClientCaFile: string | undefined;
}

export interface Listener {
  readonly server: Http2Server | Http2SecureServer;
  /** Open client connections. */
  readonly sessions: ReadonlySet<ServerHttp2Session>;
  /**
   * Why an export on this request is refused before it starts: its
   * connection is past the limit, or (mutual TLS, with no tokens to name
   * the user) its client certificate names no user.
   */
  refusal(
    request: Http2ServerRequest,
    tokensNameUsers: boolean,
  ): ConnectionsExhaustedError | UnauthenticatedError | undefined;
  /**
   * The verified client certificate's subject common name (mutual TLS),
   * when it is one and a user's name; else undefined.
   */
  certificateUser(request: Http2ServerRequest): string | undefined;
}

/**
 * Pings a connection every `intervalMs`: traffic that keeps a long export's
 * connection open through balancers and NATs, and a check that the peer is
 * still there: an unanswered ping closes the connection, which cancels its
 * exports and frees their slots.
 */
function keepAlive(session: ServerHttp2Session, intervalMs: number, timeoutMs: number) {
  const timer = setInterval(() => {
    if (session.closed || session.destroyed) return;
    const unanswered = setTimeout(() => session.destroy(), timeoutMs);
    const sent = session.ping((error) => {
      clearTimeout(unanswered);
      if (error && !session.destroyed) session.destroy();
    });
    if (!sent) clearTimeout(unanswered);
  }, intervalMs);
  session.once("close", () => clearInterval(timer));
}

/**
 * How long a connection past MAX_CONNECTIONS may take to open its first
 * call, which is answered with the limit, before it is closed anyway.
 */
const OVER_LIMIT_FIRST_CALL_MS = 1_000;

/**
 * The HTTP/2 server the Connect handler runs on: h2c by default, TLS when a
 * certificate is configured, mutual TLS when a client CA is too; with the
 * per-connection stream limit, the server's connection limit and keepalive.
 */
export function createListener(
  options: ListenerOptions,
  onRequest: (request: Http2ServerRequest, response: Http2ServerResponse) => void,
): Listener {
  const settings = { maxConcurrentStreams: options.maxStreamsPerConnection };
  const mutualTls = options.tlsClientCaFile !== undefined;
  const server =
    options.tlsCertFile && options.tlsKeyFile
      ? createSecureServer(
          {
            settings,
            cert: readFileSync(options.tlsCertFile),
            key: readFileSync(options.tlsKeyFile),
            ...(mutualTls && {
              ca: readFileSync(options.tlsClientCaFile as string),
              requestCert: true,
              rejectUnauthorized: true,
            }),
          },
          onRequest,
        )
      : createH2cServer({ settings }, onRequest);

  const sessions = new Set<ServerHttp2Session>();
  /** The connections MAX_CONNECTIONS counts: not those past it, which are on their way out. */
  const admitted = new Set<ServerHttp2Session>();
  const overLimit = new WeakSet<ServerHttp2Session>();
  server.on("session", (session) => {
    // A failed session is closed by Node; the error itself needs no handling.
    session.on("error", () => {});
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (admitted.size >= options.maxConnections) {
      // Answer its first call with a status naming the limit, then close
      // the connection: a dropped socket would tell the client nothing.
      // One that opens no call is closed all the same, or idle connections
      // could pile up past the limit.
      overLimit.add(session);
      const closing = setTimeout(() => session.close(), OVER_LIMIT_FIRST_CALL_MS);
      session.once("stream", () => {
        clearTimeout(closing);
        session.close();
      });
      session.once("close", () => clearTimeout(closing));
      return;
    }
    admitted.add(session);
    session.once("close", () => admitted.delete(session));
    if (options.keepaliveIntervalMs > 0) {
      keepAlive(session, options.keepaliveIntervalMs, options.keepaliveTimeoutMs);
    }
  });

  const certificateUser = (request: Http2ServerRequest): string | undefined => {
    if (!mutualTls) return undefined;
    const name = (request.socket as TLSSocket).getPeerCertificate().subject?.CN;
    // Two CNs name no one user: stacks differ on which one counts.
    return typeof name === "string" && isUserName(name) ? name : undefined;
  };

  return {
    server,
    sessions,
    refusal(request, tokensNameUsers) {
      if (overLimit.has(request.stream.session as ServerHttp2Session)) {
        const limit = options.maxConnections;
        return new ConnectionsExhaustedError(
          limit,
          admitted.size,
          `the server holds ${limit} client connections, the most it takes (MAX_CONNECTIONS); retry later or share connections`,
        );
      }
      // Without a user, an export would escape the per-user limit and be
      // counted as anonymous.
      if (mutualTls && !tokensNameUsers && certificateUser(request) === undefined) {
        return new UnauthenticatedError(
          `the client certificate names no user: its subject needs one common name (CN) of ${USER_NAME_RULE}`,
        );
      }
      return undefined;
    },
    certificateUser,
  };
}
