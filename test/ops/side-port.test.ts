import { request as httpRequest } from "node:http";
import { connect as connectTcp } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExportClient } from "../support/connect-client.js";
import { holdExport, sideGet } from "../support/metrics.js";
import { type RunningServer, startServer } from "../support/server.js";

describe("the side port", () => {
  let running: RunningServer;
  beforeAll(async () => {
    running = await startServer();
  });
  afterAll(() => running.close());

  it("listens on its own port", () => {
    expect(running.metricsPort).toBeGreaterThan(0);
    expect(running.metricsPort).not.toBe(running.port);
  });

  it("answers /healthz and /readyz with 200 while serving", async () => {
    expect(await sideGet(running.metricsUrl, "/healthz")).toMatchObject({
      status: 200,
      body: "ok\n",
    });
    expect(await sideGet(running.metricsUrl, "/readyz")).toMatchObject({
      status: 200,
      body: "ready\n",
    });
  });

  it("serves /metrics in the Prometheus text format", async () => {
    const metrics = await sideGet(running.metricsUrl, "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(metrics.body).toMatch(/^# TYPE export_requests_total counter$/m);
  });

  it("takes a request target in absolute form, as HTTP/1.1 servers must", async () => {
    const answer = await new Promise<{ status: number | undefined; body: string }>(
      (resolve, reject) => {
        const request = httpRequest({
          host: "127.0.0.1",
          port: running.metricsPort,
          path: `http://example.internal/readyz?probe=1`,
        });
        request.on("response", (response) => {
          let body = "";
          response.setEncoding("utf8").on("data", (text: string) => {
            body += text;
          });
          response.on("end", () => resolve({ status: response.statusCode, body }));
        });
        request.on("error", reject);
        request.end();
      },
    );
    expect(answer).toEqual({ status: 200, body: "ready\n" });
  });

  it("answers a target no URL parser takes with 400, and stays up", async () => {
    const status = await new Promise<string>((resolve, reject) => {
      const socket = connectTcp(running.metricsPort, "127.0.0.1");
      let text = "";
      socket.setEncoding("utf8").on("data", (data: string) => {
        text += data;
      });
      socket.on("end", () => resolve(text.split("\r\n")[0] ?? ""));
      socket.on("error", reject);
      socket.end("GET http://[::1/readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    });
    expect(status).toBe("HTTP/1.1 400 Bad Request");
    expect((await sideGet(running.metricsUrl, "/healthz")).status).toBe(200);
  });

  it("answers 404 for other paths and 405 for other methods", async () => {
    expect(await sideGet(running.metricsUrl, "/nope")).toMatchObject({
      status: 404,
      body: "not found; try /metrics, /healthz or /readyz\n",
    });
    const post = await fetch(`${running.metricsUrl}/metrics`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    await post.text();
  });
});

describe("the side port during shutdown", () => {
  it("turns /readyz to 503 once close() begins, keeps /healthz and /metrics, then closes", async () => {
    const running = await startServer();
    const held = holdExport(createExportClient(running.baseUrl, "grpc"));
    await held.started;
    expect((await sideGet(running.metricsUrl, "/readyz")).status).toBe(200);

    // close() waits for the running export to finish: shutdown is under way.
    const closing = running.server.close();
    expect(await sideGet(running.metricsUrl, "/readyz")).toMatchObject({
      status: 503,
      body: "not ready: the server is shutting down\n",
    });
    expect((await sideGet(running.metricsUrl, "/healthz")).status).toBe(200);
    const metrics = await sideGet(running.metricsUrl, "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^export_running 1$/m);

    await held.finish();
    await closing;
    await expect(fetch(`${running.metricsUrl}/healthz`)).rejects.toThrow(TypeError);
  });
});
