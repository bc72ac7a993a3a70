import { TokenListError } from "./auth/tokens.js";
import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./ops/logging.js";
import { youngCollector } from "./ops/young-collections.js";
import { createServer } from "./server.js";

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`export-at-scale: ${error.message}\n`);
  process.exit(2);
}

const logger = createLogger(config.logLevel);
// The start command runs node with --expose-gc for this.
const collectYoung = youngCollector();
let server: ReturnType<typeof createServer>;
try {
  server = createServer(config, { logger, collectYoung });
} catch (error) {
  // Everything createServer reads comes from the settings: tokens, TLS
  // files, fonts. A file that is there but not what it should be is a
  // setting to fix, said as plainly as a bad value.
  const message = error instanceof Error ? error.message : String(error);
  const reason = error instanceof TokenListError ? message : `cannot start: ${message}`;
  process.stderr.write(`export-at-scale: ${reason}\n`);
  process.exit(2);
}
// Signal handlers go in before anything announces the server: a signal
// that arrives before its handler exists takes its default action, and for
// SIGHUP that is to end the process.
process.on("SIGHUP", () => server.reloadTokens());

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal, running: server.runningExports() }, "shutting down");
    server.close().then(
      () => {
        logger.info("stopped");
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  });
}

const address = await server.listen().catch((error: unknown) => {
  process.stderr.write(
    `export-at-scale: cannot listen on ${config.host} port ${config.port} (metrics ${config.metricsPort}): ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
logger.info(
  {
    host: address.address,
    port: address.port,
    metricsPort: server.metricsPort(),
    maxConcurrentExports: config.maxConcurrentExports,
    tls: config.tlsCertFile === undefined ? "off" : config.tlsClientCaFile ? "mutual" : "on",
    authentication: config.authTokensFile !== undefined || config.authTokens !== undefined,
    youngCollections: collectYoung ? "every MiB sent" : "as V8 paces them (no --expose-gc)",
  },
  `export service listening (gRPC, gRPC-Web and Connect over ${config.tlsCertFile ? "TLS" : "h2c"})`,
);
