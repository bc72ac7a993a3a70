import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import {
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
  Health as HealthService,
} from "../../gen/grpc/health/v1/health_pb.js";
import { quoteCut } from "../transport/quote.js";

export { HealthService };

export interface HealthOptions {
  /**
   * Fully qualified names of the services to report, each SERVING at first.
   * The server as a whole, `""`, is always reported as well.
   */
  readonly services: readonly string[];
}

export interface Health {
  /** Marks every service NOT_SERVING: shutdown has begun. */
  shutdown(): void;
  /** Registers `grpc.health.v1.Health` (Check and Watch) on the router. */
  register(router: ConnectRouter): void;
}

/** Service names this long are no service's: the rest is not echoed, so the status stays small enough for every client. */
const SHOWN_NAME_CHARS = 100;

function response(status: HealthCheckResponse_ServingStatus): HealthCheckResponse {
  return create(HealthCheckResponseSchema, { status });
}

/**
 * gRPC's standard health service, per grpc/grpc doc/health-checking.md:
 * Check answers NOT_FOUND for a service it does not know; Watch sends the
 * current status at once (SERVICE_UNKNOWN for an unknown service, without
 * ending the stream) and then every change, until the client cancels or the
 * server aborts the call at the end of its shutdown (UNAVAILABLE). Neither
 * takes an export slot.
 */
export function createHealth(options: HealthOptions): Health {
  const statuses = new Map<string, HealthCheckResponse_ServingStatus>();
  for (const service of ["", ...options.services]) {
    statuses.set(service, HealthCheckResponse_ServingStatus.SERVING);
  }
  // Bumped on every change; a watcher compares it with the version it read,
  // so a change made while it was blocked on a slow client is not missed.
  let version = 0;
  const wakers = new Set<() => void>();

  function changedSince(seen: number, signal: AbortSignal): Promise<void> {
    if (version !== seen || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        wakers.delete(wake);
        signal.removeEventListener("abort", wake);
        resolve();
      };
      wakers.add(wake);
      signal.addEventListener("abort", wake, { once: true });
    });
  }

  function setStatus(service: string, status: HealthCheckResponse_ServingStatus) {
    if (statuses.get(service) === status) return;
    statuses.set(service, status);
    version++;
    for (const wake of [...wakers]) wake();
  }

  return {
    shutdown() {
      for (const service of statuses.keys()) {
        setStatus(service, HealthCheckResponse_ServingStatus.NOT_SERVING);
      }
    },
    register(router) {
      router.service(HealthService, {
        check(request) {
          const status = statuses.get(request.service);
          if (status === undefined) {
            throw new ConnectError(
              `unknown service ${quoteCut(request.service, SHOWN_NAME_CHARS)}; ask for "" (the whole server) or one of: ${[...statuses.keys()].filter(Boolean).join(", ")}`,
              Code.NotFound,
            );
          }
          return response(status);
        },
        async *watch(request, context) {
          let sent: HealthCheckResponse_ServingStatus | undefined;
          while (!context.signal.aborted) {
            const seen = version;
            const status =
              statuses.get(request.service) ?? HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN;
            if (status !== sent) {
              sent = status;
              yield response(status);
            }
            await changedSince(seen, context.signal);
          }
          // Client cancel, or the server's shutdown abort: end with its status
          // (UNAVAILABLE on shutdown), so the client retries elsewhere.
          throw ConnectError.from(context.signal.reason);
        },
      });
    },
  };
}
