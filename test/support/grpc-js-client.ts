import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const PROTO_ROOT = fileURLToPath(new URL("../../proto", import.meta.url));

/**
 * An @grpc/grpc-js client built from the .proto at run time with
 * proto-loader (protobufjs): no code shared with the server's protobuf-es.
 */
export function createGrpcJsClient(
  port: number,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  channelOptions: grpc.ChannelOptions = {},
): grpc.Client & {
  Export(
    metadata?: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<unknown, GrpcJsResponse>;
} {
  const definition = protoLoader.loadSync("export/v1/export.proto", {
    includeDirs: [PROTO_ROOT],
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    export: { v1: { ExportService: grpc.ServiceClientConstructor } };
  };
  const Client = loaded.export.v1.ExportService;
  return new Client(`127.0.0.1:${port}`, credentials, channelOptions) as never;
}

/** A response as proto-loader decodes it (oneof name in `kind`). */
export interface GrpcJsResponse {
  kind: "header" | "chunk" | "summary";
  header?: { exportId: string; contentType: string; fileName: string };
  chunk?: { data: Buffer; offset: string };
  summary?: { rows: string; bytes: string; sha256: string; chunks: number; batches: number };
}

export interface GrpcJsResult {
  readonly responses: GrpcJsResponse[];
  readonly data: Buffer;
}

/** Writes every request, ends the stream, and collects the answer. */
export function grpcJsExport(
  client: ReturnType<typeof createGrpcJsClient>,
  requests: readonly unknown[],
  options: grpc.CallOptions = {},
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<GrpcJsResult> {
  return new Promise((resolve, reject) => {
    const call = client.Export(metadata, options);
    const responses: GrpcJsResponse[] = [];
    call.on("data", (response: GrpcJsResponse) => responses.push(response));
    call.on("error", reject);
    call.on("end", () => {
      const data = Buffer.concat(
        responses.flatMap((response) => (response.chunk ? [response.chunk.data] : [])),
      );
      resolve({ responses, data });
    });
    for (const request of requests) call.write(request);
    call.end();
  });
}
