import { createHash } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import {
  HealthCheckRequestSchema,
  Health as HealthService,
} from "../../gen/grpc/health/v1/health_pb.js";
import { spawnServer } from "../support/child-server.js";
import {
  type ConnectProtocol,
  collectExport,
  createExportClient,
} from "../support/connect-client.js";
import { failedExport } from "../support/expect-error.js";
import { createGrpcJsClient, grpcJsExport } from "../support/grpc-js-client.js";
import { generateGrpcioStubs, runGrpcioClient, wrongAnswers } from "../support/grpcio.js";
import { holdExports } from "../support/hold.js";
import { sample, scrape } from "../support/metrics.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";
import { exportMessages } from "../support/tables.js";

const ALICE = "alice-token-0123456789";
const BOB = "bob-token-9876543210";
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const row = [["1", "a", "2", "b"]];

let tokensFile: string;
let running: RunningServer;
const logLines: string[] = [];
beforeAll(async () => {
  tokensFile = join(await mkdtemp(join(tmpdir(), "auth-")), "tokens");
  await writeFile(tokensFile, `# users\nalice:${ALICE}\nbob:sha256:${sha256(BOB)}\n`);
  running = await startServer(
    { authTokensFile: tokensFile, maxConcurrentExportsPerUser: 2, metricsMaxUsers: 2 },
    logLines,
  );
});
afterAll(() => running.close());

describe.each<ConnectProtocol>(["grpc", "connect-binary"])("authentication over %s", (protocol) => {
  it("refuses an export without a token with UNAUTHENTICATED", async () => {
    const client = createExportClient(running.baseUrl, protocol);
    const { error, kinds } = await failedExport(client, exportMessages(row));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(error.rawMessage).toBe(
      "authentication required: send the header `authorization: Bearer <token>`",
    );
    expect(kinds).toEqual([]);
  });

  it("refuses a wrong token with UNAUTHENTICATED, never echoing it", async () => {
    const client = createExportClient(running.baseUrl, protocol, { token: "guess-1234" });
    const { error } = await failedExport(client, exportMessages(row));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(error.rawMessage).toBe("the bearer token is not valid");
  });

  it("exports for a plain and a hashed token", async () => {
    for (const token of [ALICE, BOB]) {
      const client = createExportClient(running.baseUrl, protocol, { token });
      const result = await collectExport(client, exportMessages(row));
      expect(result.summary.rows).toBe(1n);
    }
  });
});

