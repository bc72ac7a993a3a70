import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("loadConfig", () => {
  it("has the documented defaults", () => {
    expect(loadConfig([], {})).toEqual({
      host: "0.0.0.0",
      port: 50051,
      metricsPort: 9464,
      maxConcurrentExports: 5,
      retryAfterMs: 1000,
      chunkBytes: 65536,
      flushIdleMs: 50,
      idleTimeoutMs: 60000,
      maxMessageBytes: 1024 * 1024,
      maxColumns: 1000,
      maxCellChars: 65536,
      compression: "none",
      shutdownGraceMs: 30000,
      pdfFontPath: undefined,
      pdfBoldFontPath: undefined,
      pdfFallbackFonts: [],
      logLevel: "info",
      authTokensFile: undefined,
      authTokens: undefined,
      authOpenServices: ["health", "reflection"],
      maxConcurrentExportsPerUser: 0,
      metricsMaxUsers: 50,
      tlsCertFile: undefined,
      tlsKeyFile: undefined,
      tlsClientCaFile: undefined,
      maxExportDurationMs: 3_600_000,
      maxExportRows: 100_000_000,
      maxExportBytes: 16 * 1024 ** 3,
      maxStreamsPerConnection: 100,
      maxConnections: 1000,
      keepaliveIntervalMs: 30_000,
      keepaliveTimeoutMs: 10_000,
      // One render thread where there is a second core.
      renderThreads: availableParallelism() > 1 ? 1 : 0,
    });
  });

  it("takes flags over environment variables", () => {
    const config = loadConfig(["--port", "7000", "--compression", "gzip"], {
      PORT: "6000",
      HOST: "::1",
    });
    expect(config.port).toBe(7000);
    expect(config.host).toBe("::1");
    expect(config.compression).toBe("gzip");
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("reports every bad setting at once", () => {
    expect(() => loadConfig(["--chunk-bytes", "1"], { PORT: "-1", COMPRESSION: "brotli" })).toThrow(
      new ConfigError(
        "invalid configuration:\n" +
          '  PORT (--port) must be an integer from 0 to 65535, got "-1"\n' +
          '  CHUNK_BYTES (--chunk-bytes) must be an integer from 1024 to 4193280, got "1"\n' +
          '  COMPRESSION (--compression) must be one of none, gzip, got "brotli"',
      ),
    );
  });

  it("takes keepalive pings off (0) or at least 100 ms apart", () => {
    expect(loadConfig([], { KEEPALIVE_INTERVAL_MS: "0" }).keepaliveIntervalMs).toBe(0);
    expect(loadConfig([], { KEEPALIVE_INTERVAL_MS: "100" }).keepaliveIntervalMs).toBe(100);
    expect(() => loadConfig([], { KEEPALIVE_INTERVAL_MS: "1" })).toThrow(
      'KEEPALIVE_INTERVAL_MS (--keepalive-interval-ms) must be 0 (off) or an integer from 100 to 3600000, got "1"',
    );
  });

  it("takes a readable font file for PDFs and refuses anything else", () => {
    const font = "node_modules/dejavu-fonts-ttf/ttf/DejaVuSansMono.ttf";
    expect(loadConfig(["--pdf-font-path", font], {}).pdfFontPath).toBe(font);
    expect(() => loadConfig([], { PDF_FONT_PATH: "/no/such/font.ttf" })).toThrow(
      'PDF_FONT_PATH (--pdf-font-path) must be empty, or the path of a readable .ttf or .otf file, got "/no/such/font.ttf"',
    );
    expect(loadConfig([], { PDF_FALLBACK_FONTS: ` ${font}, ${font} ` }).pdfFallbackFonts).toEqual([
      font,
      font,
    ]);
    expect(() => loadConfig(["--pdf-fallback-fonts", `${font},/no/such.otf`], {})).toThrow(
      `PDF_FALLBACK_FONTS (--pdf-fallback-fonts) must be a comma-separated list of readable .ttf or .otf files, or empty, got "${font},/no/such.otf"`,
    );
  });

  it("refuses unknown flags, listing the known ones", () => {
    expect(() => loadConfig(["--prot", "1"], {})).toThrow(/Unknown option '--prot'[\s\S]*--port/);
  });

  it("checks the TLS and authentication settings together", () => {
    expect(() =>
      loadConfig([], {
        TLS_CERT_FILE: "package.json",
        TLS_CLIENT_CA_FILE: "/nonexistent.pem",
        AUTH_OPEN_SERVICES: "health,admin",
      }),
    ).toThrow(
      new ConfigError(
        "invalid configuration:\n" +
          '  AUTH_OPEN_SERVICES (--auth-open-services) must be a comma-separated list of health, reflection, or empty, got "health,admin"\n' +
          '  TLS_CLIENT_CA_FILE (--tls-client-ca-file) must be empty, or the path of a readable PEM file, got "/nonexistent.pem"\n' +
          "  TLS_CERT_FILE and TLS_KEY_FILE must be set together",
      ),
    );
    expect(loadConfig([], { AUTH_OPEN_SERVICES: "" }).authOpenServices).toEqual([]);
  });
});
