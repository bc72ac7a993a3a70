import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExportSummary, Format } from "../../gen/export/v1/export_pb.js";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { gate, withTimeout } from "../support/async.js";
import { type ChildServer, spawnServer } from "../support/child-server.js";
import {
  createExportClient,
  type ExportClient,
  type RequestInit,
  requestStream,
} from "../support/connect-client.js";
import { failedExport } from "../support/expect-error.js";
import { NGINX_SITE, type RunningNginx, startNginx } from "../support/nginx.js";
import { eventually } from "../support/server.js";
import { generatedBatches, generatedColumns } from "../support/tables.js";
import { startTcpBalancer } from "../support/tcp-balancer.js";

/**
 * Three server processes behind Debian's nginx with deploy/nginx's
 * configuration, as a user scales out: exports spread over the replicas,
 * refusals pass through intact and never mark a replica down, and a replica
 * that dies takes only its own exports with it.
 */

const REPLICAS = 3;
const SLOTS = 5;
const ROWS_BEFORE_HOLD = 2_000;
const ROWS_AFTER_HOLD = 3_000;
const WIDTH = 6;
/** Short, so that held exports see several of the server's pings through nginx. */
const KEEPALIVE_INTERVAL_MS = 300;
/**
 * Generous: on a loaded machine an answer to a ping can take longer than
 * the interval, and a missed one closes the connection with its exports.
 */
const KEEPALIVE_TIMEOUT_MS = 10_000;

/** nginx's max_fails for the upstream servers, as committed. */
const MAX_FAILS = Number(/max_fails=(\d+)/.exec(readFileSync(NGINX_SITE, "utf8"))?.[1]);

/** What nginx logs when it counts an upstream as failed or has none left. */
const UPSTREAM_FAILURE =
  /upstream (rejected|prematurely|sent|timed out)|no live upstreams|connect\(\) failed/;

let replicas: ChildServer[] = [];
let nginx: RunningNginx;
let client: ExportClient;
beforeAll(async () => {
  replicas = await Promise.all(
    Array.from({ length: REPLICAS }, () =>
      spawnServer(["node", "--import", "tsx", "src/main.ts"], {
        MAX_CONCURRENT_EXPORTS: String(SLOTS),
        // A failed test may leave exports open: teardown must not wait 30 s.
        SHUTDOWN_GRACE_MS: "1000",
        KEEPALIVE_INTERVAL_MS: String(KEEPALIVE_INTERVAL_MS),
        KEEPALIVE_TIMEOUT_MS: String(KEEPALIVE_TIMEOUT_MS),
        LOG_LEVEL: "info",
      }),
    ),
  );
  nginx = await startNginx(replicas.map((replica) => replica.port));
  // One client, so one HTTP/2 connection to nginx carries every export.
  client = createExportClient(nginx.baseUrl, "grpc");
}, 120_000);
afterAll(async () => {
  for (const held of everyExport) held.release();
  await nginx?.stop();
  await Promise.all(replicas.filter(alive).map((r) => r.stop()));
});

function alive(replica: ChildServer): boolean {
  return replica.child.exitCode === null && replica.child.signalCode === null;
}

function logCount(replica: ChildServer, event: string): number {
  return replica.logs.filter((entry) => entry.event === event).length;
}

/** Exports holding a slot on `replica`, from its own log lines. */
function running(replica: ChildServer): number {
  return logCount(replica, "export_started") - logCount(replica, "export_finished");
}

function replicaOf(exportId: string): number {
  return replicas.findIndex((replica) =>
    replica.logs.some((entry) => entry.event === "export_started" && entry.exportId === exportId),
  );
}

interface TrackedResult {
  readonly data: Buffer;
  readonly summary: ExportSummary | undefined;
  readonly error: ConnectError | undefined;
}

interface TrackedExport {
  /** Resolves with the export id once the header arrived: it holds a slot. */
  readonly started: Promise<string>;
  /** Sends the rest of the rows and closes the request stream. */
  release(): void;
  readonly done: Promise<TrackedResult>;
}

/** Every export a test started, so that teardown can let them all end. */
const everyExport: TrackedExport[] = [];

