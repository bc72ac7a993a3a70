import type { Http2ServerRequest } from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, type ConnectRouter, createContextValues } from "@connectrpc/connect";
import { compressionGzip, connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { ExportService } from "../gen/export/v1/export_pb.js";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
import { createTokenStore } from "./auth/tokens.js";
import type { Config } from "./config.js";
import { createAdmission } from "./export/admission.js";
import type { ExportObserver } from "./export/observer.js";
import { createExportStatus } from "./ops/export-status.js";
import { createHealth, HealthService } from "./ops/health.js";
import { createLoggingObserver } from "./ops/logging.js";
import { createExportMetrics } from "./ops/metrics.js";
import { REFLECTION_SERVICES, registerReflection } from "./ops/reflection.js";
import { createSideServer } from "./ops/side-server.js";
import { type CollectYoung, createYoungCollections } from "./ops/young-collections.js";
import { createCsvRenderer } from "./render/csv.js";
import { createPdfRenderer } from "./render/pdf/index.js";
import { createRenderPool } from "./render/threads/pool.js";
import { createXlsxRenderer } from "./render/xlsx/renderer.js";
import { createAuthInterceptor } from "./transport/auth.js";
import {
  abandonKey,
  clientGoneKey,
  closedCleanlyKey,
  peerKey,
  refusalKey,
  userKey,
} from "./transport/context.js";
import { dropUnreachableDeadline } from "./transport/deadline.js";
import {
  abandonStream,
  clientResetStream,
  stopUnreadRequestAfterAnswer,
  streamClosedCleanly,
} from "./transport/http2-stream.js";
import { createListener } from "./transport/listener.js";
import { createRoutes, createWireRoutes, isBinaryExport } from "./transport/routes.js";

export interface ServerDeps {
  readonly logger: Logger;
  /** Run after every MiB the exports send (see young-collections.ts); none by default. */
  readonly collectYoung?: CollectYoung | undefined;
}

/**
 * After the grace period, how long exports' last answers (UNAVAILABLE) have
 * to leave before their connections are cut.
 */
const ANSWERS_LEAVE_MS = 1_000;

/** The services AUTH_OPEN_SERVICES can leave open, by their setting's name. */
const OPENABLE_SERVICES = {
  health: [HealthService.typeName],
  reflection: REFLECTION_SERVICES,
} as const;

export interface ExportServer {
  /** Starts listening; resolves with the bound address (port 0 picks one). */
  listen(): Promise<AddressInfo>;
  /** Exports holding a slot now. */
  runningExports(): number;
  /** The bound port of the side HTTP server (/metrics, /healthz, /readyz), once listening. */
  metricsPort(): number;
  /** Re-reads AUTH_TOKENS_FILE (SIGHUP). */
  reloadTokens(): void;
  /**
   * Stops taking exports, lets running ones finish for up to
   * `shutdownGraceMs`, then cancels the rest and closes every connection.
   */
  close(): Promise<void>;
}

function fanOut(observers: readonly ExportObserver[]): ExportObserver {
  return {
    started: (event) => {
      for (const observer of observers) observer.started(event);
    },
    progress: (event) => {
      for (const observer of observers) observer.progress(event);
    },
    finished: (event) => {
      for (const observer of observers) observer.finished(event);
    },
    refused: (event) => {
      for (const observer of observers) observer.refused(event);
    },
  };
}

/** Wires the services onto an HTTP/2 server (h2c, or TLS); nothing listens yet. */
export function createServer(config: Config, deps: ServerDeps): ExportServer {
  const admission = createAdmission({
    limit: config.maxConcurrentExports,
    perUserLimit: config.maxConcurrentExportsPerUser,
    retryAfterMs: config.retryAfterMs,
  });
  const shutdown = new AbortController();
  const metrics = createExportMetrics({
    slotsLimit: config.maxConcurrentExports,
    maxUserLabels: config.metricsMaxUsers,
    running: () => admission.inUse(),
  });
  const health = createHealth({ services: [ExportService.typeName] });
  let closing = false;
  const exportStatus = createExportStatus({
    slotsLimit: config.maxConcurrentExports,
    slotsInUse: () => admission.inUse(),
    draining: () => closing,
  });
  const side = createSideServer({
    host: config.host,
    port: config.metricsPort,
    registry: metrics.registry,
    ready: () => !closing,
    status: exportStatus.report,
  });
  let sidePort: number | undefined;
  const observer = fanOut([
    createLoggingObserver(deps.logger),
    metrics,
    exportStatus,
    ...(deps.collectYoung ? [createYoungCollections(deps.collectYoung)] : []),
  ]);
  const tokens = createTokenStore({
    file: config.authTokensFile,
    inline: config.authTokens,
    onReloaded: (count) =>
      count === 0
        ? deps.logger.warn(
            { tokens: 0 },
            "authentication tokens reloaded: none, every export is refused",
          )
        : deps.logger.info({ tokens: count }, "authentication tokens reloaded"),
    onReloadError: (error) =>
      deps.logger.error(
        { reason: error.message },
        "authentication tokens not reloaded; the previous ones stay in force",
      ),
  });
  const auth = createAuthInterceptor({
    tokens,
    openServices: new Set(config.authOpenServices.flatMap((name) => OPENABLE_SERVICES[name])),
    refused: (service, peer, error) => {
      if (service !== ExportService.typeName) return;
      observer.refused({
        outcome: "unauthenticated",
        format: undefined,
        peer,
        user: undefined,
        error,
      });
    },
  });
  const pdfOptions = {
    fontPath: config.pdfFontPath,
    boldFontPath: config.pdfBoldFontPath,
    fallbackFontPaths: config.pdfFallbackFonts,
  };
  const pdf = createPdfRenderer(pdfOptions);
  const renderPool =
    config.renderThreads > 0 ? createRenderPool(config.renderThreads, pdfOptions) : undefined;
  const exportDeps = {
    options: config,
    admission,
    renderers: {
      csv: createCsvRenderer(),
      pdf: renderPool ? renderPool.pdfRenderer(pdf) : pdf,
      xlsx: createXlsxRenderer(),
    },
    observer,
  };
  const exportRoutes = createRoutes(exportDeps);
  const routes = (router: ConnectRouter) => {
    exportRoutes(router);
    health.register(router);
    registerReflection(router, { extraFiles: [file_google_rpc_error_details] });
  };
  const adapter = (routes: (router: ConnectRouter) => void) =>
    connectNodeAdapter({
      routes,
      interceptors: [auth],
      // Compressing 64 KiB chunks halves loopback throughput; off unless asked.
      acceptCompression: config.compression === "gzip" ? [compressionGzip] : [],
      readMaxBytes: config.maxMessageBytes,
      // Unknown fields would be kept on every decoded row only to be dropped.
      binaryOptions: { readUnknownFields: false },
      shutdownSignal: shutdown.signal,
      contextValues: (request) =>
        createContextValues()
          .set(
            peerKey,
            `${request.socket.remoteAddress ?? "unknown"}:${request.socket.remotePort ?? 0}`,
          )
          .set(userKey, listener.certificateUser(request as Http2ServerRequest))
          .set(refusalKey, listener.refusal(request as Http2ServerRequest, tokens.enabled))
          .set(clientGoneKey, () => clientResetStream(request as Http2ServerRequest))
          .set(closedCleanlyKey, () => streamClosedCleanly(request as Http2ServerRequest))
          .set(abandonKey, () => abandonStream(request as Http2ServerRequest)),
    });
  const handler = adapter(routes);
  const binaryExportHandler = adapter(createWireRoutes(exportDeps));
  // connect-node makes a Fetch API Headers for every call, and Node loads
  // those classes (its bundled undici) when one is first made: about 10 ms
  // of the first export's first chunk, spent here instead.
  new Headers();
  const listener = createListener(config, (request, response) => {
    dropUnreachableDeadline(request.headers);
    stopUnreadRequestAfterAnswer(request, response);
    (isBinaryExport(request) ? binaryExportHandler : handler)(request, response);
  });
  const { server, sessions } = listener;

  return {
    listen() {
      return new Promise<AddressInfo>((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.port, config.host, () => {
          server.off("error", reject);
          resolve(server.address() as AddressInfo);
        });
      }).then(async (address) => {
        try {
          sidePort = (await side.listen()).port;
        } catch (error) {
          server.close();
          throw error;
        }
        return address;
      });
    },
    runningExports: () => admission.inUse(),
    reloadTokens: () => tokens.reload(),
    metricsPort() {
      if (sidePort === undefined) throw new Error("the side port is known once listen() resolved");
      return sidePort;
    },
    async close() {
      const graceEnds = Date.now() + config.shutdownGraceMs;
      // Probes see the shutdown at once: /readyz 503, health NOT_SERVING.
      closing = true;
      health.shutdown();
      const drained = admission.close();
      let graceTimer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => {
        graceTimer = setTimeout(resolve, config.shutdownGraceMs);
      });
      await Promise.race([drained, graceOver]);
      clearTimeout(graceTimer);
      shutdown.abort(new ConnectError("the server is shutting down", Code.Unavailable));
      await drained;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      // Sessions close once their streams have. A peer that keeps a stream
      // open (one that reads nothing holds its export's last answer) is cut
      // off when the grace period ends, or a moment after it for the
      // answers just sent: the whole shutdown stays within the grace period
      // and that moment, as the Deployment's termination period counts it.
      const cutOff = setTimeout(
        () => {
          for (const session of sessions) session.destroy();
        },
        Math.max(graceEnds - Date.now(), ANSWERS_LEAVE_MS),
      );
      await closed;
      clearTimeout(cutOff);
      tokens.close();
      await renderPool?.close();
      await side.close();
    },
  };
}
