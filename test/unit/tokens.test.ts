import { createHash } from "node:crypto";
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createTokenStore, parseTokenList, TokenListError } from "../../src/auth/tokens.js";
import { eventually } from "../support/server.js";

const hex = (token: string) => createHash("sha256").update(token).digest("hex");

function store(inline: string, file?: string) {
  const events: string[] = [];
  const tokens = createTokenStore({
    inline,
    file,
    onReloaded: (count) => events.push(`reloaded ${count}`),
    onReloadError: (error) => events.push(`failed: ${error.message}`),
  });
  return { tokens, events };
}

describe("token list", () => {
  it("takes plain and hashed tokens, comments and blank lines", () => {
    const { tokens } = store(`# team tokens\n\nalice:s3cret\nbob:sha256:${hex("hunter2")}\n`);
    expect(tokens.enabled).toBe(true);
    expect(tokens.authenticate("s3cret")).toBe("alice");
    expect(tokens.authenticate("hunter2")).toBe("bob");
    expect(tokens.authenticate(`sha256:${hex("hunter2")}`)).toBeUndefined();
    expect(tokens.authenticate("S3CRET")).toBeUndefined();
    expect(tokens.authenticate("")).toBeUndefined();
  });

  it("reads comma-separated entries from AUTH_TOKENS", () => {
    const { tokens } = store("alice:one,bob:two");
    expect([tokens.authenticate("one"), tokens.authenticate("two")]).toEqual(["alice", "bob"]);
  });

  it("is off with neither a file nor inline tokens", () => {
    expect(store("").tokens.enabled).toBe(false);
  });

  it("names the line of a bad entry and never the token", () => {
    const bad = [
      [
        "ok:fine\nno colon here-topsecret",
        "tokens line 2: expected user:token or user:sha256:<hex>",
      ],
      ["al ice:topsecret", "tokens line 1: expected user:token"],
      ["alice:", "tokens line 1: the token is empty"],
      // A token written where the user goes is not echoed either.
      ["topsecret:", "tokens line 1: the token is empty"],
      ["alice:sha256:topsecret", "tokens line 1: a sha256: entry needs 64 hex digits"],
      // The metrics' labels for no user and for users past the limit.
      ["anonymous:topsecret", "tokens line 1: expected user:token"],
      ["other:topsecret", "tokens line 1: expected user:token"],
    ] as const;
    for (const [text, message] of bad) {
      let error: unknown;
      try {
        parseTokenList(text, "tokens");
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(TokenListError);
      expect((error as Error).message).toContain(message);
      expect((error as Error).message).not.toContain("topsecret");
    }
  });

  it("sees a Kubernetes secret swapped right after the file was read, which a watcher started later missed", async () => {
    // A secret volume: tokens -> ..data/tokens, ..data -> ..v1; an update
    // points ..data at a new folder in one rename.
    const dir = await mkdtemp(join(tmpdir(), "tokens-"));
    mkdirSync(join(dir, "..v1"));
    writeFileSync(join(dir, "..v1", "tokens"), "alice:one\nbob:revoked\n");
    symlinkSync("..v1", join(dir, "..data"));
    symlinkSync("..data/tokens", join(dir, "tokens"));
    const { tokens } = store("", join(dir, "tokens"));
    try {
      mkdirSync(join(dir, "..v2"));
      writeFileSync(join(dir, "..v2", "tokens"), "alice:one\n");
      symlinkSync("..v2", join(dir, "..swap"));
      renameSync(join(dir, "..swap"), join(dir, "..data"));
      await eventually(() => tokens.authenticate("revoked") === undefined, 5_000);
      expect(tokens.authenticate("one")).toBe("alice");
    } finally {
      tokens.close();
    }
  });

  it("reloads the file on change and on reload(), keeping the old tokens if the new file is bad", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "tokens-")), "tokens");
    await writeFile(file, "alice:one\n");
    const { tokens, events } = store("", file);
    try {
      expect(tokens.authenticate("one")).toBe("alice");
      await writeFile(file, "alice:two\n");
      await eventually(() => tokens.authenticate("two") === "alice", 5_000);
      expect(tokens.authenticate("one")).toBeUndefined();

      await writeFile(file, "alice two\n");
      tokens.reload();
      expect(events.at(-1)).toBe(
        `failed: ${file} line 1: expected user:token or user:sha256:<hex>, with a user of 1 to 64 letters, digits or ._@-, and not anonymous or other`,
      );
      expect(tokens.authenticate("two")).toBe("alice");

      await writeFile(file, `carol:sha256:${hex("three")}\n`);
      tokens.reload();
      expect(events.at(-1)).toBe("reloaded 1");
      expect(tokens.authenticate("three")).toBe("carol");
    } finally {
      tokens.close();
    }
  });

  it("keeps the tokens while the file is gone (a secret mid-swap), and an emptied file revokes them all", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "tokens-")), "tokens");
    await writeFile(file, "alice:one\n");
    const { tokens, events } = store("", file);
    try {
      rmSync(file);
      await eventually(() => events.length === 1, 5_000);
      expect(events[0]).toMatch(/^failed: ENOENT: no such file or directory/);
      expect(tokens.authenticate("one")).toBe("alice");

      await writeFile(file, "# nobody for now\n");
      await eventually(() => events.at(-1) === "reloaded 0", 5_000);
      expect(tokens.enabled).toBe(true);
      expect(tokens.authenticate("one")).toBeUndefined();
    } finally {
      tokens.close();
    }
  });
});
