import { constants } from "node:os";
import { Code } from "@connectrpc/connect";
import Table from "cli-table3";
import { ExportCallError } from "../client/index.js";

/** Wrong flags or arguments: exit code 2, with the usage. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** A failure already explained to the user; exit code 1. */
export class CliError extends Error {
  override readonly name = "CliError";
}

/** The command stopped on a signal (Ctrl-C, SIGTERM); exit code 128 + its number, as shells report it. */
export class InterruptedError extends CliError {
  readonly exitCode: number;
  constructor(signal: NodeJS.Signals, message: string) {
    super(`interrupted by ${signal}: ${message}`);
    this.exitCode = 128 + (constants.signals[signal] ?? 0);
  }
}

const integers = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

export function count(value: number): string {
  return integers.format(value);
}

export function bytes(value: number): string {
  if (value < 1024) return `${value} B`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KiB`;
  if (value < 1024 ** 3) return `${(value / 1024 / 1024).toFixed(1)} MiB`;
  return `${(value / 1024 ** 3).toFixed(2)} GiB`;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/** A plain table (no colours), as cli-table3 draws it. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const drawn = new Table({ head: [...head], style: { head: [], border: [], compact: true } });
  for (const row of rows) drawn.push([...row]);
  return drawn.toString();
}

/**
 * An error as lines for stderr: its message and, for a failed call, each
 * detail the server attached (field violations, ErrorInfo, RetryInfo).
 */
export function describeError(error: unknown): string[] {
  if (error instanceof ExportCallError) {
    const lines = [error.message];
    for (const violation of error.fieldViolations) {
      lines.push(`  field ${violation.field}: ${violation.description}`);
    }
    if (error.reason !== undefined) {
      const metadata = Object.entries(error.metadata)
        .map(([key, value]) => `${key}=${value}`)
        .join(" ");
      lines.push(`  reason ${error.reason}${metadata === "" ? "" : ` (${metadata})`}`);
    }
    if (error.retryDelayMs !== undefined) {
      lines.push(`  the server asks to retry in ${Math.round(error.retryDelayMs)} ms`);
    }
    if (error.code === Code.Unavailable) {
      lines.push("  is the server running, reachable and taking exports?");
    }
    return lines;
  }
  return [error instanceof Error ? error.message : String(error)];
}