/** A CSV export that sends some rows, then waits for release() before sending the rest. */
function trackedExport(through: ExportClient): TrackedExport {
  const released = gate();
  async function* requests(): AsyncGenerator<RequestInit> {
    yield {
      kind: { case: "start", value: { format: Format.CSV, columns: generatedColumns(WIDTH) } },
    };
    yield* generatedBatches(ROWS_BEFORE_HOLD, WIDTH);
    await released.opened;
    yield* generatedBatches(ROWS_AFTER_HOLD, WIDTH);
  }
  let onStarted: (id: string) => void = () => {};
  const header = new Promise<string>((resolve) => {
    onStarted = resolve;
  });
  const done = (async (): Promise<TrackedResult> => {
    const parts: Buffer[] = [];
    let summary: ExportSummary | undefined;
    try {
      for await (const response of through.export(requestStream(requests()))) {
        if (response.kind.case === "header") onStarted(response.kind.value.exportId);
        if (response.kind.case === "chunk") parts.push(Buffer.from(response.kind.value.data));
        if (response.kind.case === "summary") summary = response.kind.value;
      }
      return { data: Buffer.concat(parts), summary, error: undefined };
    } catch (error) {
      return { data: Buffer.concat(parts), summary, error: ConnectError.from(error) };
    }
  })();
  const failedFirst = done.then((result) => {
    throw new Error(`export ended before its header: ${result.error?.message}`);
  });
  const tracked = { started: Promise.race([header, failedFirst]), release: released.open, done };
  everyExport.push(tracked);
  return tracked;
}

function expectComplete(result: TrackedResult) {
  expect(result.error).toBeUndefined();
  expect(result.summary?.rows).toBe(BigInt(ROWS_BEFORE_HOLD + ROWS_AFTER_HOLD));
  expect(createHash("sha256").update(result.data).digest("hex")).toBe(result.summary?.sha256);
  expect(BigInt(result.data.length)).toBe(result.summary?.bytes);
}

/** Starts `count` held exports through nginx and waits until every one holds a slot. */
async function holdThroughNginx(
  count: number,
): Promise<{ exports: TrackedExport[]; ids: string[] }> {
  // A replica frees a slot just after its summary went out: wait for the
  // last test's exports to be over on every replica.
  await eventually(() => replicas.every((replica) => !alive(replica) || running(replica) === 0));
  const exports = Array.from({ length: count }, () => trackedExport(client));
  const ids = await withTimeout(
    Promise.all(exports.map((held) => held.started)),
    30_000,
    `${count} exports did not start`,
  );
  // The header can reach the client before the replica's log line reaches us.
  await eventually(() => ids.every((id) => replicaOf(id) >= 0));
  return { exports, ids };
}

async function releaseAll(exports: readonly TrackedExport[]): Promise<TrackedResult[]> {
  for (const held of exports) held.release();
  return withTimeout(Promise.all(exports.map((held) => held.done)), 60_000, "exports did not end");
}

async function expectRefusedWithDetails(through: ExportClient) {
  const { error, kinds } = await failedExport(through, [
    { kind: { case: "start", value: { format: Format.CSV, columns: generatedColumns(WIDTH) } } },
  ]);
  expect(error.code).toBe(Code.ResourceExhausted);
  expect(error.rawMessage).toBe(
    `all ${SLOTS} export slots are in use; retry in 1s or lower your concurrency`,
  );
  const [info] = error.findDetails(ErrorInfoSchema);
  expect({ reason: info?.reason, domain: info?.domain, metadata: info?.metadata }).toEqual({
    reason: "EXPORT_SLOTS_EXHAUSTED",
    domain: "export.v1",
    metadata: { limit: String(SLOTS) },
  });
  expect(error.findDetails(RetryInfoSchema)[0]?.retryDelay?.seconds).toBe(1n);
  expect(kinds).toEqual([]);
}

