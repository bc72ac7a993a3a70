import { pino } from "pino";
import { type Config, loadConfig } from "../../src/config.js";
import { createServer, type ExportServer } from "../../src/server.js";
import type { TestCertificates } from "./certs.js";

export interface RunningServer {
  readonly server: ExportServer;
  readonly config: Config;
  readonly port: number;
  readonly baseUrl: string;
  /** The side port's bound port and base URL: /metrics, /healthz, /readyz. */
  readonly metricsPort: number;
  readonly metricsUrl: string;
  /** Closes the server, failing if a test left an export running. */
  close(): Promise<void>;
}

/** The real server on 127.0.0.1, port 0, logging nothing unless asked. */
export async function startServer(
  overrides: Partial<Config> = {},
  /** Collects the server's log lines (at info) when given. */
  logLines?: string[],
): Promise<RunningServer> {
  const config: Config = {
    ...loadConfig([], {}),
    host: "127.0.0.1",
    port: 0,
    metricsPort: 0,
    logLevel: "silent",
    shutdownGraceMs: 2_000,
    ...overrides,
  };
  const logger = logLines
    ? pino({ level: "info" }, { write: (line: string) => logLines.push(line) })
    : pino({ level: config.logLevel });
  const server = createServer(config, { logger });
  const { port } = await server.listen();
  const metricsPort = server.metricsPort();
  return {
    server,
    config,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    metricsPort,
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    async close() {
      const leaked = await eventually(() => server.runningExports() === 0, 2_000).then(
        () => 0,
        () => server.runningExports(),
      );
      await server.close();
      if (leaked > 0) throw new Error(`${leaked} export(s) still running at teardown`);
    },
  };
}

/**
 * The server with the test certificate for TLS, and with the test CA for
 * client certificates when `mutual`; with its https base URL.
 */
export async function startTlsServer(
  certs: TestCertificates,
  mutual: boolean,
): Promise<[RunningServer, string]> {
  const running = await startServer({
    tlsCertFile: certs.server.certFile,
    tlsKeyFile: certs.server.keyFile,
    tlsClientCaFile: mutual ? certs.caFile : undefined,
  });
  return [running, `https://127.0.0.1:${running.port}`];
}

/** Polls until `check` holds, failing after `timeoutMs`. */
export async function eventually(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
