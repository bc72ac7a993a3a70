import { accessSync, constants, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { z } from "zod";

/** Every setting of the server; see the configuration table in README.md. */
export interface Config {
  readonly host: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly maxConcurrentExports: number;
  readonly retryAfterMs: number;
  readonly chunkBytes: number;
  readonly flushIdleMs: number;
  readonly idleTimeoutMs: number;
  readonly maxMessageBytes: number;
  readonly maxColumns: number;
  readonly maxCellChars: number;
  readonly compression: "none" | "gzip";
  readonly shutdownGraceMs: number;
  /** A TrueType/OpenType font for PDF text instead of DejaVu Sans (e.g. for CJK). */
  readonly pdfFontPath: string | undefined;
  /** Its bold face; the regular face when only PDF_FONT_PATH is set. */
  readonly pdfBoldFontPath: string | undefined;
  /** Fonts tried after that one and before the bundled fallbacks (CJK, Arabic, Hebrew, emoji). */
  readonly pdfFallbackFonts: readonly string[];
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** Bearer tokens, one `user:token` or `user:sha256:<hex>` a line; reloaded on SIGHUP or change. */
  readonly authTokensFile: string | undefined;
  /** The same entries, comma-separated, for environments without a file. */
  readonly authTokens: string | undefined;
  /** gRPC services callable without a token when authentication is on. */
  readonly authOpenServices: readonly ("health" | "reflection")[];
  /** Exports one user may run at once; 0 for no per-user limit. */
  readonly maxConcurrentExportsPerUser: number;
  /** Distinct `user` label values in metrics; later users share the label `other`. */
  readonly metricsMaxUsers: number;
  /** PEM certificate chain and key: serve TLS instead of h2c. */
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
  /** PEM CA bundle: require client certificates signed by it (mutual TLS). */
  readonly tlsClientCaFile: string | undefined;
  /** Longest an export may run, start to summary. */
  readonly maxExportDurationMs: number;
  /** Most rows one export may carry. */
  readonly maxExportRows: number;
  /** Largest file one export may produce, in bytes. */
  readonly maxExportBytes: number;
  /** Concurrent streams one HTTP/2 connection may hold (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxStreamsPerConnection: number;
  /** Client connections the server holds at once. */
  readonly maxConnections: number;
  /** How often the server pings each connection; 0 turns pings off. */
  readonly keepaliveIntervalMs: number;
  /** A connection whose ping goes unanswered this long is closed. */
  readonly keepaliveTimeoutMs: number;
  /** Threads that render PDF exports; 0 renders them on the main thread. */
  readonly renderThreads: number;
}

interface Setting {
  readonly env: string;
  readonly fallback: string;
  /** What a valid value looks like, for the error message. */
  readonly expected: string;
  readonly schema: z.ZodType;
}

function integer(min: number, max: number): Pick<Setting, "expected" | "schema"> {
  return {
    expected: `an integer from ${min} to ${max}`,
    schema: z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(min).max(max)),
  };
}

/** 0 (off), or an integer from `min` to `max`. */
function offOrInteger(min: number, max: number): Pick<Setting, "expected" | "schema"> {
  const { schema } = integer(min, max);
  return {
    expected: `0 (off) or an integer from ${min} to ${max}`,
    schema: z.union([z.literal("0").transform(() => 0), schema]),
  };
}

function optionalFile(): Pick<Setting, "expected" | "schema"> {
  return {
    expected: "empty, or the path of a readable .ttf or .otf file",
    schema: z
      .string()
      .refine((path) => path === "" || (/\.(ttf|otf)$/i.test(path) && isReadableFile(path)))
      .transform((path) => (path === "" ? undefined : path)),
  };
}

function fontFiles(): Pick<Setting, "expected" | "schema"> {
  return {
    expected: "a comma-separated list of readable .ttf or .otf files, or empty",
    schema: z
      .string()
      .transform((list) =>
        list
          .split(",")
          .map((path) => path.trim())
          .filter((path) => path !== ""),
      )
      .pipe(
        z.array(z.string().refine((path) => /\.(ttf|otf)$/i.test(path) && isReadableFile(path))),
      ),
  };
}

