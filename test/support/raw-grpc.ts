import { connect, constants, type IncomingHttpHeaders } from "node:http2";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type ExportRequest,
  ExportRequestSchema,
  ExportResponseSchema,
} from "../../gen/export/v1/export_pb.js";

export interface RawResult {
  /** `kind.case` of every response message, in order ("json" for each in JSON). */
  readonly kinds: string[];
  /** grpc-status and grpc-message (percent-decoded) from the trailers. */
  readonly status: number;
  readonly message: string;
  /** The trailers as sent. */
  readonly trailers: IncomingHttpHeaders;
}

/** One gRPC message frame: flag byte, length, payload. */
export function frame(payload: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

export function frameOf(request: ExportRequest): Buffer {
  return frame(toBinary(ExportRequestSchema, request));
}

/** A new connection and an Export stream on it, headers sent. */
function openExportStream(port: number, headers: Record<string, string> = {}) {
  const session = connect(`http://127.0.0.1:${port}`);
  const stream = session.request({
    ":method": "POST",
    ":path": "/export.v1.ExportService/Export",
    "content-type": "application/grpc+proto",
    te: "trailers",
    ...headers,
  });
  return { session, stream };
}

/**
 * The Export call spoken with bare node:http2, so that what the server does
 * is seen unfiltered: no client library enforcing deadlines or decoding for
 * us. `frames` are written in order; the request side ends after the last.
 */
export function rawExport(
  port: number,
  frames: AsyncIterable<Buffer> | Iterable<Buffer>,
  headers: Record<string, string> = {},
): Promise<RawResult> {
  const { session, stream } = openExportStream(port, headers);
  const json = headers["content-type"]?.includes("json") === true;
  return new Promise<RawResult>((resolve, reject) => {
    const kinds: string[] = [];
    let pending = Buffer.alloc(0);
    stream.on("data", (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
        const size = pending.readUInt32BE(1);
        if (json) kinds.push("json");
        else {
          const response = fromBinary(ExportResponseSchema, pending.subarray(5, 5 + size));
          kinds.push(response.kind.case ?? "empty");
        }
        pending = pending.subarray(5 + size);
      }
    });
    stream.on("trailers", (trailers) => {
      resolve({
        kinds,
        status: Number(trailers["grpc-status"]),
        message: decodeURIComponent(String(trailers["grpc-message"] ?? "")),
        trailers,
      });
    });
    stream.on("error", reject);
    stream.on("close", () => {
      session.close();
      reject(
        new Error(
          `stream closed without trailers (rst ${stream.rstCode}) after ${kinds.join(",")}`,
        ),
      );
    });
    (async () => {
      for await (const chunk of frames) {
        if (stream.closed || stream.destroyed) return;
        if (!stream.write(chunk)) await new Promise((resolve) => stream.once("drain", resolve));
      }
      if (!stream.closed) stream.end();
    })().catch(() => stream.close(constants.NGHTTP2_CANCEL));
  });
}

export interface StalledExport {
  /** Resolves once the server cannot send more: it is blocked on a write. */
  readonly blocked: Promise<void>;
  /** Resets the stream, as a client that gives up does. */
  cancel(): void;
  /** The stream's RST_STREAM code once it was reset, from either side. */
  rstCode(): number | undefined;
  /** Calls grpc.health.v1.Health/Check on the same connection. */
  healthCheck(): Promise<void>;
  close(): void;
}

/**
 * An export whose client writes every frame and then never reads: HTTP/2
 * flow control soon stops the server in the middle of a write.
 */
export function stalledExport(port: number, frames: Iterable<Buffer>): StalledExport {
  const { session, stream } = openExportStream(port);
  stream.on("error", () => {});
  for (const chunk of frames) stream.write(chunk);
  const blocked = new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const poll = setInterval(() => {
      if (stream.state.localWindowSize === 0) {
        clearInterval(poll);
        resolve();
      } else if (Date.now() > deadline || stream.closed) {
        clearInterval(poll);
        reject(new Error("the server never filled the stream's flow-control window"));
      }
    }, 10);
  });
  return {
    blocked,
    cancel: () => stream.close(constants.NGHTTP2_CANCEL),
    rstCode: () => stream.rstCode,
    healthCheck: () =>
      new Promise<void>((resolve, reject) => {
        const check = session.request({
          ":method": "POST",
          ":path": "/grpc.health.v1.Health/Check",
          "content-type": "application/grpc+proto",
          te: "trailers",
        });
        check.on("error", reject);
        check.on("data", () => {});
        check.on("close", () => resolve());
        check.end(frame(new Uint8Array()));
      }),
    close: () => session.destroy(),
  };
}

export interface EarlyAnswer extends RawResult {
  /** The RST_STREAM code the server closed the stream with. */
  readonly rstCode: number | undefined;
  /** Whether the client still had its side open when the answer came. */
  readonly requestOpen: boolean;
}

/**
 * Sends `frames` and never ends the request side: with `keepSending`, it
 * goes on writing `filler` as fast as flow control allows. Resolves once
 * the server has answered and closed the stream, which it must do by
 * itself: the client would otherwise wait forever.
 */
export function exportAnsweredEarly(
  port: number,
  frames: readonly Buffer[],
  options: { keepSending?: Buffer } = {},
): Promise<EarlyAnswer> {
  const { session, stream } = openExportStream(port);
  return new Promise<EarlyAnswer>((resolve, reject) => {
    let trailers:
      | { status: number; message: string; trailers: IncomingHttpHeaders; requestOpen: boolean }
      | undefined;
    stream.on("data", () => {});
    stream.on("trailers", (headers) => {
      trailers = {
        status: Number(headers["grpc-status"]),
        message: decodeURIComponent(String(headers["grpc-message"] ?? "")),
        trailers: headers,
        requestOpen: !stream.writableEnded,
      };
    });
    stream.on("error", () => {});
    stream.on("close", () => {
      session.close();
      if (!trailers) {
        reject(new Error(`stream closed without trailers (rst ${stream.rstCode})`));
        return;
      }
      resolve({ ...trailers, kinds: [], rstCode: stream.rstCode });
    });
    for (const chunk of frames) stream.write(chunk);
    const filler = options.keepSending;
    if (!filler) return;
    const sendMore = () => {
      while (!stream.closed && !stream.destroyed && stream.write(filler)) {}
      if (!stream.closed && !stream.destroyed) stream.once("drain", sendMore);
    };
    sendMore();
  });
}
