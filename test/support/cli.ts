import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdir, readFile, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { PROJECT_ROOT } from "./child-server.js";

const run = promisify(execFile);

/**
 * The CLI tests' own build of the project, apart from dist/, so that they
 * need not wait for the tests that use dist/ (see withBuiltDist).
 */
const TEST_BUILD = "dist-test";

/** The CLI as package.json's `bin` names it, in the tests' build. */
export async function cliPath(): Promise<string> {
  const manifest = JSON.parse(await readFile(join(PROJECT_ROOT, "package.json"), "utf8")) as {
    bin: Record<string, string>;
  };
  const bin = manifest.bin["export-cli"];
  if (!bin?.startsWith("dist/")) throw new Error("package.json has no export-cli bin in dist/");
  return join(PROJECT_ROOT, TEST_BUILD, bin.slice("dist/".length));
}

/**
 * Runs `work` holding the lock named `name` (a folder beside package.json):
 * test files that write or run the same build take turns.
 */
async function withLock<T>(name: string, work: () => Promise<T>): Promise<T> {
  const lock = join(PROJECT_ROOT, `${name}.lock`);
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  try {
    return await work();
  } finally {
    await rmdir(lock);
  }
}

/** Compiles the project as `npm run build` does, into dist-test/, for the CLI tests. */
export function buildOnce(): Promise<void> {
  return withLock(TEST_BUILD, async () => {
    await run("npx", ["tsc", "-p", "tsconfig.build.json", "--outDir", TEST_BUILD], {
      cwd: PROJECT_ROOT,
      timeout: 120_000,
    });
  });
}

/**
 * Builds dist/ (`npm run build`) and runs `work` while no other test file
 * may rebuild it: for code run from dist/ itself (`npm start`, the
 * package's ./client entry), which would fail on a half-written file.
 */
export function withBuiltDist<T>(work: () => Promise<T>): Promise<T> {
  return withLock("dist", async () => {
    await run("npm", ["run", "build"], { cwd: PROJECT_ROOT, timeout: 120_000 });
    return work();
  });
}

export interface CliResult {
  /** The exit code, or the signal that ended the process. */
  readonly code: number | NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

export interface CliOptions {
  /** Written to stdin, which is then closed; default: stdin closed at once. */
  readonly input?: string | Buffer;
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  readonly timeoutMs?: number;
  /** Leaves stdin open after `input`, as a producer that has more to say would. */
  readonly holdStdin?: boolean;
  /** Given the CLI's process once it runs, to signal it, say. */
  readonly started?: (child: ChildProcess) => void;
}

/** Runs the built CLI with `args` as its own process; stdout and stderr are pipes, not TTYs. */
export async function runCli(
  args: readonly string[],
  options: CliOptions = {},
): Promise<CliResult> {
  const cli = await cliPath();
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd: options.cwd ?? PROJECT_ROOT,
      env: { ...process.env, EXPORT_SERVER: "", EXPORT_TOKEN: "", ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const stdout: Buffer[] = [];
    let stderr = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`export-cli ${args.join(" ")} did not end within ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout.on("data", (data: Buffer) => stdout.push(data));
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text;
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code: code ?? signal, stdout: Buffer.concat(stdout), stderr });
    });
    // Input the CLI did not read is no error.
    child.stdin.on("error", () => {});
    if (options.holdStdin) child.stdin.write(options.input ?? "");
    else child.stdin.end(options.input ?? "");
    options.started?.(child);
  });
}

/**
 * Runs the built CLI under `script`, which gives it a pseudo-terminal for
 * stdin, stdout and stderr, as a person's shell does; resolves with what
 * the terminal showed.
 */
export async function runCliInTerminal(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; screen: string }> {
  const cli = await cliPath();
  const quoted = [process.execPath, cli, ...args].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`);
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qefc", quoted.join(" "), "/dev/null"], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, EXPORT_SERVER: "", EXPORT_TOKEN: "", TERM: "xterm", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let screen = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      screen += text;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, screen }));
    child.stdin.end();
  });
}
