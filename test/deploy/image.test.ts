import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Format } from "../../gen/export/v1/export_pb.js";
import { loadConfig } from "../../src/config.js";
import { withTimeout } from "../support/async.js";
import { PROJECT_ROOT } from "../support/child-server.js";
import { collectExport, createExportClient } from "../support/connect-client.js";
import { parseCsv } from "../support/csv.js";
import {
  allowedContext,
  type Dockerfile,
  parseDockerfile,
  type ReplayedImage,
  replayDockerfile,
} from "../support/dockerfile.js";
import { failedExport } from "../support/expect-error.js";
import { bytesOf, containerEnv, loadManifests, serverContainer } from "../support/manifests.js";
import { holdExport, sideGet } from "../support/metrics.js";
import { pdffonts } from "../support/pdf.js";
import { eventually } from "../support/server.js";
import { startCommand } from "../support/start-command.js";
import {
  exportMessages,
  generatedBatches,
  generatedColumns,
  TRICKY_ROWS,
} from "../support/tables.js";

/**
 * The container image without a container engine: the Dockerfile replayed
 * in a temp folder (its own COPY list and RUN commands), then its CMD
 * started from the runtime stage's folder as its USER, and its HEALTHCHECK
 * run against it. Catches a runtime import of a dev dependency, a file the
 * image forgot to copy, and a signal that never reaches node.
 */

const execFileAsync = promisify(execFile);
const dockerfileText = readFileSync(join(PROJECT_ROOT, "Dockerfile"), "utf8");
const packageJson = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
};
const defaults = loadConfig([], {});
const deployment = serverContainer(loadManifests());

let dockerfile: Dockerfile;
let root: string;
let image: ReplayedImage;
let uid: number;
let gid: number;
beforeAll(async () => {
  if (process.getuid?.() !== 0) {
    throw new Error("run as root (as .ci/run does): the server is started as the image's USER");
  }
  dockerfile = parseDockerfile(dockerfileText);
  // mkdtemp makes a 0700 folder, which the image's user could not enter.
  root = await mkdtemp(join(tmpdir(), "image-replay-"));
  await chmod(root, 0o755);
  image = await replayDockerfile(dockerfile, root);
  [uid, gid] = (image.user ?? "").split(":").map(Number) as [number, number];
}, 300_000);
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

function version(text: string): number[] {
  return text.split(".").map(Number);
}

function atLeast(actual: number[], minimum: number[]): boolean {
  for (let index = 0; index < minimum.length; index++) {
    const [a, m] = [actual[index] ?? 0, minimum[index] ?? 0];
    if (a !== m) return a > m;
  }
  return true;
}

