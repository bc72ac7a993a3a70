import type { BaselineJob } from "../worker/jobs.js";
import type { Case, Line } from "./case.js";

/**
 * An in-process baseline: the renderer alone in the baselines process; its
 * CPU per row is that process's own (process.cpuUsage). The warm-up is one
 * run of `warmUp.rows` rows, and `warmUp.eachRound` more (none if not
 * given) just before each measured run, as the service's lines have.
 */
export function baselineCase(
  kind: BaselineJob["kind"],
  line: Line,
  tags: readonly string[],
  warmUp: { readonly rows: number; readonly eachRound?: number },
): Case {
  return {
    id: line.id,
    tags,
    lines: [line],
    async warmUp({ baselines }) {
      await baselines.run({ kind, rows: warmUp.rows });
    },
    async run({ baselines }) {
      for (let i = 0; i < (warmUp.eachRound ?? 0); i++) {
        await baselines.run({ kind, rows: warmUp.rows });
      }
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
