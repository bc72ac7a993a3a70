import { parseArgs } from "node:util";
import { fetchText, metricsEndpoint } from "./assert.js";
import { CONNECTION_FLAGS, CONNECTION_USAGE, connect } from "./connection.js";
import { parseScrape, sum } from "./prometheus.js";
import { bytes, CliError, count, describeError, table, UsageError } from "./report.js";

export const STATUS_USAGE = `export-cli status --server URL --metrics URL

Health (gRPC health Check and /readyz), slots in use out of the limit,
exports and rows so far (/metrics), and the exports running now
(/export/status). Exits 0 when the server is SERVING and ready.

  --metrics URL      the side port, e.g. http://localhost:9464
${CONNECTION_USAGE}`;

/** The body of GET /export/status (see src/ops/export-status.ts). */
interface StatusReport {
  readonly status: string;
  readonly slotsInUse: number;
  readonly slotsLimit: number;
  readonly exports: readonly {
    readonly id: string;
    readonly format: string;
    readonly user?: string;
    readonly peer: string;
    readonly rows: number;
    readonly bytes: number;
    readonly ageMs: number;
  }[];
}

export async function statusCommand(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { ...CONNECTION_FLAGS, metrics: { type: "string" } },
    strict: true,
    allowPositionals: false,
  });
  if (values.metrics === undefined) throw new UsageError("--metrics is required");
  const side = new URL(metricsEndpoint(values.metrics));
  const { client, server } = await connect(values);
  const health = await client.health().then(
    (serving) => serving,
    (error: unknown) => `unreachable (${describeError(error)[0]})`,
  );
  client.close();
  const readyz = await fetchText(new URL("/readyz", side).toString());
  const scrape = await fetchText(side.toString());
  if (scrape.status !== 200) throw new CliError(`${side} answered ${scrape.status}`);
  const metrics = parseScrape(scrape.body);
  const statusUrl = new URL("/export/status", side).toString();
  const running = await fetchText(statusUrl);
  if (running.status !== 200) throw new CliError(`${statusUrl} answered ${running.status}`);
  const report = JSON.parse(running.body) as StatusReport;

  const requests = sum(metrics, "export_requests_total");
  const ok = sum(metrics, "export_requests_total", { outcome: "ok" });
  const lines = [
    `server   ${server}: health ${health}; ${readyz.body.trim()} (${report.status})`,
    `slots    ${report.slotsInUse} of ${report.slotsLimit} in use`,
    `so far   ${count(requests)} exports (${count(ok)} ok), ${count(sum(metrics, "export_rows_total"))} rows, ${bytes(sum(metrics, "export_bytes_total"))}`,
  ];
  if (report.exports.length === 0) {
    lines.push("running  none");
  } else {
    lines.push(
      `running  ${report.exports.length}:`,
      table(
        ["export", "format", "user", "peer", "rows", "bytes", "age"],
        report.exports.map((running) => [
          running.id,
          running.format,
          running.user ?? "-",
          running.peer,
          count(running.rows),
          bytes(running.bytes),
          `${(running.ageMs / 1000).toFixed(1)} s`,
        ]),
      ),
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  return health === "SERVING" && readyz.status === 200 ? 0 : 1;
}
