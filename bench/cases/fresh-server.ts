import { startService } from "../../test/support/start-command.js";
import { MiB } from "../servers.js";
import { type Case, exportJob, type Line, measureExport } from "./case.js";

/**
 * The first export on a fresh service process, started with the shipped
 * start command and default settings: its peak RSS (VmHWM) is the memory
 * figure, and its time to first chunk the cold one.
 */
export function freshServerCase(
  line: Line,
  tags: readonly string[],
  holdUntilFirstChunk: boolean,
): Case {
  return {
    id: line.id,
    tags,
    lines: [line],
    // Only the client is warmed: the server is meant to be cold.
    async warmUp({ servers, clients, scale }) {
      const server = await servers.get("none");
      await clients[0].run(exportJob(server, scale.smallRows));
    },
    async run({ command, clients }) {
      const server = await startService(command);
      try {
        const startRss = await server.peakRssBytes();
        const job = exportJob(server, line.rows, { holdUntilFirstChunk });
        const measured = await measureExport(server, clients[0], job);
        measured.figures.peakRssMiB = (await server.peakRssBytes()) / MiB;
        measured.figures.startRssMiB = startRss / MiB;
        return { [line.id]: measured };
      } finally {
        await server.stop();
      }
    },
  };
}
