import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCertificates, type TestCertificates } from "../support/certs.js";
import {
  type ConnectProtocol,
  collectExport,
  createExportClient,
} from "../support/connect-client.js";
import { failedExport } from "../support/expect-error.js";
import { createGrpcJsClient, grpcJsExport } from "../support/grpc-js-client.js";
import { sample, scrape } from "../support/metrics.js";
import { type RunningServer, startTlsServer } from "../support/server.js";
import { exportMessages } from "../support/tables.js";

const row = [["1", "a", "2", "b"]];
const grpcJsMessages = [
  { start: { format: "FORMAT_CSV", columns: [{ key: "id" }] } },
  { batch: { rows: [{ cells: ["1"] }] } },
];

let certs: TestCertificates;
beforeAll(async () => {
  certs = await makeCertificates();
});

async function grpcJsRows(port: number, credentials: grpc.ChannelCredentials) {
  const client = createGrpcJsClient(port, credentials);
  try {
    const result = await grpcJsExport(client, grpcJsMessages, { deadline: Date.now() + 5_000 });
    return result.responses.at(-1)?.summary?.rows;
  } finally {
    client.close();
  }
}

describe("TLS", () => {
  let running: RunningServer;
  let httpsUrl: string;
  beforeAll(async () => {
    [running, httpsUrl] = await startTlsServer(certs, false);
  });
  afterAll(() => running.close());

  it.each<ConnectProtocol>(["grpc", "connect-binary"])(
    "serves a Connect client over %s that trusts the CA",
    async (protocol) => {
      const client = createExportClient(httpsUrl, protocol, { tls: { ca: certs.ca } });
      expect((await collectExport(client, exportMessages(row))).summary.rows).toBe(1n);
    },
  );

  it("serves a grpc-js client that trusts the CA", async () => {
    expect(await grpcJsRows(running.port, grpc.credentials.createSsl(certs.ca))).toBe("1");
  });

  it("fails a client that does not trust the CA, and one that speaks h2c", async () => {
    const untrusting = createExportClient(httpsUrl, "grpc");
    const untrusted = await collectExport(untrusting, exportMessages(row)).catch((error) =>
      ConnectError.from(error),
    );
    expect(untrusted).toBeInstanceOf(ConnectError);
    expect((untrusted as ConnectError).rawMessage).toMatch(
      /self-signed certificate|unable to verify/,
    );
    const plain = createExportClient(running.baseUrl, "grpc");
    await expect(collectExport(plain, exportMessages(row), { timeoutMs: 3_000 })).rejects.toThrow();
    expect(running.server.runningExports()).toBe(0);
  });
});

describe("mutual TLS", () => {
  let running: RunningServer;
  let httpsUrl: string;
  beforeAll(async () => {
    [running, httpsUrl] = await startTlsServer(certs, true);
  });
  afterAll(() => running.close());

  it("makes the client certificate's subject the export's user, for two client stacks", async () => {
    const alice = await certs.client("alice");
    const client = createExportClient(httpsUrl, "grpc", {
      tls: { ca: certs.ca, cert: alice.cert, key: alice.key },
    });
    expect((await collectExport(client, exportMessages(row))).summary.rows).toBe(1n);

    const bob = await certs.client("bob");
    const credentials = grpc.credentials.createSsl(certs.ca, bob.key, bob.cert);
    expect(await grpcJsRows(running.port, credentials)).toBe("1");

    const metrics = await scrape(running.metricsUrl);
    expect(sample(metrics, "export_requests_total", { outcome: "ok", user: "alice" })).toBe(1);
    expect(sample(metrics, "export_requests_total", { outcome: "ok", user: "bob" })).toBe(1);
  });

  it("refuses an export whose certificate names no one user: no CN, two CNs, a reserved name", async () => {
    const cases = [
      await certs.clientWithSubject("no-cn", "/O=Export Tests/OU=anyone"),
      await certs.clientWithSubject("two-cns", "/CN=alice/CN=admin/O=Export Tests"),
      await certs.client("anonymous"),
    ];
    const before = await scrape(running.metricsUrl);
    for (const pair of cases) {
      const client = createExportClient(httpsUrl, "grpc", {
        tls: { ca: certs.ca, cert: pair.cert, key: pair.key },
      });
      const { error } = await failedExport(client, exportMessages(row));
      expect(error.code).toBe(Code.Unauthenticated);
      expect(error.rawMessage).toBe(
        "the client certificate names no user: its subject needs one common name (CN) of 1 to 64 letters, digits or ._@-, and not anonymous or other",
      );
    }
    const after = await scrape(running.metricsUrl);
    const refused = (text: string) =>
      sample(text, "export_rejected_total", { reason: "unauthenticated" }) ?? 0;
    expect(refused(after) - refused(before)).toBe(3);
    expect(running.server.runningExports()).toBe(0);
  });

  it("refuses a client without a certificate, and one whose certificate another CA signed", async () => {
    const without = createExportClient(httpsUrl, "grpc", { tls: { ca: certs.ca } });
    await expect(collectExport(without, exportMessages(row))).rejects.toThrow(
      /certificate required|alert|stream closed|socket hang up|ECONNRESET/i,
    );
    const stranger = await (await makeCertificates("Another CA")).client("mallory");
    const foreign = createExportClient(httpsUrl, "grpc", {
      tls: { ca: certs.ca, cert: stranger.cert, key: stranger.key },
    });
    await expect(collectExport(foreign, exportMessages(row))).rejects.toThrow(
      /unknown ca|alert|stream closed|socket hang up|ECONNRESET/i,
    );
    expect(running.server.runningExports()).toBe(0);
    const metrics = await scrape(running.metricsUrl);
    expect(sample(metrics, "export_requests_total", { user: "mallory" })).toBeUndefined();
  });
});
