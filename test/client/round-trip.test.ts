import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { PassThrough, Readable, type Writable } from "node:stream";
import { promisify } from "node:util";
import { strFromU8, unzipSync } from "fflate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Code,
  type ColumnDefinition,
  createExportClient,
  ExportCallError,
  type ExportRun,
} from "../../src/client/index.js";
import { parseCsv } from "../support/csv.js";
import { readOrders } from "../support/orders.js";
import { pageTexts, pdfinfo } from "../support/pdf.js";
import { type RunningServer, startServer } from "../support/server.js";
import { TRICKY_ROWS } from "../support/tables.js";

const TRICKY: ColumnDefinition[] = [
  { key: "id", title: "ID", type: "number" },
  { key: "text", title: 'Text, with "quotes"' },
  { key: "amount", title: "Amount", type: "number" },
  { key: "note", title: "Note" },
];

let running: RunningServer;
let dir: string;
beforeAll(async () => {
  running = await startServer();
  dir = await mkdtemp(join(tmpdir(), "client-round-trip-"));
});
afterAll(async () => {
  await running.close();
  await rm(dir, { recursive: true, force: true });
});

async function collect(run: ExportRun): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of run) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

describe.each(["grpc", "connect", "grpc-web"] as const)("over %s", (protocol) => {
  it("round-trips arrays of cells through CSV, cell by cell, with a checked summary", async () => {
    const client = createExportClient({ baseUrl: running.baseUrl, protocol });
    try {
      const run = client.export({
        format: "csv",
        columns: TRICKY,
        rows: TRICKY_ROWS,
        fileName: "tricky.csv",
      });
      const data = await collect(run);
      expect(parseCsv(data)).toEqual([TRICKY.map((column) => column.title), ...TRICKY_ROWS]);
      const header = await run.header;
      expect(header).toMatchObject({
        contentType: "text/csv; charset=utf-8",
        fileName: "tricky.csv",
      });
      expect(await run.summary).toMatchObject({
        exportId: header.exportId,
        rows: TRICKY_ROWS.length,
        bytes: data.length,
        sha256: sha256(data),
        batches: 1,
        attempts: 1,
      });
      expect(run.progress()).toEqual({
        rowsSent: TRICKY_ROWS.length,
        bytesReceived: data.length,
        attempts: 1,
      });
    } finally {
      client.close();
    }
  });
});

/** The tricky rows as CSV, written by writeTo into `target`; the summary once `read` settled too. */
async function exportTrickyTo(target: string | Writable, read: Promise<unknown>) {
  const client = createExportClient({ baseUrl: running.baseUrl });
  const summary = await client
    .export({ format: "csv", columns: TRICKY, rows: TRICKY_ROWS })
    .writeTo(target);
  await read;
  client.close();
  return summary;
}