function optionalReadableFile(what: string): Pick<Setting, "expected" | "schema"> {
  return {
    expected: `empty, or the path of a readable ${what}`,
    schema: z
      .string()
      .refine((path) => path === "" || isReadableFile(path))
      .transform((path) => (path === "" ? undefined : path)),
  };
}

function optionalText(): Pick<Setting, "expected" | "schema"> {
  return {
    expected: "any text, or empty",
    schema: z.string().transform((text) => (text === "" ? undefined : text)),
  };
}

function setOf<const T extends readonly [string, ...string[]]>(values: T) {
  return {
    expected: `a comma-separated list of ${values.join(", ")}, or empty`,
    schema: z
      .string()
      .transform((list) =>
        list
          .split(",")
          .map((item) => item.trim())
          .filter((item) => item !== ""),
      )
      .pipe(z.array(z.enum(values))),
  };
}

function isReadableFile(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return { expected: `one of ${values.join(", ")}`, schema: z.enum(values) };
}

const MiB = 1024 * 1024;

/**
 * The largest chunk whose response message, with its offset and framing,
 * stays within the 4 MiB that grpc-js, grpc-go and C-core clients take by
 * default: a 4 MiB chunk would be refused by every one of them.
 */
export const MAX_CHUNK_BYTES = 4 * MiB - 1024;

/**
 * One render thread where there is a second core, none on one core. Not one
 * a core: each thread holds its own heap and fonts, 60 to 75 MiB more at
 * peak with five PDF exports on it.
 */
function defaultRenderThreads(): number {
  return availableParallelism() > 1 ? 1 : 0;
}

