import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExportClient } from "../../src/client/index.js";
import { gate } from "../support/async.js";
import { buildOnce, runCli } from "../support/cli.js";
import { eventually, type RunningServer, startServer } from "../support/server.js";

beforeAll(() => buildOnce());

/** Table rows of the seed output: `│ scenario │ outcome │ …`, split into cells. */
function tableRows(stdout: string): string[][] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("│"))
    .map((line) =>
      line
        .split("│")
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
}

describe("export-cli seed and assert", () => {
  let running: RunningServer;
  beforeAll(async () => {
    running = await startServer({ retryAfterMs: 200 });
  });
  afterAll(() => running.close());

  it("seed --batch runs five scenarios past the slot limit, then assert passes", async () => {
    const seed = await runCli(["seed", "--server", running.baseUrl, "--batch"], {
      timeoutMs: 50_000,
    });
    expect(seed.stderr).toBe("");
    expect(seed.code).toBe(0);
    const [head, ...rows] = tableRows(seed.stdout.toString());
    expect(head).toEqual([
      "scenario",
      "outcome",
      "rows",
      "bytes",
      "first chunk",
      "duration",
      "rows/s",
      "attempts",
    ]);
    const outcomes = (scenario: string) =>
      rows.filter((row) => row[0] === scenario).map((row) => row[1]);
    expect(outcomes("csv 1k")).toEqual(["ok"]);
    expect(outcomes("csv 10k")).toEqual(["ok"]);
    expect(outcomes("pdf 2k")).toEqual(["ok"]);
    const burst = outcomes("burst 8x csv 5k");
    expect(burst).toHaveLength(8);
    expect(burst.filter((outcome) => outcome === "ok").length).toBeLessThanOrEqual(5);
    expect(burst).toContain("refused: EXPORT_SLOTS_EXHAUSTED");
    expect(outcomes("burst 8x csv 5k, retry")).toEqual(Array(8).fill("ok"));
    const retried = rows.filter((row) => row[0] === "burst 8x csv 5k, retry" && row[7] !== "1");
    expect(retried.length).toBeGreaterThan(0);
    expect(rows.find((row) => row[0] === "csv 10k")).toEqual([
      "csv 10k",
      "ok",
      "10,000",
      expect.stringMatching(/ MiB$/),
      expect.stringMatching(/^\d+ ms$/),
      expect.stringMatching(/^\d+ ms$/),
      expect.stringMatching(/^[\d,]+$/),
      "1",
    ]);
    expect(seed.stdout.toString()).toMatch(
      /\n19 exports to http:\/\/127\.0\.0\.1:\d+: \d+ ok, [1-3] refused for lack of a slot, 0 failed\n$/,
    );

    const assert = await runCli(["assert", "--metrics", running.metricsUrl]);
    expect(assert.stderr).toBe("");
    const lines = assert.stdout.toString().split("\n");
    expect(lines.slice(0, 6).map((line) => line.slice(0, 6))).toEqual(Array(6).fill("PASS  "));
    expect(lines.slice(0, 6).map((line) => line.split(":")[0])).toEqual([
      "PASS  metrics present",
      "PASS  requests counted",
      "PASS  p95 duration",
      "PASS  success ratio",
      "PASS  slots respected",
      "PASS  bytes exported",
    ]);
    expect(lines[3]).toMatch(/^PASS {2}success ratio: 1\.000 >= 0\.99 \(\d+ ok of \d+ admitted\)$/);
    expect(lines[4]).toMatch(/^PASS {2}slots respected: 0 running of 5 slots; [1-9]\d* refused/);
    expect(lines[6]).toBe("all 6 checks passed");
    expect(assert.code).toBe(0);
  });

  it("seed --records runs one export of generated orders", async () => {
    const seed = await runCli([
      "seed",
      "--server",
      running.baseUrl,
      "--records",
      "1000",
      "--format",
      "pdf",
    ]);
    expect(seed.code).toBe(0);
    const [, row] = tableRows(seed.stdout.toString());
    expect(row?.slice(0, 3)).toEqual(["pdf 1,000", "ok", "1,000"]);
  });

  it("seed refuses --concurrency without --batch, which alone has bursts", async () => {
    const seed = await runCli(["seed", "--records", "10", "--concurrency", "3"]);
    expect(seed.code).toBe(2);
    expect(seed.stderr).toMatch(
      /^export-cli seed: --concurrency sets --batch's bursts: leave it out with --records\n/,
    );
  });
});

