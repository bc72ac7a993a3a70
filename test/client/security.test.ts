import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Code,
  createExportClient,
  ExportCallError,
  type ExportClient,
  type ExportClientOptions,
} from "../../src/client/index.js";
import type { ExportStatusReport } from "../../src/ops/export-status.js";
import { gate } from "../support/async.js";
import { type KeyPair, makeCertificates, type TestCertificates } from "../support/certs.js";
import { sideGet } from "../support/metrics.js";
import { eventually, type RunningServer, startServer, startTlsServer } from "../support/server.js";

const TOKEN = "s3cret-token-of-alice";
const CELL = "a cell value the status must not show";

let pki: TestCertificates;
let carol: KeyPair;
beforeAll(async () => {
  pki = await makeCertificates();
  carol = await pki.client("carol");
});

/** Exports one row and waits; resolves with the status seen meanwhile, then lets it finish. */
async function statusWhileRunning(client: ExportClient, running: RunningServer) {
  const release = gate();
  async function* rows() {
    yield { secret: CELL };
    await release.opened;
  }
  const run = client.export({ format: "csv", rows: rows() });
  const finished = (async () => {
    for await (const _ of run) {
      // Only the status matters here.
    }
    return run.summary;
  })();
  await run.header;
  await eventually(() => running.server.runningExports() === 1);
  const { body } = await sideGet(running.metricsUrl, "/export/status");
  release.open();
  await finished;
  return body;
}

async function failure(client: ExportClient): Promise<ExportCallError> {
  try {
    for await (const _ of client.export({ format: "csv", columns: ["a"], rows: [[1]] })) {
      // Never reached: the call is refused.
    }
  } catch (error) {
    return error as ExportCallError;
  }
  throw new Error("the export succeeded");
}

describe("bearer tokens", () => {
  let running: RunningServer;
  beforeAll(async () => {
    running = await startServer({ authTokens: `alice:${TOKEN}` });
  });
  afterAll(() => running.close());

  const client = (options: Partial<ExportClientOptions> = {}) =>
    createExportClient({ baseUrl: running.baseUrl, ...options });

  it("refuses a call without a token or with a wrong one: UNAUTHENTICATED", async () => {
    for (const [token, message] of [
      [undefined, "authentication required: send the header `authorization: Bearer <token>`"],
      ["not-the-token", "the bearer token is not valid"],
    ] as const) {
      const anonymous = client(token === undefined ? {} : { token });
      const error = await failure(anonymous);
      anonymous.close();
      expect(error).toBeInstanceOf(ExportCallError);
      expect(error).toMatchObject({ code: Code.Unauthenticated, rawMessage: message });
    }
  });

  it("sends the token as a bearer header, and the running export shows its user but no token or cell", async () => {
    const alice = client({ token: TOKEN });
    const body = await statusWhileRunning(alice, running);
    alice.close();
    const report = JSON.parse(body) as ExportStatusReport;
    expect(report.exports).toEqual([expect.objectContaining({ user: "alice", format: "csv" })]);
    expect(body).not.toContain(TOKEN);
    expect(body).not.toContain(CELL);
  });
});

describe("TLS", () => {
  let running: RunningServer;
  let httpsUrl: string;
  beforeAll(async () => {
    [running, httpsUrl] = await startTlsServer(pki, false);
  });
  afterAll(() => running.close());

  it("trusts the server's certificate through tls.ca", async () => {
    const client = createExportClient({ baseUrl: httpsUrl, tls: { ca: pki.ca } });
    const run = client.export({ format: "csv", columns: ["a"], rows: [[1]] });
    const parts: Uint8Array[] = [];
    for await (const chunk of run) parts.push(chunk);
    client.close();
    expect(Buffer.concat(parts).toString()).toBe("a\r\n1\r\n");
    expect((await run.summary).rows).toBe(1);
  });

  it("fails without the CA: the certificate is not trusted", async () => {
    const client = createExportClient({ baseUrl: httpsUrl });
    const error = await failure(client);
    client.close();
    // connect-node reports a TLS failure as INTERNAL with Node's message.
    expect(error).toMatchObject({
      code: Code.Internal,
      rawMessage: "unable to verify the first certificate",
    });
  });

  it("refuses tls options for an http:// URL", () => {
    expect(() => createExportClient({ baseUrl: running.baseUrl, tls: { ca: pki.ca } })).toThrow(
      `tls needs an https:// baseUrl, got ${running.baseUrl}`,
    );
  });
});

describe("mutual TLS", () => {
  let running: RunningServer;
  let httpsUrl: string;
  beforeAll(async () => {
    [running, httpsUrl] = await startTlsServer(pki, true);
  });
  afterAll(() => running.close());

  it("presents tls.cert and tls.key, and the server names the user after the certificate", async () => {
    const client = createExportClient({
      baseUrl: httpsUrl,
      tls: { ca: pki.ca, cert: carol.cert, key: carol.key },
    });
    const body = await statusWhileRunning(client, running);
    client.close();
    expect(JSON.parse(body)).toMatchObject({ exports: [{ user: "carol" }] });
  });

  it("is refused without a client certificate", async () => {
    const stranger = createExportClient({ baseUrl: httpsUrl, tls: { ca: pki.ca } });
    const error = await failure(stranger);
    stranger.close();
    expect(error).toBeInstanceOf(ExportCallError);
    expect(error.code).toBe(Code.Internal);
    expect(error.rawMessage).toContain("alert certificate required");
  });
});
