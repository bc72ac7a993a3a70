import { readFile } from "node:fs/promises";
import type { ParseArgsConfig } from "node:util";
import {
  createExportClient,
  type ExportClient,
  type ExportClientOptions,
  type ExportProtocol,
} from "../client/index.js";
import { CliError, UsageError } from "./report.js";

export const DEFAULT_SERVER = "http://localhost:50051";
const PROTOCOLS: readonly ExportProtocol[] = ["grpc", "connect", "grpc-web"];

/** Flags every command that calls the server takes. */
export const CONNECTION_FLAGS = {
  server: { type: "string" },
  protocol: { type: "string" },
  ca: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
} as const satisfies ParseArgsConfig["options"];

export const CONNECTION_USAGE = `connection:
  --server URL        the gRPC port (default $EXPORT_SERVER or ${DEFAULT_SERVER});
                      https:// for TLS
  --protocol P        grpc (default), connect or grpc-web
  --ca FILE           PEM CA certificates to trust for an https:// server
  --cert FILE --key FILE
                      PEM client certificate and key, for mutual TLS
  $EXPORT_TOKEN       sent as "authorization: Bearer <token>" (an environment
                      variable, so that it shows in no process list)`;

export interface ConnectionValues {
  readonly server?: string | undefined;
  readonly protocol?: string | undefined;
  readonly ca?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
}

export function serverUrl(values: ConnectionValues): string {
  const server = values.server ?? process.env.EXPORT_SERVER ?? DEFAULT_SERVER;
  if (!URL.canParse(server) || !/^https?:$/.test(new URL(server).protocol)) {
    const from = values.server === undefined ? "$EXPORT_SERVER" : "--server";
    throw new UsageError(`${from} must be an http:// or https:// URL, got ${server}`);
  }
  return server;
}

/** A file the flags name; one that cannot be read is a failure (exit 1), the flags being right. */
async function pem(path: string | undefined, flag: string): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  return readFile(path).catch((error: Error) => {
    throw new CliError(`--${flag} ${path}: ${error.message}`);
  });
}

/** A client from the connection flags and $EXPORT_TOKEN. */
export async function connect(
  values: ConnectionValues,
  extra: Partial<ExportClientOptions> = {},
): Promise<{ client: ExportClient; server: string }> {
  const server = serverUrl(values);
  const protocol = values.protocol ?? "grpc";
  if (!PROTOCOLS.includes(protocol as ExportProtocol)) {
    throw new UsageError(`--protocol must be one of ${PROTOCOLS.join(", ")}, got ${protocol}`);
  }
  if ((values.cert === undefined) !== (values.key === undefined)) {
    throw new UsageError("--cert and --key go together");
  }
  const [ca, cert, key] = await Promise.all([
    pem(values.ca, "ca"),
    pem(values.cert, "cert"),
    pem(values.key, "key"),
  ]);
  const tls = new URL(server).protocol === "https:" ? { ca, cert, key } : undefined;
  if (!tls && (ca || cert))
    throw new UsageError("--ca, --cert and --key need an https:// --server");
  const token = process.env.EXPORT_TOKEN;
  const client = createExportClient({
    ...extra,
    baseUrl: server,
    protocol: protocol as ExportProtocol,
    ...(token ? { token } : {}),
    ...(tls ? { tls } : {}),
  });
  return { client, server };
}
