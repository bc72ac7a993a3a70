import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { lstat, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "csv-stringify/sync";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildOnce, runCli, runCliInTerminal } from "../support/cli.js";
import { parseCsv } from "../support/csv.js";
import { ORDERS_PATH, type Order, readOrders } from "../support/orders.js";
import { pageTexts } from "../support/pdf.js";
import { type RunningServer, startServer } from "../support/server.js";

const orders = readOrders();
const KEYS = ["order_id", "customer", "email", "amount", "paid", "created_at", "city", "note"];

/** An order's cells as the CLI sends them: JSON numbers and booleans as their text, null as null. */
function cellsOf(order: Order, keys = KEYS): (string | null)[] {
  return keys.map((key) => {
    const value = order[key];
    return value === null || value === undefined ? null : String(value);
  });
}

let running: RunningServer;
let dir: string;
beforeAll(async () => {
  await buildOnce();
  running = await startServer();
  dir = await mkdtemp(join(tmpdir(), "cli-export-"));
});
afterAll(async () => {
  await running.close();
  await rm(dir, { recursive: true, force: true });
});

const exportArgs = (...args: string[]) => ["export", "--server", running.baseUrl, ...args];
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** An export of `input` on stdin with `args`: exit code 1, `stderr` said, nothing on stdout. */
async function expectExportFailed(args: readonly string[], input: string, stderr: string) {
  const result = await runCli(exportArgs(...args), { input });
  expect(result.code).toBe(1);
  expect(result.stderr).toBe(stderr);
  expect(result.stdout.length).toBe(0);
}