describe("objects", () => {
  it("infers the columns from the first object and formats each kind of value", async () => {
    const client = createExportClient({ baseUrl: running.baseUrl });
    const records = [
      {
        id: 1,
        name: "Ada",
        score: 0.1 + 0.2,
        active: true,
        joined: new Date(Date.UTC(2024, 1, 29, 12, 30, 15, 7)),
        big: 2n ** 64n,
        note: null,
      },
      {
        id: -2.5,
        name: "",
        score: 1e21,
        active: false,
        joined: new Date(0),
        big: -1n,
        note: undefined,
      },
      {
        id: 9007199254740993n,
        name: 'quote " and, comma',
        score: -0,
        active: true,
        joined: "2026-01-01 (a string stays as given)",
        big: 0n,
        note: "line\nbreak",
      },
    ];
    const data = await collect(client.export({ format: "csv", rows: records }));
    client.close();
    expect(parseCsv(data)).toEqual([
      ["id", "name", "score", "active", "joined", "big", "note"],
      [
        "1",
        "Ada",
        "0.30000000000000004",
        "true",
        "2024-02-29T12:30:15.007Z",
        "18446744073709551616",
        null,
      ],
      ["-2.5", "", "1e+21", "false", "1970-01-01T00:00:00.000Z", "-1", null],
      [
        "9007199254740993",
        'quote " and, comma',
        "0",
        "true",
        "2026-01-01 (a string stays as given)",
        "0",
        "line\nbreak",
      ],
    ]);
  });

  it("picks given columns from objects, in their order, and leaves other properties out", async () => {
    const client = createExportClient({ baseUrl: running.baseUrl });
    const run = client.export({
      format: "csv",
      columns: ["b", { key: "a", title: "The A" }],
      rows: [
        { a: 1, b: "x", secret: "left out" },
        { b: "y", c: 3 },
      ],
      csv: { lineEnding: "lf", quoting: "all", delimiter: ";" },
    });
    const data = await collect(run);
    client.close();
    expect(data.toString()).toBe('"b";"The A"\n"x";"1"\n"y";\n');
  });

  it("reads a Node Readable in object mode and writes the file to a path atomically", async () => {
    const client = createExportClient({ baseUrl: running.baseUrl });
    const target = join(dir, "from-readable.csv");
    const rows = Readable.from(
      TRICKY_ROWS.map((cells) => Object.fromEntries(cells.map((cell, i) => [`c${i}`, cell]))),
    );
    const summary = await client.export({ format: "csv", rows }).writeTo(target);
    client.close();
    const data = await readFile(target);
    expect(parseCsv(data).slice(1)).toEqual(TRICKY_ROWS);
    expect(summary).toMatchObject({
      rows: TRICKY_ROWS.length,
      bytes: data.length,
      sha256: sha256(data),
    });
    expect(rows.destroyed).toBe(true);
    expect(await readdir(dir)).toEqual(["from-readable.csv"]);
  });

  it("pipes the file into a Writable and ends it", async () => {
    const sink = new PassThrough();
    const parts: Buffer[] = [];
    sink.on("data", (data: Buffer) => parts.push(data));
    const ended = new Promise((resolve) => sink.once("end", resolve));
    const summary = await exportTrickyTo(sink, ended);
    expect(sha256(Buffer.concat(parts))).toBe(summary.sha256);
  });

  it("writes into a path that is not a regular file in place, leaving it what it was", async () => {
    // /dev/null, say: renamed over, as root, it would become a regular file.
    const pipeDir = await mkdtemp(join(tmpdir(), "export-pipe-"));
    const pipe = join(pipeDir, "file.csv");
    await promisify(execFile)("mkfifo", [pipe]);
    const parts: Buffer[] = [];
    const drained = new Promise<void>((resolve, reject) =>
      createReadStream(pipe)
        .on("data", (data) => parts.push(Buffer.from(data)))
        .on("end", () => resolve())
        .on("error", reject),
    );
    const summary = await exportTrickyTo(pipe, drained);
    expect(sha256(Buffer.concat(parts))).toBe(summary.sha256);
    expect((await lstat(pipe)).isFIFO()).toBe(true);
    expect(await readdir(pipeDir)).toEqual(["file.csv"]);
    await rm(pipeDir, { recursive: true });
  });

  it("replaces the file a symbolic link leads to, atomically, and keeps the link", async () => {
    const linkDir = await mkdtemp(join(tmpdir(), "export-link-"));
    const target = join(linkDir, "target.csv");
    await writeFile(target, "old content");
    const link = join(linkDir, "latest.csv");
    await symlink(target, link);
    // A failed export leaves the file as it was.
    const client = createExportClient({ baseUrl: running.baseUrl });
    await expect(
      client
        .export({ format: "csv", columns: ["a"], rows: [[1]], fileName: "a/b.csv" })
        .writeTo(link),
    ).rejects.toMatchObject({ code: Code.InvalidArgument });
    client.close();
    expect(await readFile(target, "utf8")).toBe("old content");
    const summary = await exportTrickyTo(link, Promise.resolve());
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(sha256(await readFile(target))).toBe(summary.sha256);
    expect((await readdir(linkDir)).sort()).toEqual(["latest.csv", "target.csv"]);
    await rm(linkDir, { recursive: true });
  });

  it("keeps the permissions of a file it replaces", async () => {
    const target = join(dir, "private.csv");
    await writeFile(target, "old", { mode: 0o600 });
    const summary = await exportTrickyTo(target, Promise.resolve());
    expect(sha256(await readFile(target))).toBe(summary.sha256);
    expect((await stat(target)).mode & 0o777).toBe(0o600);
    await rm(target);
  });

  it("writes a file whose name takes all of a name's 255 bytes", async () => {
    const target = join(dir, `${"é".repeat(125)}a.csv`);
    expect(Buffer.byteLength(basename(target))).toBe(255);
    const summary = await exportTrickyTo(target, Promise.resolve());
    expect(sha256(await readFile(target))).toBe(summary.sha256);
    await rm(target);
  });

  it("refuses to read a file twice", async () => {
    const client = createExportClient({ baseUrl: running.baseUrl });
    const run = client.export({ format: "csv", columns: ["a"], rows: [[1]] });
    await collect(run);
    client.close();
    expect(() => run[Symbol.asyncIterator]()).toThrow("an export's file can be read only once");
  });
});

