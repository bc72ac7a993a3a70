import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExportClient, type ExportClient, type ExportRun } from "../../src/client/index.js";
import type { ExportStatusReport } from "../../src/ops/export-status.js";
import { gate } from "../support/async.js";
import { sideGet } from "../support/metrics.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";

const CELL = "Reykjavík, a value that stays out of the status";

let running: RunningServer;
let client: ExportClient;
beforeAll(async () => {
  running = await startServer();
  client = createExportClient({ baseUrl: running.baseUrl });
});
afterAll(async () => {
  client.close();
  await running.close();
});

async function status(server = running): Promise<ExportStatusReport> {
  const { status, body, contentType } = await sideGet(server.metricsUrl, "/export/status");
  expect(status).toBe(200);
  expect(contentType).toBe("application/json; charset=utf-8");
  expect(body).not.toContain(CELL);
  return JSON.parse(body) as ExportStatusReport;
}

/** Reads the status until `check` holds for it, for up to 5 s. */
async function statusUntil(check: (report: ExportStatusReport) => boolean) {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const report = await status();
    if (check(report)) return report;
    if (Date.now() > deadline) throw new Error(`status never matched: ${JSON.stringify(report)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An export that sends `rows` rows, then waits for release() before it ends. */
function heldExport(format: "csv" | "pdf", rows: number, using = client) {
  const released = gate();
  async function* source() {
    for (let index = 0; index < rows; index++) yield { n: index, text: CELL };
    await released.opened;
  }
  const run: ExportRun = using.export({ format, rows: source() });
  const done = (async () => {
    for await (const _ of run) {
      // Only the status matters here.
    }
    return run.summary;
  })();
  // A test that fails before release() must not leave an unhandled rejection.
  done.catch(() => {});
  return {
    run,
    async release() {
      released.open();
      return done;
    },
  };
}

describe("GET /export/status", () => {
  it("is empty with no export running", async () => {
    expect(await status()).toEqual({ status: "ready", slotsInUse: 0, slotsLimit: 5, exports: [] });
  });

  it("lists the running exports with their progress, oldest first, and is empty again after", async () => {
    const csv = heldExport("csv", 500);
    const csvId = (await csv.run.header).exportId;
    const pdf = heldExport("pdf", 10);
    const pdfId = (await pdf.run.header).exportId;
    // The CSV's rows go out in a chunk once its input pauses.
    const first = await statusUntil((report) => report.exports[0]?.rows === 500);
    expect(first).toMatchObject({ status: "ready", slotsInUse: 2, slotsLimit: 5 });
    expect(first.exports.map((running) => [running.id, running.format])).toEqual([
      [csvId, "csv"],
      [pdfId, "pdf"],
    ]);
    const [csvStatus, pdfStatus] = first.exports;
    expect(csvStatus).toMatchObject({ columns: 2, rows: 500 });
    // Bytes sent by the server, as the client counts them once they arrived.
    await eventually(() => csv.run.progress().bytesReceived === csvStatus?.bytes);
    expect(csvStatus).not.toHaveProperty("user");
    expect(csvStatus?.peer).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(pdfStatus?.rows).toBeLessThanOrEqual(10);
    expect(Date.parse(csvStatus?.startedAt ?? "")).toBeLessThanOrEqual(Date.now());

    await new Promise((resolve) => setTimeout(resolve, 50));
    const later = await status();
    expect(later.exports[0]?.ageMs).toBeGreaterThan(first.exports[0]?.ageMs ?? 0);

    expect((await csv.release()).rows).toBe(500);
    expect((await pdf.release()).rows).toBe(10);
    await eventually(() => running.server.runningExports() === 0);
    expect(await status()).toMatchObject({ slotsInUse: 0, exports: [] });
  });

  it("reports draining from the moment shutdown begins", async () => {
    const draining = await startServer();
    const drainingClient = createExportClient({ baseUrl: draining.baseUrl });
    const held = heldExport("csv", 1, drainingClient);
    await held.run.header;
    // The server's own close(): the test helper's waits for running exports first.
    const closed = draining.server.close();
    const report = await status(draining);
    expect(report).toMatchObject({ status: "draining", slotsInUse: 1 });
    expect(report.exports).toHaveLength(1);
    await held.release();
    drainingClient.close();
    await closed;
  });
});
