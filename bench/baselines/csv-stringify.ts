/**
 * csv-stringify alone, in process, on the bench's rows: the bar the service's
 * CSV end to end is measured against. Output goes to a sink that only counts
 * bytes.
 */
import { once } from "node:events";
import { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { stringify } from "csv-stringify";
import { stringify as stringifySync } from "csv-stringify/sync";
import { BATCH, batchesOf, CSV_OPTIONS, TITLES } from "../rows.js";
import { startClock } from "../worker/clock.js";
import type { JobResult } from "../worker/jobs.js";

/** The stream API, one `write` per row, waiting for `drain` when it asks, as a stream user must. */
export async function csvStringifyStream(rows: number): Promise<JobResult> {
  const batches = batchesOf(rows);
  let bytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      callback();
    },
  });
  const clock = startClock();
  const stringifier = stringify(CSV_OPTIONS);
  stringifier.pipe(sink);
  stringifier.write(TITLES);
  for (let batch = 0; batch < batches; batch++) {
    for (const row of BATCH) {
      // Only a full buffer costs a wait: no promise per row.
      if (!stringifier.write(row)) await once(stringifier, "drain");
    }
  }
  stringifier.end();
  await finished(sink);
  return { rows, bytes, startedAt: clock.startedAt, ...clock.stop() };
}

/** The sync API, one call per 1,000-row batch, each result made bytes as the service must. */
export async function csvStringifySync(rows: number): Promise<JobResult> {
  const batches = batchesOf(rows);
  const clock = startClock();
  let bytes = Buffer.from(stringifySync([TITLES], CSV_OPTIONS)).length;
  for (let batch = 0; batch < batches; batch++) {
    bytes += Buffer.from(stringifySync(BATCH, CSV_OPTIONS)).length;
  }
  return { rows, bytes, startedAt: clock.startedAt, ...clock.stop() };
}