const SETTINGS = {
  host: {
    env: "HOST",
    fallback: "0.0.0.0",
    expected: "a host name or IP address",
    schema: z.string().min(1),
  },
  port: { env: "PORT", fallback: "50051", ...integer(0, 65535) },
  metricsPort: { env: "METRICS_PORT", fallback: "9464", ...integer(0, 65535) },
  maxConcurrentExports: { env: "MAX_CONCURRENT_EXPORTS", fallback: "5", ...integer(1, 10_000) },
  retryAfterMs: { env: "RETRY_AFTER_MS", fallback: "1000", ...integer(0, 3_600_000) },
  chunkBytes: {
    env: "CHUNK_BYTES",
    fallback: String(64 * 1024),
    ...integer(1024, MAX_CHUNK_BYTES),
  },
  flushIdleMs: { env: "FLUSH_IDLE_MS", fallback: "50", ...integer(1, 60_000) },
  idleTimeoutMs: { env: "IDLE_TIMEOUT_MS", fallback: "60000", ...integer(100, 86_400_000) },
  maxMessageBytes: {
    env: "MAX_MESSAGE_BYTES",
    fallback: String(MiB),
    ...integer(1024, 64 * MiB),
  },
  maxColumns: { env: "MAX_COLUMNS", fallback: "1000", ...integer(1, 100_000) },
  maxCellChars: { env: "MAX_CELL_CHARS", fallback: "65536", ...integer(1, 256 * MiB) },
  compression: { env: "COMPRESSION", fallback: "none", ...oneOf(["none", "gzip"] as const) },
  shutdownGraceMs: { env: "SHUTDOWN_GRACE_MS", fallback: "30000", ...integer(0, 3_600_000) },
  pdfFontPath: { env: "PDF_FONT_PATH", fallback: "", ...optionalFile() },
  pdfBoldFontPath: { env: "PDF_BOLD_FONT_PATH", fallback: "", ...optionalFile() },
  pdfFallbackFonts: { env: "PDF_FALLBACK_FONTS", fallback: "", ...fontFiles() },
  logLevel: {
    env: "LOG_LEVEL",
    fallback: "info",
    ...oneOf(["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const),
  },
  authTokensFile: { env: "AUTH_TOKENS_FILE", fallback: "", ...optionalReadableFile("tokens file") },
  authTokens: { env: "AUTH_TOKENS", fallback: "", ...optionalText() },
  authOpenServices: {
    env: "AUTH_OPEN_SERVICES",
    fallback: "health,reflection",
    ...setOf(["health", "reflection"] as const),
  },
  maxConcurrentExportsPerUser: {
    env: "MAX_CONCURRENT_EXPORTS_PER_USER",
    fallback: "0",
    ...integer(0, 10_000),
  },
  metricsMaxUsers: { env: "METRICS_MAX_USERS", fallback: "50", ...integer(0, 10_000) },
  tlsCertFile: { env: "TLS_CERT_FILE", fallback: "", ...optionalReadableFile("PEM file") },
  tlsKeyFile: { env: "TLS_KEY_FILE", fallback: "", ...optionalReadableFile("PEM file") },
  tlsClientCaFile: { env: "TLS_CLIENT_CA_FILE", fallback: "", ...optionalReadableFile("PEM file") },
  maxExportDurationMs: {
    env: "MAX_EXPORT_DURATION_MS",
    fallback: String(3_600_000),
    ...integer(1_000, 7 * 86_400_000),
  },
  maxExportRows: {
    env: "MAX_EXPORT_ROWS",
    fallback: String(100_000_000),
    ...integer(1, Number.MAX_SAFE_INTEGER),
  },
  maxExportBytes: {
    env: "MAX_EXPORT_BYTES",
    fallback: String(16 * 1024 * MiB),
    ...integer(1024, Number.MAX_SAFE_INTEGER),
  },
  maxStreamsPerConnection: {
    env: "MAX_STREAMS_PER_CONNECTION",
    fallback: "100",
    ...integer(1, 10_000),
  },
  maxConnections: { env: "MAX_CONNECTIONS", fallback: "1000", ...integer(1, 1_000_000) },
  // A ping every few milliseconds on every connection would only burn CPU.
  keepaliveIntervalMs: {
    env: "KEEPALIVE_INTERVAL_MS",
    fallback: "30000",
    ...offOrInteger(100, 3_600_000),
  },
  keepaliveTimeoutMs: {
    env: "KEEPALIVE_TIMEOUT_MS",
    fallback: "10000",
    ...integer(100, 3_600_000),
  },
  renderThreads: {
    env: "RENDER_THREADS",
    fallback: String(defaultRenderThreads()),
    ...integer(0, 64),
  },
} satisfies Record<keyof Config, Setting>;

type Key = keyof typeof SETTINGS;

/** `maxConcurrentExports` → `--max-concurrent-exports` */
function flagOf(key: string): string {
  return key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/**
 * Reads settings from flags, then environment variables, then defaults, and
 * validates all of them, reporting every bad one in one message.
 */
export function loadConfig(
  argv: readonly string[] = process.argv.slice(2),
  env: Readonly<Record<string, string | undefined>> = process.env,
): Config {
  const keys = Object.keys(SETTINGS) as Key[];
  let flags: Record<string, string | boolean | undefined>;
  try {
    flags = parseArgs({
      args: [...argv],
      options: Object.fromEntries(keys.map((key) => [flagOf(key), { type: "string" as const }])),
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new ConfigError(
      `${(error as Error).message}\nflags: ${keys.map((k) => `--${flagOf(k)}`).join(" ")}`,
    );
  }
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const key of keys) {
    const setting: Setting = SETTINGS[key];
    const flag = flags[flagOf(key)];
    const raw = typeof flag === "string" ? flag : (env[setting.env] ?? setting.fallback);
    const parsed = setting.schema.safeParse(raw);
    if (parsed.success) {
      values[key] = parsed.data;
    } else {
      problems.push(
        `${setting.env} (--${flagOf(key)}) must be ${setting.expected}, got ${JSON.stringify(raw)}`,
      );
    }
  }
  if ((values.tlsCertFile === undefined) !== (values.tlsKeyFile === undefined)) {
    problems.push("TLS_CERT_FILE and TLS_KEY_FILE must be set together");
  }
  if (values.tlsClientCaFile !== undefined && values.tlsCertFile === undefined) {
    problems.push("TLS_CLIENT_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE");
  }
  if (values.port !== 0 && values.port === values.metricsPort) {
    problems.push(`PORT and METRICS_PORT must differ (both ${values.port})`);
  }
  if (problems.length > 0)
    throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  return Object.freeze(values as unknown as Config);
}
