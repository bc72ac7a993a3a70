import { parseArgs } from "node:util";
import {
  ExportCallError,
  type ExportClient,
  type ExportFormat,
  type RetryOptions,
} from "../client/index.js";
import { CONNECTION_FLAGS, CONNECTION_USAGE, connect } from "./connection.js";
import { generateOrders, ORDER_COLUMNS } from "./orders.js";
import { bytes, count, describeError, table, UsageError } from "./report.js";

export const SEED_USAGE = `export-cli seed --records N [--format csv|pdf|xlsx] [--seed S]
export-cli seed --batch [--concurrency N]

Exports generated orders (ids, names in several scripts, emails, amounts,
dates, cities, notes with commas, quotes and line breaks) and prints, per
export, its outcome, rows, bytes, time to first chunk, duration and rows/s.

  --records N       orders in a single export, e.g. 1000, 5000 or 10000
  --format F        csv (default), pdf or xlsx
  --seed S          the generator's seed (default 1): the same seed, the same orders
  --batch           five scenarios: CSV 1,000 and 10,000 rows, PDF 2,000 rows,
                    then --concurrency CSV exports of 5,000 rows at once,
                    without retry (some are refused when it passes the
                    server's slot limit) and with retry (all finish)
  --concurrency N   exports started at once in the bursts (default 8, past the
                    default limit of 5 slots)
${CONNECTION_USAGE}`;

interface Scenario {
  readonly name: string;
  readonly format: ExportFormat;
  readonly records: number;
  readonly concurrent: number;
  readonly retry: RetryOptions | false;
  /** The burst without retry is there to show refusals: they are no failure. */
  readonly expectRefusals: boolean;
}

interface Outcome {
  readonly scenario: string;
  readonly outcome: string;
  /** Refused for lack of a slot where the scenario expects it. */
  readonly refused: boolean;
  readonly rows: number;
  readonly bytes: number;
  readonly firstChunkMs: number | undefined;
  readonly durationMs: number;
  readonly attempts: number;
}

async function runOne(client: ExportClient, scenario: Scenario, seed: number): Promise<Outcome> {
  const startedAt = performance.now();
  const run = client.export({
    format: scenario.format,
    columns: ORDER_COLUMNS,
    rows: generateOrders(scenario.records, seed),
    retry: scenario.retry,
    ...(scenario.format === "pdf" ? { pdf: { title: `Orders: ${scenario.name}` } } : {}),
  });
  let firstChunkMs: number | undefined;
  try {
    for await (const _ of run) firstChunkMs ??= performance.now() - startedAt;
    const summary = await run.summary;
    return {
      scenario: scenario.name,
      outcome: "ok",
      refused: false,
      rows: summary.rows,
      bytes: summary.bytes,
      firstChunkMs,
      durationMs: performance.now() - startedAt,
      attempts: summary.attempts,
    };
  } catch (error) {
    const refused = error instanceof ExportCallError && error.retryDelayMs !== undefined;
    return {
      scenario: scenario.name,
      outcome: refused
        ? `refused: ${error.reason ?? error.codeName}`
        : (describeError(error)[0] ?? "failed"),
      refused: refused && scenario.expectRefusals,
      rows: 0,
      bytes: run.progress().bytesReceived,
      firstChunkMs,
      durationMs: performance.now() - startedAt,
      attempts: run.progress().attempts,
    };
  }
}

function printTable(outcomes: readonly Outcome[]): void {
  const rows = outcomes.map((outcome) => [
    outcome.scenario,
    outcome.outcome,
    count(outcome.rows),
    bytes(outcome.bytes),
    outcome.firstChunkMs === undefined ? "-" : `${Math.round(outcome.firstChunkMs)} ms`,
    `${Math.round(outcome.durationMs)} ms`,
    outcome.rows === 0 ? "-" : count(outcome.rows / (outcome.durationMs / 1000)),
    String(outcome.attempts),
  ]);
  process.stdout.write(
    `${table(
      ["scenario", "outcome", "rows", "bytes", "first chunk", "duration", "rows/s", "attempts"],
      rows,
    )}\n`,
  );
}

export async function seedCommand(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      ...CONNECTION_FLAGS,
      records: { type: "string" },
      format: { type: "string" },
      seed: { type: "string" },
      batch: { type: "boolean" },
      concurrency: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  const integer = (flag: string, value: string | undefined, fallback: number) => {
    if (value === undefined) return fallback;
    if (!/^[1-9]\d*$/.test(value)) throw new UsageError(`--${flag} must be a positive integer`);
    return Number(value);
  };
  const seed = integer("seed", values.seed, 1);
  let scenarios: Scenario[];
  if (values.batch) {
    if (values.records !== undefined || values.format !== undefined) {
      throw new UsageError("--batch runs its own scenarios: leave out --records and --format");
    }
    const concurrent = integer("concurrency", values.concurrency, 8);
    const single = { concurrent: 1, retry: false, expectRefusals: false } as const;
    scenarios = [
      { name: "csv 1k", format: "csv", records: 1_000, ...single },
      { name: "csv 10k", format: "csv", records: 10_000, ...single },
      { name: "pdf 2k", format: "pdf", records: 2_000, ...single },
      {
        name: `burst ${concurrent}x csv 5k`,
        format: "csv",
        records: 5_000,
        concurrent,
        retry: false,
        expectRefusals: true,
      },
      {
        name: `burst ${concurrent}x csv 5k, retry`,
        format: "csv",
        records: 5_000,
        concurrent,
        retry: { maxAttempts: 10, maxDelayMs: 5_000 },
        expectRefusals: false,
      },
    ];
  } else {
    if (values.records === undefined) throw new UsageError("--records or --batch is required");
    if (values.concurrency !== undefined) {
      throw new UsageError("--concurrency sets --batch's bursts: leave it out with --records");
    }
    const format = values.format ?? "csv";
    if (format !== "csv" && format !== "pdf" && format !== "xlsx") {
      throw new UsageError("--format must be csv, pdf or xlsx");
    }
    const records = integer("records", values.records, 0);
    scenarios = [
      {
        name: `${format} ${count(records)}`,
        format,
        records,
        concurrent: 1,
        retry: false,
        expectRefusals: false,
      },
    ];
  }
  const { client, server } = await connect(values);
  const outcomes: Outcome[] = [];
  try {
    for (const scenario of scenarios) {
      outcomes.push(
        ...(await Promise.all(
          Array.from({ length: scenario.concurrent }, () => runOne(client, scenario, seed)),
        )),
      );
    }
  } finally {
    client.close();
  }
  printTable(outcomes);
  const ok = outcomes.filter((outcome) => outcome.outcome === "ok").length;
  const refused = outcomes.filter((outcome) => outcome.refused).length;
  const failed = outcomes.length - ok - refused;
  process.stdout.write(
    `${count(outcomes.length)} export${outcomes.length === 1 ? "" : "s"} to ${server}: ${ok} ok, ${refused} refused for lack of a slot, ${failed} failed\n`,
  );
  return failed > 0 ? 1 : 0;
}
