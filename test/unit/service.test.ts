import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { ExportRequestSchema, Format } from "../../gen/export/v1/export_pb.js";
import { loadConfig } from "../../src/config.js";
import { createAdmission } from "../../src/export/admission.js";
import { InternalExportError } from "../../src/export/errors.js";
import type { ExportFinished, ExportObserver } from "../../src/export/observer.js";
import { runExport } from "../../src/export/service.js";
import { createCsvRenderer } from "../../src/render/csv.js";
import type { Renderer } from "../../src/render/renderer.js";
import { createXlsxRenderer } from "../../src/render/xlsx/renderer.js";
import { holdUp, nextMessage, startSender } from "../support/held-up.js";

function harness(pdf: Renderer = createCsvRenderer(), env: Record<string, string> = {}) {
  const admission = createAdmission({ limit: 1, perUserLimit: 0, retryAfterMs: 1_000 });
  const finished: ExportFinished[] = [];
  const observer: ExportObserver = {
    started() {},
    progress() {},
    finished: (event) => finished.push(event),
    refused() {},
  };
  const deps = {
    options: loadConfig([], env),
    admission,
    renderers: { csv: createCsvRenderer(), pdf, xlsx: createXlsxRenderer() },
    observer,
  };
  const abort = new AbortController();
  const call = {
    signal: abort.signal,
    peer: "test",
    user: undefined,
    refusal: undefined,
    closedCleanly: () => Promise.resolve(true),
    deadlineReached: () => false,
    requestsEndedAtDeadline: () => false,
    transportOutcome: () => "deadline" as const,
    clientGone: () => false,
    abandon: () => {},
  };
  return { admission, finished, deps, call, abort };
}

async function* requests(format = Format.PDF) {
  yield create(ExportRequestSchema, {
    kind: { case: "start", value: { format, columns: [{ key: "a" }] } },
  });
  yield create(ExportRequestSchema, {
    kind: { case: "batch", value: { rows: [{ cells: ["secret value"] }] } },
  });
}

let cleanups: (() => unknown)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.map((cleanup) => cleanup()));
  cleanups = [];
});

describe("runExport", () => {
  it("turns a renderer failure into INTERNAL naming only the export id, and frees the slot", async () => {
    const failing: Renderer = {
      contentType: "application/pdf",
      fileExtension: "pdf",
      // biome-ignore lint/correctness/useYield: it fails before its first byte
      async *render(blocks) {
        for await (const _ of blocks) throw new Error("font table corrupt at glyph 42");
      },
    };
    const { admission, finished, deps, call } = harness(failing);
    const kinds: string[] = [];
    const error = await (async () => {
      for await (const response of runExport(requests(), call, deps))
        kinds.push(response.kind.case ?? "");
    })().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(kinds).toEqual(["header"]);
    expect(error).toBeInstanceOf(InternalExportError);
    expect((error as Error).message).toMatch(
      /^internal error in export [0-9a-f-]{36}; the server log has the details$/,
    );
    expect(admission.inUse()).toBe(0);
    expect(finished).toEqual([expect.objectContaining({ outcome: "internal", rows: 1 })]);
  });

  it("sends no summary when the call is aborted after the last chunk", async () => {
    const { admission, finished, deps, call, abort } = harness();
    const deadline = new Error("deadline passed");
    const kinds: string[] = [];
    const error = await (async () => {
      for await (const response of runExport(requests(Format.CSV), call, deps)) {
        kinds.push(response.kind.case ?? "");
        if (response.kind.case === "chunk") abort.abort(deadline);
      }
    })().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(kinds).toEqual(["header", "chunk"]);
    expect(error).toBe(deadline);
    expect(admission.inUse()).toBe(0);
    expect(finished).toEqual([expect.objectContaining({ outcome: "deadline", rows: 1 })]);
  });

  it("keeps an export whose client read on while this process was held up past the idle limit", async () => {
    const idleMs = 100;
    const sender = await startSender();
    cleanups.push(() => sender.close());
    const { admission, finished, deps, call } = harness(createCsvRenderer(), {
      IDLE_TIMEOUT_MS: String(idleMs),
    });
    const responses = runExport(requests(Format.CSV), call, deps);
    const kinds = [(await responses.next()).value?.kind.case];
    // The header's write completes, as socket I/O does, while this process
    // is held up for longer than the client is given to read.
    const written = nextMessage(sender.port);
    sender.send(10);
    holdUp(3 * idleMs, { until: sender.posted });
    await written;
    for await (const response of responses) kinds.push(response.kind.case);
    expect(kinds).toEqual(["header", "chunk", "summary"]);
    expect(admission.inUse()).toBe(0);
    expect(finished).toEqual([expect.objectContaining({ outcome: "ok", rows: 1 })]);
  });
});
