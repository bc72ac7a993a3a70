import { createServer as createHttpServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import type { ExportStatusReport } from "./export-status.js";

export interface SideServerOptions {
  /** Address to bind, like the gRPC port's. */
  readonly host: string;
  /** Port to bind; 0 picks a free one (see `SideServer.listen`). Default in config: 9464. */
  readonly port: number;
  /** Served at `GET /metrics` in the Prometheus text format. */
  readonly registry: Registry;
  /** `GET /readyz` answers 200 while this holds and 503 otherwise. */
  readonly ready: () => boolean;
  /** Served at `GET /export/status` as JSON: what is running now. */
  readonly status: () => ExportStatusReport;
}

export interface SideServer {
  /** Starts listening; resolves with the bound address. */
  listen(): Promise<AddressInfo>;
  /** Stops listening and closes every connection, scrapes in progress included. */
  close(): Promise<void>;
}

function send(response: ServerResponse, status: number, body: string, contentType?: string) {
  response.writeHead(status, {
    "content-type": contentType ?? "text/plain; charset=utf-8",
    "cache-control": "no-store",
  });
  response.end(body);
}

/**
 * The operations port (plain HTTP/1.1, apart from the gRPC port so scrapes
 * and probes never compete with exports):
 * - `GET /metrics`: the server's prom-client registry;
 * - `GET /healthz`: 200 while the process is up (liveness);
 * - `GET /readyz`: 200 while the server takes exports, 503 once shutdown
 *   has begun (readiness);
 * - `GET /export/status`: the running exports, as JSON.
 */
/** Resolves origin-form targets (`/readyz`); absolute ones name their own. */
const SIDE_PORT_BASE = "http://side-port";

export function createSideServer(options: SideServerOptions): SideServer {
  const server = createHttpServer((request, response) => {
    // The absolute form (`GET http://host/readyz`), which HTTP/1.1 servers
    // must take (RFC 9112 §3.2.2), names the same path.
    const target = request.url ?? "/";
    if (!URL.canParse(target, SIDE_PORT_BASE)) {
      send(response, 400, "bad request target\n");
      return;
    }
    const path = new URL(target, SIDE_PORT_BASE).pathname;
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.setHeader("allow", "GET, HEAD");
      send(response, 405, "method not allowed: use GET\n");
      return;
    }
    switch (path) {
      case "/metrics":
        options.registry.metrics().then(
          (text) => send(response, 200, text, options.registry.contentType),
          (error: unknown) => send(response, 500, `metrics collection failed: ${String(error)}\n`),
        );
        return;
      case "/healthz":
        send(response, 200, "ok\n");
        return;
      case "/export/status":
        send(
          response,
          200,
          `${JSON.stringify(options.status())}\n`,
          "application/json; charset=utf-8",
        );
        return;
      case "/readyz":
        if (options.ready()) send(response, 200, "ready\n");
        else send(response, 503, "not ready: the server is shutting down\n");
        return;
      default:
        send(response, 404, "not found; try /metrics, /healthz or /readyz\n");
    }
  });

  return {
    listen() {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(options.port, options.host, () => {
          server.off("error", reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    close() {
      if (!server.listening) return Promise.resolve();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      return closed;
    },
  };
}
