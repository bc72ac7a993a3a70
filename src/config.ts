import { accessSync, constants, statSync } from "node:fs";
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
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
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

function optionalFile(): Pick<Setting, "expected" | "schema"> {
  return {
    expected: "empty, or the path of a readable .ttf or .otf file",
    schema: z
      .string()
      .refine((path) => path === "" || (/\.(ttf|otf)$/i.test(path) && isReadableFile(path)))
      .transform((path) => (path === "" ? undefined : path)),
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
  chunkBytes: { env: "CHUNK_BYTES", fallback: String(64 * 1024), ...integer(1024, 4 * MiB) },
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
  logLevel: {
    env: "LOG_LEVEL",
    fallback: "info",
    ...oneOf(["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const),
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
  if (problems.length > 0)
    throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  return Object.freeze(values as unknown as Config);
}
