import { spawn } from "node:child_process";
import { type ExportSummary, Format } from "../../gen/export/v1/export_pb.js";
import { type ExportClient, type RequestInit, requestStream } from "./connect-client.js";
import { exportMessages, TRICKY_ROWS } from "./tables.js";

/** GETs a path of the side port; the body as text. */
export async function sideGet(
  metricsUrl: string,
  path: string,
): Promise<{ status: number; body: string; contentType: string | null }> {
  const response = await fetch(`${metricsUrl}${path}`);
  return {
    status: response.status,
    body: await response.text(),
    contentType: response.headers.get("content-type"),
  };
}

export async function scrape(metricsUrl: string): Promise<string> {
  const { status, body } = await sideGet(metricsUrl, "/metrics");
  if (status !== 200) throw new Error(`/metrics answered ${status}: ${body}`);
  return body;
}

/** Scrapes until `check` holds for a scrape, failing after `timeoutMs`; the scrape that held. */
export async function scrapeUntil(
  metricsUrl: string,
  check: (text: string) => boolean,
  timeoutMs = 10_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await scrape(metricsUrl);
    if (check(text)) return text;
    if (Date.now() > deadline)
      throw new Error(`no scrape met the condition within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** `name{a="1",b="2"}` → value, for every sample line of a scrape. */
export function samples(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/**
 * The sum of the samples of `name` whose labels include `labels`, as a
 * PromQL selector would pick them; undefined if none does.
 */
export function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = Object.entries(labels).map(([label, value]) => `${label}="${value}"`);
  let sum: number | undefined;
  for (const [key, value] of samples(text)) {
    const brace = key.indexOf("{");
    if ((brace < 0 ? key : key.slice(0, brace)) !== name) continue;
    const have = new Set(brace < 0 ? [] : key.slice(brace + 1, -1).split(/,(?=\w+=")/));
    if (wanted.every((pair) => have.has(pair))) sum = (sum ?? 0) + value;
  }
  return sum;
}

/** Metric family names and types from the `# TYPE` lines of a scrape. */
export function metricTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    types.set(match[1] as string, match[2] as string);
  }
  return types;
}

/** Runs a command with `input` on stdin; resolves with its exit code and output. */
export function run(
  command: string,
  args: readonly string[],
  input = "",
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      stdout += text;
    });
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** An export whose request stream stays open until `finish()`: it holds a slot meanwhile. */
export interface HeldExport {
  /** Resolves once the header arrived: the export has taken a slot and started. */
  readonly started: Promise<void>;
  /** Resolves once the first chunk arrived. */
  readonly firstChunk: Promise<void>;
  /** Closes the request stream; resolves with the summary. */
  finish(): Promise<ExportSummary>;
}

export function holdExport(client: ExportClient): HeldExport {
  const [start, ...batches] = exportMessages(TRICKY_ROWS, {
    start: { format: Format.CSV },
  }) as [RequestInit, ...RequestInit[]];
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  async function* requests() {
    yield start;
    yield* batches;
    await released;
  }
  let onStarted = () => {};
  let onChunk = () => {};
  const started = new Promise<void>((resolve) => {
    onStarted = resolve;
  });
  const firstChunk = new Promise<void>((resolve) => {
    onChunk = resolve;
  });
  const done = (async () => {
    let summary: ExportSummary | undefined;
    for await (const response of client.export(requestStream(requests()))) {
      if (response.kind.case === "header") onStarted();
      if (response.kind.case === "chunk") onChunk();
      if (response.kind.case === "summary") summary = response.kind.value;
    }
    if (!summary) throw new Error("the held export ended without a summary");
    return summary;
  })();
  // A failure surfaces through finish(); never as an unhandled rejection.
  done.catch(() => {});
  return {
    started: Promise.race([started, done.then(() => {})]),
    firstChunk: Promise.race([firstChunk, done.then(() => {})]),
    finish() {
      release();
      return done;
    },
  };
}
