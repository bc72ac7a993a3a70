/**
 * A bench worker: its own process, so a client's or baseline's CPU and
 * memory are its own and five clients can run on five processes. It runs the
 * jobs the bench sends over IPC, one at a time, and exits when the bench
 * disconnects.
 */
import { csvStringifyStream, csvStringifySync } from "../baselines/csv-stringify.js";
import { plainPdfkit } from "../baselines/pdfkit.js";
import { runExport } from "./export.js";
import type { Job, JobResult, WorkerReply, WorkerRequest } from "./jobs.js";
import { runReplaced } from "./replaced.js";

function run(job: Job): Promise<JobResult> {
  switch (job.kind) {
    case "export":
      return runExport(job);
    case "replaced":
      return runReplaced(job);
    case "csv-stringify-stream":
      return csvStringifyStream(job.rows);
    case "csv-stringify-sync":
      return csvStringifySync(job.rows);
    case "pdfkit":
      return plainPdfkit(job.rows);
  }
}

function reply(message: WorkerReply) {
  process.send?.(message);
}

process.on("message", ({ id, job }: WorkerRequest) => {
  run(job).then(
    (result) => reply({ id, result }),
    (error: unknown) =>
      reply({ id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
// Open HTTP/2 sessions would keep the process alive after the bench is done.
process.on("disconnect", () => process.exit(0));
