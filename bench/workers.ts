import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Job, JobResult, WorkerReply } from "./worker/jobs.js";

const WORKER = fileURLToPath(new URL("./worker/main.ts", import.meta.url));

/** A worker process (bench/worker/main.ts) that runs one job at a time. */
export class Worker {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, (reply: WorkerReply) => void>();
  private nextId = 0;

  constructor() {
    this.child = fork(WORKER, { execArgv: ["--import", "tsx"] });
    this.child.on("message", (reply: WorkerReply) => this.pending.get(reply.id)?.(reply));
    this.child.on("exit", (code, signal) => {
      for (const settle of this.pending.values()) {
        settle({ id: -1, error: `the bench worker exited (${code ?? signal})` });
      }
    });
  }

  run(job: Job): Promise<JobResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, (reply) => {
        this.pending.delete(id);
        if ("error" in reply)
          reject(new Error(`${job.kind} job failed in a worker: ${reply.error}`));
        else resolve(reply.result);
      });
      this.child.send({ id, job });
    });
  }

  close(): void {
    if (this.child.connected) this.child.disconnect();
  }
}
