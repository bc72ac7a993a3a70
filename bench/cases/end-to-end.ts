import type { ExportJob } from "../worker/jobs.js";
import { type Case, exportJob, type Line, measureExport } from "./case.js";

/**
 * One export on a warm, long-lived server, client and server in separate
 * processes on loopback; with `renderThreads`, on a server with that
 * RENDER_THREADS instead of the default. The warm-up is `warmUp.exports`
 * exports (one if not given) of `warmUp.rows` rows each, and
 * `warmUp.eachRound` more (none if not given) just before each measured
 * export: a short export on a server that did other work for the rest of
 * the round measures it partly cold.
 */
export function endToEndCase(
  line: Line,
  tags: readonly string[],
  job: Pick<ExportJob, "format" | "encoding" | "gzip">,
  warmUp: { readonly rows: number; readonly exports?: number; readonly eachRound?: number },
  renderThreads?: number,
): Case {
  const compression = job.gzip ? "gzip" : "none";
  return {
    id: line.id,
    tags,
    lines: [line],
    async warmUp({ servers, clients }) {
      const server = await servers.get(compression, renderThreads);
      for (let i = 0; i < (warmUp.exports ?? 1); i++) {
        await clients[0].run(exportJob(server, warmUp.rows, job));
      }
    },
    async run({ servers, clients }) {
      const server = await servers.get(compression, renderThreads);
      for (let i = 0; i < (warmUp.eachRound ?? 0); i++) {
        await clients[0].run(exportJob(server, warmUp.rows, job));
      }
      return {
        [line.id]: await measureExport(server, clients[0], exportJob(server, line.rows, job)),
      };
    },
  };
}
