import { Format } from "../../gen/export/v1/export_pb.js";
import { gate } from "./async.js";
import { collectExport, type ExportClient, type RequestInit } from "./connect-client.js";
import { eventually } from "./server.js";
import { generatedBatches, generatedColumns } from "./tables.js";

export interface HeldExports {
  /** Lets every held export finish; resolves with their row counts. */
  release(): Promise<bigint[]>;
}

/**
 * Starts `count` CSV exports that send a few rows and then wait, holding
 * their slots, and resolves once `running()` (the server's count) shows
 * them all: the state in which the next export is refused.
 */
export async function holdExports(
  client: ExportClient,
  count: number,
  running: () => number,
): Promise<HeldExports> {
  const released = gate();
  const start: RequestInit = {
    kind: { case: "start", value: { format: Format.CSV, columns: generatedColumns(2) } },
  };
  async function* heldOpen() {
    yield start;
    yield* generatedBatches(10, 2);
    await released.opened;
  }
  const exports = Array.from({ length: count }, () => collectExport(client, heldOpen()));
  // A failure before release() would otherwise go unhandled.
  for (const held of exports) held.catch(() => {});
  await eventually(() => running() >= count);
  return {
    async release() {
      released.open();
      return (await Promise.all(exports)).map((result) => result.summary.rows);
    },
  };
}
