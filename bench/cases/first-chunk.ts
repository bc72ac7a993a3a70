import { BATCH_ROWS } from "../rows.js";
import { median } from "../stats.js";
import { type Case, exportJob } from "./case.js";

/**
 * Time to first chunk on a warm server: exports of one batch, the client
 * sending start and the batch and then waiting for the first chunk. The
 * round's figure is the median of its exports.
 */
export function firstChunkCase(exports: number): Case {
  const line = {
    id: "first-chunk",
    title: `CSV time to first chunk, warm (median of ${exports})`,
    rows: BATCH_ROWS,
  };
  const job = { holdUntilFirstChunk: true } as const;
  return {
    id: line.id,
    tags: ["first-chunk"],
    lines: [line],
    async warmUp({ servers, clients }) {
      const server = await servers.get("none");
      for (let run = 0; run < 5; run++) await clients[0].run(exportJob(server, BATCH_ROWS, job));
    },
    async run({ servers, clients }) {
      const server = await servers.get("none");
      const times: number[] = [];
      for (let run = 0; run < exports; run++) {
        const result = await clients[0].run(exportJob(server, BATCH_ROWS, job));
        if (result.firstByteMs === undefined) throw new Error("an export sent no chunk");
        times.push(result.firstByteMs);
      }
      return {
        [line.id]: {
          figures: { firstChunkMs: median(times), firstChunkMaxMs: Math.max(...times) },
        },
      };
    },
  };
}
