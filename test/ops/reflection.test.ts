import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import {
  createFileRegistry,
  type DescMessage,
  type DescService,
  fromBinary,
  fromJson,
  type JsonValue,
  type Message,
  toJson,
} from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { GrpcReflection } from "grpc-js-reflection-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
} from "../../gen/grpc/health/v1/health_pb.js";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { parseCsv } from "../support/csv.js";
import { type RunningServer, startServer } from "../support/server.js";

const SERVICES = [
  "export.v1.ExportService",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

type Version = "v1" | "v1alpha";
const VERSIONS: Version[] = ["v1", "v1alpha"];

/**
 * The reflection protos shipped inside grpc-js-reflection-client: copies of
 * the published grpc-proto files made by others, so a wrong field number in
 * proto/grpc/reflection would fail these tests.
 */
const THIRD_PARTY_PROTOS = join(
  dirname(createRequire(import.meta.url).resolve("grpc-js-reflection-client/package.json")),
  "proto",
);

/** A response as proto-loader decodes it. */
interface RawResponse {
  validHost: string;
  originalRequest: Record<string, unknown> | null;
  messageResponse: string;
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  listServicesResponse?: { service: { name: string }[] };
  allExtensionNumbersResponse?: { baseTypeName: string; extensionNumber: number[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

/** @grpc/grpc-js + proto-loader on the third-party protos: one stream, many requests. */
function rawReflection(port: number, version: Version) {
  const definition = protoLoader.loadSync(join(THIRD_PARTY_PROTOS, `${version}.proto`), {
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: { reflection: Record<Version, { ServerReflection: grpc.ServiceClientConstructor }> };
  };
  const client = new loaded.grpc.reflection[version].ServerReflection(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as grpc.Client & {
    ServerReflectionInfo(): grpc.ClientDuplexStream<object, RawResponse>;
  };
  return {
    ask(requests: readonly object[]): Promise<RawResponse[]> {
      return new Promise((resolve, reject) => {
        const call = client.ServerReflectionInfo();
        const responses: RawResponse[] = [];
        call.on("data", (response: RawResponse) => responses.push(response));
        call.on("error", reject);
        call.on("end", () => resolve(responses));
        for (const request of requests) call.write(request);
        call.end();
      });
    },
    async askOne(request: object): Promise<RawResponse> {
      const [response] = await this.ask([request]);
      if (!response) throw new Error("no response");
      return response;
    },
    close: () => client.close(),
  };
}

function decodeFiles(response: RawResponse): FileDescriptorProto[] {
  expect(response.messageResponse).toBe("fileDescriptorResponse");
  return (response.fileDescriptorResponse?.fileDescriptorProto ?? []).map((bytes) =>
    fromBinary(FileDescriptorProtoSchema, bytes),
  );
}

/** Builds a protobuf-es registry from reflected files alone, as grpcurl builds its descriptors. */
function registryOf(files: readonly FileDescriptorProto[]) {
  const [first] = files;
  if (!first) throw new Error("no file");
  return createFileRegistry(first, (name) => files.find((file) => file.name === name));
}

let running: RunningServer;
beforeAll(async () => {
  running = await startServer();
});
afterAll(() => running.close());

describe.each(VERSIONS)("grpc.reflection.%s with grpc-js-reflection-client", (version) => {
  let client: GrpcReflection;
  beforeAll(() => {
    client = new GrpcReflection(
      `127.0.0.1:${running.port}`,
      grpc.credentials.createInsecure(),
      {},
      version,
    );
  });

  it("lists every service: export, health and both reflection versions", async () => {
    expect(await client.listServices()).toEqual(SERVICES);
  });

  it("describes ExportService.Export as a bidirectional stream", async () => {
    const methods = await client.listMethods("export.v1.ExportService");
    expect(methods.map((method) => method.name)).toEqual(["Export"]);
    const definition = methods[0]?.definition;
    expect(definition?.path).toBe("/export.v1.ExportService/Export");
    expect(definition?.requestStream).toBe(true);
    expect(definition?.responseStream).toBe(true);
  });

  it("fails a lookup of an unknown symbol", async () => {
    await expect(client.getDescriptorBySymbol("export.v1.NoSuchThing")).rejects.toThrow(
      "symbol export.v1.NoSuchThing not found",
    );
  });
});

describe.each(VERSIONS)(
  "grpc.reflection.%s with @grpc/grpc-js on the published protos",
  (version) => {
    let reflection: ReturnType<typeof rawReflection>;
    beforeAll(() => {
      reflection = rawReflection(running.port, version);
    });
    afterAll(() => reflection.close());

    it("lists services and echoes the request and host", async () => {
      const response = await reflection.askOne({ host: "localhost", listServices: "*" });
      expect(response.validHost).toBe("localhost");
      expect(response.originalRequest).toMatchObject({ host: "localhost", listServices: "*" });
      expect(response.listServicesResponse?.service.map((service) => service.name)).toEqual(
        SERVICES,
      );
    });

    it("sends the file of ExportService first, then everything it imports", async () => {
      const files = decodeFiles(
        await reflection.askOne({ fileContainingSymbol: "export.v1.ExportService" }),
      );
      expect(files.map((file) => file.name)).toEqual([
        "export/v1/export.proto",
        "google/protobuf/struct.proto",
        "google/protobuf/duration.proto",
      ]);
      const [exportFile] = files;
      expect(exportFile?.package).toBe("export.v1");
      expect(exportFile?.dependency).toEqual([
        "google/protobuf/duration.proto",
        "google/protobuf/struct.proto",
      ]);
      const service = exportFile?.service.find((each) => each.name === "ExportService");
      expect(service?.method.map((method) => ({ ...method, $typeName: undefined }))).toEqual([
        expect.objectContaining({
          name: "Export",
          inputType: ".export.v1.ExportRequest",
          outputType: ".export.v1.ExportResponse",
          clientStreaming: true,
          serverStreaming: true,
        }),
      ]);

      // The files stand alone: protobuf-es resolves every type from them.
      const registry = registryOf(files);
      const method = registry.getService("export.v1.ExportService")?.methods[0];
      expect(method?.methodKind).toBe("bidi_streaming");
      expect(method?.input.typeName).toBe("export.v1.ExportRequest");
      expect(method?.output.typeName).toBe("export.v1.ExportResponse");
      expect(registry.getMessage("export.v1.RowBatch")?.field.jsonRows?.message?.typeName).toBe(
        "google.protobuf.ListValue",
      );
    });

    it("finds the file of methods, messages, nested messages, enums, nested enums and fields", async () => {
      const symbols: [string, string][] = [
        ["export.v1.ExportService.Export", "export/v1/export.proto"],
        ["export.v1.ExportRequest", "export/v1/export.proto"],
        ["export.v1.Format", "export/v1/export.proto"],
        ["export.v1.FORMAT_CSV", "export/v1/export.proto"],
        ["export.v1.ExportStart.columns", "export/v1/export.proto"],
        ["google.rpc.BadRequest.FieldViolation", "google/rpc/error_details.proto"],
        ["grpc.health.v1.Health.Watch", "grpc/health/v1/health.proto"],
        ["grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"],
        [
          `grpc.reflection.${version}.ServerReflection`,
          `grpc/reflection/${version}/reflection.proto`,
        ],
        ["google.protobuf.Duration", "google/protobuf/duration.proto"],
      ];
      // One stream, many requests, answered in order (as grpcurl asks).
      const responses = await reflection.ask(
        symbols.map(([symbol]) => ({ fileContainingSymbol: symbol })),
      );
      expect(responses.map((response) => decodeFiles(response)[0]?.name)).toEqual(
        symbols.map(([, file]) => file),
      );
    });

    it("finds files by name, with their dependencies", async () => {
      const files = decodeFiles(
        await reflection.askOne({ fileByFilename: "google/rpc/error_details.proto" }),
      );
      expect(files.map((file) => file.name)).toEqual([
        "google/rpc/error_details.proto",
        "google/protobuf/duration.proto",
      ]);
      const health = decodeFiles(
        await reflection.askOne({ fileByFilename: "grpc/health/v1/health.proto" }),
      );
      expect(health.map((file) => file.name)).toEqual(["grpc/health/v1/health.proto"]);
    });

    it("answers NOT_FOUND (5) in error_response for unknown symbols, files and extensions", async () => {
      const responses = await reflection.ask([
        { fileContainingSymbol: "export.v1.NoSuchThing" },
        { fileByFilename: "no/such.proto" },
        {
          fileContainingExtension: {
            containingType: "export.v1.ExportRequest",
            extensionNumber: 100,
          },
        },
        { allExtensionNumbersOfType: "export.v1.NoSuchThing" },
      ]);
      expect(responses.map((response) => response.messageResponse)).toEqual([
        "errorResponse",
        "errorResponse",
        "errorResponse",
        "errorResponse",
      ]);
      expect(responses.map((response) => response.errorResponse)).toEqual([
        { errorCode: 5, errorMessage: "symbol export.v1.NoSuchThing not found" },
        { errorCode: 5, errorMessage: "file no/such.proto not found" },
        { errorCode: 5, errorMessage: "extension 100 of export.v1.ExportRequest not found" },
        { errorCode: 5, errorMessage: "type export.v1.NoSuchThing not found" },
      ]);
    });

    it("lists the extension numbers of a known message: none here", async () => {
      const response = await reflection.askOne({
        allExtensionNumbersOfType: "export.v1.ExportRequest",
      });
      expect(response.allExtensionNumbersResponse).toEqual({
        baseTypeName: "export.v1.ExportRequest",
        extensionNumber: [],
      });
    });
  },
);

describe("an Export call built only from reflection, with JSON messages (what grpcurl -d does)", () => {
  it("streams a CSV back", async () => {
    const reflection = rawReflection(running.port, "v1alpha");
    const files = decodeFiles(
      await reflection.askOne({ fileContainingSymbol: "export.v1.ExportService" }),
    );
    reflection.close();
    const registry = registryOf(files);
    const service = registry.getService("export.v1.ExportService") as DescService;
    const method = service.methods[0];
    if (method?.methodKind !== "bidi_streaming") throw new Error("no bidi Export");

    const requestsJson: JsonValue[] = [
      {
        start: {
          format: "FORMAT_CSV",
          columns: [{ key: "id" }, { key: "name", title: "Name" }],
          fileName: "reflected.csv",
        },
      },
      {
        batch: {
          jsonRows: [
            [1, "Ada"],
            [2, null],
          ],
        },
      },
    ];
    const input: DescMessage = method.input;
    async function* requests() {
      for (const json of requestsJson) yield fromJson(input, json, { registry });
    }
    // A client of the reflected service: its methods are known only at run time.
    const client = createClient(
      service,
      createGrpcTransport({ baseUrl: running.baseUrl }),
    ) as unknown as { export(requests: AsyncIterable<Message>): AsyncIterable<Message> };
    const responses: Record<string, Record<string, JsonValue>>[] = [];
    for await (const response of client.export(requests())) {
      responses.push(toJson(method.output, response, { registry }) as never);
    }
    expect(Object.keys(responses[0] ?? {})).toEqual(["header"]);
    expect(responses[0]?.header).toMatchObject({
      contentType: "text/csv; charset=utf-8",
      fileName: "reflected.csv",
    });
    const csv = responses
      .flatMap((response) =>
        response.chunk ? [Buffer.from(String(response.chunk.data), "base64")] : [],
      )
      .reduce((all, part) => Buffer.concat([all, part]), Buffer.alloc(0));
    expect(parseCsv(csv)).toEqual([
      ["id", "Name"],
      ["1", "Ada"],
      ["2", null],
    ]);
    expect(responses.at(-1)?.summary).toMatchObject({ rows: "2", bytes: String(csv.length) });
  });
});

describe("the wire contract of the grpc protos", () => {
  it("keeps the published names and field numbers", () => {
    const numbers = (message: DescMessage) =>
      Object.fromEntries(message.fields.map((field) => [field.name, field.number]));
    for (const pkg of [v1, v1alpha]) {
      expect(numbers(pkg.ServerReflectionRequestSchema)).toEqual({
        host: 1,
        file_by_filename: 3,
        file_containing_symbol: 4,
        file_containing_extension: 5,
        all_extension_numbers_of_type: 6,
        list_services: 7,
      });
      expect(numbers(pkg.ExtensionRequestSchema)).toEqual({
        containing_type: 1,
        extension_number: 2,
      });
      expect(numbers(pkg.ServerReflectionResponseSchema)).toEqual({
        valid_host: 1,
        original_request: 2,
        file_descriptor_response: 4,
        all_extension_numbers_response: 5,
        list_services_response: 6,
        error_response: 7,
      });
      expect(numbers(pkg.FileDescriptorResponseSchema)).toEqual({ file_descriptor_proto: 1 });
      expect(numbers(pkg.ExtensionNumberResponseSchema)).toEqual({
        base_type_name: 1,
        extension_number: 2,
      });
      expect(numbers(pkg.ListServiceResponseSchema)).toEqual({ service: 1 });
      expect(numbers(pkg.ServiceResponseSchema)).toEqual({ name: 1 });
      expect(numbers(pkg.ErrorResponseSchema)).toEqual({ error_code: 1, error_message: 2 });
      const method = pkg.ServerReflection.method.serverReflectionInfo;
      expect(method.name).toBe("ServerReflectionInfo");
      expect(method.methodKind).toBe("bidi_streaming");
    }
    expect(numbers(HealthCheckRequestSchema)).toEqual({ service: 1 });
    expect(numbers(HealthCheckResponseSchema)).toEqual({ status: 1 });
    const statuses = HealthCheckResponseSchema.field.status.enum?.values.map((value) => [
      value.name,
      value.number,
    ]);
    expect(statuses).toEqual([
      ["UNKNOWN", 0],
      ["SERVING", 1],
      ["NOT_SERVING", 2],
      ["SERVICE_UNKNOWN", 3],
    ]);
  });
});
