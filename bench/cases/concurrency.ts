import { cpuSeconds } from "../servers.js";
import { type Case, exportJob, type Measured, measureExport } from "./case.js";

const CONCURRENT = 5;

/**
 * One export alone, then five at once from five client processes (the
 * service's default slot limit), on the same warm server. The aggregate
 * rate counts from the first start to the last end.
 */
export function concurrencyCase(rows: number): Case {
  return {
    id: "concurrent",
    tags: ["concurrency"],
    lines: [
      { id: "concurrent-1", title: "CSV end to end, one export alone", rows },
      {
        id: "concurrent-5",
        title: `CSV end to end, ${CONCURRENT} concurrent exports, aggregate`,
        rows: CONCURRENT * rows,
      },
    ],
    async warmUp({ servers, clients }) {
      const server = await servers.get("none");
      await Promise.all(clients.map((client) => client.run(exportJob(server, rows / 5))));
    },
    async run({ servers, clients }) {
      if (clients.length < CONCURRENT) throw new Error(`${CONCURRENT} client processes are needed`);
      const server = await servers.get("none");
      const one = await measureExport(server, clients[0], exportJob(server, rows));

      const before = await cpuSeconds(server);
      const results = await Promise.all(
        clients.slice(0, CONCURRENT).map((client) => client.run(exportJob(server, rows))),
      );
      const serverCpu = (await cpuSeconds(server)) - before;
      const started = Math.min(...results.map((result) => result.startedAt));
      const ended = Math.max(...results.map((result) => result.startedAt + result.seconds * 1000));
      const seconds = (ended - started) / 1000;
      const total = CONCURRENT * rows;
      const clientCpuUs = results.reduce((sum, result) => sum + result.cpuUs, 0);
      const five: Measured = {
        figures: {
          rowsPerSecond: total / seconds,
          seconds,
          cpuUsPerRow: (serverCpu * 1e6) / total,
          clientCpuUsPerRow: clientCpuUs / total,
          serverCores: serverCpu / seconds,
        },
      };
      return { "concurrent-1": one, "concurrent-5": five };
    },
  };
}
