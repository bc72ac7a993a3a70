/**
 * The benchmark suite: the service end to end, client and server in separate
 * processes on loopback, beside its baselines (csv-stringify and plain
 * pdfkit alone, the replaced HTTP/1.1 design), in one run. Every round runs
 * every case once, so slow spells of a shared machine fall on all cases
 * alike; the table gives medians (min–max) over the rounds, and the ratios
 * are taken within this run. It asserts nothing: it prints, and a full run
 * writes bench/results/<date>.json.
 *
 *   npm run bench                   everything, 3 rounds
 *   npm run bench -- csv memory     only cases with these ids or tags
 *   npm run bench -- --quick        a tenth of the rows, 1 round (development)
 *   npm run bench -- --ten-million  also the 10,000,000-row memory case
 */
import { spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, release, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startCommand } from "../test/support/start-command.js";
import { type Case, type Context, type Measured, type Scale, WarmServers } from "./cases/case.js";
import { allCases } from "./cases/index.js";
import { checks } from "./checks.js";
import {
  checksTable,
  evaluate,
  figuresTable,
  formatNumber,
  sameFileProblems,
  summarise,
} from "./report.js";
import { buildServers, MiB } from "./servers.js";
import { Worker } from "./workers.js";

const FULL: Scale = {
  rounds: 3,
  csvRows: 1_000_000,
  pdfRows: 100_000,
  smallRows: 10_000,
  largeRows: 1_000_000,
  hugeRows: 10_000_000,
  concurrentRows: 200_000,
  firstChunkExports: 20,
};

const QUICK: Scale = {
  rounds: 1,
  csvRows: FULL.csvRows / 10,
  pdfRows: FULL.pdfRows / 10,
  smallRows: FULL.smallRows / 10,
  largeRows: FULL.largeRows / 10,
  hugeRows: FULL.hugeRows / 10,
  concurrentRows: FULL.concurrentRows / 10,
  firstChunkExports: FULL.firstChunkExports,
};

const { values: flags, positionals: names } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    "ten-million": { type: "boolean", default: false },
  },
  allowPositionals: true,
});
const scale = flags.quick ? QUICK : FULL;
const everyCase = allCases(scale, { tenMillion: flags["ten-million"] });
const cases = everyCase.filter(
  (candidate) =>
    names.length === 0 ||
    names.some((name) => candidate.id === name || candidate.tags.includes(name)),
);
if (cases.length === 0) {
  const known = new Set(everyCase.flatMap((candidate) => [candidate.id, ...candidate.tags]));
  throw new Error(`no case is called ${names.join(" or ")}; known: ${[...known].join(", ")}`);
}

function progress(message: string) {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

progress("building the service (npm run build)");
buildServers();
const command = startCommand();
const context: Context = {
  scale,
  command,
  servers: new WarmServers(command),
  clients: [new Worker(), new Worker(), new Worker(), new Worker(), new Worker()],
  baselines: new Worker(),
};
const loadBefore = loadavg();
const rounds: Record<string, Measured>[] = [];
try {
  for (const benchCase of cases) {
    if (benchCase.warmUp === undefined) continue;
    progress(`warming up ${benchCase.id}`);
    await benchCase.warmUp(context);
  }
  for (let round = 1; round <= scale.rounds; round++) {
    const figures: Record<string, Measured> = {};
    for (const benchCase of cases) {
      progress(`round ${round}/${scale.rounds}: ${benchCase.id}`);
      Object.assign(figures, await runTimed(benchCase));
    }
    rounds.push(figures);
  }
} finally {
  await context.servers.stop();
  for (const worker of [...context.clients, context.baselines]) worker.close();
}

async function runTimed(benchCase: Case): Promise<Record<string, Measured>> {
  const started = performance.now();
  const measured = await benchCase.run(context);
  progress(`  ${benchCase.id} took ${formatNumber((performance.now() - started) / 1000)} s`);
  return measured;
}

const summaries = summarise(
  cases.flatMap((benchCase) => benchCase.lines),
  rounds,
);
const results = evaluate(checks(scale), rounds);
const problems = sameFileProblems(summaries);
const cpu = cpus();
const machine = {
  cpu: `${cpu.length} × ${cpu[0]?.model ?? "unknown CPU"}`,
  memoryGiB: Math.round(totalmem() / 1024 / MiB),
  kernel: release(),
  node: process.version,
  loadAverageBefore: loadBefore[0],
  loadAverageAfter: loadavg()[0],
};

console.log(
  `\nExport@Scale bench, ${new Date().toISOString().slice(0, 10)}: ${scale.rounds} round(s), cases alternated; ` +
    `${machine.cpu}, ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}; ` +
    `load average ${formatNumber(machine.loadAverageBefore ?? 0)} before, ${formatNumber(machine.loadAverageAfter ?? 0)} after. ` +
    `Service started as \`${command.script}\`.\n`,
);
console.log(figuresTable(summaries));
console.log(
  "\nmedian (min–max) over the rounds. 1,000-row batches of 8 columns; client and server in separate " +
    "processes on loopback. First chunk: from the call to the first chunk; the first-chunk lines send " +
    "start and one batch and wait for it, the others keep sending. Peak RSS: the server's VmHWM.\n",
);
console.log(checksTable(results));
console.log(
  problems.length === 0
    ? "\nEvery CSV path wrote the same file for the same rows (size, and sha256 where reported)."
    : `\nWARNING: CSV paths wrote different files, so their figures do not compare:\n${problems.join("\n")}`,
);

// Only a full run is a record to compare against; partial runs only print.
if (!flags.quick && names.length === 0) {
  const date = new Date().toISOString().slice(0, 10);
  const path = new URL(`results/${date}.json`, import.meta.url);
  await mkdir(new URL("results/", import.meta.url), { recursive: true });
  const record = {
    date,
    command: `npm run bench${flags["ten-million"] ? " -- --ten-million" : ""}`,
    machine,
    startCommand: command.script,
    scale,
    lines: summaries,
    ratios: results,
    sameFileProblems: problems,
  };
  // Four significant digits: more is noise on any machine, and diffs stay readable.
  const rounded = (_key: string, value: unknown) =>
    typeof value === "number" && !Number.isInteger(value) ? Number(value.toPrecision(4)) : value;
  await writeFile(path, JSON.stringify(record, rounded));
  // In the project's own format, so `npm run lint` passes with the file committed.
  const format = spawnSync("npx", ["biome", "format", "--write", fileURLToPath(path)], {
    encoding: "utf8",
  });
  if (format.status !== 0) throw new Error(`biome format failed: ${format.stderr}`);
  console.log(`\nFigures written to bench/results/${date}.json`);
}
