import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Format } from "../../gen/export/v1/export_pb.js";
import { createPdfRenderer } from "../../src/render/pdf/index.js";
import { createRenderPool } from "../../src/render/threads/pool.js";
import {
  collectExport,
  createExportClient,
  type ExportClient,
  type RequestInit,
  requestStream,
} from "../support/connect-client.js";
import { expectInvalidArgument } from "../support/expect-error.js";
import { collect, inBlocks, pdfJob } from "../support/pdf.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";
import { generatedBatches, generatedColumns, toRow } from "../support/tables.js";

function pdfStart(width: number): RequestInit {
  return {
    kind: {
      case: "start",
      value: {
        format: Format.PDF,
        columns: generatedColumns(width),
        pdf: { title: "Threads", omitGeneratedAt: true },
      },
    },
  };
}

/** Rows with text in other scripts, as `rows` (read in place) and as `json_rows`. */
function mixedBatches(): RequestInit[] {
  const cells = ["Zürich", "Αθήνα", "مرحبا بالعالم", "שלום", "東京", "😀 ok", "a\nb", ""];
  const rows = Array.from({ length: 300 }, (_, index) => cells.map((cell) => `${cell} ${index}`));
  return [
    { kind: { case: "batch", value: { rows: rows.slice(0, 200).map((row) => toRow(row)) } } },
    {
      kind: {
        case: "batch",
        value: {
          jsonRows: rows.slice(200).map((row) => ({
            values: row.map((cell) => ({ kind: { case: "stringValue" as const, value: cell } })),
          })),
        },
      },
    },
  ];
}

/**
 * The file without its creation time and the ID pdfkit derives from it, the
 * only bytes two renderings of the same rows may differ in.
 */
function withoutCreationDate(pdf: Buffer): string {
  return pdf
    .toString("latin1")
    .replace(/\(D:\d{14}Z\)/, "(D:)")
    .replace(/\/ID \[<[0-9a-f]+> <[0-9a-f]+>\]/, "/ID []");
}

// One thread (the default on two cores) hands its pages to the main thread
// to deflate; two deflate their own.
let oneThread: RunningServer;
let threaded: RunningServer;
let mainThread: RunningServer;
let onOneThread: ExportClient;
let onThreads: ExportClient;
let onMain: ExportClient;
beforeAll(async () => {
  oneThread = await startServer({ renderThreads: 1, idleTimeoutMs: 2_000 });
  threaded = await startServer({ renderThreads: 2, idleTimeoutMs: 2_000 });
  mainThread = await startServer({ renderThreads: 0 });
  onOneThread = createExportClient(oneThread.baseUrl, "grpc");
  onThreads = createExportClient(threaded.baseUrl, "grpc");
  onMain = createExportClient(mainThread.baseUrl, "grpc");
});
afterAll(async () => {
  await oneThread.close();
  await threaded.close();
  await mainThread.close();
});

describe("PDF on render threads", () => {
  it("writes the same file as the main thread, byte for byte, on one thread or two", async () => {
    const requests = [pdfStart(8), ...mixedBatches()];
    const [oneThreadFile, threadFile, mainFile] = await Promise.all([
      collectExport(onOneThread, requests),
      collectExport(onThreads, requests),
      collectExport(onMain, requests),
    ]);
    expect(threadFile.summary.rows).toBe(300n);
    expect(threadFile.data.length).toBeGreaterThan(10_000);
    expect(withoutCreationDate(threadFile.data)).toBe(withoutCreationDate(mainFile.data));
    expect(withoutCreationDate(oneThreadFile.data)).toBe(withoutCreationDate(mainFile.data));
  });

  it("renders five exports at once on one thread, its pages deflated by the main thread", async () => {
    const requests = [pdfStart(8), ...generatedBatches(3_000, 8, 1_000)];
    const files = await Promise.all(
      Array.from({ length: 5 }, () => collectExport(onOneThread, requests)),
    );
    const alone = await collectExport(onMain, requests);
    for (const file of files) {
      expect(file.summary.rows).toBe(3_000n);
      expect(withoutCreationDate(file.data)).toBe(withoutCreationDate(alone.data));
    }
  });

  it("renders five exports at once on two threads, each file whole", async () => {
    const requests = [pdfStart(4), ...generatedBatches(2_000, 4, 500)];
    const files = await Promise.all(
      Array.from({ length: 5 }, () => collectExport(onThreads, requests)),
    );
    const expected = withoutCreationDate(files[0]?.data ?? Buffer.alloc(0));
    for (const file of files) {
      expect(file.summary.rows).toBe(2_000n);
      expect(withoutCreationDate(file.data)).toBe(expected);
    }
  });

  it("answers a bad row met on the main thread with INVALID_ARGUMENT and frees the slot", async () => {
    await expectInvalidArgument(
      onThreads,
      [
        pdfStart(3),
        ...generatedBatches(1_000, 3, 500),
        { kind: { case: "batch", value: { rows: [{ cells: ["1"] }] } } },
      ],
      "batch[2].rows[0].cells",
      "row 1001 has 1 cells, expected 3 (columns: c0, c1, c2)",
    );
    await eventually(() => threaded.server.runningExports() === 0);
  });

  it.each([
    ["two threads", () => ({ client: onThreads, server: threaded })],
    [
      "one thread, deflating on the main thread",
      () => ({ client: onOneThread, server: oneThread }),
    ],
  ])(
    "stops the thread's work when the client cancels, and renders the next export (%s)",
    async (_, use) => {
      const { client, server } = use();
      const abort = new AbortController();
      async function* endless() {
        yield pdfStart(8);
        for (;;) yield* generatedBatches(1_000, 8, 100);
      }
      const error = await (async () => {
        for await (const response of client.export(requestStream(endless()), {
          signal: abort.signal,
        })) {
          if (response.kind.case === "chunk") abort.abort();
        }
      })().then(
        () => undefined,
        (caught: { code?: Code }) => caught,
      );
      expect(error?.code).toBe(Code.Canceled);
      await eventually(() => server.server.runningExports() === 0);
      const next = await collectExport(client, [pdfStart(2), ...generatedBatches(100, 2, 100)]);
      expect(next.summary.rows).toBe(100n);
    },
  );
});

describe("a render thread that dies", () => {
  it("fails its export, never hangs it, and the next export starts a new thread", async () => {
    // A pool whose threads cannot load their font exit as they start.
    const pool = createRenderPool(1, { fontPath: "/nonexistent/font.ttf" });
    const renderer = pool.pdfRenderer(createPdfRenderer());
    const job = pdfJob([{ key: "a", title: "A", kind: "text", width: undefined }]);
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        await expect(collect(renderer.render(inBlocks([["x"]]), job))).rejects.toThrow(
          /a render thread exited with code 1/,
        );
      }
    } finally {
      await pool.close();
    }
  });
});