describe("the Dockerfile", () => {
  it("builds on a pinned slim Node image that meets package.json's engines", () => {
    const images = new Set(dockerfile.stages.map((stage) => stage.image));
    expect(images.size).toBe(1);
    const [base] = images;
    const match = /^node:(\d+\.\d+\.\d+)-bookworm-slim$/.exec(base ?? "");
    expect(match, `${base} is not node:<x.y.z>-bookworm-slim`).not.toBeNull();
    const minimum = /^>=(\S+)$/.exec(packageJson.engines.node)?.[1] as string;
    expect(atLeast(version(match?.[1] as string), version(minimum))).toBe(true);
  });

  it("runs node itself as a non-root user, in production mode, exposing the default ports", () => {
    // `npm start`'s command, run by node itself as PID 1 (see the Dockerfile).
    // npm start's own command, so a flag added to one is added to both.
    const start = startCommand();
    expect(start.env).toEqual({});
    expect(image.cmd).toEqual(["node", ...start.args]);
    expect(image.healthcheck?.command).toEqual(["node", "dist/src/healthcheck.js"]);
    expect(image.env.NODE_ENV).toBe("production");
    expect(image.user).toMatch(/^\d+:\d+$/);
    expect(uid).toBeGreaterThan(0);
    expect(deployment.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(image.expose).toEqual([defaults.port, defaults.metricsPort]);
  });

  it("lets into the build context exactly what it copies, so no node_modules, tests or local files", () => {
    const copied = dockerfile.stages.flatMap((stage) =>
      stage.instructions.flatMap((step) =>
        step.kind === "copy" && step.from === undefined ? step.sources : [],
      ),
    );
    const allowed = allowedContext(readFileSync(join(PROJECT_ROOT, ".dockerignore"), "utf8"));
    expect([...new Set(copied)].sort()).toEqual([...allowed].sort());
    for (const kept of ["node_modules", "dist", "test", ".git", "bench"]) {
      expect(allowed).not.toContain(kept);
    }
  });
});

describe("the image, replayed", () => {
  it("holds production dependencies only, out of reach of the repository's node_modules", async () => {
    const lock = JSON.parse(await readFile(join(image.workdir, "package-lock.json"), "utf8")) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.keys(packageJson.devDependencies).filter(
      (name) => lock.packages[`node_modules/${name}`]?.dev === true,
    );
    expect(devOnly.length).toBeGreaterThan(0);
    for (const name of devOnly) {
      expect(existsSync(join(image.workdir, "node_modules", name)), name).toBe(false);
    }
    expect(existsSync(join(image.workdir, "dist/src/main.js"))).toBe(true);
    expect(existsSync(join(image.workdir, "src"))).toBe(false);
    // Node looks for packages in every parent folder's node_modules.
    for (
      let folder = dirname(image.workdir);
      folder !== dirname(folder);
      folder = dirname(folder)
    ) {
      expect(existsSync(join(folder, "node_modules")), folder).toBe(false);
    }
  });

  it("has a HEALTHCHECK that gives up on a silent server within its --timeout", async () => {
    const silent: Server = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const port = (silent.address() as { port: number }).port;
      const timeoutSeconds = Number(
        /^(\d+)s$/.exec(image.healthcheck?.options.get("timeout") ?? "")?.[1],
      );
      const started = Date.now();
      const result = await healthcheck(port);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe(
        `unhealthy: Health/Check at http://127.0.0.1:${port} failed: ConnectError: [deadline_exceeded] the operation timed out\n`,
      );
      expect(Date.now() - started).toBeLessThan(timeoutSeconds * 1000);
    } finally {
      silent.close();
    }
  });

  it("serves exports as its USER, healthy, then unhealthy once SIGTERM begins the drain, and exits 0", {
    timeout: 240_000,
  }, async () => {
    const marker = join(root, "started");
    await writeFile(marker, "");
    const server = await startRuntime();
    try {
      const status = await readFile(`/proc/${server.child.pid}/status`, "utf8");
      expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(String(uid));

      const healthy = await healthcheck(server.port);
      expect(healthy).toEqual({
        code: 0,
        stdout: `healthy: export.v1.ExportService SERVING at http://127.0.0.1:${server.port}\n`,
      });

      const client = createExportClient(`http://127.0.0.1:${server.port}`, "grpc");
      const csv = await collectExport(client, exportMessages(TRICKY_ROWS));
      expect(parseCsv(csv.data).slice(1)).toEqual(TRICKY_ROWS);
      const pdf = await collectExport(
        client,
        exportMessages(TRICKY_ROWS, { start: { format: Format.PDF } }),
      );
      const pdfPath = join(root, "fonts.pdf");
      await writeFile(pdfPath, pdf.data);
      // The PDF renderer's font ships in the dejavu-fonts-ttf package.
      expect(await pdffonts(pdfPath)).toMatch(/DejaVuSans\b/);

      const peak = await fiveConcurrentExports(client, server.child.pid as number);
      const request = bytesOf(deployment.resources?.requests?.memory);
      console.info(
        `five concurrent exports: VmHWM ${(peak / 2 ** 20).toFixed(0)} MiB, Deployment memory request ${(request / 2 ** 20).toFixed(0)} MiB`,
      );
      expect(peak).toBeLessThan(request);

      const held = holdExport(client);
      await held.started;
      process.kill(server.child.pid as number, "SIGTERM");
      const metricsUrl = `http://127.0.0.1:${server.metricsPort}`;
      await eventually(() => server.logs.some((entry) => entry.msg === "shutting down"));
      expect((await sideGet(metricsUrl, "/readyz")).status).toBe(503);
      const draining = await healthcheck(server.port);
      expect(draining).toEqual({
        code: 1,
        stdout: `unhealthy: export.v1.ExportService NOT_SERVING at http://127.0.0.1:${server.port}\n`,
      });
      expect((await failedExport(client, exportMessages([["1", "a", "2", "b"]]))).error.code).toBe(
        Code.Unavailable,
      );
      expect(server.child.exitCode).toBeNull();

      expect((await held.finish()).rows).toBe(BigInt(TRICKY_ROWS.length));
      expect(await withTimeout(server.exited, 10_000, "the server did not exit")).toBe(0);
      expect(server.logs.at(-1)?.msg).toBe("stopped");
    } finally {
      if (server.child.exitCode === null) server.child.kill("SIGKILL");
    }
    // A read-only root filesystem refuses any write: the server made none
    // where its user could have written. Other test files create and remove
    // their own temporary folders meanwhile; one gone mid-walk is no error.
    const { stdout } = await execFileAsync("find", [
      "/tmp",
      "/var/tmp",
      "/dev/shm",
      "-ignore_readdir_race",
      "-xdev",
      "-uid",
      String(uid),
      "-newer",
      marker,
    ]);
    expect(stdout).toBe("");
  });
});

