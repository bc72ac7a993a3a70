#!/usr/bin/env node
import { ASSERT_USAGE, assertCommand } from "./assert.js";
import { EXPORT_USAGE, exportCommand } from "./export-command.js";
import { describeError, InterruptedError, UsageError } from "./report.js";
import { SEED_USAGE, seedCommand } from "./seed.js";
import { STATUS_USAGE, statusCommand } from "./status.js";

const COMMANDS: Readonly<
  Record<string, { usage: string; run: (argv: readonly string[]) => Promise<number | undefined> }>
> = {
  export: { usage: EXPORT_USAGE, run: async (argv) => exportCommand(argv).then(() => 0) },
  seed: { usage: SEED_USAGE, run: seedCommand },
  assert: { usage: ASSERT_USAGE, run: assertCommand },
  status: { usage: STATUS_USAGE, run: statusCommand },
};

const USAGE = `export-cli: the command line of Export@Scale

  export-cli export  stream NDJSON, CSV or a JSON array into a CSV, PDF or XLSX file
  export-cli seed    generated orders, one export or a batch of scenarios
  export-cli assert  check the server's /metrics against thresholds
  export-cli status  health, slots and the exports running now

export-cli COMMAND --help for its flags. Exit codes: 0 done, 1 failed, 2 usage.`;

/** node:util parseArgs' errors for unknown flags, missing values and the like. */
function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    error instanceof TypeError && typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")
  );
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    // Wrong usage, said where errors go, as for every other wrong usage.
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`export-cli: unknown command ${JSON.stringify(name)}\n\n${USAGE}\n`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return (await command.run(rest)) ?? 0;
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      process.stderr.write(`export-cli ${name}: ${(error as Error).message}\n\n${command.usage}\n`);
      return 2;
    }
    const [first, ...details] = describeError(error);
    process.stderr.write(
      `export-cli ${name}: ${first}\n${details.map((line) => `${line}\n`).join("")}`,
    );
    return error instanceof InterruptedError ? error.exitCode : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
