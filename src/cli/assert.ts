import { parseArgs } from "node:util";
import { histogramQuantile, parseScrape, type Scrape, sum } from "./prometheus.js";
import { bytes, CliError, count, UsageError } from "./report.js";

export const ASSERT_USAGE = `export-cli assert --metrics URL [--p95-ms N] [--min-success-ratio R]

Reads the server's /metrics once and prints one PASS or FAIL line per check;
exits 0 only if all six pass:
  metrics present    every export_* metric, with its type
  requests counted   export_requests_total has format and outcome labels, and counts
  p95 duration       p95 of successful exports' duration <= --p95-ms (default 10000)
  success ratio      ok / admitted (refusals left out, as the recording rule
                     does) >= --min-success-ratio (default 0.99)
  slots respected    export_running <= export_slots_limit, with the refusals
                     that kept it there
  bytes exported     export_bytes_total > 0

  --metrics URL      the side port, e.g. http://localhost:9464 (/metrics is added)`;

/** The export metrics and their types; see the Metrics table in README.md. */
const EXPECTED_METRICS: Readonly<Record<string, string>> = {
  export_requests_total: "counter",
  export_duration_seconds: "histogram",
  export_rows_total: "counter",
  export_bytes_total: "counter",
  export_running: "gauge",
  export_slots_limit: "gauge",
  export_rejected_total: "counter",
  export_buffered_bytes: "gauge",
  export_chunk_buffered_bytes: "histogram",
};

export interface Check {
  readonly name: string;
  readonly pass: boolean;
  readonly detail: string;
}

export interface Thresholds {
  readonly p95Ms: number;
  readonly minSuccessRatio: number;
}

/** The six checks over one scrape. */
export function checkMetrics(scrape: Scrape, thresholds: Thresholds): Check[] {
  const checks: Check[] = [];

  const missing = Object.entries(EXPECTED_METRICS)
    .filter(([name, type]) => scrape.types.get(name) !== type)
    .map(([name, type]) => `${name} (${type})`);
  checks.push({
    name: "metrics present",
    pass: missing.length === 0,
    detail:
      missing.length === 0
        ? `all ${Object.keys(EXPECTED_METRICS).length} export metrics, with their types`
        : `missing or of another type: ${missing.join(", ")}`,
  });

  const requests = scrape.samples.filter((sample) => sample.name === "export_requests_total");
  const unlabelled = requests.filter(
    (sample) => sample.labels.format === undefined || sample.labels.outcome === undefined,
  );
  const byKind = new Map<string, number>();
  for (const sample of requests) {
    const kind = `${sample.labels.format}/${sample.labels.outcome}`;
    byKind.set(kind, (byKind.get(kind) ?? 0) + sample.value);
  }
  const counted = [...byKind.entries()].filter(([, value]) => value > 0);
  const total = sum(scrape, "export_requests_total");
  checks.push({
    name: "requests counted",
    pass: requests.length > 0 && unlabelled.length === 0 && total > 0,
    detail:
      unlabelled.length > 0
        ? `${unlabelled.length} series without format and outcome labels`
        : total === 0
          ? "no export request counted yet"
          : `${count(total)} requests: ${counted.map(([kind, value]) => `${kind} ${count(value)}`).join(", ")}`,
  });

  const p95 = histogramQuantile(scrape, "export_duration_seconds", 0.95);
  const measured = sum(scrape, "export_duration_seconds_count");
  checks.push({
    name: "p95 duration",
    pass: p95 !== undefined && p95 * 1000 <= thresholds.p95Ms,
    detail:
      p95 === undefined
        ? "no successful export measured yet"
        : `${Math.round(p95 * 1000)} ms ${p95 * 1000 <= thresholds.p95Ms ? "<=" : ">"} ${thresholds.p95Ms} ms over ${count(measured)} successful exports`,
  });

  const ok = sum(scrape, "export_requests_total", { outcome: "ok" });
  // As the recording rule counts them: no refusal (no slot, no valid token,
  // shutting down) is admitted; shutdown refusals share the outcome
  // "unavailable" with the exports a shutdown cut off.
  const admitted =
    total -
    sum(scrape, "export_requests_total", { outcome: "rejected" }) -
    sum(scrape, "export_requests_total", { outcome: "unauthenticated" }) -
    sum(scrape, "export_rejected_total", { reason: "shutting_down" });
  const ratio = admitted > 0 ? ok / admitted : undefined;
  checks.push({
    name: "success ratio",
    pass: ratio !== undefined && ratio >= thresholds.minSuccessRatio,
    detail:
      ratio === undefined
        ? "no admitted export yet"
        : `${ratio.toFixed(3)} ${ratio >= thresholds.minSuccessRatio ? ">=" : "<"} ${thresholds.minSuccessRatio} (${count(ok)} ok of ${count(admitted)} admitted)`,
  });

  const running = sum(scrape, "export_running");
  const limit = sum(scrape, "export_slots_limit");
  const refused = sum(scrape, "export_rejected_total", { reason: "slots_exhausted" });
  checks.push({
    name: "slots respected",
    pass: limit > 0 && running <= limit,
    detail: `${count(running)} running of ${count(limit)} slots; ${count(refused)} refused for lack of a slot`,
  });

  const sent = sum(scrape, "export_bytes_total");
  checks.push({
    name: "bytes exported",
    pass: sent > 0,
    detail: `${bytes(sent)} in ${count(sum(scrape, "export_rows_total"))} rows`,
  });
  return checks;
}

/** `http://host:9464` or `…/metrics` → the /metrics URL. */
export function metricsEndpoint(url: string): string {
  if (!URL.canParse(url)) throw new UsageError(`--metrics must be a URL, got ${url}`);
  const parsed = new URL(url);
  if (parsed.pathname === "/" || parsed.pathname === "") parsed.pathname = "/metrics";
  return parsed.toString();
}

export async function fetchText(url: string): Promise<{ status: number; body: string }> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    return { status: response.status, body: await response.text() };
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause;
    throw new CliError(`cannot fetch ${url}: ${cause?.message ?? (error as Error).message}`);
  }
}

/** A flag's decimal number; NaN (refused by the range checks) for "" or other text, which Number() reads as 0. */
function decimal(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  return /^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(value) ? Number(value) : Number.NaN;
}

export async function assertCommand(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      metrics: { type: "string" },
      "p95-ms": { type: "string" },
      "min-success-ratio": { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.metrics === undefined) throw new UsageError("--metrics is required");
  const p95Ms = decimal(values["p95-ms"], 10_000);
  const minSuccessRatio = decimal(values["min-success-ratio"], 0.99);
  if (!(p95Ms > 0)) throw new UsageError("--p95-ms must be a positive number");
  if (!(minSuccessRatio >= 0 && minSuccessRatio <= 1)) {
    throw new UsageError("--min-success-ratio must be between 0 and 1");
  }
  const url = metricsEndpoint(values.metrics);
  const { status, body } = await fetchText(url);
  if (status !== 200) throw new CliError(`${url} answered ${status}: ${body.trim()}`);
  const checks = checkMetrics(parseScrape(body), { p95Ms, minSuccessRatio });
  for (const check of checks) {
    process.stdout.write(`${check.pass ? "PASS" : "FAIL"}  ${check.name}: ${check.detail}\n`);
  }
  const failed = checks.filter((check) => !check.pass).length;
  process.stdout.write(
    failed === 0
      ? `all ${checks.length} checks passed\n`
      : `${failed} of ${checks.length} checks failed\n`,
  );
  return failed === 0 ? 0 : 1;
}
