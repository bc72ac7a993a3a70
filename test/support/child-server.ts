import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface ChildServer {
  readonly child: ChildProcess;
  readonly port: number;
  readonly baseUrl: string;
  /** The side port: /metrics, /healthz, /readyz. */
  readonly metricsUrl: string;
  /** Log lines the server printed so far, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Peak resident memory of the process so far (VmHWM), in bytes. */
  peakRssBytes(): Promise<number>;
  /** Sends SIGTERM and resolves with the exit code (null if ended by a signal). */
  stop(): Promise<number | null>;
}

/**
 * Starts the service as its own process, as a user would, and waits for its
 * "listening" log line. `command` is e.g. ["npm", "start"].
 */
export function spawnServer(
  command: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<ChildServer> {
  const [file, ...args] = command as [string, ...string[]];
  const child = spawn(file, args, {
    cwd: PROJECT_ROOT,
    env: { ...process.env, HOST: "127.0.0.1", PORT: "0", METRICS_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group, so stop() signals the server and any wrapper
    // (npm) together, as a terminal's Ctrl-C or a container stop does.
    detached: true,
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = "";
  child.stderr?.on("data", (data: Buffer) => {
    stderr += data.toString();
  });
  // "close" waits for the stdio pipes too, which a grandchild (npm start)
  // may hold open after the direct child exited.
  const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      process.kill(-(child.pid as number), "SIGKILL");
      reject(new Error(`server did not start within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    const exitedEarly = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening: ${stderr}`));
    };
    child.once("exit", exitedEarly);
    let pending = "";
    child.stdout?.on("data", (data: Buffer) => {
      pending += data.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (typeof entry.port === "number" && String(entry.msg).includes("listening")) {
          clearTimeout(timer);
          child.off("exit", exitedEarly);
          const pid = child.pid as number;
          resolve({
            child,
            port: entry.port,
            baseUrl: `http://127.0.0.1:${entry.port}`,
            metricsUrl: `http://127.0.0.1:${entry.metricsPort}`,
            logs,
            async peakRssBytes() {
              const status = await readFile(`/proc/${pid}/status`, "utf8");
              const kib = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
              if (!kib) throw new Error("no VmHWM in /proc status");
              return Number(kib) * 1024;
            },
            stop() {
              process.kill(-pid, "SIGTERM");
              return exited;
            },
          });
        }
      }
    });
  });
}
