import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromJson } from "@bufbuild/protobuf";
import { ListValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Format, Orientation, PageSize } from "../../gen/export/v1/export_pb.js";
import { gate, withTimeout } from "../support/async.js";
import {
  collectExport,
  createExportClient,
  type ExportClient,
  type RequestInit,
  requestStream,
} from "../support/connect-client.js";
import { expectInvalidArgument, failedExport } from "../support/expect-error.js";
import { createGrpcJsClient, grpcJsExport } from "../support/grpc-js-client.js";
import { ORDER_COLUMNS, orderValues, readOrders } from "../support/orders.js";
import { lineStartingWith, pageTexts, pdffonts, pdfinfo, wordBoxes } from "../support/pdf.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";
import { generatedBatches, generatedColumns } from "../support/tables.js";

const orders = readOrders();

function pdfStart(extra: Record<string, unknown> = {}): RequestInit {
  return {
    kind: {
      case: "start",
      value: {
        format: Format.PDF,
        columns: ORDER_COLUMNS,
        fileName: "orders.pdf",
        pdf: { title: "Orders", orientation: Orientation.LANDSCAPE },
        ...extra,
      },
    },
  };
}

/** The sample as JSON rows, 250 a batch. */
function orderBatches(): RequestInit[] {
  const batches: RequestInit[] = [];
  for (let first = 0; first < orders.length; first += 250) {
    const jsonRows = orders
      .slice(first, first + 250)
      .map((order) => fromJson(ListValueSchema, orderValues(order)));
    batches.push({ kind: { case: "batch", value: { jsonRows } } });
  }
  return batches;
}

let running: RunningServer;
let client: ExportClient;
let dir: string;
beforeAll(async () => {
  running = await startServer({ idleTimeoutMs: 2_000 });
  client = createExportClient(running.baseUrl, "grpc");
  dir = await mkdtemp(join(tmpdir(), "export-pdf-"));
});
afterAll(async () => {
  await running.close();
  await rm(dir, { recursive: true, force: true });
});

async function savedPdf(name: string, data: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, data);
  return path;
}

