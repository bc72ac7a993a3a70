import type { ExportJob } from "../worker/jobs.js";
import { type Case, exportJob, type Line, measureExport } from "./case.js";

/**
 * One export on a warm, long-lived server, client and server in separate
 * processes on loopback; with `renderThreads`, on a server with that
 * RENDER_THREADS instead of the default. The warm-up is `warmUpExports`
 * exports of `warmUpRows` rows each.
 */
export function endToEndCase(
  line: Line,
  tags: readonly string[],
  job: Pick<ExportJob, "format" | "encoding" | "gzip">,
  warmUpRows: number,
  renderThreads?: number,
  warmUpExports = 1,
): Case {
  const compression = job.gzip ? "gzip" : "none";
  return {
    id: line.id,
    tags,
    lines: [line],
    async warmUp({ servers, clients }) {
      const server = await servers.get(compression, renderThreads);
      for (let i = 0; i < warmUpExports; i++) {
        await clients[0].run(exportJob(server, warmUpRows, job));
      }
    },
    async run({ servers, clients }) {
      const server = await servers.get(compression, renderThreads);
      return {
        [line.id]: await measureExport(server, clients[0], exportJob(server, line.rows, job)),
      };
    },
  };
}
