import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../support/child-server.js";

const run = promisify(execFile);
const BIN = join(PROJECT_ROOT, "node_modules", ".bin");
const env = { ...process.env, PATH: `${BIN}:${process.env.PATH}` };

async function filesUnder(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(root, path), await readFile(path, "utf8"));
  }
  return files;
}

describe("generated code", () => {
  const scratch = mkdtemp(join(tmpdir(), "export-gen-"));
  afterAll(async () => rm(await scratch, { recursive: true, force: true }));

  it("is what buf generate makes from proto/ today", async () => {
    const out = await scratch;
    await run(join(BIN, "buf"), ["generate", "--output", out], { cwd: PROJECT_ROOT, env });
    const regenerated = await filesUnder(join(out, "gen"));
    const committed = await filesUnder(join(PROJECT_ROOT, "gen"));
    expect([...regenerated.keys()].sort()).toEqual([...committed.keys()].sort());
    for (const [path, text] of regenerated) {
      expect(committed.get(path), `gen/${path} differs: run npm run generate`).toBe(text);
    }
  });

  it("comes from protos that pass buf lint", async () => {
    await expect(
      run(join(BIN, "buf"), ["lint"], { cwd: PROJECT_ROOT, env }),
    ).resolves.toBeDefined();
  });
});