describe("export-cli assert failing", () => {
  let running: RunningServer;
  beforeAll(async () => {
    running = await startServer();
  });
  afterAll(() => running.close());

  it("names the check a server's metrics break, and exits 1", async () => {
    const client = createExportClient({ baseUrl: running.baseUrl });
    const export_ = (fileName: string) =>
      client
        .export({ format: "csv", columns: ["a"], rows: [[1]], fileName })
        .writeTo(`/dev/null`)
        .then(
          () => "ok",
          () => "failed",
        );
    // One good export and three refused for a bad file name: 1 of 4 succeed.
    expect(
      await Promise.all(["ok.csv", "a/b.csv", "c/d.csv", "e/f.csv"].map((name) => export_(name))),
    ).toEqual(["ok", "failed", "failed", "failed"]);
    client.close();

    const failing = await runCli(["assert", "--metrics", running.metricsUrl]);
    expect(failing.code).toBe(1);
    const lines = failing.stdout.toString().split("\n");
    expect(lines.filter((line) => line.startsWith("FAIL"))).toEqual([
      "FAIL  success ratio: 0.250 < 0.99 (1 ok of 4 admitted)",
    ]);
    expect(lines.filter((line) => line.startsWith("PASS"))).toHaveLength(5);
    expect(lines).toContain("1 of 6 checks failed");

    const lenient = await runCli([
      "assert",
      "--metrics",
      `${running.metricsUrl}/metrics`,
      "--min-success-ratio",
      "0.25",
      "--p95-ms",
      "60000",
    ]);
    expect(lenient.code).toBe(0);
  });

  it("refuses an empty or non-numeric threshold rather than reading it as 0", async () => {
    for (const flag of ["--min-success-ratio=", "--min-success-ratio=0x1", "--p95-ms= "]) {
      const result = await runCli(["assert", "--metrics", running.metricsUrl, flag]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^export-cli assert: --(min-success-ratio|p95-ms) must be /);
    }
    // Decimals as people write them pass.
    const written = ["--min-success-ratio=.25", "--p95-ms=6e4"];
    expect((await runCli(["assert", "--metrics", running.metricsUrl, ...written])).code).toBe(0);
  });

  it("fails with a clear message when the metrics cannot be fetched", async () => {
    const gone = await startServer();
    await gone.close();
    const result = await runCli(["assert", "--metrics", gone.metricsUrl]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `export-cli assert: cannot fetch ${gone.metricsUrl}/metrics: connect ECONNREFUSED 127.0.0.1:${gone.metricsPort}\n`,
    );
  });
});

describe("export-cli status", () => {
  let running: RunningServer;
  beforeAll(async () => {
    running = await startServer();
  });
  afterAll(() => running.close());

  const status = () =>
    runCli(["status", "--server", running.baseUrl, "--metrics", running.metricsUrl]);

  it("shows health, slots, totals and the exports running now, then none", async () => {
    const client = createExportClient({ baseUrl: running.baseUrl });
    const released = gate();
    async function* rows() {
      yield { id: 1 };
      await released.opened;
    }
    // The report lists the oldest first: the PDF export opens only once the
    // server has started the CSV one (its header says so), or the two
    // streams could reach the server in either order.
    const ids: string[] = [];
    const done: Promise<unknown>[] = [];
    for (const format of ["csv", "pdf"] as const) {
      const run = client.export({ format, rows: rows() });
      done.push(run.writeTo("/dev/null"));
      ids.push((await run.header).exportId);
    }
    await eventually(() => running.server.runningExports() === 2);

    const during = await status();
    expect(during.code).toBe(0);
    const text = during.stdout.toString();
    expect(text).toMatch(
      /^server {3}http:\/\/127\.0\.0\.1:\d+: health SERVING; ready \(ready\)\nslots {4}2 of 5 in use\nso far {3}0 exports \(0 ok\), \d+ rows, [\d.]+ K?i?B\nrunning {2}2:\n/,
    );
    const [head, ...table] = tableRows(text);
    expect(head).toEqual(["export", "format", "user", "peer", "rows", "bytes", "age"]);
    expect(table.map((row) => [row[0], row[1], row[2]])).toEqual([
      [ids[0], "csv", "-"],
      [ids[1], "pdf", "-"],
    ]);

    released.open();
    await Promise.all(done);
    client.close();
    await eventually(() => running.server.runningExports() === 0);
    const after = await status();
    expect(after.code).toBe(0);
    expect(after.stdout.toString()).toMatch(
      /\nslots {4}0 of 5 in use\nso far {3}2 exports \(2 ok\), 2 rows, .*\nrunning {2}none\n$/,
    );
  });

  it("exits 1 when the server does not answer its health check", async () => {
    const gone = await startServer();
    const { baseUrl } = gone;
    await gone.close();
    const result = await runCli(["status", "--server", baseUrl, "--metrics", running.metricsUrl]);
    expect(result.code).toBe(1);
    expect(result.stdout.toString()).toContain(
      `health unreachable (UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:${gone.port})`,
    );
  });
});