describe("authentication", () => {
  it("is checked the same way for a grpc-js client", async () => {
    const client = createGrpcJsClient(running.port);
    const messages = [
      { start: { format: "FORMAT_CSV", columns: [{ key: "id" }] } },
      { batch: { rows: [{ cells: ["1"] }] } },
    ];
    try {
      const refused = await grpcJsExport(client, messages).catch((error) => error);
      expect(refused).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      const metadata = new grpc.Metadata();
      metadata.set("authorization", `Bearer ${BOB}`);
      const result = await grpcJsExport(client, messages, {}, metadata);
      expect(result.responses.at(-1)?.summary?.rows).toBe("1");
    } finally {
      client.close();
    }
  });

  it("reaches a gRPC C-core client exactly, 300 times", async () => {
    const stubs = await generateGrpcioStubs();
    const tally = await runGrpcioClient(stubs, {
      target: `127.0.0.1:${running.port}`,
      cases: ["unauthenticated"],
      seconds: 30,
      maxCalls: 300,
    });
    expect(wrongAnswers(tally, ["unauthenticated"], 300)).toEqual([]);
  });

  it("leaves health open", async () => {
    const health = createClient(HealthService, createGrpcTransport({ baseUrl: running.baseUrl }));
    const answer = await health.check(create(HealthCheckRequestSchema, { service: "" }));
    expect(answer.status).toBe(1);
  });

  it("names the user in logs and metrics, and never the token", async () => {
    const client = createExportClient(running.baseUrl, "grpc", { token: ALICE });
    await collectExport(client, exportMessages(row));
    const started = logLines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.event === "export_started");
    expect(started.map((entry) => entry.user)).toContain("alice");
    const metrics = await scrape(running.metricsUrl);
    expect(
      sample(metrics, "export_requests_total", { outcome: "ok", user: "alice" }),
    ).toBeGreaterThan(0);
    expect(
      sample(metrics, "export_requests_total", { outcome: "unauthenticated" }),
    ).toBeGreaterThan(0);
    expect(sample(metrics, "export_rejected_total", { reason: "unauthenticated" })).toBeGreaterThan(
      0,
    );
    for (const secret of [ALICE, BOB, "guess-1234"]) {
      expect(logLines.join("\n")).not.toContain(secret);
      expect(metrics).not.toContain(secret);
    }
  });

  it("limits each user to MAX_CONCURRENT_EXPORTS_PER_USER, with ErrorInfo and RetryInfo", async () => {
    const alice = createExportClient(running.baseUrl, "grpc", { token: ALICE });
    const held = await holdExports(alice, 2, () => running.server.runningExports());
    const { error } = await failedExport(alice, exportMessages(row));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toBe(
      "user alice already runs 2 exports, the most one user may (MAX_CONCURRENT_EXPORTS_PER_USER); retry in 1s",
    );
    const [info] = error.findDetails(ErrorInfoSchema);
    expect(info?.reason).toBe("EXPORT_USER_SLOTS_EXHAUSTED");
    expect(info?.metadata).toEqual({ limit: "2", user: "alice" });
    expect(error.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds).toBe(1n);
    // Another user still has slots.
    const bob = createExportClient(running.baseUrl, "grpc", { token: BOB });
    expect((await collectExport(bob, exportMessages(row))).summary.rows).toBe(1n);
    expect(await held.release()).toEqual([10n, 10n]);
    const metrics = await scrape(running.metricsUrl);
    expect(sample(metrics, "export_rejected_total", { reason: "user_slots_exhausted" })).toBe(1);
  });

  it("caps the user label at METRICS_MAX_USERS; later users count as other", async () => {
    await writeFile(tokensFile, `alice:${ALICE}\nbob:sha256:${sha256(BOB)}\ncarol:c-token\n`);
    running.server.reloadTokens();
    const carol = createExportClient(running.baseUrl, "grpc", { token: "c-token" });
    await collectExport(carol, exportMessages(row));
    const metrics = await scrape(running.metricsUrl);
    expect(sample(metrics, "export_requests_total", { user: "carol" })).toBeUndefined();
    expect(sample(metrics, "export_requests_total", { outcome: "ok", user: "other" })).toBe(1);
  });

  it("takes a changed tokens file without a restart", async () => {
    await writeFile(tokensFile, "dave:d-token\n");
    const dave = createExportClient(running.baseUrl, "grpc", { token: "d-token" });
    const alice = createExportClient(running.baseUrl, "grpc", { token: ALICE });
    const deadline = Date.now() + 5_000;
    for (;;) {
      const outcome = await collectExport(dave, exportMessages(row)).then(
        () => "ok",
        (error: unknown) => ConnectError.from(error).code,
      );
      if (outcome === "ok") break;
      expect(outcome).toBe(Code.Unauthenticated);
      if (Date.now() > deadline) throw new Error("the changed file was not picked up within 5 s");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const { error } = await failedExport(alice, exportMessages(row));
    expect(error.code).toBe(Code.Unauthenticated);
  });
});

describe("the server process", () => {
  it("re-reads the tokens file on SIGHUP and keeps serving", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "auth-")), "tokens");
    await writeFile(file, `alice:${ALICE}\n`);
    const server = await spawnServer(["node", "--import", "tsx", "src/main.ts"], {
      AUTH_TOKENS_FILE: file,
    });
    try {
      await writeFile(file, "erin:e-token\n");
      server.child.kill("SIGHUP");
      const erin = createExportClient(server.baseUrl, "grpc", { token: "e-token" });
      await eventually(() =>
        server.logs.some((entry) => entry.msg === "authentication tokens reloaded"),
      );
      expect((await collectExport(erin, exportMessages(row))).summary.rows).toBe(1n);
      const alice = createExportClient(server.baseUrl, "grpc", { token: ALICE });
      expect((await failedExport(alice, exportMessages(row))).error.code).toBe(
        Code.Unauthenticated,
      );
    } finally {
      expect(await server.stop()).toBe(0);
    }
    expect(JSON.stringify(server.logs)).not.toContain("e-token");
  });
});

describe("authentication with AUTH_OPEN_SERVICES empty", () => {
  it("guards health too", async () => {
    const closed = await startServer({ authTokens: `alice:${ALICE}`, authOpenServices: [] });
    try {
      const health = createClient(HealthService, createGrpcTransport({ baseUrl: closed.baseUrl }));
      const error = await health
        .check(create(HealthCheckRequestSchema, { service: "" }))
        .catch((caught: unknown) => ConnectError.from(caught));
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.Unauthenticated);
    } finally {
      await closed.close();
    }
  });
});
