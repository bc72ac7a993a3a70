import { createServer, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import {
  connectNodeAdapter,
  createGrpcTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { ExportResponseSchema, ExportService } from "../../gen/export/v1/export_pb.js";

/** What the proxy does to the answer on its way to the client ("none": a faithful relay). */
export type Tamper = "none" | "flip-byte" | "drop-second-chunk" | "drop-summary";

export interface TamperProxy {
  readonly baseUrl: string;
  close(): Promise<void>;
}

/**
 * An ExportService that relays every call to the real server and alters
 * the answer on the way back, as a faulty proxy or disk would: the client
 * must notice from the summary, which the proxy passes on untouched.
 */
export async function startTamperProxy(upstream: string, tamper: Tamper): Promise<TamperProxy> {
  // Its own connection upstream, closed with the proxy: a relay left open
  // would hold an export, and its slot, on the real server.
  const upstreamSessions = new Http2SessionManager(upstream);
  const real = createClient(
    ExportService,
    createGrpcTransport({ baseUrl: upstream, sessionManager: upstreamSessions }),
  );
  const handler = connectNodeAdapter({
    routes: (router) =>
      router.service(ExportService, {
        async *export(requests, context) {
          let chunks = 0;
          for await (const response of real.export(requests, { signal: context.signal })) {
            if (response.kind.case === "chunk") {
              chunks++;
              const { data, offset } = response.kind.value;
              if (tamper === "drop-second-chunk" && chunks === 2) continue;
              if (tamper === "flip-byte" && chunks === 1) {
                const altered = Uint8Array.from(data);
                const middle = altered.length >> 1;
                altered[middle] = (altered[middle] as number) ^ 0x01;
                yield create(ExportResponseSchema, {
                  kind: { case: "chunk", value: { data: altered, offset } },
                });
                continue;
              }
            }
            if (response.kind.case === "summary" && tamper === "drop-summary") continue;
            yield response;
          }
        },
      }),
  });
  const server = createServer(handler);
  const sessions = new Set<ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      upstreamSessions.abort();
      return closed;
    },
  };
}
