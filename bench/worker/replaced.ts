import { createHash } from "node:crypto";
import { once } from "node:events";
import { type IncomingMessage, request } from "node:http";
import { BATCH, batchesOf, TITLES } from "../rows.js";
import { startClock } from "./clock.js";
import type { JobResult, ReplacedJob } from "./jobs.js";

const HEAD = Buffer.from(`{"columns":${JSON.stringify(TITLES)},"rows":[`);
/** The batch's rows as JSON without the brackets, so batches join with a comma. */
const BATCH_JSON = Buffer.from(JSON.stringify(BATCH).slice(1, -1));
const COMMA = Buffer.from(",");
const TAIL = Buffer.from("]}");

/**
 * Posts all rows as one JSON body and reads the CSV answer. The body is
 * written as fast as the socket takes it, so the replaced design gets its
 * best case: nothing waits on the client.
 */
export async function runReplaced(job: ReplacedJob): Promise<JobResult> {
  const batches = batchesOf(job.rows);
  const length = HEAD.length + batches * BATCH_JSON.length + (batches - 1) + TAIL.length;
  const clock = startClock();
  const post = request(job.url, {
    method: "POST",
    headers: { "content-type": "application/json", "content-length": length },
  });
  const answered = once(post, "response") as Promise<[IncomingMessage]>;
  const write = async (data: Buffer) => {
    if (!post.write(data)) await once(post, "drain");
  };
  await write(HEAD);
  for (let sent = 0; sent < batches; sent++) {
    if (sent > 0) await write(COMMA);
    await write(BATCH_JSON);
  }
  post.end(TAIL);

  const [response] = await answered;
  if (response.statusCode !== 200)
    throw new Error(`the replaced design answered ${response.statusCode}`);
  const hash = createHash("sha256");
  let bytes = 0;
  let firstByteMs: number | undefined;
  for await (const data of response as AsyncIterable<Buffer>) {
    firstByteMs ??= clock.elapsedMs();
    bytes += data.length;
    hash.update(data);
  }
  const { seconds, cpuUs } = clock.stop();
  return {
    rows: job.rows,
    bytes,
    startedAt: clock.startedAt,
    seconds,
    cpuUs,
    ...(firstByteMs !== undefined && { firstByteMs }),
    sha256: hash.digest("hex"),
  };
}
