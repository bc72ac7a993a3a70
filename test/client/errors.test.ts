import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  Code,
  createExportClient,
  ExportCallError,
  type ExportClient,
  ExportInputError,
  type ExportOptions,
} from "../../src/client/index.js";
import { createExportClient as createSupportClient } from "../support/connect-client.js";
import { parseCsv } from "../support/csv.js";
import { holdExports } from "../support/hold.js";
import { sample, scrape } from "../support/metrics.js";
import { type RunningServer, startServer } from "../support/server.js";

const RETRY_AFTER_MS = 200;

let running: RunningServer;
let client: ExportClient;
beforeAll(async () => {
  running = await startServer({ retryAfterMs: RETRY_AFTER_MS, maxCellChars: 10 });
  client = createExportClient({ baseUrl: running.baseUrl });
});
afterAll(async () => {
  client.close();
  await running.close();
});

/** Runs an export that must fail; its error. */
async function failure(options: ExportOptions, using = client): Promise<unknown> {
  const run = using.export(options);
  try {
    for await (const _ of run) {
      // The file is thrown away: only the error matters here.
    }
  } catch (error) {
    await expect(run.summary).rejects.toBe(error);
    return error;
  }
  throw new Error("the export succeeded");
}

const holdAllSlots = () =>
  holdExports(createSupportClient(running.baseUrl, "grpc"), 5, () =>
    running.server.runningExports(),
  );

describe("server errors, typed with their details", () => {
  it("INVALID_ARGUMENT carries the BadRequest field violations", async () => {
    const error = (await failure({
      format: "csv",
      columns: ["id", "id"],
      rows: [[1, 2]],
    })) as ExportCallError;
    expect(error).toBeInstanceOf(ExportCallError);
    expect(error).toMatchObject({
      code: Code.InvalidArgument,
      codeName: "INVALID_ARGUMENT",
      rawMessage:
        'start.columns[1].key: duplicate column key "id" (also columns[0]); keys must be unique',
      reason: undefined,
      retryDelayMs: undefined,
      fieldViolations: [
        {
          field: "start.columns[1].key",
          description: 'duplicate column key "id" (also columns[0]); keys must be unique',
        },
      ],
    });
    expect(error.message).toBe(`INVALID_ARGUMENT: ${error.rawMessage}`);
  });

  it("RESOURCE_EXHAUSTED for a cell past a limit carries ErrorInfo and BadRequest, and is not retried", async () => {
    const error = (await failure({
      format: "csv",
      columns: ["id", "text"],
      rows: [
        [1, "short"],
        [2, "eleven char"],
      ],
      retry: true,
    })) as ExportCallError;
    expect(error).toMatchObject({
      code: Code.ResourceExhausted,
      reason: "EXPORT_LIMIT_EXCEEDED",
      domain: "export.v1",
      metadata: { name: "max_cell_chars", limit: "10", actual: "11" },
      retryDelayMs: undefined,
      fieldViolations: [expect.objectContaining({ field: "batch[0].rows[1].cells[1]" })],
    });
  });

  it("RESOURCE_EXHAUSTED for no free slot carries ErrorInfo and the RetryInfo delay", async () => {
    const held = await holdAllSlots();
    try {
      const error = (await failure({
        format: "csv",
        columns: ["a"],
        rows: [[1]],
      })) as ExportCallError;
      expect(error).toMatchObject({
        code: Code.ResourceExhausted,
        reason: "EXPORT_SLOTS_EXHAUSTED",
        domain: "export.v1",
        metadata: { limit: "5" },
        retryDelayMs: RETRY_AFTER_MS,
        fieldViolations: [],
      });
    } finally {
      await held.release();
    }
  });

  it("UNAVAILABLE when the server cannot be reached", async () => {
    const gone = await startServer();
    const baseUrl = gone.baseUrl;
    await gone.close();
    const unreachable = createExportClient({ baseUrl });
    const error = (await failure(
      { format: "csv", columns: ["a"], rows: [[1]] },
      unreachable,
    )) as ExportCallError;
    unreachable.close();
    expect(error).toMatchObject({ code: Code.Unavailable, codeName: "UNAVAILABLE" });
    expect(error.rawMessage).toContain("ECONNREFUSED");
  });

  it("DEADLINE_EXCEEDED when the export outlasts timeoutMs", async () => {
    const hurried = createExportClient({ baseUrl: running.baseUrl, timeoutMs: 300 });
    async function* endless() {
      for (let index = 0; ; index++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        yield [index];
      }
    }
    const error = (await failure(
      { format: "csv", columns: ["n"], rows: endless() },
      hurried,
    )) as ExportCallError;
    hurried.close();
    expect(error.code).toBe(Code.DeadlineExceeded);
  });
});