interface Runtime {
  readonly child: ChildProcess;
  readonly port: number;
  readonly metricsPort: number;
  readonly logs: Record<string, unknown>[];
  readonly exited: Promise<number | null>;
}

/** The environment of the container: the image's ENV, then the Deployment's. */
function containerEnvironment(extra: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    ...image.env,
    ...containerEnv(deployment),
    ...extra,
  };
}

/** Starts the image's CMD in its WORKDIR as its USER, loopback only, on free ports. */
function startRuntime(): Promise<Runtime> {
  const [command, ...args] = image.cmd as [string, ...string[]];
  const child = spawn(command, args, {
    cwd: image.workdir,
    env: containerEnvironment({ HOST: "127.0.0.1", PORT: "0", METRICS_PORT: "0" }),
    uid,
    gid,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = "";
  child.stderr?.on("data", (data: Buffer) => {
    stderr += data.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
  let pending = "";
  return withTimeout(
    new Promise<Runtime>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`exited with ${code}: ${stderr}`)));
      child.stdout?.on("data", (data: Buffer) => {
        pending += data.toString();
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (typeof entry.port === "number" && typeof entry.metricsPort === "number") {
            resolve({ child, port: entry.port, metricsPort: entry.metricsPort, logs, exited });
          }
        }
      });
    }),
    30_000,
    "the image's CMD did not start listening",
  );
}

/** Runs the image's HEALTHCHECK command as the container would, against `port`. */
function healthcheck(port: number): Promise<{ code: number | null; stdout: string }> {
  if (!image.healthcheck) throw new Error("the Dockerfile has no HEALTHCHECK");
  const [command, ...args] = image.healthcheck.command as [string, ...string[]];
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        cwd: image.workdir,
        env: containerEnvironment({ HOST: "127.0.0.1", PORT: String(port) }),
        uid,
        gid,
        timeout: 30_000,
      },
      (error, stdout) => {
        if (error && typeof error.code !== "number") reject(error);
        else resolve({ code: error ? (error.code as number) : 0, stdout });
      },
    );
  });
}

/**
 * MAX_CONCURRENT_EXPORTS exports at once, CSV then PDF, checked byte for
 * byte against their summaries; the server's peak resident memory after.
 */
async function fiveConcurrentExports(
  client: ReturnType<typeof createExportClient>,
  pid: number,
): Promise<number> {
  for (const [format, rows] of [
    [Format.CSV, 200_000],
    [Format.PDF, 20_000],
  ] as const) {
    const results = await Promise.all(
      Array.from({ length: defaults.maxConcurrentExports }, () =>
        collectExport(
          client,
          (function* () {
            yield {
              kind: { case: "start", value: { format, columns: generatedColumns(8) } },
            } as const;
            yield* generatedBatches(rows, 8);
          })(),
        ),
      ),
    );
    for (const result of results) {
      expect(result.summary.rows).toBe(BigInt(rows));
      expect(createHash("sha256").update(result.data).digest("hex")).toBe(result.summary.sha256);
    }
  }
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
}
