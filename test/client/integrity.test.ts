import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createExportClient,
  ExportIntegrityError,
  type ExportOptions,
} from "../../src/client/index.js";
import { type RunningServer, startServer } from "../support/server.js";
import { startTamperProxy, type Tamper } from "../support/tamper-proxy.js";

let running: RunningServer;
let dir: string;
beforeAll(async () => {
  // Small chunks, so that a 2,000-row file comes in several.
  running = await startServer({ chunkBytes: 4_096 });
  dir = await mkdtemp(join(tmpdir(), "client-integrity-"));
});
afterAll(async () => {
  await running.close();
  await rm(dir, { recursive: true, force: true });
});

const rows = Array.from({ length: 2_000 }, (_, index) => ({ id: index, name: `name ${index}` }));
const options: ExportOptions = { format: "csv", rows };

async function throughProxy(tamper: Tamper, target: string) {
  const proxy = await startTamperProxy(running.baseUrl, tamper);
  const client = createExportClient({ baseUrl: proxy.baseUrl });
  const run = client.export(options);
  try {
    return await run.writeTo(target).then(
      () => {
        throw new Error("the altered file was accepted");
      },
      async (error: unknown) => {
        await expect(run.summary).rejects.toBe(error);
        return error as ExportIntegrityError;
      },
    );
  } finally {
    client.close();
    await proxy.close();
  }
}

describe("the file is checked against the summary", () => {
  it("passes a faithful relay, so that the failures below come from the tampering", async () => {
    const proxy = await startTamperProxy(running.baseUrl, "none");
    const client = createExportClient({ baseUrl: proxy.baseUrl });
    const summary = await client.export(options).writeTo(join(dir, "relayed.csv"));
    client.close();
    await proxy.close();
    expect(summary.rows).toBe(2_000);
    expect(summary.chunks).toBeGreaterThan(3);
    expect(await readdir(dir)).toContain("relayed.csv");
  });

  it("catches one flipped byte by its SHA-256 and leaves no file behind", async () => {
    const error = await throughProxy("flip-byte", join(dir, "flipped.csv"));
    expect(error).toBeInstanceOf(ExportIntegrityError);
    expect(error.check).toBe("sha256");
    expect(error.message).toMatch(
      /^the file's SHA-256 is [0-9a-f]{64}, the server's summary says [0-9a-f]{64}: the file was altered on the way$/,
    );
    expect(error.expected).not.toBe(error.actual);
    expect(await readdir(dir)).not.toContainEqual(expect.stringContaining("flipped"));
  });

  it("catches a lost chunk by its offset", async () => {
    const error = await throughProxy("drop-second-chunk", join(dir, "gap.csv"));
    expect(error).toMatchObject({ name: "ExportIntegrityError", check: "offset" });
    // The third chunk starts where the lost second one ended: past the bytes that came.
    expect(Number(error.actual)).toBeGreaterThan(Number(error.expected));
    expect(error.message).toBe(
      `a chunk starts at byte ${error.actual}, but ${error.expected} bytes had arrived: a chunk was lost or repeated`,
    );
    expect(await readdir(dir)).not.toContainEqual(expect.stringContaining("gap"));
  });

  it("refuses a stream that ends without its summary", async () => {
    const error = await throughProxy("drop-summary", join(dir, "cut.csv"));
    expect(error).toMatchObject({
      check: "stream",
      message: "the server sent no summary: the file is incomplete",
    });
    expect(await readdir(dir)).not.toContainEqual(expect.stringContaining("cut"));
  });
});
