import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  type IncomingHttpHeaders,
} from "node:http2";
import { connect as connectTcp, type Socket } from "node:net";
import { fromBinary } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { type Code, ConnectError } from "@connectrpc/connect";
import { type ExportResponse, ExportResponseSchema } from "../../gen/export/v1/export_pb.js";

/** What a bare node:http2 Export call saw, whichever way it ended. */
export interface RawCall {
  /** Every response message, decoded, in order. */
  readonly responses: ExportResponse[];
  /** grpc-status from the trailers (or a trailers-only answer); undefined when none came. */
  readonly status: number | undefined;
  /** The status as a ConnectError, details from grpc-status-details-bin; undefined for OK or none. */
  readonly error: ConnectError | undefined;
  /** The RST_STREAM code the stream closed with, if it was reset. */
  readonly rstCode: number | undefined;
}

export interface RawCallOptions {
  /** A connection to open the stream on; by default a new one, closed afterwards. */
  readonly session?: ClientHttp2Session;
  /** Resets the stream with RST_STREAM(CANCEL) when aborted, as a client that gives up. */
  readonly signal?: AbortSignal;
  /** Called for each response message as it arrives. */
  readonly onResponse?: (response: ExportResponse, stream: ClientHttp2Stream) => void;
  /** Stop reading (pause the stream) once this many response messages arrived. */
  readonly stopReadingAfter?: number;
  /** Called with the stream as soon as it is opened. */
  readonly onStream?: (stream: ClientHttp2Stream) => void;
}

/**
 * An HTTP/2 connection with its TCP socket at hand, so that a test can
 * drop it as a failing network would (node:http2 hides the socket of a
 * session behind a proxy that refuses destroy()).
 */
export function connectWithSocket(port: number): { session: ClientHttp2Session; socket: Socket } {
  const socket = connectTcp(port, "127.0.0.1");
  socket.on("error", () => {});
  const session = connect(`http://127.0.0.1:${port}`, { createConnection: () => socket });
  session.on("error", () => {});
  return { session, socket };
}

/** The `details` of a grpc-status-details-bin google.rpc.Status, as connect reads them. */
function statusDetails(encoded: string | undefined): { type: string; value: Uint8Array }[] {
  if (!encoded) return [];
  const details: { type: string; value: Uint8Array }[] = [];
  const status = new BinaryReader(Buffer.from(encoded, "base64"));
  while (status.pos < status.len) {
    const [field, wireType] = status.tag();
    if (field !== 3) {
      status.skip(wireType);
      continue;
    }
    const any = new BinaryReader(status.bytes());
    let type = "";
    let value: Uint8Array = new Uint8Array();
    while (any.pos < any.len) {
      const [anyField, anyWireType] = any.tag();
      if (anyField === 1) type = any.string().replace(/^.*\//, "");
      else if (anyField === 2) value = any.bytes();
      else any.skip(anyWireType);
    }
    details.push({ type, value });
  }
  return details;
}

function errorOf(headers: IncomingHttpHeaders): ConnectError | undefined {
  const status = Number(headers["grpc-status"]);
  if (status === 0) return undefined;
  const message = decodeURIComponent(String(headers["grpc-message"] ?? ""));
  const error = new ConnectError(message, status as Code);
  error.details.push(...statusDetails(headers["grpc-status-details-bin"] as string | undefined));
  return error;
}

/**
 * The Export call spoken with bare node:http2: `frames` go out as given
 * (well-formed or not), the request side ends after the last one, and the
 * promise resolves once the stream has closed, however it closed. Nothing
 * is retried, decoded leniently or hidden, so what the server does is seen
 * as it is.
 */
export function rawCall(
  port: number,
  frames: AsyncIterable<Buffer> | Iterable<Buffer>,
  options: RawCallOptions = {},
): Promise<RawCall> {
  const session = options.session ?? connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  const stream = session.request({
    ":method": "POST",
    ":path": "/export.v1.ExportService/Export",
    "content-type": "application/grpc+proto",
    te: "trailers",
  });
  options.onStream?.(stream);
  const responses: ExportResponse[] = [];
  let status: number | undefined;
  let error: ConnectError | undefined;
  const onStatus = (headers: IncomingHttpHeaders) => {
    if (headers["grpc-status"] === undefined) return;
    status = Number(headers["grpc-status"]);
    error = errorOf(headers);
  };
  stream.on("response", onStatus);
  stream.on("trailers", onStatus);
  let pending = Buffer.alloc(0);
  const onData = (data: Buffer) => {
    pending = Buffer.concat([pending, data]);
    while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
      const size = pending.readUInt32BE(1);
      const response = fromBinary(ExportResponseSchema, pending.subarray(5, 5 + size));
      pending = pending.subarray(5 + size);
      responses.push(response);
      options.onResponse?.(response, stream);
      if (responses.length === options.stopReadingAfter) {
        stream.off("data", onData);
        stream.pause();
        return;
      }
    }
  };
  stream.on("data", onData);
  stream.on("error", () => {});
  const cancel = () => {
    if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
  };
  options.signal?.addEventListener("abort", cancel, { once: true });
  (async () => {
    for await (const chunk of frames) {
      if (stream.closed || stream.destroyed || options.signal?.aborted) return;
      if (!stream.write(chunk)) {
        await new Promise((resolve) => {
          stream.once("drain", resolve);
          stream.once("close", resolve);
        });
      }
    }
    if (!stream.closed && !stream.destroyed && !options.signal?.aborted) stream.end();
  })().catch(cancel);
  return new Promise<RawCall>((resolve) => {
    stream.once("close", () => {
      options.signal?.removeEventListener("abort", cancel);
      if (!options.session) session.close();
      resolve({ responses, status, error, rstCode: stream.rstCode });
    });
  });
}
