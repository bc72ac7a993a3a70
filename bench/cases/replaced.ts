import { cpuSeconds, MiB, startReplacedDesign } from "../servers.js";
import { type Case, figuresOf } from "./case.js";

/** The replaced design (bench/replaced-design/server.ts), a fresh process each round. */
export function replacedDesignCase(rows: number): Case {
  const line = {
    id: "replaced",
    title: "Replaced design: HTTP/1.1, whole JSON body, CSV to a buffer",
    rows,
    csvFile: true,
  };
  return {
    id: line.id,
    tags: ["replaced"],
    lines: [line],
    async run({ clients }) {
      const server = await startReplacedDesign();
      try {
        const startRss = await server.peakRssBytes();
        const before = await cpuSeconds(server);
        const result = await clients[0].run({ kind: "replaced", url: `${server.baseUrl}/`, rows });
        const measured = figuresOf(result, (await cpuSeconds(server)) - before);
        measured.figures.peakRssMiB = (await server.peakRssBytes()) / MiB;
        measured.figures.startRssMiB = startRss / MiB;
        return { [line.id]: measured };
      } finally {
        await server.stop();
      }
    },
  };
}