describe("PDF", () => {
  it("round-trips the sample orders into a report that pdftotext reads back", async () => {
    const orders = readOrders().slice(0, 60);
    const client = createExportClient({ baseUrl: running.baseUrl, protocol: "connect" });
    const target = join(dir, "orders.pdf");
    const run = client.export({
      format: "pdf",
      columns: [
        { key: "order_id", title: "Order", type: "number" },
        { key: "customer", title: "Customer" },
        { key: "amount", title: "Amount", type: "number" },
        { key: "paid", title: "Paid", type: "boolean" },
        { key: "city", title: "City" },
      ],
      rows: orders,
      pdf: { title: "Orders from the client", orientation: "landscape", omitGeneratedAt: true },
    });
    const summary = await run.writeTo(target);
    client.close();
    expect((await run.header).contentType).toBe("application/pdf");
    expect(summary.rows).toBe(60);
    expect((await pdfinfo(target)).pages).toBeGreaterThanOrEqual(1);
    const text = (await pageTexts(target)).join("\n");
    expect(text).toContain("Orders from the client");
    expect(text).not.toContain("Generated");
    const lines = text.split("\n");
    for (const order of orders) {
      const line = lines.find((candidate) => candidate.includes(` ${order.order_id} `));
      expect(line, `order ${order.order_id}`).toBeDefined();
      expect(line).toContain(String(order.amount));
      expect(line).toContain(String(order.paid));
    }
  });
});

describe("XLSX", () => {
  it("types inferred columns by the first row's values, a Date giving a date cell", async () => {
    const client = createExportClient({ baseUrl: running.baseUrl });
    const run = client.export({
      format: "xlsx",
      rows: [{ id: 7, name: "Ada", paid: true, at: new Date(Date.UTC(2024, 1, 29, 12)) }],
      xlsx: { sheetName: "People" },
    });
    const data = await collect(run);
    client.close();
    expect((await run.header).contentType).toBe(
      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    );
    const files = unzipSync(data);
    expect(strFromU8(files["xl/workbook.xml"] as Uint8Array)).toContain('name="People"');
    const sheet = strFromU8(files["xl/worksheets/sheet1.xml"] as Uint8Array);
    const row = /<row r="2"[^>]*>(.*?)<\/row>/.exec(sheet)?.[1];
    // A number, text, a boolean, and 2024-02-29 12:00 UTC as Excel's serial day.
    expect(row).toMatch(
      /^<c[^>]*><v>7<\/v><\/c><c[^>]* t="inlineStr"><is><t>Ada<\/t><\/is><\/c><c[^>]* t="b"><v>1<\/v><\/c><c[^>]* s="\d+"><v>45351\.5<\/v><\/c>$/,
    );
  });
});

describe("batches", () => {
  it("cuts batches by rows", async () => {
    const client = createExportClient({ baseUrl: running.baseUrl, batchRows: 1_000 });
    const rows = Array.from({ length: 2_500 }, (_, index) => [index]);
    const run = client.export({ format: "csv", columns: ["n"], rows });
    await collect(run);
    client.close();
    expect(await run.summary).toMatchObject({ rows: 2_500, batches: 3 });
  });

  it("cuts batches by bytes, under a server's message limit that one batch would pass", async () => {
    const small = await startServer({ maxMessageBytes: 64 * 1024 });
    try {
      const rows = Array.from({ length: 40 }, (_, index) => [index, "é".repeat(5_000)]);
      const fits = createExportClient({ baseUrl: small.baseUrl, batchBytes: 48 * 1024 });
      const run = fits.export({ format: "csv", columns: ["n", "text"], rows });
      await collect(run);
      fits.close();
      // Each row counts as at most 15 KiB: three rows a batch.
      expect(await run.summary).toMatchObject({ rows: 40, batches: 14 });

      const tooBig = createExportClient({ baseUrl: small.baseUrl, batchBytes: 4 * 1024 * 1024 });
      const error = await collect(
        tooBig.export({ format: "csv", columns: ["n", "text"], rows }),
      ).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      tooBig.close();
      expect(error).toBeInstanceOf(ExportCallError);
      expect((error as ExportCallError).code).toBe(Code.ResourceExhausted);
    } finally {
      await small.close();
    }
  });

  it("sends a batch once its first row is batchMaxAgeMs old, so a slow source outlives the server's idle timeout", async () => {
    const idle = await startServer({ idleTimeoutMs: 800 });
    async function* slowRows() {
      for (let index = 0; index < 20; index++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        yield [index];
      }
    }
    try {
      const steady = createExportClient({ baseUrl: idle.baseUrl, batchMaxAgeMs: 200 });
      const run = steady.export({ format: "csv", columns: ["n"], rows: slowRows() });
      await collect(run);
      steady.close();
      expect((await run.summary).rows).toBe(20);

      // The default waits 1,000 ms for a batch: the server gives up first.
      const patient = createExportClient({ baseUrl: idle.baseUrl });
      const error = await collect(
        patient.export({ format: "csv", columns: ["n"], rows: slowRows() }),
      ).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      patient.close();
      expect((error as ExportCallError).code).toBe(Code.DeadlineExceeded);
    } finally {
      await idle.close();
    }
  });
});
