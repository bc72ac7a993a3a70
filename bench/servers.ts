/**
 * The server processes the bench measures: the service, built and started
 * exactly as package.json's "start" script starts it, and the replaced design.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { type ChildServer, PROJECT_ROOT, spawnServer } from "../test/support/child-server.js";

export type { ChildServer };

const CLOCK_TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));

/** Builds dist/ with `npm run build`, as `npm start` does first (its prestart). */
export function buildService(): void {
  const build = spawnSync("npm", ["run", "build"], { cwd: PROJECT_ROOT, encoding: "utf8" });
  if (build.status !== 0) {
    throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
  }
}

/** The replaced design (bench/replaced-design/server.ts) in its own process. */
export function startReplacedDesign() {
  return spawnServer([process.execPath, "--import", "tsx", "bench/replaced-design/server.ts"]);
}

/**
 * CPU time the server process has used so far (user + system), in seconds,
 * from its own counters in /proc: this survives a noisy machine where wall
 * time does not.
 */
export async function cpuSeconds(server: ChildServer): Promise<number> {
  const stat = await readFile(`/proc/${server.child.pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold
  // spaces: state is field 3, utime 14 and stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

export const MiB = 1024 * 1024;
