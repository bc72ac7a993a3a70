import { execFile } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExportRequestSchema, Format } from "../../gen/export/v1/export_pb.js";
import { type ChildServer, PROJECT_ROOT, spawnServer } from "../support/child-server.js";
import { withBuiltDist } from "../support/cli.js";
import { createExportClient } from "../support/connect-client.js";
import { sample, scrape } from "../support/metrics.js";
import { startCommand, startService } from "../support/start-command.js";
import { generatedBatches, generatedColumns } from "../support/tables.js";

const run = promisify(execFile);
const READ_XLSX = join(PROJECT_ROOT, "test/interop/read_xlsx.py");
const WIDTH = 8;
const BATCH_ROWS = 1_000;
// The server gets a small heap: a pipeline that buffered the export would
// run out of memory and fail the test, not just use more of it.
const HEAP_LIMIT_MB = 64;

let server: ChildServer;
beforeAll(async () => {
  server = await spawnServer([
    "node",
    `--max-old-space-size=${HEAP_LIMIT_MB}`,
    "--import",
    "tsx",
    "src/main.ts",
  ]);
});
afterAll(async () => {
  expect(await server.stop()).toBe(0);
});

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

/** Streams `rows` rows (one pre-built batch sent again and again). */
async function exportRows(
  target: ChildServer,
  rows: number,
  format = Format.CSV,
  sink?: (data: Uint8Array) => void,
) {
  const client = createExportClient(target.baseUrl, "grpc");
  const [batch] = generatedBatches(BATCH_ROWS, WIDTH, BATCH_ROWS);
  const batchMessage = create(ExportRequestSchema, batch);
  async function* requests() {
    yield create(ExportRequestSchema, {
      kind: { case: "start", value: { format, columns: generatedColumns(WIDTH) } },
    });
    for (let sent = 0; sent < rows; sent += BATCH_ROWS) yield batchMessage;
  }
  let bytes = 0;
  let summaryRows = 0n;
  const started = performance.now();
  for await (const response of client.export(requests())) {
    if (response.kind.case === "chunk") {
      bytes += response.kind.value.data.length;
      sink?.(response.kind.value.data);
    }
    if (response.kind.case === "summary") summaryRows = response.kind.value.rows;
  }
  const seconds = (performance.now() - started) / 1000;
  return { bytes, rows: summaryRows, seconds };
}