describe("export-cli export", () => {
  it("turns NDJSON into CSV, written atomically, with one summary line on a non-TTY stderr", async () => {
    const out = join(dir, "orders.csv");
    const result = await runCli(exportArgs("--format", "csv", "--in", ORDERS_PATH, "--out", out));
    expect(result.stderr).toMatch(
      /^export-cli: wrote .*orders\.csv: 1,000 rows, [\d.]+ KiB, sha256 [0-9a-f]{12}… verified, in [\d.]+ s \([\d,]+ rows\/s\) from http:\/\/127\.0\.0\.1:\d+\n$/,
    );
    expect(result.code).toBe(0);
    expect(result.stdout.length).toBe(0);
    expect(parseCsv(await readFile(out))).toEqual([KEYS, ...orders.map((order) => cellsOf(order))]);
    expect((await readdir(dir)).filter((name) => name.includes("orders"))).toEqual(["orders.csv"]);
  });

  it("turns CSV into a PDF report that pdftotext reads back", async () => {
    const input = join(dir, "orders-input.csv");
    const sample = orders.slice(0, 40);
    await writeFile(input, stringify(sample, { header: true, columns: KEYS }));
    const out = join(dir, "orders.pdf");
    const result = await runCli(
      exportArgs(
        "--format",
        "pdf",
        "--in",
        input,
        "--out",
        out,
        "--columns",
        "order_id:number,city,amount:number,paid:boolean",
        "--title",
        "Orders from a CSV file",
        "--landscape",
        "--quiet",
      ),
    );
    expect(result).toMatchObject({ code: 0, stderr: "" });
    const text = (await pageTexts(out)).join("\n");
    expect(text).toContain("Orders from a CSV file");
    const lines = text.split("\n");
    for (const order of sample) {
      const line = lines.find((candidate) => candidate.includes(` ${order.order_id} `));
      expect(line, `order ${order.order_id}`).toContain(String(order.amount));
    }
  });

  it("reads a JSON array, picks --columns, and prints the summary with --json", async () => {
    const input = join(dir, "orders.json");
    await writeFile(input, JSON.stringify(orders.slice(0, 100), null, 2));
    const out = join(dir, "from-json.csv");
    const result = await runCli(
      exportArgs(
        "--format",
        "csv",
        "--in",
        input,
        "--out",
        out,
        "--columns",
        "customer,city",
        "--json",
      ),
    );
    expect(result.code).toBe(0);
    const data = await readFile(out);
    expect(parseCsv(data)).toEqual([
      ["customer", "city"],
      ...orders.slice(0, 100).map((order) => cellsOf(order, ["customer", "city"])),
    ]);
    expect(JSON.parse(result.stdout.toString())).toMatchObject({
      out,
      contentType: "text/csv; charset=utf-8",
      rows: 100,
      bytes: data.length,
      sha256: sha256(data),
      attempts: 1,
    });
    expect(result.stderr).toBe("");
  });

  it("reads stdin and writes the file to stdout", async () => {
    const input = orders
      .slice(0, 25)
      .map((order) => JSON.stringify(order))
      .join("\n");
    const result = await runCli(
      exportArgs("--format", "csv", "--in", "-", "--out", "-", "--line-ending", "lf", "--json"),
      { input },
    );
    expect(result.code).toBe(0);
    expect(parseCsv(result.stdout)).toEqual([
      KEYS,
      ...orders.slice(0, 25).map((order) => cellsOf(order)),
    ]);
    expect(result.stdout.includes("\r\n")).toBe(false);
    // With the file on stdout, the summary goes to stderr.
    expect(JSON.parse(result.stderr)).toMatchObject({ rows: 25, sha256: sha256(result.stdout) });
  });

  it("names the malformed input line, exits 1 and leaves no output file", async () => {
    const input = join(dir, "broken.ndjson");
    // Line 500 is broken, after the first batches have gone to the server.
    const lines = orders.slice(0, 600).map((order) => JSON.stringify(order));
    lines.splice(499, 0, '{"order_id": 1, "customer": "cut off');
    await writeFile(input, lines.join("\n"));
    const out = join(dir, "broken.csv");
    const result = await runCli(exportArgs("--format", "csv", "--in", input, "--out", out));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^export-cli export: input line 500: not valid JSON: .+\n$/);
    expect((await readdir(dir)).filter((name) => name.includes("broken."))).toEqual([
      "broken.ndjson",
    ]);
  });

  it("names the input line of a value it cannot send", async () => {
    const input = `{"id": 1, "tags": "a"}\n\n{"id": 2, "tags": ["b", "c"]}\n`;
    const result = await runCli(exportArgs("--format", "csv", "--in", "-", "--out", "-"), {
      input,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'export-cli export: input line 3: row 2, column "tags": an array has no text form; cells are strings, numbers, booleans, bigints, Dates or null\n',
    );
  });

  it("prints the server's message and details, and exits 1", async () => {
    await expectExportFailed(
      ["--format", "csv", "--in", "-", "--out", "-", "--file-name", "../escape.csv"],
      '{"a": 1}\n',
      "export-cli export: INVALID_ARGUMENT: start.file_name: file name must not contain path separators, control or format characters\n" +
        "  field start.file_name: file name must not contain path separators, control or format characters\n",
    );
  });

  it("exits as soon as the server refused, though stdin stays open", async () => {
    const result = await runCli(
      exportArgs("--format", "csv", "--in", "-", "--out", "-", "--file-name", "../escape.csv"),
      { input: '{"a": 1}\n', holdStdin: true },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^export-cli export: INVALID_ARGUMENT: start\.file_name: /);
    // Closing the input it no longer reads raises no error of its own.
    expect(result.stderr).not.toContain("    at ");
    const gone = await runCli(
      ["export", "--server", "http://127.0.0.1:1", "--format", "csv", "--in", "-", "--out", "-"],
      { input: '{"a": 1}\n', holdStdin: true },
    );
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^export-cli export: UNAVAILABLE: /);
    expect(gone.stderr).not.toContain("    at ");
  });

  it("on Ctrl-C cancels the export, removes its temporary file and exits 130", async () => {
    const out = join(dir, "interrupted.csv");
    let cli: ChildProcess | undefined;
    const result = runCli(exportArgs("--format", "csv", "--in", "-", "--out", out), {
      input: '{"a": 1}\n',
      holdStdin: true,
      started: (child) => {
        cli = child;
      },
    });
    // The export is under way once its temporary file is there.
    await vi.waitFor(
      async () => {
        const names = await readdir(dir);
        expect(names.some((name) => name.startsWith(".interrupted.csv."))).toBe(true);
        expect(running.server.runningExports()).toBe(1);
      },
      { timeout: 10_000 },
    );
    cli?.kill("SIGINT");
    const { code, stderr } = await result;
    expect(code).toBe(130);
    expect(stderr).toBe(
      `export-cli export: interrupted by SIGINT: the export was cancelled; ${out} was left as it was\n`,
    );
    expect((await readdir(dir)).filter((name) => name.includes("interrupted"))).toEqual([]);
    await vi.waitFor(() => expect(running.server.runningExports()).toBe(0));
  });

  it("keeps a CSV header's order, year columns included; a header alone gives an empty table", async () => {
    const args = exportArgs("--format", "csv", "--in", "-", "--input-format", "csv", "--out", "-");
    const years = await runCli([...args, "--line-ending", "lf"], {
      input: "region,2023,2024\nnorth,10,12\n",
    });
    expect(years.code).toBe(0);
    expect(years.stdout.toString()).toBe("region,2023,2024\nnorth,10,12\n");
    const headerOnly = await runCli([...args, "--line-ending", "lf"], { input: "a,b\n" });
    expect(headerOnly.code).toBe(0);
    expect(headerOnly.stdout.toString()).toBe("a,b\n");
  });

  it("reads NDJSON and JSON that start with a byte order mark, from stdin too", async () => {
    const bom = "\uFEFF";
    for (const input of [`${bom}{"a": 1}\n{"a": 2}\n`, `${bom}[{"a": 1}, {"a": 2}]`]) {
      const result = await runCli(
        exportArgs("--format", "csv", "--in", "-", "--out", "-", "--line-ending", "lf"),
        { input },
      );
      expect(result.code).toBe(0);
      expect(result.stdout.toString()).toBe("a\n1\n2\n");
    }
  });

  it("refuses a CSV header that names a column twice, which would drop one", async () => {
    await expectExportFailed(
      ["--format", "csv", "--in", "-", "--input-format", "csv", "--out", "-"],
      "id,phone,phone\n1,555-1111,555-2222\n",
      'export-cli export: input: the header row names "phone" twice (columns 2 and 3)\n',
    );
  });

  it("writes --out through a symbolic link, leaving the link", async () => {
    const target = join(dir, "link-target.csv");
    await writeFile(target, "");
    const link = join(dir, "link.csv");
    await symlink(target, link);
    const result = await runCli(
      exportArgs("--format", "csv", "--in", "-", "--out", link, "--line-ending", "lf", "--quiet"),
      { input: '{"a": 1}\n' },
    );
    expect(result.code).toBe(0);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readFile(target, "utf8")).toBe("a\n1\n");
    await rm(link);
    await rm(target);
  });

  it("names $EXPORT_SERVER when its URL is wrong, and fails with exit code 1 on a --ca it cannot read", async () => {
    const badEnv = await runCli(["export", "--format", "csv", "--in", "-", "--out", "-"], {
      env: { EXPORT_SERVER: "localhost:50051" },
    });
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toMatch(
      /^export-cli export: \$EXPORT_SERVER must be an http:\/\/ or https:\/\/ URL, got localhost:50051\n/,
    );
    /** An export to `server` trusting the CA in `caFile`. */
    const withCa = (server: string, caFile: string) =>
      runCli(
        ["export", "--server", server, "--ca", caFile, "--format", "csv", "--in", "-"].concat([
          "--out",
          "-",
        ]),
        {
          input: '{"a": 1}\n',
        },
      );
    const missingCa = join(dir, "no-such-ca.pem");
    const unreadable = await withCa("https://127.0.0.1:1", missingCa);
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr).toBe(
      `export-cli export: --ca ${missingCa}: ENOENT: no such file or directory, open '${missingCa}'\n`,
    );
    // A scheme in capitals is https all the same.
    const ca = join(dir, "ca.pem");
    await writeFile(ca, "not a certificate, but readable");
    const upper = await withCa("HTTPS://127.0.0.1:1", ca);
    expect(upper.code).toBe(1);
    expect(upper.stderr).not.toContain("need an https:// --server");
  });

  it("says clearly that an unreachable server cannot be reached, and exits 1", async () => {
    const gone = await startServer();
    await gone.close();
    const out = join(dir, "unreachable.csv");
    const result = await runCli([
      "export",
      "--server",
      gone.baseUrl,
      "--format",
      "csv",
      "--in",
      ORDERS_PATH,
      "--out",
      out,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `export-cli export: UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:${gone.port}\n` +
        "  is the server running, reachable and taking exports?\n",
    );
    expect((await readdir(dir)).filter((name) => name.includes("unreachable"))).toEqual([]);
  });

  it("refuses an output flag of another format, which would be ignored", async () => {
    for (const [args, message] of [
      [["--format", "csv", "--title", "Orders"], "--title is for --format pdf, not csv"],
      [["--format", "pdf", "--delimiter", ";"], "--delimiter is for --format csv, not pdf"],
      [["--format", "xlsx", "--landscape"], "--landscape is for --format pdf, not xlsx"],
      [["--format", "csv", "--sheet-name", "S"], "--sheet-name is for --format xlsx, not csv"],
    ] as const) {
      const result = await runCli(exportArgs(...args, "--in", "-", "--out", "-"));
      expect(result.code).toBe(2);
      expect(result.stderr.startsWith(`export-cli export: ${message}\n`)).toBe(true);
    }
  });

  it("prints its usage to stderr with exit code 2 when given no command, to stdout for --help", async () => {
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stdout.length).toBe(0);
    expect(none.stderr).toMatch(/^export-cli: the command line of Export@Scale\n/);
    const help = await runCli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout.toString()).toBe(none.stderr);
  });

  it("answers wrong flags with the usage and exit code 2", async () => {
    const result = await runCli(exportArgs("--in", ORDERS_PATH, "--out", "-"));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "export-cli export: --format is required: csv, pdf or xlsx\n\n",
    );
    expect(result.stderr).toContain("--input-format F");
  });

  it("shows progress on a terminal's stderr, and nothing with --quiet", async () => {
    const shown = await runCliInTerminal(
      exportArgs("--format", "csv", "--in", ORDERS_PATH, "--out", join(dir, "tty.csv")),
    );
    expect(shown.code).toBe(0);
    // The bar with its percentage of the input read, then the summary.
    expect(shown.screen).toMatch(
      /100% \| 1,000 rows sent \| [\d.]+ KiB received \| [\d,]+ rows\/s \| \d+s/,
    );
    expect(shown.screen).toContain("export-cli: wrote");

    const quiet = await runCliInTerminal(
      exportArgs(
        "--format",
        "csv",
        "--in",
        ORDERS_PATH,
        "--out",
        join(dir, "tty-quiet.csv"),
        "--quiet",
      ),
    );
    expect(quiet).toEqual({ code: 0, screen: "" });
  });
});
