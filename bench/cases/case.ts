import { type StartCommand, startService } from "../../test/support/start-command.js";
import { type ChildServer, cpuSeconds } from "../servers.js";
import type { ExportJob, JobResult } from "../worker/jobs.js";
import type { Worker } from "../workers.js";

/** Figures one line of the table can have, all per round. */
export interface Figures {
  rowsPerSecond?: number;
  seconds?: number;
  /** Server CPU per row; for an in-process baseline, that process's CPU per row. */
  cpuUsPerRow?: number;
  clientCpuUsPerRow?: number;
  /** Server CPU seconds per wall second: above 1 means more than one core was busy. */
  serverCores?: number;
  /** From the call to the first chunk (or byte) of the file. */
  firstChunkMs?: number;
  /** The slowest of the warm first chunks of a round. */
  firstChunkMaxMs?: number;
  /** Server peak resident memory (VmHWM) after the export. */
  peakRssMiB?: number;
  /** Its peak before the export: the started, idle server. */
  startRssMiB?: number;
}

export type Metric = keyof Figures;

/** One line's result in one round. */
export interface Measured {
  readonly figures: Figures;
  /** Size and hash of the one file the line produced, to check paths write the same file. */
  readonly bytes?: number;
  readonly sha256?: string;
}

export interface Line {
  readonly id: string;
  readonly title: string;
  readonly rows: number;
  /** Set when the line writes one CSV file of `rows` rows: all such files must be the same. */
  readonly csvFile?: boolean;
}

/** Row counts and repeats; `--quick` divides the rows by ten. */
export interface Scale {
  readonly rounds: number;
  readonly csvRows: number;
  readonly pdfRows: number;
  /** The small and large fresh-server exports whose peak RSS is compared. */
  readonly smallRows: number;
  readonly largeRows: number;
  /** `--ten-million`: the memory bound at ten times the large export. */
  readonly hugeRows: number;
  readonly concurrentRows: number;
  readonly firstChunkExports: number;
}

/** Long-lived service processes, started when a case first needs them and warm after. */
export class WarmServers {
  private readonly servers = new Map<string, Promise<ChildServer>>();

  constructor(private readonly command: StartCommand) {}

  /** `renderThreads`: RENDER_THREADS, where a case compares it with the default. */
  get(compression: "none" | "gzip", renderThreads?: number): Promise<ChildServer> {
    const key = `${compression} ${renderThreads ?? "default"}`;
    let server = this.servers.get(key);
    if (server === undefined) {
      server = startService(this.command, {
        COMPRESSION: compression,
        ...(renderThreads !== undefined && { RENDER_THREADS: String(renderThreads) }),
      });
      this.servers.set(key, server);
    }
    return server;
  }

  async stop(): Promise<void> {
    const started = await Promise.allSettled(this.servers.values());
    await Promise.all(
      started.map((server) => (server.status === "fulfilled" ? server.value.stop() : undefined)),
    );
  }
}

export interface Context {
  readonly scale: Scale;
  readonly command: StartCommand;
  readonly servers: WarmServers;
  /** Five client processes; single exports use the first. */
  readonly clients: readonly [Worker, ...Worker[]];
  /** The process the in-process baselines run in. */
  readonly baselines: Worker;
}

/**
 * A case runs once per round, alternating with the others, and gives figures
 * for one or more lines of the table. Warm-ups run once, before round 1.
 */
export interface Case {
  readonly id: string;
  /** Names that select the case on the command line, besides its id. */
  readonly tags: readonly string[];
  readonly lines: readonly Line[];
  warmUp?(context: Context): Promise<void>;
  run(context: Context): Promise<Record<string, Measured>>;
}

/** An export job with the defaults most cases use. */
export function exportJob(
  server: ChildServer,
  rows: number,
  job: Partial<ExportJob> = {},
): ExportJob {
  return {
    kind: "export",
    baseUrl: server.baseUrl,
    format: "csv",
    rows,
    encoding: "rows",
    gzip: false,
    holdUntilFirstChunk: false,
    ...job,
  };
}

/** The figures of one job, with the server's CPU over it when there is a server. */
export function figuresOf(result: JobResult, serverCpuSeconds?: number): Measured {
  const figures: Figures = {
    rowsPerSecond: result.rows / result.seconds,
    seconds: result.seconds,
    clientCpuUsPerRow: result.cpuUs / result.rows,
  };
  if (serverCpuSeconds !== undefined) {
    figures.cpuUsPerRow = (serverCpuSeconds * 1e6) / result.rows;
    figures.serverCores = serverCpuSeconds / result.seconds;
  }
  if (result.firstByteMs !== undefined) figures.firstChunkMs = result.firstByteMs;
  return {
    figures,
    bytes: result.bytes,
    ...(result.sha256 !== undefined && { sha256: result.sha256 }),
  };
}

/** Runs one export job from `client` and reads the server's CPU counters around it. */
export async function measureExport(
  server: ChildServer,
  client: Worker,
  job: ExportJob,
): Promise<Measured> {
  const before = await cpuSeconds(server);
  const result = await client.run(job);
  return figuresOf(result, (await cpuSeconds(server)) - before);
}
