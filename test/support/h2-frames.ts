import { connect as connectTcp, type Socket } from "node:net";

/**
 * HTTP/2 spoken frame by frame over a bare TCP socket (RFC 9113), for a
 * client that breaks rules node:http2 would enforce for it: more streams
 * than the server's SETTINGS_MAX_CONCURRENT_STREAMS, for one. Header blocks
 * are HPACK literals without indexing or Huffman coding (RFC 7541 §6.2.2),
 * which every decoder must accept.
 */

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
} as const;

export const Flags = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

export function encodeFrame(frame: Frame): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(frame.payload.length, 0, 3);
  head.writeUInt8(frame.type, 3);
  head.writeUInt8(frame.flags, 4);
  head.writeUInt32BE(frame.streamId & 0x7fffffff, 5);
  return Buffer.concat([head, frame.payload]);
}

/** An HPACK integer with an `prefixBits`-bit prefix (RFC 7541 §5.1). */
function hpackInteger(value: number, prefixBits: number, firstByte = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByte | value]);
  const bytes = [firstByte | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A header block of literal fields without indexing, new names, no Huffman. */
export function headerBlock(headers: readonly (readonly [string, string])[]): Buffer {
  return Buffer.concat(
    headers.flatMap(([name, value]) => {
      const nameBytes = Buffer.from(name, "latin1");
      const valueBytes = Buffer.from(value, "latin1");
      return [
        Buffer.from([0x00]),
        hpackInteger(nameBytes.length, 7),
        nameBytes,
        hpackInteger(valueBytes.length, 7),
        valueBytes,
      ];
    }),
  );
}

/** The request headers of an Export call. */
export function exportHeaders(authority: string): Buffer {
  return headerBlock([
    [":method", "POST"],
    [":scheme", "http"],
    [":authority", authority],
    [":path", "/export.v1.ExportService/Export"],
    ["content-type", "application/grpc+proto"],
    ["te", "trailers"],
  ]);
}

/** Cuts a byte stream into frames as they complete. */
export function frameReader(onFrame: (frame: Frame) => void): (data: Buffer) => void {
  let pending = Buffer.alloc(0);
  return (data) => {
    pending = Buffer.concat([pending, data]);
    while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
      const length = pending.readUIntBE(0, 3);
      onFrame({
        type: pending.readUInt8(3),
        flags: pending.readUInt8(4),
        streamId: pending.readUInt32BE(5) & 0x7fffffff,
        payload: pending.subarray(9, 9 + length),
      });
      pending = pending.subarray(9 + length);
    }
  };
}

export interface RawH2Connection {
  readonly socket: Socket;
  /** Every frame the server sent, in order. */
  readonly frames: Frame[];
  /** Resolves once the server's SETTINGS arrived (and were acknowledged). */
  readonly settled: Promise<void>;
  /** Resolves when the socket has closed, from either side. */
  readonly closed: Promise<void>;
  send(...frames: Frame[]): void;
}

/**
 * A TCP connection that has sent the client preface and an empty SETTINGS
 * frame, acknowledges the server's SETTINGS and answers its PINGs (so that
 * keepalive does not close it), and does nothing else by itself.
 */
export function rawH2Connection(port: number): RawH2Connection {
  const socket = connectTcp(port, "127.0.0.1");
  socket.on("error", () => {});
  const frames: Frame[] = [];
  let onSettings = () => {};
  const settled = new Promise<void>((resolve) => {
    onSettings = resolve;
  });
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const send = (...out: Frame[]) => {
    if (!socket.destroyed) socket.write(Buffer.concat(out.map(encodeFrame)));
  };
  socket.on(
    "data",
    frameReader((frame) => {
      frames.push(frame);
      if (frame.type === FrameType.SETTINGS && !(frame.flags & Flags.ACK)) {
        send({ type: FrameType.SETTINGS, flags: Flags.ACK, streamId: 0, payload: Buffer.alloc(0) });
        onSettings();
      }
      if (frame.type === FrameType.PING && !(frame.flags & Flags.ACK)) {
        send({ type: FrameType.PING, flags: Flags.ACK, streamId: 0, payload: frame.payload });
      }
    }),
  );
  socket.write(
    Buffer.concat([
      PREFACE,
      encodeFrame({ type: FrameType.SETTINGS, flags: 0, streamId: 0, payload: Buffer.alloc(0) }),
    ]),
  );
  return { socket, frames, settled, closed, send };
}