describe("PDF export over the stream", () => {
  it("renders the sample orders into a report poppler reads back", async () => {
    const result = await collectExport(client, [pdfStart(), ...orderBatches()]);
    expect(result.header.contentType).toBe("application/pdf");
    expect(result.header.fileName).toBe("orders.pdf");
    expect(result.summary.rows).toBe(BigInt(orders.length));
    expect(result.summary.bytes).toBe(BigInt(result.data.length));
    expect(result.summary.sha256).toBe(createHash("sha256").update(result.data).digest("hex"));

    const path = await savedPdf("orders.pdf", result.data);
    const info = await pdfinfo(path);
    expect(info.pageSize).toMatch(/^841\.89 x 595\.28 pts \(A4\)/);
    expect(info.raw).toMatch(/^Title:\s+Orders$/m);
    const pages = await pageTexts(path);
    expect(pages).toHaveLength(info.pages);
    expect(pages.length).toBeGreaterThan(20);
    for (const [index, page] of pages.entries()) {
      for (const column of ORDER_COLUMNS) expect(page).toContain(column.title);
      expect(page).toContain(`Page ${index + 1}`);
    }
    const text = pages.join("\n");
    expect(pages[0]).toMatch(/Generated \d{4}-\d\d-\d\dT/);
    for (const value of [
      "Zürich",
      "Reykjavík",
      "Αθήνα",
      "Москва",
      "Kraków",
      "Søren",
      "100001",
      "2799.3",
    ]) {
      expect(text).toContain(value);
    }
  });

  it("works the same for an @grpc/grpc-js client", async () => {
    const grpcJs = createGrpcJsClient(running.port);
    try {
      const { responses, data } = await grpcJsExport(grpcJs, [
        {
          start: {
            format: "FORMAT_PDF",
            columns: generatedColumns(3),
            pdf: { pageSize: "PAGE_SIZE_LETTER" },
          },
        },
        ...[...generatedBatches(300, 3, 100)].map((batch) => ({ batch: batch.kind.value })),
      ]);
      expect(responses.at(-1)?.summary?.rows).toBe("300");
      const path = await savedPdf("letter.pdf", data);
      expect((await pdfinfo(path)).pageSize).toMatch(/^612 x 792 pts \(letter\)/);
      expect((await pageTexts(path)).join("\n")).toContain("cell 299.2");
    } finally {
      grpcJs.close();
    }
  });

  it("sends the first page before the last row is sent", async () => {
    const firstPage = gate();
    async function* requests() {
      yield pdfStart({ columns: generatedColumns(8), pdf: {} });
      yield* generatedBatches(500, 8, 100);
      await withTimeout(firstPage.opened, 5_000, "no page arrived while sending");
      yield* generatedBatches(500, 8, 100);
    }
    let chunksBeforeLastRow = 0;
    let rows = 0n;
    for await (const response of client.export(requestStream(requests()))) {
      if (response.kind.case === "chunk" && rows === 0n) {
        chunksBeforeLastRow++;
        firstPage.open();
      }
      if (response.kind.case === "summary") rows = response.kind.value.rows;
    }
    expect(chunksBeforeLastRow).toBeGreaterThan(0);
    expect(rows).toBe(1_000n);
  });

  it("refuses a bad row with INVALID_ARGUMENT and frees the slot", async () => {
    const failure = await expectInvalidArgument(
      client,
      [
        pdfStart(),
        ...orderBatches().slice(0, 1),
        { kind: { case: "batch", value: { rows: [{ cells: ["1"] }] } } },
      ],
      "batch[1].rows[0].cells",
      "row 251 has 1 cells, expected 8 (columns: order_id, customer, email, amount, paid, …)",
    );
    expect(failure.kinds[0]).toBe("header");
    await eventually(() => running.server.runningExports() === 0);
  });

  it("refuses more columns than the page takes, before the header, and draws as many as it takes", async () => {
    const columns = (count: number) =>
      Array.from({ length: count }, (_, index) => ({ key: `c${index}` }));
    const portrait = await expectInvalidArgument(
      client,
      [pdfStart({ columns: columns(18), pdf: {} })],
      "start.columns",
      "18 columns do not fit an A4 portrait page: it takes at most 17, 25 in landscape, each 30 pt wide or more; send fewer columns, or export CSV or XLSX",
    );
    expect(portrait.kinds).toEqual([]);
    // The start's other checks come first, in the order the model of the
    // property test has them.
    const badDelimiter = await failedExport(client, [
      pdfStart({ columns: columns(18), pdf: {}, csv: { delimiter: "ab" } }),
    ]);
    expect(badDelimiter.error.rawMessage).toMatch(/^start\.csv\.delimiter: /);
    await expectInvalidArgument(
      client,
      [
        pdfStart({
          columns: columns(25),
          pdf: { pageSize: PageSize.LETTER, orientation: Orientation.LANDSCAPE },
        }),
      ],
      "start.columns",
      "25 columns do not fit a Letter landscape page: it takes at most 24, each 30 pt wide or more; send fewer columns, or export CSV or XLSX",
    );

    const values = Array.from({ length: 17 }, (_, index) => `v${index}`);
    const result = await collectExport(client, [
      pdfStart({ columns: columns(17), pdf: {} }),
      { kind: { case: "batch", value: { rows: [{ cells: values }] } } },
    ]);
    const words = await wordBoxes(await savedPdf("seventeen.pdf", result.data));
    expect(lineStartingWith(words, "v0")).toEqual(values);
    const rightMargin = 595.28 - 36;
    for (const word of words) expect(word.xMax).toBeLessThanOrEqual(rightMargin);
    await eventually(() => running.server.runningExports() === 0);
  });

  it("frees the slot when the client cancels mid-report", async () => {
    const abort = new AbortController();
    async function* endless() {
      yield pdfStart({ columns: generatedColumns(8), pdf: {} });
      for (;;) yield* generatedBatches(1_000, 8, 100);
    }
    const stream = client.export(requestStream(endless()), { signal: abort.signal });
    const error = await (async () => {
      for await (const response of stream) if (response.kind.case === "chunk") abort.abort();
    })().then(
      () => undefined,
      (caught: { code?: Code }) => caught,
    );
    expect(error?.code).toBe(Code.Canceled);
    await eventually(() => running.server.runningExports() === 0);
  });

  it("gives the sixth concurrent PDF export RESOURCE_EXHAUSTED", async () => {
    const release = gate();
    async function* held() {
      yield pdfStart({ columns: generatedColumns(2), pdf: {} });
      await release.opened;
    }
    const five = Array.from({ length: 5 }, () => collectExport(client, held()));
    await eventually(() => running.server.runningExports() === 5);
    const { error } = await failedExport(client, [pdfStart()]);
    expect(error.code).toBe(Code.ResourceExhausted);
    release.open();
    for (const result of await Promise.all(five)) expect(result.summary.rows).toBe(0n);
  });
});

describe("PDF export with a configured font", () => {
  it("embeds the font named by PDF_FONT_PATH", async () => {
    const font = join("node_modules", "dejavu-fonts-ttf", "ttf", "DejaVuSansMono.ttf");
    const monoServer = await startServer({ pdfFontPath: font, pdfBoldFontPath: font });
    try {
      const monoClient = createExportClient(monoServer.baseUrl, "connect-binary");
      const result = await collectExport(monoClient, [pdfStart(), ...orderBatches().slice(0, 1)]);
      const fonts = await pdffonts(await savedPdf("mono.pdf", result.data));
      expect(fonts).toContain("DejaVuSansMono");
      expect(fonts).not.toMatch(/DejaVuSans\s/);
    } finally {
      await monoServer.close();
    }
  });
});
