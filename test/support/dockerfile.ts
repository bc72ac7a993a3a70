import { spawn } from "node:child_process";
import { cp, mkdir, readFile } from "node:fs/promises";
import { basename, join, posix } from "node:path";
import { PROJECT_ROOT } from "./child-server.js";

/**
 * Just enough of the Dockerfile reference to replay this project's
 * Dockerfile without a container engine. Anything else is refused, so the
 * Dockerfile cannot grow a step the replay would silently skip.
 */
export type Instruction =
  | { readonly kind: "workdir"; readonly path: string }
  | { readonly kind: "env"; readonly values: Readonly<Record<string, string>> }
  | {
      readonly kind: "copy";
      readonly from: string | undefined;
      readonly sources: readonly string[];
      readonly dest: string;
    }
  | { readonly kind: "run"; readonly command: string }
  | { readonly kind: "user"; readonly user: string }
  | { readonly kind: "expose"; readonly ports: readonly number[] }
  | {
      readonly kind: "healthcheck";
      /** `--interval=10s` and the like, by name. */
      readonly options: ReadonlyMap<string, string>;
      readonly command: string[];
    }
  | { readonly kind: "cmd"; readonly command: string[] };

export interface Stage {
  readonly name: string;
  readonly image: string;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  readonly stages: readonly Stage[];
}

/** Logical lines: comments and blanks dropped, continuations joined. */
function logicalLines(text: string): string[] {
  const lines: string[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    lines.push(pending + line);
    pending = "";
  }
  if (pending !== "") throw new Error(`the Dockerfile ends inside a continued line: ${pending}`);
  return lines;
}

/** The exec form `["a", "b"]`; the shell form would make /bin/sh PID 1, which swallows SIGTERM. */
function execForm(text: string, what: string): string[] {
  const parsed: unknown = text.startsWith("[") ? JSON.parse(text) : undefined;
  if (!Array.isArray(parsed) || !parsed.every((part) => typeof part === "string")) {
    throw new Error(`${what} must use the exec form ["…", "…"], got ${text}`);
  }
  return parsed;
}

/** Leading `--name=value` flags and the rest. */
function flags(text: string): { flags: Map<string, string>; rest: string } {
  const found = new Map<string, string>();
  let rest = text;
  for (;;) {
    const match = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest);
    if (!match) return { flags: found, rest };
    found.set(match[1] as string, match[2] ?? "");
    rest = rest.slice(match[0].length);
  }
}

function onlyFlags(found: Map<string, string>, allowed: readonly string[], where: string) {
  const unknown = [...found.keys()].filter((flag) => !allowed.includes(flag));
  if (unknown.length > 0) throw new Error(`${where}: flags the replay cannot honour: ${unknown}`);
}

export function parseDockerfile(text: string): Dockerfile {
  // ARG defaults declared before the first FROM, for the FROM lines.
  const args: Record<string, string> = {};
  const stages: { name: string; image: string; instructions: Instruction[] }[] = [];
  for (const line of logicalLines(text)) {
    const space = line.search(/\s/);
    const keyword = line.slice(0, space).toUpperCase();
    const body = line.slice(space).trim();
    const stage = stages.at(-1);
    if (keyword === "ARG" && !stage) {
      const [name, value] = body.split("=", 2) as [string, string | undefined];
      args[name] = value ?? "";
      continue;
    }
    if (keyword === "FROM") {
      const match = /^(\S+)\s+AS\s+(\S+)$/i.exec(body);
      if (!match) throw new Error(`every stage needs a name: FROM ${body}`);
      const image = (match[1] as string).replace(/\$\{(\w+)\}/g, (_, name: string) => {
        const value = args[name];
        if (value === undefined) throw new Error(`FROM uses undeclared ARG ${name}`);
        return value;
      });
      stages.push({ name: match[2] as string, image, instructions: [] });
      continue;
    }
    if (!stage) throw new Error(`${keyword} before the first FROM`);
    const add = (instruction: Instruction) => stage.instructions.push(instruction);
    switch (keyword) {
      case "WORKDIR":
        add({ kind: "workdir", path: body });
        break;
      case "ENV": {
        const values: Record<string, string> = {};
        for (const pair of body.split(/\s+/)) {
          const [key, value] = pair.split("=", 2) as [string, string | undefined];
          if (value === undefined) throw new Error(`ENV needs key=value pairs: ${body}`);
          values[key] = value;
        }
        add({ kind: "env", values });
        break;
      }
      case "COPY": {
        const parsed = flags(body);
        onlyFlags(parsed.flags, ["from"], `COPY ${body}`);
        const paths = parsed.rest.split(/\s+/);
        add({
          kind: "copy",
          from: parsed.flags.get("from"),
          sources: paths.slice(0, -1),
          dest: paths.at(-1) as string,
        });
        break;
      }
      case "RUN": {
        // A cache mount changes what the image keeps, not what the command does.
        const parsed = flags(body);
        onlyFlags(parsed.flags, ["mount"], `RUN ${body}`);
        add({ kind: "run", command: parsed.rest });
        break;
      }
      case "USER":
        add({ kind: "user", user: body });
        break;
      case "EXPOSE":
        add({ kind: "expose", ports: body.split(/\s+/).map(Number) });
        break;
      case "HEALTHCHECK": {
        const parsed = flags(body);
        const command = parsed.rest.replace(/^CMD\s+/, "");
        if (command === parsed.rest) throw new Error(`HEALTHCHECK needs CMD: ${body}`);
        add({
          kind: "healthcheck",
          options: parsed.flags,
          command: execForm(command, "HEALTHCHECK CMD"),
        });
        break;
      }
      case "CMD":
        add({ kind: "cmd", command: execForm(body, "CMD") });
        break;
      default:
        throw new Error(`the replay does not know ${keyword}: ${line}`);
    }
  }
  return { stages };
}

