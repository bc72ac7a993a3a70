import { readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromJsonString } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExportRequestSchema, Format } from "../../gen/export/v1/export_pb.js";
import { loadConfig } from "../../src/config.js";
import { makeCertificates } from "../support/certs.js";
import { PROJECT_ROOT } from "../support/child-server.js";
import { collectExport, createExportClient } from "../support/connect-client.js";
import { type RunningServer, startServer } from "../support/server.js";

const readme = readFileSync(join(PROJECT_ROOT, "README.md"), "utf8");

function between(start: string, end: string, from = 0): string {
  const first = readme.indexOf(start, from);
  if (first < 0) throw new Error(`README lost its ${JSON.stringify(start)}`);
  const last = readme.indexOf(end, first + start.length);
  return readme.slice(first + start.length, last);
}

let running: RunningServer;
beforeAll(async () => {
  running = await startServer();
});
afterAll(() => running.close());

describe("README", () => {
  it("shows a grpcurl stream that gives the output it shows", async () => {
    const requests = between("<<'EOF'\n", "\nEOF")
      .split("\n")
      .map((line) => fromJsonString(ExportRequestSchema, line));
    const result = await collectExport(createExportClient(running.baseUrl, "grpc"), requests);

    const shownCsv = between("which decodes to\n\n```\n", "```");
    expect(result.data.toString("utf8")).toBe(shownCsv.replaceAll("\n", "\r\n"));
    const shownChunk = JSON.parse(`${between('{"chunk": ', "}}\n")}}`) as { data: string };
    expect(result.data.toString("base64")).toBe(shownChunk.data);
    expect(readme).toContain(
      `{"summary": {"rows": "${result.summary.rows}", "bytes": "${result.summary.bytes}", "sha256": "${result.summary.sha256}"`,
    );
    expect(result.header.fileName).toBe("people.csv");
  });

  it("shows a grpcurl PDF export that the server takes", async () => {
    const requests = between("<<'JSON'\n", "\nJSON")
      .split("\n")
      .map((line) => fromJsonString(ExportRequestSchema, line));
    const result = await collectExport(createExportClient(running.baseUrl, "grpc"), requests);
    expect(result.header.contentType).toBe("application/pdf");
    expect(result.summary.rows).toBe(2n);
    expect(result.data.subarray(0, 5).toString()).toBe("%PDF-");
  });

  it("shows a tokens file whose plain and hashed tokens the server takes", async () => {
    const tokens = between("```text\n", "```", readme.indexOf("### Authentication"));
    const dir = await mkdtemp(join(tmpdir(), "readme-"));
    await writeFile(join(dir, "tokens"), tokens);
    const guarded = await startServer({ authTokensFile: join(dir, "tokens") });
    try {
      const shownToken = /-H 'authorization: Bearer ([^']+)'/.exec(readme)?.[1] as string;
      const hashedToken = /printf %s '([^']+)' \| sha256sum/.exec(readme)?.[1] as string;
      for (const token of [shownToken, hashedToken]) {
        const client = createExportClient(guarded.baseUrl, "grpc", { token });
        const result = await collectExport(client, [
          { kind: { case: "start", value: { format: Format.CSV, columns: [{ key: "id" }] } } },
        ]);
        expect(result.summary.rows).toBe(0n);
      }
    } finally {
      await guarded.close();
    }
  });

  it("shows TLS settings that start a mutual-TLS server", async () => {
    const line = /^(TLS_CERT_FILE=\S+ TLS_KEY_FILE=\S+ TLS_CLIENT_CA_FILE=\S+) npm start$/m.exec(
      readme,
    )?.[1];
    const certs = await makeCertificates();
    const files: Record<string, string> = {
      "server.pem": certs.server.certFile,
      "server.key": certs.server.keyFile,
      "clients-ca.pem": certs.caFile,
    };
    const env = Object.fromEntries(
      (line ?? "").split(" ").map((pair) => {
        const [name, file] = pair.split("=") as [string, string];
        return [name, files[file] ?? file];
      }),
    );
    const config = loadConfig([], env);
    const secure = await startServer({
      tlsCertFile: config.tlsCertFile,
      tlsKeyFile: config.tlsKeyFile,
      tlsClientCaFile: config.tlsClientCaFile,
    });
    try {
      const alice = await certs.client("alice");
      const client = createExportClient(`https://127.0.0.1:${secure.port}`, "grpc", {
        tls: { ca: certs.ca, cert: alice.cert, key: alice.key },
      });
      const result = await collectExport(client, [
        { kind: { case: "start", value: { format: Format.CSV, columns: [{ key: "id" }] } } },
      ]);
      expect(result.summary.rows).toBe(0n);
    } finally {
      await secure.close();
    }
  });
});
