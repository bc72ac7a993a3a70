import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { PROJECT_ROOT } from "./child-server.js";

const run = promisify(execFile);

/** Debian's interpreter: the one python3-grpcio is installed for. */
const PYTHON = "/usr/bin/python3";
const CLIENT = join(PROJECT_ROOT, "test/interop/grpcio_client.py");

/** The client's bad-input cases (see CASES in grpcio_client.py). */
export const BAD_INPUT_CASES = [
  "no_columns",
  "batch_before_start",
  "empty_message",
  "unknown_format",
  "second_start",
  "wrong_width",
  "wrong_width_while_sending",
  "long_delimiter",
  "long_keys_wrong_width",
] as const;

/** Per case (or "ok"/"refused" for whole exports): calls made and how many were wrong. */
export type GrpcioTally = Record<string, { calls: number; wrong: number; examples: string[] }>;

export interface GrpcioRun {
  readonly target: string;
  readonly cases: readonly string[];
  readonly seconds: number;
  readonly maxCalls: number;
  readonly threads?: number;
  readonly rows?: number;
}

/**
 * Python grpcio stubs generated from proto/ now, with Debian's protoc and
 * grpc_python_plugin, into a fresh folder: nothing of the server's codec.
 */
export async function generateGrpcioStubs(): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), "grpcio-stubs-"));
  await run("protoc", [
    `-I${join(PROJECT_ROOT, "proto")}`,
    `-I${join(PROJECT_ROOT, "test/interop/proto")}`,
    `--python_out=${out}`,
    `--grpc_python_out=${out}`,
    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
    "export/v1/export.proto",
    "google/rpc/error_details.proto",
    "google/rpc/status.proto",
  ]);
  return out;
}

/** Runs test/interop/grpcio_client.py and returns its tally. */
export async function runGrpcioClient(stubs: string, options: GrpcioRun): Promise<GrpcioTally> {
  const { stdout } = await run(
    PYTHON,
    [
      CLIENT,
      `--target=${options.target}`,
      `--cases=${options.cases.join(",")}`,
      `--seconds=${options.seconds}`,
      `--max-calls=${options.maxCalls}`,
      `--threads=${options.threads ?? 1}`,
      `--rows=${options.rows ?? 2_000}`,
    ],
    { env: { ...process.env, PYTHONPATH: stubs }, timeout: (options.seconds + 30) * 1_000 },
  );
  return JSON.parse(stdout) as GrpcioTally;
}

/** Every call counted, none wrong; `minCalls` per case so a quiet run cannot pass. */
export function wrongAnswers(tally: GrpcioTally, cases: readonly string[], minCalls: number) {
  return cases.flatMap((name) => {
    const entry = tally[name];
    if (!entry || entry.calls < minCalls) {
      return [`${name}: only ${entry?.calls ?? 0} calls`];
    }
    return entry.wrong > 0 ? [`${name}: ${entry.wrong} wrong, e.g. ${entry.examples[0]}`] : [];
  });
}
