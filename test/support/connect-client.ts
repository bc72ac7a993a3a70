import type { SecureClientSessionOptions } from "node:http2";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import {
  type ExportHeader,
  type ExportRequest,
  ExportRequestSchema,
  ExportService,
  type ExportSummary,
} from "../../gen/export/v1/export_pb.js";

export type ExportClient = Client<typeof ExportService>;
export type RequestInit = MessageInitShape<typeof ExportRequestSchema>;

export type ConnectProtocol = "grpc" | "grpc-web" | "connect-binary" | "connect-json";

export interface ClientOptions {
  /** Sent as `authorization: Bearer <token>`. */
  readonly token?: string;
  /** TLS settings for an https baseUrl (ca, cert, key). */
  readonly tls?: SecureClientSessionOptions;
}

export function createExportClient(
  baseUrl: string,
  protocol: ConnectProtocol,
  options: ClientOptions = {},
): ExportClient {
  const { token, tls } = options;
  const interceptors: Interceptor[] = token
    ? [
        (next) => (request) => {
          request.header.set("authorization", `Bearer ${token}`);
          return next(request);
        },
      ]
    : [];
  const common = { baseUrl, interceptors, ...(tls && { nodeOptions: tls }) };
  switch (protocol) {
    case "grpc":
      return createClient(ExportService, createGrpcTransport(common));
    case "grpc-web":
      return createClient(ExportService, createGrpcWebTransport({ ...common, httpVersion: "2" }));
    default:
      return createClient(
        ExportService,
        createConnectTransport({
          ...common,
          httpVersion: "2",
          useBinaryFormat: protocol === "connect-binary",
        }),
      );
  }
}

export interface ExportResult {
  readonly header: ExportHeader;
  readonly data: Buffer;
  readonly chunkOffsets: readonly bigint[];
  readonly summary: ExportSummary;
}

export async function* requestStream(
  messages: Iterable<RequestInit> | AsyncIterable<RequestInit>,
): AsyncGenerator<ExportRequest> {
  for await (const message of messages) yield create(ExportRequestSchema, message);
}

/** Runs one export to the end and checks the stream's shape on the way. */
export async function collectExport(
  client: ExportClient,
  messages: Iterable<RequestInit> | AsyncIterable<RequestInit>,
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<ExportResult> {
  let header: ExportHeader | undefined;
  let summary: ExportSummary | undefined;
  const parts: Buffer[] = [];
  const chunkOffsets: bigint[] = [];
  for await (const response of client.export(requestStream(messages), options)) {
    switch (response.kind.case) {
      case "header":
        if (header || parts.length > 0) throw new Error("header is not the first message");
        header = response.kind.value;
        break;
      case "chunk":
        if (!header || summary) throw new Error("chunk outside header..summary");
        chunkOffsets.push(response.kind.value.offset);
        parts.push(Buffer.from(response.kind.value.data));
        break;
      case "summary":
        if (!header || summary) throw new Error("summary is not last or repeated");
        summary = response.kind.value;
        break;
      default:
        throw new Error("empty response message");
    }
  }
  if (!header || !summary) throw new Error("stream ended without header and summary");
  return { header, data: Buffer.concat(parts), chunkOffsets, summary };
}