describe("rows this client refuses to send", () => {
  it.each([
    [
      "a cell with no text form",
      {
        columns: ["a", "b"],
        rows: [
          { a: 1, b: 2 },
          { a: 3, b: { nested: true } },
        ],
      },
      'row 2, column "b": an object (Object) has no text form; cells are strings, numbers, booleans, bigints, Dates or null',
      2,
    ],
    [
      "a number that is not finite",
      { columns: ["x"], rows: [[1], [2], [Number.NaN]] },
      'row 3, column "x": number NaN is not finite',
      3,
    ],
    [
      "an invalid Date",
      { columns: ["when"], rows: [[new Date("not a date")]] },
      'row 1, column "when": invalid Date',
      1,
    ],
    [
      "an array row of the wrong width",
      { columns: ["a", "b"], rows: [[1, 2], [3]] },
      "row 2 has 1 cells, expected 2 (columns: a, b)",
      2,
    ],
    [
      "a later object with a key the first did not have",
      { rows: [{ a: 1 }, { a: 2, b: 3 }] },
      'row 2 has "b", which the first row did not have (columns: a); give columns to choose which properties to export',
      2,
    ],
    [
      "a row that is neither an array nor an object",
      { columns: ["a"], rows: ["text"] },
      "row 1 is a string; rows are arrays of cells or objects keyed by column",
      1,
    ],
  ])("%s, naming the row", async (_, input, message, row) => {
    const error = await failure({ format: "csv", ...input } as ExportOptions);
    expect(error).toBeInstanceOf(ExportInputError);
    expect(error).toMatchObject({ message, row });
  });

  it("no rows and no columns: nothing to infer the columns from", async () => {
    const error = await failure({ format: "csv", rows: [] });
    expect(error).toMatchObject({
      name: "ExportInputError",
      message: "there are no rows to infer the columns from: give columns",
    });
  });

  it("array rows without columns, and closes the source", async () => {
    let closed = false;
    function* rows() {
      try {
        yield [1, 2];
      } finally {
        closed = true;
      }
    }
    const error = await failure({ format: "csv", rows: rows() });
    expect((error as Error).message).toBe(
      "columns cannot be inferred from an array: give columns, or send rows as objects",
    );
    await vi.waitFor(() => expect(closed).toBe(true));
  });

  it("built-in objects whose data are not their properties: a Map, a Date, a Buffer", async () => {
    for (const [row, kind] of [
      [new Map([["a", 1]]), "Map"],
      [new Date(0), "Date"],
      [Buffer.from("ab"), "Buffer"],
    ] as const) {
      const given = await failure({ format: "csv", columns: ["a"], rows: [{ a: 1 }, row] });
      expect(given).toBeInstanceOf(ExportInputError);
      expect((given as Error).message).toBe(
        `row 2 is an object (${kind}); rows are arrays of cells or objects keyed by column`,
      );
      const inferred = await failure({ format: "csv", rows: [row] });
      expect((inferred as Error).message).toBe(
        `columns cannot be inferred from an object (${kind}): give columns, or send rows as objects`,
      );
    }
  });

  it("cancels while it waits for the first row to infer the columns from, and closes the source", async () => {
    const rows = new Readable({ objectMode: true, read() {} });
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    const error = await failure({ format: "csv", rows, signal: abort.signal });
    expect(error).toMatchObject({ code: Code.Canceled, codeName: "CANCELLED" });
    await vi.waitFor(() => expect(rows.destroyed).toBe(true));
    expect(running.server.runningExports()).toBe(0);
  });
});

describe("retry of refused exports", () => {
  it("retries a refusal until a slot is free, sending rows read once from a generator", async () => {
    const held = await holdAllSlots();
    let reads = 0;
    function* once() {
      reads++;
      for (let index = 0; index < 100; index++) yield { n: index };
    }
    const startedAt = performance.now();
    const run = client.export({
      format: "csv",
      rows: once(),
      retry: { maxAttempts: 50, maxDelayMs: 400 },
    });
    const released = new Promise((resolve) => setTimeout(resolve, 700)).then(() => held.release());
    const parts: Buffer[] = [];
    for await (const chunk of run) parts.push(Buffer.from(chunk));
    await released;
    const summary = await run.summary;
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(700);
    expect(summary.attempts).toBeGreaterThanOrEqual(2);
    expect(run.progress().attempts).toBe(summary.attempts);
    expect(reads).toBe(1);
    expect(parseCsv(Buffer.concat(parts))).toEqual([
      ["n"],
      ...Array.from({ length: 100 }, (_, index) => [String(index)]),
    ]);
  });

  it("gives up after maxAttempts, each one refused by the server", async () => {
    const held = await holdAllSlots();
    try {
      const before = sample(await scrape(running.metricsUrl), "export_rejected_total", {
        reason: "slots_exhausted",
      });
      const error = (await failure({
        format: "csv",
        columns: ["a"],
        rows: [[1]],
        retry: { maxAttempts: 3, maxDelayMs: 50 },
      })) as ExportCallError;
      expect(error.reason).toBe("EXPORT_SLOTS_EXHAUSTED");
      const after = sample(await scrape(running.metricsUrl), "export_rejected_total", {
        reason: "slots_exhausted",
      });
      expect((after ?? 0) - (before ?? 0)).toBe(3);
    } finally {
      await held.release();
    }
  });

  it("stops waiting to retry when aborted", async () => {
    const held = await holdAllSlots();
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const startedAt = performance.now();
      const error = (await failure({
        format: "csv",
        columns: ["a"],
        rows: [[1]],
        signal: controller.signal,
        retry: { maxAttempts: 10, maxDelayMs: 60_000 },
      })) as ExportCallError;
      expect(error).toMatchObject({ code: Code.Canceled, codeName: "CANCELLED" });
      expect(performance.now() - startedAt).toBeLessThan(RETRY_AFTER_MS * 4);
    } finally {
      await held.release();
    }
  });
});
