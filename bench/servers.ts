/**
 * The server processes the bench measures: the service, built and started
 * exactly as package.json's "start" script starts it, and the replaced design.
 */
import { spawnSync } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { type ChildServer, PROJECT_ROOT, spawnServer } from "../test/support/child-server.js";

export type { ChildServer };

/** Where the replaced design is compiled to, inside the project so it finds node_modules. */
const REPLACED_DESIGN_OUT = "dist/bench";

function run(command: string, args: readonly string[]): void {
  const done = spawnSync(command, args, { cwd: PROJECT_ROOT, encoding: "utf8" });
  if (done.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed:\n${done.stdout}${done.stderr}`);
  }
}

/**
 * Builds dist/ with `npm run build`, as `npm start` does first (its
 * prestart), and compiles the replaced design to JavaScript too: run through
 * tsx, its loader would add some 22 MiB to the peak RSS it is measured by.
 */
export function buildServers(): void {
  run("npm", ["run", "build"]);
  run("npx", [
    "tsc",
    "--outDir",
    REPLACED_DESIGN_OUT,
    "--rootDir",
    "bench",
    "--module",
    "nodenext",
    "--moduleResolution",
    "nodenext",
    "--target",
    "es2022",
    "--skipLibCheck",
    "bench/replaced-design/server.ts",
  ]);
}

/** The replaced design (bench/replaced-design/server.ts) in its own process, as compiled by buildServers. */
export function startReplacedDesign() {
  return spawnServer([process.execPath, `${REPLACED_DESIGN_OUT}/replaced-design/server.js`]);
}

/**
 * CPU time the server process has used so far (user + system), in seconds,
 * from its own counters in /proc: this survives a noisy machine where wall
 * time does not. Summed over its threads' scheduler counters, which count
 * nanoseconds where /proc/<pid>/stat counts 10 ms ticks (a 10,000-row export
 * takes only some 7 of them). The service's threads live as long as it does,
 * so none takes its time away by ending between two readings.
 */
export async function cpuSeconds(server: ChildServer): Promise<number> {
  const tasks = `/proc/${server.child.pid}/task`;
  let nanoseconds = 0;
  for (const thread of await readdir(tasks)) {
    try {
      const schedstat = await readFile(`${tasks}/${thread}/schedstat`, "utf8");
      nanoseconds += Number(schedstat.split(" ")[0]);
    } catch {
      // A thread that ended while the list was read (none of the service's do).
    }
  }
  // A kernel without scheduler statistics reads 0 for every thread.
  if (nanoseconds === 0) throw new Error(`${tasks}/*/schedstat counts no CPU time`);
  return nanoseconds / 1e9;
}

export const MiB = 1024 * 1024;