describe("memory", () => {
  it("runs a 1,000,000-row export in the memory of a 1,000-row one", async () => {
    const idle = await server.peakRssBytes();
    const small = await exportRows(server, 1_000);
    expect(small.rows).toBe(1_000n);
    await exportRows(server, 100_000);
    const afterWarmUp = await server.peakRssBytes();

    const large = await exportRows(server, 1_000_000);
    expect(large.rows).toBe(1_000_000n);
    const afterLarge = await server.peakRssBytes();

    console.log(
      `1,000,000 rows x ${WIDTH} columns: ${mib(large.bytes)} MiB of CSV in ${large.seconds.toFixed(2)} s ` +
        `(${Math.round(1_000_000 / large.seconds)} rows/s, client and server on loopback); ` +
        `server peak RSS ${mib(idle)} MiB idle, ${mib(afterWarmUp)} MiB after 100,000 rows, ` +
        `${mib(afterLarge)} MiB after 1,000,000`,
    );
    // Ten times the rows may not cost more than a little noise in memory.
    expect(afterLarge - afterWarmUp).toBeLessThan(32 * 1024 * 1024);
  });

  it("runs a 3,000,000-row PDF in the memory of a 1,000,000-row one", {
    timeout: 300_000,
  }, async () => {
    // With the start command's node flags, as the service starts: under
    // the small heap, a renderer that kept every page would only slow down,
    // not fail, within these rows.
    const { flags, env } = startCommand();
    const pdfServer = await spawnServer(["node", ...flags, "--import", "tsx", "src/main.ts"], env);
    let exitCode: number | null = null;
    try {
      // The render thread starts with the first PDF export. Its peak then
      // rises once more, by 20 to 50 MiB, at some point in the first two
      // million rows or so (the first 500,000 in some runs, the third
      // export in others), and not after: V8's heaps and the allocator
      // finding their size. Measured from before that, a test of growth
      // measures when it happened.
      for (const rows of [200_000, 1_000_000, 1_000_000]) {
        await exportRows(pdfServer, rows, Format.PDF);
      }
      const before = await pdfServer.peakRssBytes();
      const pdf = await exportRows(pdfServer, 3_000_000, Format.PDF);
      expect(pdf.rows).toBe(3_000_000n);
      const after = await pdfServer.peakRssBytes();
      console.log(
        `3,000,000-row PDF x ${WIDTH} columns: ${mib(pdf.bytes)} MiB in ${pdf.seconds.toFixed(2)} s ` +
          `(${Math.round(3_000_000 / pdf.seconds)} rows/s over the stream); ` +
          `server peak RSS ${mib(before)} MiB after 2,200,000 rows, ${mib(after)} MiB after 3,000,000 more`,
      );
      // pdfkit keeps every page in its page tree until the document ends
      // unless the renderer stops it (page-tree.ts): about 1.3 kB a page, so
      // 64 MB more at the end of this export's 75,000 pages than of the last
      // one's 25,000 (its peak rose 51 MiB in a server that kept them). The
      // offsets and the end's writes, a few MB at most, are too small to
      // see here; test/render/pdf-document.test.ts checks those.
      expect(after - before).toBeLessThan(32 * 1024 * 1024);
    } finally {
      exitCode = await pdfServer.stop();
    }
    expect(exitCode).toBe(0);
  });

  it("keeps a 1,000,000-row CSV export out of full garbage collections after a minute idle, started as `npm start` starts it", {
    timeout: 300_000,
  }, async () => {
    // V8 sets the old generation's limit after each full collection from how
    // fast the program allocated meanwhile: after an idle minute, barely
    // above what is live. The request and response buffers, which V8 counts
    // against that limit, then set off a full collection every 20,000 or so
    // rows, and that pace keeps the limit low: 34 to 57 per 1,000,000 rows on
    // V8's defaults. The start command's --initial-old-space-size is also a
    // floor under the limit, leaving room for the buffers.
    const command = startCommand();
    // Loaded once listening (a CSV export imports nothing later), so
    // dist/ may be rebuilt by other test files meanwhile.
    const shipped = await withBuiltDist(() => startService(command));
    // Collections so far, all and full ones; a kind appears once it happened.
    const collectionsSoFar = async () => {
      const text = await scrape(shipped.metricsUrl);
      const count = (labels?: Record<string, string>) =>
        sample(text, "nodejs_gc_duration_seconds_count", labels) ?? 0;
      return { all: count(), full: count({ kind: "major" }) };
    };
    let fullCollections: number;
    let exitCode: number | null = null;
    try {
      await exportRows(shipped, 1_000_000);
      await new Promise((resolve) => setTimeout(resolve, 60_000));
      const before = await collectionsSoFar();
      const large = await exportRows(shipped, 1_000_000);
      expect(large.rows).toBe(1_000_000n);
      const after = await collectionsSoFar();
      // The metric is there and counting: young-generation collections at least.
      expect(after.all - before.all).toBeGreaterThan(10);
      fullCollections = after.full - before.full;
    } finally {
      exitCode = await shipped.stop();
    }
    console.log(
      `\`${command.script}\`: ${fullCollections} full collections in a 1,000,000-row CSV export after a minute idle`,
    );
    expect(fullCollections).toBeLessThanOrEqual(2);
    expect(exitCode).toBe(0);
  });

  it("frees request and response buffers as it goes: a fresh server's 1,000,000-row CSV export peaks within 20 MiB of a 10,000-row one, started as `npm start` starts it", {
    timeout: 300_000,
  }, async () => {
    // V8 paces its young collections by the objects a program makes, and a
    // CSV export is mostly buffers: left to V8, 20 to 30 MiB of dead ones
    // raised glibc's heap early in a long export. The start command's
    // --expose-gc lets the server collect after every MiB it sends
    // (src/ops/young-collections.ts).
    const command = startCommand();
    const peakOfFreshExport = async (rows: number) => {
      const shipped = await withBuiltDist(() => startService(command));
      let peak: number;
      let exitCode: number | null = null;
      try {
        const result = await exportRows(shipped, rows);
        expect(result.rows).toBe(BigInt(rows));
        peak = await shipped.peakRssBytes();
      } finally {
        exitCode = await shipped.stop();
      }
      expect(exitCode).toBe(0);
      return peak;
    };
    const small = await peakOfFreshExport(10_000);
    const large = await peakOfFreshExport(1_000_000);
    console.log(
      `\`${command.script}\`: fresh servers peaked at ${mib(small)} MiB after 10,000 rows ` +
        `and ${mib(large)} MiB after 1,000,000 (+${mib(large - small)} MiB)`,
    );
    // 8 to 13 MiB with the collections, 32 to 34 without.
    expect(large - small).toBeLessThan(20 * 1024 * 1024);
  });

  it("runs a 1,100,000-row XLSX in bounded memory, going on to a second sheet", {
    timeout: 240_000,
  }, async () => {
    await exportRows(server, 20_000, Format.XLSX);
    const before = await server.peakRssBytes();
    const file = join(await mkdtemp(join(tmpdir(), "xlsx-")), "big.xlsx");
    const out = createWriteStream(file);
    const xlsx = await exportRows(server, 1_100_000, Format.XLSX, (data) => out.write(data));
    await new Promise((resolve) => out.end(resolve));
    expect(xlsx.rows).toBe(1_100_000n);
    const after = await server.peakRssBytes();
    console.log(
      `1,100,000-row XLSX x ${WIDTH} columns: ${mib(xlsx.bytes)} MiB in ${xlsx.seconds.toFixed(2)} s ` +
        `(${Math.round(1_100_000 / xlsx.seconds)} rows/s over the stream); ` +
        `server peak RSS ${mib(before)} MiB before, ${mib(after)} MiB after`,
    );
    expect(after - before).toBeLessThan(32 * 1024 * 1024);
    const sheets = JSON.parse(
      (await run("/usr/bin/python3", [READ_XLSX, file, "--sheets-only"])).stdout,
    ) as { name: string; max_row: number }[];
    // Excel's 1,048,576 rows a sheet, the header repeated on the next.
    expect(sheets).toEqual([
      { name: "Export", max_row: 1_048_576 },
      { name: "Export (2)", max_row: 1_100_000 - 1_048_575 + 1 },
    ]);
  });
});
