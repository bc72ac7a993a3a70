import { create } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { compressionGzip, createGrpcTransport } from "@connectrpc/connect-node";
import {
  ColumnType,
  type ExportRequest,
  ExportRequestSchema,
  ExportService,
  Format,
} from "../../gen/export/v1/export_pb.js";
import { BATCH, batchesOf, COLUMNS } from "../rows.js";
import { startClock } from "./clock.js";
import type { ExportJob, JobResult } from "./jobs.js";

const COLUMN_TYPES = {
  text: ColumnType.TEXT,
  number: ColumnType.NUMBER,
  boolean: ColumnType.BOOLEAN,
  timestamp: ColumnType.TIMESTAMP,
} as const;

function startMessage(format: ExportJob["format"]): ExportRequest {
  const columns = COLUMNS.map(({ key, title, type }) => ({ key, title, type: COLUMN_TYPES[type] }));
  return create(ExportRequestSchema, {
    kind: {
      case: "start",
      value:
        format === "csv"
          ? { format: Format.CSV, columns }
          : { format: Format.PDF, columns, pdf: { title: "Orders" } },
    },
  });
}

/**
 * The batch as a message, built once per encoding. `json_rows` cells are JSON
 * strings, so both encodings render the same file.
 */
const batchMessages = {
  rows: create(ExportRequestSchema, {
    kind: { case: "batch", value: { rows: BATCH.map((cells) => ({ cells })) } },
  }),
  json_rows: create(ExportRequestSchema, {
    kind: {
      case: "batch",
      value: {
        jsonRows: BATCH.map((row) => ({
          values: row.map((cell) => ({ kind: { case: "stringValue" as const, value: cell } })),
        })),
      },
    },
  }),
};

/**
 * One client (one HTTP/2 connection) per server and compression setting,
 * kept for the worker's life, as a real client keeps its connection.
 */
const clients = new Map<string, Client<typeof ExportService>>();

function clientFor(baseUrl: string, gzip: boolean): Client<typeof ExportService> {
  const key = `${gzip} ${baseUrl}`;
  let client = clients.get(key);
  if (client === undefined) {
    const acceptCompression = gzip ? [compressionGzip] : [];
    client = createClient(ExportService, createGrpcTransport({ baseUrl, acceptCompression }));
    clients.set(key, client);
  }
  return client;
}

export async function runExport(job: ExportJob): Promise<JobResult> {
  const client = clientFor(job.baseUrl, job.gzip);
  const start = startMessage(job.format);
  const batch = batchMessages[job.encoding];
  const batches = batchesOf(job.rows);
  let firstChunkArrived = () => {};
  const firstChunk = new Promise<void>((resolve) => {
    firstChunkArrived = resolve;
  });
  async function* requests() {
    yield start;
    for (let sent = 0; sent < batches; sent++) {
      yield batch;
      if (sent === 0 && job.holdUntilFirstChunk) await firstChunk;
    }
  }

  const clock = startClock();
  let bytes = 0;
  let firstByteMs: number | undefined;
  let summary: { rows: bigint; sha256: string } | undefined;
  try {
    for await (const response of client.export(requests())) {
      if (response.kind.case === "chunk") {
        if (firstByteMs === undefined) {
          firstByteMs = clock.elapsedMs();
          firstChunkArrived();
        }
        bytes += response.kind.value.data.length;
      } else if (response.kind.case === "summary") {
        summary = response.kind.value;
      }
    }
  } finally {
    // An export that failed before its first chunk must not leave the
    // request generator waiting for it.
    firstChunkArrived();
  }
  const { seconds, cpuUs } = clock.stop();
  if (summary === undefined) throw new Error("the export ended without a summary");
  if (summary.rows !== BigInt(job.rows)) {
    throw new Error(`the summary counts ${summary.rows} rows, ${job.rows} were sent`);
  }
  return {
    rows: job.rows,
    bytes,
    startedAt: clock.startedAt,
    seconds,
    cpuUs,
    ...(firstByteMs !== undefined && { firstByteMs }),
    sha256: summary.sha256,
  };
}