/** `.dockerignore` in the "exclude everything, then list what goes in" form. */
export function allowedContext(dockerignore: string): string[] {
  const lines = dockerignore
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  if (lines[0] !== "*" || !lines.slice(1).every((line) => line.startsWith("!"))) {
    throw new Error(`.dockerignore must be "*" followed by "!path" lines, got ${lines}`);
  }
  return lines.slice(1).map((line) => line.slice(1));
}

/** The state of the last stage once replayed: what `docker run` would start. */
export interface ReplayedImage {
  /** The runtime stage's WORKDIR, as a folder on this machine. */
  readonly workdir: string;
  readonly env: Readonly<Record<string, string>>;
  readonly user: string | undefined;
  readonly expose: readonly number[];
  readonly cmd: readonly string[];
  readonly healthcheck:
    | { readonly options: ReadonlyMap<string, string>; readonly command: readonly string[] }
    | undefined;
}

function sh(command: string, cwd: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", command], {
      cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (data: Buffer) => {
      output += data.toString();
    });
    child.stderr.on("data", (data: Buffer) => {
      output += data.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`RUN ${command} exited with ${code}:\n${output}`));
    });
  });
}

/**
 * Replays `dockerfile` into `root`: each stage gets `root/<stage>` as its
 * filesystem root, COPY takes from the build context (only what
 * .dockerignore lets in) or from an earlier stage, RUN runs through
 * /bin/sh in the stage's WORKDIR with the stage's ENV and this machine's
 * PATH and HOME (for the npm cache a cache mount would give).
 */
export async function replayDockerfile(
  dockerfile: Dockerfile,
  root: string,
  context = PROJECT_ROOT,
): Promise<ReplayedImage> {
  const allowed = allowedContext(await readFile(join(context, ".dockerignore"), "utf8"));
  const stageRoots = new Map<string, string>();
  let last: ReplayedImage | undefined;
  for (const stage of dockerfile.stages) {
    const stageRoot = join(root, stage.name);
    stageRoots.set(stage.name, stageRoot);
    let workdir = "/";
    const env: Record<string, string> = {};
    let user: string | undefined;
    let expose: number[] = [];
    let cmd: string[] = [];
    let healthcheck: ReplayedImage["healthcheck"];
    const host = (path: string) => join(stageRoot, posix.resolve(workdir, path));
    for (const instruction of stage.instructions) {
      switch (instruction.kind) {
        case "workdir":
          workdir = posix.resolve(workdir, instruction.path);
          await mkdir(host("."), { recursive: true });
          break;
        case "env":
          Object.assign(env, instruction.values);
          break;
        case "copy": {
          const fromRoot = instruction.from ? stageRoots.get(instruction.from) : context;
          if (!fromRoot) throw new Error(`COPY --from=${instruction.from}: no such earlier stage`);
          const intoFolder = instruction.dest.endsWith("/") || instruction.sources.length > 1;
          for (const source of instruction.sources) {
            if (!instruction.from && !allowed.includes(source)) {
              throw new Error(`COPY ${source}: .dockerignore keeps it out of the build context`);
            }
            const target = intoFolder
              ? join(host(instruction.dest), basename(source))
              : host(instruction.dest);
            await cp(join(fromRoot, source), target, { recursive: true });
          }
          break;
        }
        case "run":
          await sh(instruction.command, host("."), {
            PATH: process.env.PATH ?? "/usr/bin:/bin",
            HOME: process.env.HOME ?? "/root",
            ...env,
          });
          break;
        case "user":
          user = instruction.user;
          break;
        case "expose":
          expose = [...expose, ...instruction.ports];
          break;
        case "healthcheck":
          healthcheck = { options: instruction.options, command: instruction.command };
          break;
        case "cmd":
          cmd = instruction.command;
          break;
      }
    }
    last = { workdir: host("."), env, user, expose, cmd, healthcheck };
  }
  if (!last) throw new Error("the Dockerfile has no stage");
  return last;
}
