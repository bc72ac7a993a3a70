import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { spawnServer } from "../support/child-server.js";
import { withBuiltDist } from "../support/cli.js";
import { collectExport, createExportClient } from "../support/connect-client.js";
import { parseCsv } from "../support/csv.js";
import { exportMessages, TRICKY_ROWS } from "../support/tables.js";

describe("README quick start", () => {
  it("`npm start` builds, serves an export and stops cleanly on SIGTERM", async () => {
    // dist/ is rebuilt by `npm start`: no other test file may run from it meanwhile.
    const server = await withBuiltDist(async () => {
      const started = await spawnServer(["npm", "start"], {}, 120_000);
      try {
        const client = createExportClient(started.baseUrl, "grpc");
        const result = await collectExport(client, exportMessages(TRICKY_ROWS));
        expect(parseCsv(result.data).slice(1)).toEqual(TRICKY_ROWS);
      } finally {
        // npm re-raises the signal on itself once its child has exited, so
        // the server's own last log line tells how the server stopped.
        await started.stop();
      }
      return started;
    });
    expect(server.logs.at(-1)?.msg).toBe("stopped");
    const finished = server.logs.find((entry) => entry.event === "export_finished");
    expect(finished).toMatchObject({ outcome: "ok", rows: TRICKY_ROWS.length, format: "csv" });
    expect(JSON.stringify(server.logs)).not.toContain("Reykjavík");
  });

  it("refuses files and addresses it cannot use with a clear message, not a stack trace", async () => {
    const dir = await mkdtemp(join(tmpdir(), "bad-settings-"));
    const notAFont = join(dir, "font.ttf");
    await writeFile(notAFont, "not a font");
    const start = (env: Record<string, string>) =>
      spawnServer(["node", "--import", "tsx", "src/main.ts"], env);
    try {
      await expect(start({ PORT: "7123", METRICS_PORT: "7123" })).rejects.toThrow(
        "server exited with 2 before listening: export-at-scale: invalid configuration:\n" +
          "  PORT and METRICS_PORT must differ (both 7123)\n",
      );
      await expect(start({ PDF_FONT_PATH: notAFont })).rejects.toThrow(
        /^server exited with 2 before listening: export-at-scale: cannot start: Unknown font format\n$/,
      );
      await expect(
        start({ TLS_CERT_FILE: "package.json", TLS_KEY_FILE: "package.json" }),
      ).rejects.toThrow(
        /^server exited with 2 before listening: export-at-scale: cannot start: .*PEM/,
      );
      await expect(start({ HOST: "no-such-host.invalid" })).rejects.toThrow(
        /^server exited with 1 before listening: export-at-scale: cannot listen on no-such-host\.invalid port 0 \(metrics 0\): getaddrinfo .*no-such-host\.invalid\n$/,
      );
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it("refuses bad settings at start with a clear message", async () => {
    await expect(
      spawnServer(["node", "--import", "tsx", "src/main.ts"], {
        PORT: "http",
        MAX_CONCURRENT_EXPORTS: "0",
      }),
    ).rejects.toThrow(
      "server exited with 2 before listening: export-at-scale: invalid configuration:\n" +
        '  PORT (--port) must be an integer from 0 to 65535, got "http"\n' +
        '  MAX_CONCURRENT_EXPORTS (--max-concurrent-exports) must be an integer from 1 to 10000, got "0"\n',
    );
  });
});
