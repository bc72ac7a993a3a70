import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../support/child-server.js";
import { withBuiltDist } from "../support/cli.js";
import { type RunningServer, startServer } from "../support/server.js";

const run = promisify(execFile);

let readme: string;
let running: RunningServer;
let dir: string;
beforeAll(async () => {
  readme = await readFile(join(PROJECT_ROOT, "README.md"), "utf8");
  running = await startServer();
  dir = await mkdtemp(join(tmpdir(), "readme-client-"));
});
afterAll(async () => {
  await running.close();
  await rm(dir, { recursive: true, force: true });
});

/** The text between `start` and the next `end` after the client section's heading. */
function shown(start: string, end: string): string {
  const section = readme.indexOf("## Client and command line");
  if (section < 0) throw new Error("README lost its client section");
  const first = readme.indexOf(start, section);
  if (first < 0) throw new Error(`README lost its ${JSON.stringify(start)}`);
  return readme.slice(first + start.length, readme.indexOf(end, first + start.length));
}

describe("README: the client", () => {
  it("runs the example as shown, through the package's ./client entry, and writes the file shown", async () => {
    const example = shown("```ts\n", "```");
    const target = join(dir, "people.csv");
    const code = example
      .replace('"http://localhost:50051"', JSON.stringify(running.baseUrl))
      .replace('writeTo("people.csv")', `writeTo(${JSON.stringify(target)})`);
    expect(code).not.toBe(example);
    // Plain JavaScript as much as TypeScript: node runs it from the project,
    // where `export-at-scale/client` resolves through package.json's exports.
    const { stdout } = await withBuiltDist(() =>
      run(process.execPath, ["--input-type=module", "-e", code], {
        cwd: PROJECT_ROOT,
        timeout: 20_000,
      }),
    );
    const data = await readFile(target);
    const sha256 = createHash("sha256").update(data).digest("hex");
    expect(stdout).toMatch(
      new RegExp(
        `^export [0-9a-f-]{36} started\\n2 rows, ${data.length} bytes, sha256 ${sha256}\\n$`,
      ),
    );
    const csv = shown(
      "writes `people.csv` (a test runs this example as it stands here):\n\n```\n",
      "```",
    );
    expect(data.toString()).toBe(csv.replaceAll("\n", "\r\n"));
  });
});
