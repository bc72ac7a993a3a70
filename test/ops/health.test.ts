import { fileURLToPath } from "node:url";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
} from "../../gen/grpc/health/v1/health_pb.js";
import { createExportClient } from "../support/connect-client.js";
import { holdExport } from "../support/metrics.js";
import { type RunningServer, startServer } from "../support/server.js";

const PROTO_ROOT = fileURLToPath(new URL("../../proto", import.meta.url));

interface GrpcJsHealthResponse {
  status: string;
}

interface GrpcJsHealthClient extends grpc.Client {
  Check(
    request: { service: string },
    callback: (error: grpc.ServiceError | null, response?: GrpcJsHealthResponse) => void,
  ): grpc.ClientUnaryCall;
  Watch(request: { service: string }): grpc.ClientReadableStream<GrpcJsHealthResponse>;
}

/** An @grpc/grpc-js health client from the .proto, loaded at run time. */
function grpcJsHealth(port: number): GrpcJsHealthClient {
  const definition = protoLoader.loadSync("grpc/health/v1/health.proto", {
    includeDirs: [PROTO_ROOT],
    enums: String,
    defaults: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  return new loaded.grpc.health.v1.Health(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as GrpcJsHealthClient;
}

function grpcJsCheck(client: GrpcJsHealthClient, service: string) {
  return new Promise<{ status?: string; error?: grpc.ServiceError }>((resolve) => {
    client.Check({ service }, (error, response) =>
      resolve(error ? { error } : { status: response?.status }),
    );
  });
}

/** Reads a grpc-js server stream message by message; `end` resolves with its final status. */
function grpcJsStream<T>(call: grpc.ClientReadableStream<T>) {
  const queue: T[] = [];
  const waiting: ((message: T) => void)[] = [];
  call.on("data", (message: T) => {
    const next = waiting.shift();
    if (next) next(message);
    else queue.push(message);
  });
  const end = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  call.on("error", () => {}); // the status event carries the outcome
  return {
    next: () =>
      new Promise<T>((resolve) => {
        const queued = queue.shift();
        if (queued !== undefined) resolve(queued);
        else waiting.push(resolve);
      }),
    end,
  };
}

describe("grpc.health.v1.Health", () => {
  let running: RunningServer;
  let health: ReturnType<typeof createClient<typeof Health>>;
  let grpcJs: GrpcJsHealthClient;
  beforeAll(async () => {
    running = await startServer();
    health = createClient(Health, createGrpcTransport({ baseUrl: running.baseUrl }));
    grpcJs = grpcJsHealth(running.port);
  });
  afterAll(async () => {
    grpcJs.close();
    await running.close();
  });

  it("reports SERVING for the server and the export service (Connect client, gRPC)", async () => {
    expect((await health.check({ service: "" })).status).toBe(Status.SERVING);
    expect((await health.check({ service: "export.v1.ExportService" })).status).toBe(
      Status.SERVING,
    );
  });

  it("answers NOT_FOUND for an unknown service (Connect client, gRPC)", async () => {
    const error = await health.check({ service: "no.such.Service" }).then(
      () => undefined,
      (reason: unknown) => ConnectError.from(reason),
    );
    expect(error?.code).toBe(Code.NotFound);
    expect(error?.rawMessage).toBe(
      'unknown service "no.such.Service"; ask for "" (the whole server) or one of: export.v1.ExportService',
    );
  });

  it("quotes at most 100 characters of an unknown service's name", async () => {
    const error = await health.check({ service: "分".repeat(3_000) }).then(
      () => undefined,
      (reason: unknown) => ConnectError.from(reason),
    );
    expect(error?.code).toBe(Code.NotFound);
    expect(error?.rawMessage).toBe(
      `unknown service "${"分".repeat(100)}"…; ask for "" (the whole server) or one of: export.v1.ExportService`,
    );
    // Characters, not UTF-16 units: an emoji counts once.
    const withEmoji = await health.check({ service: `😀${"a".repeat(20_000)}` }).then(
      () => undefined,
      (reason: unknown) => ConnectError.from(reason),
    );
    expect(withEmoji?.rawMessage).toBe(
      `unknown service "😀${"a".repeat(99)}"…; ask for "" (the whole server) or one of: export.v1.ExportService`,
    );
  });

  it("reports the same to @grpc/grpc-js", async () => {
    expect(await grpcJsCheck(grpcJs, "")).toEqual({ status: "SERVING" });
    expect(await grpcJsCheck(grpcJs, "export.v1.ExportService")).toEqual({ status: "SERVING" });
    const unknown = await grpcJsCheck(grpcJs, "no.such.Service");
    expect(unknown.error?.code).toBe(grpc.status.NOT_FOUND);
  });

  it("watches an unknown service with SERVICE_UNKNOWN, keeping the stream open", async () => {
    const abort = new AbortController();
    const stream = health.watch({ service: "no.such.Service" }, { signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.status).toBe(Status.SERVICE_UNKNOWN);
    // Still open: a check on the same server works meanwhile, then cancel.
    expect((await health.check({ service: "" })).status).toBe(Status.SERVING);
    abort.abort();
    await expect(iterator.next()).rejects.toMatchObject({ code: Code.Canceled });
  });

  it("takes no export slot, even while every slot is taken", async () => {
    const exports = createExportClient(running.baseUrl, "grpc");
    const held = Array.from({ length: running.config.maxConcurrentExports }, () =>
      holdExport(exports),
    );
    await Promise.all(held.map((export_) => export_.started));
    const watch = grpcJsStream(grpcJs.Watch({ service: "" }));
    expect((await watch.next()).status).toBe("SERVING");
    expect((await health.check({ service: "" })).status).toBe(Status.SERVING);
    expect(running.server.runningExports()).toBe(running.config.maxConcurrentExports);
    await Promise.all(held.map((export_) => export_.finish()));
    expect(running.server.runningExports()).toBe(0);
  });
});

describe("health during shutdown", () => {
  it("turns NOT_SERVING once close() begins, tells watchers, and ends their streams", async () => {
    const running = await startServer();
    const health = createClient(Health, createGrpcTransport({ baseUrl: running.baseUrl }));
    const grpcJs = grpcJsHealth(running.port);
    let closing: Promise<void> | undefined;
    try {
      const connectWatch = health.watch({ service: "export.v1.ExportService" });
      const connectUpdates = connectWatch[Symbol.asyncIterator]();
      expect((await connectUpdates.next()).value?.status).toBe(Status.SERVING);
      const grpcJsWatch = grpcJsStream(grpcJs.Watch({ service: "" }));
      expect((await grpcJsWatch.next()).status).toBe("SERVING");

      // A running export keeps close() in its grace period.
      const held = holdExport(createExportClient(running.baseUrl, "grpc"));
      await held.started;
      closing = running.server.close();

      expect((await connectUpdates.next()).value?.status).toBe(Status.NOT_SERVING);
      expect((await grpcJsWatch.next()).status).toBe("NOT_SERVING");
      expect((await health.check({ service: "" })).status).toBe(Status.NOT_SERVING);
      expect((await health.check({ service: "export.v1.ExportService" })).status).toBe(
        Status.NOT_SERVING,
      );
      expect(await grpcJsCheck(grpcJs, "")).toEqual({ status: "NOT_SERVING" });

      await held.finish();
      await closing;
      // The server ended the watches as it closed.
      const grpcJsEnd = await grpcJsWatch.end;
      expect(grpcJsEnd.code).toBe(grpc.status.UNAVAILABLE);
      await expect(connectUpdates.next()).rejects.toMatchObject({ code: Code.Unavailable });
    } finally {
      grpcJs.close();
      await (closing ?? running.close());
    }
  });
});
