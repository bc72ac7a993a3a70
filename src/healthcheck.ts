/**
 * The container's HEALTHCHECK, an entry point like main.ts: asks this
 * server's `grpc.health.v1.Health` whether `export.v1.ExportService` is
 * SERVING and exits 0 if it is, 1 if not (NOT_SERVING once shutdown begins,
 * an error, or no answer). It reads the same settings as the server
 * (environment, then flags), so it finds the port the server listens on
 * without being told twice.
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ExportService } from "../gen/export/v1/export_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { ConfigError, loadConfig } from "./config.js";

/**
 * Under the Dockerfile's HEALTHCHECK --timeout (5 s), so that a server that
 * does not answer is reported as such rather than the check being killed.
 */
const TIMEOUT_MS = 3_000;

/** Where to reach a server bound to `host`: a wildcard address is reached on loopback. */
function healthcheckUrl(host: string, port: number): string {
  if (host === "0.0.0.0") return `http://127.0.0.1:${port}`;
  if (host === "::") return `http://[::1]:${port}`;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

async function check(): Promise<number> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`unhealthy: ${error.message}\n`);
    return 1;
  }
  const baseUrl = healthcheckUrl(config.host, config.port);
  const client = createClient(Health, createGrpcTransport({ baseUrl }));
  try {
    const { status } = await client.check(
      { service: ExportService.typeName },
      { timeoutMs: TIMEOUT_MS },
    );
    const name = HealthCheckResponse_ServingStatus[status] ?? String(status);
    if (status === HealthCheckResponse_ServingStatus.SERVING) {
      process.stdout.write(`healthy: ${ExportService.typeName} ${name} at ${baseUrl}\n`);
      return 0;
    }
    process.stdout.write(`unhealthy: ${ExportService.typeName} ${name} at ${baseUrl}\n`);
    return 1;
  } catch (error) {
    process.stdout.write(`unhealthy: Health/Check at ${baseUrl} failed: ${String(error)}\n`);
    return 1;
  }
}

// Exits at once: the transport's idle HTTP/2 session would otherwise keep
// the process alive long after the answer.
process.exit(await check());
