import type { BaselineJob } from "../worker/jobs.js";
import type { Case, Line } from "./case.js";

/**
 * An in-process baseline: the renderer alone in the baselines process; its
 * CPU per row is that process's own (process.cpuUsage).
 */
export function baselineCase(
  kind: BaselineJob["kind"],
  line: Line,
  tags: readonly string[],
  warmUpRows: number,
): Case {
  return {
    id: line.id,
    tags,
    lines: [line],
    async warmUp({ baselines }) {
      await baselines.run({ kind, rows: warmUpRows });
    },
    async run({ baselines }) {
      const result = await baselines.run({ kind, rows: line.rows });
      return {
        [line.id]: {
          figures: {
            rowsPerSecond: result.rows / result.seconds,
            seconds: result.seconds,
            cpuUsPerRow: result.cpuUs / result.rows,
          },
          bytes: result.bytes,
        },
      };
    },
  };
}
