import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExportRequestSchema, Format } from "../../gen/export/v1/export_pb.js";
import { sizeClassOf } from "../../src/ops/metrics.js";
import { collectExport, createExportClient, type ExportClient } from "../support/connect-client.js";
import { failedExport } from "../support/expect-error.js";
import { holdExport, run, sample, scrape } from "../support/metrics.js";
import { frameOf, stalledExport } from "../support/raw-grpc.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";
import {
  exportMessages,
  generatedBatches,
  generatedColumns,
  TRICKY_COLUMNS,
  TRICKY_ROWS,
} from "../support/tables.js";

let running: RunningServer;
let client: ExportClient;
beforeAll(async () => {
  running = await startServer();
  client = createExportClient(running.baseUrl, "grpc");
});
afterAll(() => running.close());

/** A sample's value in a scrape; 0 when the series does not exist yet. */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  return sample(text, name, labels) ?? 0;
}

describe("metrics of the real server", () => {
  it("counts requests by format and outcome, rows and bytes as the summaries say", async () => {
    const before = await scrape(running.metricsUrl);
    const result = await collectExport(client, exportMessages(TRICKY_ROWS));
    const failure = await failedExport(client, [
      { kind: { case: "start", value: { format: Format.UNSPECIFIED, columns: TRICKY_COLUMNS } } },
    ]);
    expect(failure.error.code).toBe(Code.InvalidArgument);
    const after = await scrape(running.metricsUrl);

    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(after, name, labels) - value(before, name, labels);
    expect(delta("export_requests_total", { format: "csv", outcome: "ok" })).toBe(1);
    expect(delta("export_requests_total", { format: "unknown", outcome: "invalid_argument" })).toBe(
      1,
    );
    expect(delta("export_requests_total", { format: "csv", outcome: "invalid_argument" })).toBe(0);
    expect(delta("export_rows_total", { format: "csv" })).toBe(Number(result.summary.rows));
    expect(delta("export_bytes_total", { format: "csv" })).toBe(Number(result.summary.bytes));
    expect(delta("export_rows_total", { format: "pdf" })).toBe(0);
    // One duration observation for the successful export, in its size class.
    expect(delta("export_duration_seconds_count", { format: "csv", size_class: "lt_1k" })).toBe(1);
    expect(
      delta("export_duration_seconds_bucket", { le: "600", format: "csv", size_class: "lt_1k" }),
    ).toBe(1);
    // One buffered-bytes observation per chunk sent.
    expect(delta("export_chunk_buffered_bytes_count", { format: "csv" })).toBe(
      result.chunkOffsets.length,
    );
    expect(value(after, "export_slots_limit")).toBe(running.config.maxConcurrentExports);
  });

  it("shows a held-open export as running with buffered bytes, and neither after it ends", async () => {
    const before = await scrape(running.metricsUrl);
    expect(value(before, "export_running")).toBe(0);
    expect(sample(before, "export_buffered_bytes")).toBe(0);

    const held = holdExport(client);
    await held.firstChunk;
    const during = await scrape(running.metricsUrl);
    expect(value(during, "export_running")).toBe(1);
    expect(value(during, "export_buffered_bytes")).toBeGreaterThan(0);
    // Rows and bytes move while the export runs, chunk by chunk.
    expect(value(during, "export_bytes_total", { format: "csv" })).toBeGreaterThan(
      value(before, "export_bytes_total", { format: "csv" }),
    );

    const summary = await held.finish();
    const after = await scrape(running.metricsUrl);
    expect(value(after, "export_running")).toBe(0);
    expect(sample(after, "export_buffered_bytes")).toBe(0);
    expect(
      value(after, "export_rows_total", { format: "csv" }) -
        value(before, "export_rows_total", { format: "csv" }),
    ).toBe(Number(summary.rows));
    expect(
      value(after, "export_bytes_total", { format: "csv" }) -
        value(before, "export_bytes_total", { format: "csv" }),
    ).toBe(Number(summary.bytes));
  });

  it("counts the sixth concurrent export as rejected for lack of a slot", async () => {
    const limit = running.config.maxConcurrentExports;
    const before = await scrape(running.metricsUrl);
    const held = Array.from({ length: limit }, () => holdExport(client));
    await Promise.all(held.map((export_) => export_.started));
    const full = await scrape(running.metricsUrl);
    expect(value(full, "export_running")).toBe(limit);
    expect(value(full, "export_running")).toBe(value(full, "export_slots_limit"));

    const failure = await failedExport(client, exportMessages(TRICKY_ROWS));
    expect(failure.error.code).toBe(Code.ResourceExhausted);
    const rejected = await scrape(running.metricsUrl);
    const delta = (name: string, labels: Record<string, string>) =>
      value(rejected, name, labels) - value(before, name, labels);
    expect(delta("export_rejected_total", { reason: "slots_exhausted" })).toBe(1);
    expect(delta("export_rejected_total", { reason: "shutting_down" })).toBe(0);
    expect(delta("export_requests_total", { format: "csv", outcome: "rejected" })).toBe(1);

    await Promise.all(held.map((export_) => export_.finish()));
    const after = await scrape(running.metricsUrl);
    expect(value(after, "export_running")).toBe(0);
    expect(
      value(after, "export_requests_total", { format: "csv", outcome: "ok" }) -
        value(before, "export_requests_total", { format: "csv", outcome: "ok" }),
    ).toBe(limit);
  });

  it("drops the buffers of an export abandoned while it waited to write", async () => {
    const stalled = stalledExport(running.port, [
      frameOf(
        create(ExportRequestSchema, {
          kind: { case: "start", value: { format: Format.CSV, columns: generatedColumns(8) } },
        }),
      ),
      ...[...generatedBatches(20_000, 8, 1_000)].map((batch) =>
        frameOf(create(ExportRequestSchema, batch)),
      ),
    ]);
    try {
      await stalled.blocked;
      const during = await scrape(running.metricsUrl);
      expect(value(during, "export_running")).toBe(1);
      expect(value(during, "export_buffered_bytes")).toBeGreaterThan(0);
      stalled.cancel();
      await eventually(() => running.server.runningExports() === 0);
      const after = await scrape(running.metricsUrl);
      expect(value(after, "export_running")).toBe(0);
      expect(sample(after, "export_buffered_bytes")).toBe(0);
    } finally {
      stalled.close();
    }
  });

  it("exposes Node.js process metrics in the same registry", async () => {
    const text = await scrape(running.metricsUrl);
    expect(value(text, "process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d+/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
  });

  it("passes promtool check metrics", async () => {
    const text = await scrape(running.metricsUrl);
    const result = await run("promtool", ["check", "metrics"], text);
    expect(result.stdout + result.stderr).toBe("");
    expect(result.code).toBe(0);
  });
});

describe("metrics registries", () => {
  it("are per server: a second server starts from zero", async () => {
    const other = await startServer();
    try {
      const text = await scrape(other.metricsUrl);
      expect(value(text, "export_requests_total", { format: "csv", outcome: "ok" })).toBe(0);
      expect(value(text, "export_rows_total", { format: "csv" })).toBe(0);
    } finally {
      await other.close();
    }
  });

  it("put exports in size classes by rows", () => {
    expect(
      [0, 999, 1_000, 99_999, 100_000, 999_999, 1_000_000, 5e9].map((rows) => sizeClassOf(rows)),
    ).toEqual(["lt_1k", "lt_1k", "lt_100k", "lt_100k", "lt_1m", "lt_1m", "ge_1m", "ge_1m"]);
  });
});
