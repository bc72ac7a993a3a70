import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { isUserName, USER_NAME_RULE } from "./users.js";

/** One accepted token: its owner and the SHA-256 of the token. */
interface TokenEntry {
  readonly user: string;
  readonly digest: Buffer;
}

export class TokenListError extends Error {
  override readonly name = "TokenListError";
}

const STORED_DIGEST = /^sha256:([0-9a-fA-F]{64})$/;

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/**
 * Parses `user:token` and `user:sha256:<hex>` entries, one a line (blank
 * lines and `#` comments skipped). Errors name the source and line, never
 * the token.
 */
export function parseTokenList(text: string, source: string): TokenEntry[] {
  const entries: TokenEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const where = `${source} line ${index + 1}`;
    const colon = line.indexOf(":");
    const user = colon < 0 ? "" : line.slice(0, colon);
    const secret = colon < 0 ? "" : line.slice(colon + 1);
    if (!isUserName(user)) {
      throw new TokenListError(
        `${where}: expected user:token or user:sha256:<hex>, with a user of ${USER_NAME_RULE}`,
      );
    }
    // Not named: a line written as `<token>:` would put the token there.
    if (secret === "") throw new TokenListError(`${where}: the token is empty`);
    const stored = STORED_DIGEST.exec(secret);
    if (secret.startsWith("sha256:") && !stored) {
      throw new TokenListError(`${where}: a sha256: entry needs 64 hex digits`);
    }
    entries.push({
      user,
      digest: stored ? Buffer.from(stored[1] as string, "hex") : sha256(secret),
    });
  });
  return entries;
}

export interface TokenStoreOptions {
  /** A file of entries; re-read on `reload()` and when it changes. */
  readonly file: string | undefined;
  /** Entries separated by commas or newlines (AUTH_TOKENS). */
  readonly inline: string | undefined;
  /** Told when a reload failed; the previous tokens stay in force. */
  readonly onReloadError: (error: Error) => void;
  /** Told after a reload, with the number of tokens now accepted. */
  readonly onReloaded: (tokens: number) => void;
}

export interface TokenStore {
  /** False when no tokens are configured: authentication is off. */
  readonly enabled: boolean;
  /** The token's user, or undefined. Takes the same time whichever entry matches. */
  authenticate(token: string): string | undefined;
  /** Re-reads the file (SIGHUP). */
  reload(): void;
  /** Stops watching the file. */
  close(): void;
}

const TOKEN_FILE_POLL_MS = 1_000;

/** What tells one version of a file from the next: its inode, size and time; "missing" if gone. */
function fileVersion(path: string): string {
  try {
    const { ino, size, mtimeMs } = statSync(path);
    return `${ino} ${size} ${mtimeMs}`;
  } catch {
    return "missing";
  }
}

/**
 * The bearer tokens the server accepts. Tokens are kept only as SHA-256
 * digests and compared with `timingSafeEqual` against every entry, so
 * neither the time taken nor memory tells a token apart.
 */
export function createTokenStore(options: TokenStoreOptions): TokenStore {
  const { file } = options;
  /** The file as it was when last read: a poll that finds it otherwise reloads. */
  let read = "";
  const load = () => {
    if (file) read = fileVersion(file);
    return [
      ...(options.inline
        ? parseTokenList(options.inline.replaceAll(",", "\n"), "AUTH_TOKENS")
        : []),
      ...(file ? parseTokenList(readFileSync(file, "utf8"), file) : []),
    ];
  };
  let entries = load();
  const enabled = Boolean(options.file || options.inline);
  const reload = () => {
    try {
      entries = load();
      options.onReloaded(entries.length);
    } catch (error) {
      options.onReloadError(error as Error);
    }
  };
  // Polling, not fs.watch: a Kubernetes secret is swapped by replacing a
  // symlink, which an inotify watch on the old file never sees. Compared
  // with the file as it was read, not as a watcher first saw it, so a
  // change made just after the read is not missed.
  const poll = file
    ? setInterval(() => {
        if (fileVersion(file) !== read) reload();
      }, TOKEN_FILE_POLL_MS).unref()
    : undefined;
  return {
    enabled,
    authenticate(token) {
      const digest = sha256(token);
      let user: string | undefined;
      for (const entry of entries) {
        if (timingSafeEqual(entry.digest, digest) && user === undefined) user = entry.user;
      }
      return user;
    },
    reload,
    close() {
      clearInterval(poll);
    },
  };
}