describe("three replicas behind nginx grpc_pass", () => {
  it("spreads 15 concurrent exports over the replicas, all complete with correct checksums, and refuses the 16th with ErrorInfo and RetryInfo", async () => {
    const { exports, ids } = await holdThroughNginx(REPLICAS * SLOTS);
    await eventually(() => replicas.every((replica) => running(replica) === SLOTS));
    const perReplica = [0, 1, 2].map((index) => ids.filter((id) => replicaOf(id) === index).length);
    expect(perReplica).toEqual([SLOTS, SLOTS, SLOTS]);

    await expectRefusedWithDetails(client);
    // Each replica pings nginx's connections and closes one whose ping goes
    // unanswered: held exports must outlive several pings.
    await new Promise((resolve) => setTimeout(resolve, KEEPALIVE_INTERVAL_MS * 5));

    const results = await releaseAll(exports);
    for (const result of results) expectComplete(result);
    expect(new Set(results.map((result) => result.summary?.sha256)).size).toBe(1);
    expect(await nginx.errorLog()).not.toMatch(UPSTREAM_FAILURE);
  });

  it("marks no replica down after a burst of refusals: every replica still gets new exports", async () => {
    expect(MAX_FAILS).toBeGreaterThan(0);
    const full = await holdThroughNginx(REPLICAS * SLOTS);
    const refusedBefore = replicas.map((replica) => logCount(replica, "export_refused"));
    // Well past max_fails on every replica, within fail_timeout: were a
    // refusal a failure to nginx, each replica would be taken out now.
    const burst = REPLICAS * (MAX_FAILS + 2) * 2;
    for (let index = 0; index < burst; index++) await expectRefusedWithDetails(client);
    await eventually(() =>
      replicas.every(
        (replica, index) =>
          logCount(replica, "export_refused") - (refusedBefore[index] as number) > MAX_FAILS,
      ),
    );
    for (const result of await releaseAll(full.exports)) expectComplete(result);

    const startedBefore = replicas.map((replica) => logCount(replica, "export_started"));
    const next = await holdThroughNginx(REPLICAS * 2);
    const results = await releaseAll(next.exports);
    for (const result of results) expectComplete(result);
    const gained = replicas.map(
      (replica, index) => logCount(replica, "export_started") - (startedBefore[index] as number),
    );
    expect(gained).toEqual([2, 2, 2]);
    expect(await nginx.errorLog()).not.toMatch(UPSTREAM_FAILURE);
  });

  it("behind a TCP (L4) balancer instead, one client connection pins every export to one replica", async () => {
    const l4 = await startTcpBalancer(replicas.map((replica) => replica.port));
    try {
      const pinned = createExportClient(l4.baseUrl, "grpc");
      const exports = Array.from({ length: REPLICAS * SLOTS }, () => trackedExport(pinned));
      const started = await Promise.allSettled(exports.map((held) => held.started));
      const ids = started.flatMap((outcome) =>
        outcome.status === "fulfilled" ? [outcome.value] : [],
      );
      expect(ids).toHaveLength(SLOTS);
      expect(new Set(ids.map(replicaOf)).size).toBe(1);
      const results = await releaseAll(exports);
      const refused = results.filter((result) => result.error?.code === Code.ResourceExhausted);
      expect(refused).toHaveLength(REPLICAS * SLOTS - SLOTS);
      for (const result of results.filter((r) => r.error === undefined)) expectComplete(result);
      expect(l4.connections()).toBe(1);
    } finally {
      await l4.stop();
    }
  });

  it("a replica killed mid-run fails only its own exports, without a summary, and new exports go to the two left", async () => {
    const { exports, ids } = await holdThroughNginx(REPLICAS * 2);
    const where = ids.map(replicaOf);
    expect([...where].sort()).toEqual([0, 0, 1, 1, 2, 2]);

    const victim = replicas[0] as ChildServer;
    const exited = new Promise((resolve) => victim.child.once("exit", resolve));
    process.kill(-(victim.child.pid as number), "SIGKILL");
    await exited;

    const results = await releaseAll(exports);
    results.forEach((result, index) => {
      if (where[index] === 0) {
        // nginx resets the client's stream when its upstream connection dies.
        expect(result.error?.code).toBe(Code.Internal);
        expect(result.summary).toBeUndefined();
      } else {
        expectComplete(result);
      }
    });

    const survivors = replicas.slice(1);
    const startedBefore = survivors.map((replica) => logCount(replica, "export_started"));
    const after = await holdThroughNginx(4);
    for (const result of await releaseAll(after.exports)) expectComplete(result);
    expect(after.ids.map(replicaOf).every((index) => index === 1 || index === 2)).toBe(true);
    const gained = survivors.map(
      (replica, index) => logCount(replica, "export_started") - (startedBefore[index] as number),
    );
    expect(gained).toEqual([2, 2]);
  });
});
