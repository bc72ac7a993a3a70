import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../support/child-server.js";
import { type RunningServer, startServer } from "../support/server.js";

const run = promisify(execFile);
const ROWS = 2_000_000;
// The client gets a small heap: one that buffered its source or the file
// would run out of memory and fail, not just use more of it.
const HEAP_LIMIT_MB = 64;
const MiB = 1024 * 1024;

let running: RunningServer;
beforeAll(async () => {
  running = await startServer();
});
afterAll(() => running.close());

describe("client memory", () => {
  it("exports 2,000,000 rows from a generator in flat memory", async () => {
    const { stdout } = await run(
      process.execPath,
      [
        `--max-old-space-size=${HEAP_LIMIT_MB}`,
        "--import",
        "tsx",
        "test/client/fixtures/big-export.ts",
        running.baseUrl,
        String(ROWS),
      ],
      { cwd: PROJECT_ROOT, timeout: 50_000 },
    );
    const result = JSON.parse(stdout) as {
      rows: number;
      bytes: number;
      seconds: number;
      rssAtTenth: number;
      peakRss: number;
      peakHeapUsed: number;
    };
    const mib = (bytes: number) => (bytes / MiB).toFixed(1);
    console.log(
      `${ROWS.toLocaleString("en-US")} rows, ${mib(result.bytes)} MiB of CSV in ${result.seconds.toFixed(1)} s ` +
        `(${Math.round(ROWS / result.seconds).toLocaleString("en-US")} rows/s, client and server on loopback); ` +
        `client peak RSS ${mib(result.rssAtTenth)} MiB after 200,000 rows, ${mib(result.peakRss)} MiB at the end; ` +
        `peak heap used ${mib(result.peakHeapUsed)} MiB`,
    );
    expect(result.rows).toBe(ROWS);
    // Ten times the rows may cost no more than a little noise in memory.
    expect(result.peakRss - result.rssAtTenth).toBeLessThan(16 * MiB);
    expect(result.peakHeapUsed).toBeLessThan(48 * MiB);
  });
});
