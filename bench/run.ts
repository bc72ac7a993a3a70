/**
 * Throughput and memory of the export service, client and server on
 * loopback in separate processes. Each scenario runs three times and
 * reports its median; ratios compare medians from this one run. Asserts
 * nothing: machines here are shared and noisy.
 *
 *   npm run bench            all scenarios
 *   npm run bench -- csv     only scenarios whose name contains "csv"
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  type ExportRequest,
  ExportRequestSchema,
  ExportService,
  type ExportStartSchema,
  Format,
} from "../gen/export/v1/export_pb.js";
import { type ChildServer, spawnServer } from "../test/support/child-server.js";

const WIDTH = 8;

interface Scenario {
  readonly name: string;
  readonly rows: number;
  readonly batchRows: number;
  readonly format: Format;
  readonly json?: boolean;
  readonly serverEnv?: Record<string, string>;
  readonly start?: MessageInitShape<typeof ExportStartSchema>;
}

interface Measurement {
  readonly rowsPerSecond: number;
  readonly mibPerSecond: number;
  readonly outputMiB: number;
  readonly seconds: number;
  readonly peakRssMiB: number;
}

function sampleCells(index: number): string[] {
  return [
    String(100_000 + index),
    `Customer ${index % 997}`,
    `customer${index % 997}@example.com`,
    (((index * 7919) % 100_000) / 100).toFixed(2),
    index % 3 === 0 ? "true" : "false",
    "2026-06-19T12:54:00Z",
    ["Zürich", "Αθήνα", "Москва", "Reykjavík"][index % 4] as string,
    index % 5 === 0 ? "call before delivery" : "",
  ];
}

/** One batch message, built once and sent again and again. */
function batchMessage(scenario: Scenario): ExportRequest {
  const cells = Array.from({ length: scenario.batchRows }, (_, index) => sampleCells(index));
  const value = scenario.json
    ? {
        jsonRows: cells.map((row) => ({
          values: row.map((cell) => ({ kind: { case: "stringValue" as const, value: cell } })),
        })),
      }
    : { rows: cells.map((row) => ({ cells: row })) };
  return create(ExportRequestSchema, { kind: { case: "batch", value } });
}

async function measure(server: ChildServer, scenario: Scenario): Promise<Measurement> {
  const client = createClient(ExportService, createGrpcTransport({ baseUrl: server.baseUrl }));
  const batch = batchMessage(scenario);
  const columns = Array.from({ length: WIDTH }, (_, index) => ({
    key: `c${index}`,
    title: `Column ${index}`,
  }));
  async function* requests() {
    yield create(ExportRequestSchema, {
      kind: { case: "start", value: { format: scenario.format, columns, ...scenario.start } },
    });
    for (let sent = 0; sent < scenario.rows; sent += scenario.batchRows) yield batch;
  }
  let bytes = 0;
  const started = performance.now();
  for await (const response of client.export(requests())) {
    if (response.kind.case === "chunk") bytes += response.kind.value.data.length;
  }
  const seconds = (performance.now() - started) / 1000;
  const mib = bytes / 1024 / 1024;
  return {
    rowsPerSecond: scenario.rows / seconds,
    mibPerSecond: mib / seconds,
    outputMiB: mib,
    seconds,
    peakRssMiB: (await server.peakRssBytes()) / 1024 / 1024,
  };
}

const SCENARIOS: Scenario[] = [
  {
    name: "csv 1M rows, fast path, 1000-row batches",
    rows: 1_000_000,
    batchRows: 1_000,
    format: Format.CSV,
  },
  {
    name: "csv 200k rows, fast path, 10-row batches",
    rows: 200_000,
    batchRows: 10,
    format: Format.CSV,
  },
  {
    name: "csv 200k rows, fast path, 100-row batches",
    rows: 200_000,
    batchRows: 100,
    format: Format.CSV,
  },
  {
    name: "csv 200k rows, fast path, 1000-row batches",
    rows: 200_000,
    batchRows: 1_000,
    format: Format.CSV,
  },
  {
    name: "csv 200k rows, json_rows, 1000-row batches",
    rows: 200_000,
    batchRows: 1_000,
    format: Format.CSV,
    json: true,
  },
  {
    name: "csv 200k rows, fast path, gzip responses",
    rows: 200_000,
    batchRows: 1_000,
    format: Format.CSV,
    serverEnv: { COMPRESSION: "gzip" },
  },
  {
    name: "pdf 100k rows, fast path, 1000-row batches",
    rows: 100_000,
    batchRows: 1_000,
    format: Format.PDF,
  },
];

const REPEATS = 3;
const filter = process.argv[2] ?? "";
const results = new Map<string, Measurement>();
for (const scenario of SCENARIOS.filter((candidate) => candidate.name.includes(filter))) {
  const server = await spawnServer(["node", "--import", "tsx", "src/main.ts"], scenario.serverEnv);
  try {
    // Warm up the JIT and let the heap grow to its working size first.
    await measure(server, { ...scenario, rows: Math.min(scenario.rows, 200_000) });
    const runs: Measurement[] = [];
    for (let repeat = 0; repeat < REPEATS; repeat++) runs.push(await measure(server, scenario));
    // The median run: one slow run on a shared machine does not move it.
    runs.sort((a, b) => a.rowsPerSecond - b.rowsPerSecond);
    const result = runs[Math.floor(REPEATS / 2)] as Measurement;
    results.set(scenario.name, result);
    const spread = runs.map((run) => Math.round(run.rowsPerSecond / 1000)).join("/");
    console.log(
      `${scenario.name.padEnd(46)} ${Math.round(result.rowsPerSecond).toLocaleString("en").padStart(9)} rows/s ` +
        `(runs ${spread}k) ${result.mibPerSecond.toFixed(1).padStart(5)} MiB/s out  ` +
        `${result.outputMiB.toFixed(1).padStart(6)} MiB  server peak RSS ${result.peakRssMiB.toFixed(0)} MiB`,
    );
  } finally {
    await server.stop();
  }
}

function ratio(label: string, numerator: string, denominator: string) {
  const a = results.get(numerator);
  const b = results.get(denominator);
  if (a && b) console.log(`${label}: ${(a.rowsPerSecond / b.rowsPerSecond).toFixed(2)}x`);
}
console.log("");
ratio(
  "fast path vs json_rows",
  "csv 200k rows, fast path, 1000-row batches",
  "csv 200k rows, json_rows, 1000-row batches",
);
ratio(
  "100-row vs 10-row batches",
  "csv 200k rows, fast path, 100-row batches",
  "csv 200k rows, fast path, 10-row batches",
);
ratio(
  "1000-row vs 100-row batches",
  "csv 200k rows, fast path, 1000-row batches",
  "csv 200k rows, fast path, 100-row batches",
);
ratio(
  "uncompressed vs gzip",
  "csv 200k rows, fast path, 1000-row batches",
  "csv 200k rows, fast path, gzip responses",
);
ratio(
  "csv vs pdf (rows/s)",
  "csv 200k rows, fast path, 1000-row batches",
  "pdf 100k rows, fast path, 1000-row batches",
);
