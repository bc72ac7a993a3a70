import { constants, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";

/**
 * How this server ends HTTP/2 streams: the one place that decides which
 * RST_STREAM a client (or a balancer in front of it) sees, because gRPC
 * stacks read the reset's code as a status of its own.
 */

/**
 * Once the answer has been sent in full, asks a client that is still
 * sending to stop, with RST_STREAM(NO_ERROR) as RFC 9113 §8.1 (RFC 7540
 * §8.1) prescribes for a response that completes before the request. A
 * handler answers early on bad input, a refusal, a limit or a shutdown;
 * without the reset a client blocked on flow control would wait for good.
 * NO_ERROR and never CANCEL: gRPC C-core turns a CANCEL that overtakes
 * the trailers into CANCELLED, and nginx's grpc_pass drops the answer and
 * counts the upstream as failed. Node itself sends NO_ERROR only once the
 * request side has ended, which is exactly what does not happen here.
 */
export function stopUnreadRequestAfterAnswer(
  request: Http2ServerRequest,
  response: Http2ServerResponse,
): void {
  const stopUnreadRequest = () =>
    // After the trailers (or the body's end) have been queued: the stream
    // is closed behind them, never ahead of them.
    setImmediate(() => {
      if (!request.complete && !request.stream.closed) {
        request.stream.close(constants.NGHTTP2_NO_ERROR);
        discardUnread(request);
      }
    });
  // gRPC ends with trailers, sent from the compat layer's own listener that
  // runs before this one; the other protocols end with the body.
  request.stream.once("wantTrailers", stopUnreadRequest);
  response.once("finish", stopUnreadRequest);
}

/**
 * Node destroys a stream reset with NO_ERROR only once its reader has read
 * it to the end, and until then the connection cannot finish closing: a
 * client that was answered early while sending, then hung up, left the
 * server's side open for good (CLOSE_WAIT), its session counted against
 * MAX_CONNECTIONS. The handler reads no more, so what arrived is dropped.
 */
function discardUnread(request: Http2ServerRequest): void {
  const { stream } = request;
  const discard = () => {
    while (stream.read() !== null);
  };
  stream.on("readable", discard);
  discard();
}

/**
 * Whether the client has given up on the call: its side was aborted, or
 * the stream was reset with an error. A NO_ERROR reset is a clean close
 * (this server sends one itself after an early answer).
 */
export function clientResetStream(request: Http2ServerRequest): boolean {
  const { rstCode } = request.stream;
  return request.aborted || (rstCode !== undefined && rstCode !== constants.NGHTTP2_NO_ERROR);
}

/** Longest wait for a stream to close before judging it as it stands. */
const CLOSE_WAIT_MS = 1_000;

/**
 * Resolves once the stream has closed, or after CLOSE_WAIT_MS (a peer that
 * neither ends nor resets it, a close held up behind unsent data): true
 * unless the client reset it. A client that cancels may end its side
 * before its reset arrives, so only the close tells a finished call from a
 * cancelled one.
 */
export function streamClosedCleanly(request: Http2ServerRequest): Promise<boolean> {
  const { stream } = request;
  return new Promise((resolve) => {
    const judge = () => {
      clearTimeout(timer);
      stream.off("close", judge);
      resolve(!clientResetStream(request));
    };
    const timer = setTimeout(judge, CLOSE_WAIT_MS);
    if (stream.closed || stream.destroyed) judge();
    else stream.once("close", judge);
  });
}

/**
 * Gives up on a call whose client reads nothing: the response's unsent
 * DATA blocks the trailers behind it, so no status can reach that client
 * any more, and RST_STREAM(CANCEL) (CANCELLED to gRPC clients) frees the
 * stream and the flow-control window it holds.
 */
export function abandonStream(request: Http2ServerRequest): void {
  request.stream.close(constants.NGHTTP2_CANCEL);
}
