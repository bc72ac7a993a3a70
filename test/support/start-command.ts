import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT, spawnServer } from "./child-server.js";

export interface StartCommand {
  readonly env: Record<string, string>;
  /** Node's own arguments (flags and the script), without the node binary. */
  readonly args: readonly string[];
  /** The flags alone: node's settings for the service, such as heap sizes. */
  readonly flags: readonly string[];
  /** The script as written in package.json, for reports. */
  readonly script: string;
}

/**
 * package.json's "start" script, read each time so a change to its node
 * flags (heap sizes, say) is what gets run. Only `[NAME=value …] node
 * [flags …] script` is understood; anything else is refused rather than
 * run wrongly.
 */
export function startCommand(): StartCommand {
  const manifest = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  };
  const script = manifest.scripts.start ?? "";
  if (/["'`$|&;<>\\]/.test(script)) {
    throw new Error(`cannot run package.json's start script as written: ${script}`);
  }
  const words = script.trim().split(/\s+/);
  const env: Record<string, string> = {};
  while (/^[A-Za-z_]\w*=/.test(words[0] ?? "")) {
    const [name, ...value] = (words.shift() as string).split("=");
    env[name as string] = value.join("=");
  }
  if (words.shift() !== "node" || words.length === 0) {
    throw new Error(`package.json's start script is not "node [flags] script": ${script}`);
  }
  return { env, args: words, flags: words.slice(0, -1), script };
}

/** A fresh service process with the shipped start command (dist/ built) and defaults, plus `env`. */
export function startService(command: StartCommand, env: Record<string, string> = {}) {
  return spawnServer([process.execPath, ...command.args], { ...command.env, ...env });
}
