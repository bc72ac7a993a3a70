import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "./child-server.js";

/** The balancer configuration users start from, as committed. */
export const NGINX_SITE = join(PROJECT_ROOT, "deploy/nginx/export-grpc.conf");

export interface RunningNginx {
  readonly port: number;
  readonly baseUrl: string;
  /** The error log so far. */
  errorLog(): Promise<string>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Resolves once `port` accepts a connection; fails if `exited` says so first. */
async function waitForListening(port: number, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (accepted) return;
    if (exited() || Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Debian's nginx in front of `upstreamPorts`, with deploy/nginx's site
 * file as committed but for its addresses: loopback only, its own prefix,
 * pid and logs in a temp folder, in the foreground so it dies with the test.
 */
export async function startNginx(upstreamPorts: readonly number[]): Promise<RunningNginx> {
  const prefix = await mkdtemp(join(tmpdir(), "nginx-"));
  await mkdir(join(prefix, "logs"));
  const port = await freePort();
  const site = (await readFile(NGINX_SITE, "utf8"))
    .replace(/^(\s*)server 127\.0\.0\.1:50051 (.*)$/m, (_, indent: string, params: string) =>
      upstreamPorts.map((upstream) => `${indent}server 127.0.0.1:${upstream} ${params}`).join("\n"),
    )
    .replace(/listen 8080 /, `listen 127.0.0.1:${port} `);
  await writeFile(join(prefix, "export-grpc.conf"), site);
  await writeFile(
    join(prefix, "nginx.conf"),
    `worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log info;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path ${prefix}/body;
    proxy_temp_path ${prefix}/proxy;
    fastcgi_temp_path ${prefix}/fastcgi;
    uwsgi_temp_path ${prefix}/uwsgi;
    scgi_temp_path ${prefix}/scgi;
    include ${prefix}/export-grpc.conf;
}
`,
  );
  const child: ChildProcess = spawn(
    "nginx",
    ["-p", prefix, "-c", join(prefix, "nginx.conf"), "-g", "daemon off;"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (data: Buffer) => {
    stderr += data.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const errorLog = () => readFile(join(prefix, "logs/error.log"), "utf8").catch(() => "");
  try {
    await waitForListening(port, () => child.exitCode !== null);
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`nginx did not start: ${stderr} ${await errorLog()} (${error})`);
  }
  return {
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    errorLog,
    async stop() {
      child.kill("SIGQUIT");
      await exited;
    },
  };
}
