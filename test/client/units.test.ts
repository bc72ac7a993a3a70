import { describe, expect, it } from "vitest";
import { checkMetrics } from "../../src/cli/assert.js";
import { parseColumns } from "../../src/cli/export-command.js";
import { histogramQuantile, parseScrape, sum } from "../../src/cli/prometheus.js";
import { UsageError } from "../../src/cli/report.js";
import { retryDelayMs } from "../../src/client/retry.js";

describe("retryDelayMs", () => {
  it("waits at least the server's delay, up to that delay times 2^attempt, never past the cap", () => {
    expect(retryDelayMs(1_000, 1, 30_000, () => 0)).toBe(1_000);
    expect(retryDelayMs(1_000, 1, 30_000, () => 1)).toBe(2_000);
    expect(retryDelayMs(1_000, 3, 30_000, () => 1)).toBe(8_000);
    expect(retryDelayMs(1_000, 3, 30_000, () => 0.5)).toBe(4_500);
    expect(retryDelayMs(1_000, 10, 30_000, () => 1)).toBe(30_000);
    // A server delay past the cap is cut to the cap.
    expect(retryDelayMs(60_000, 1, 30_000, () => 0.5)).toBe(30_000);
  });
});

const SCRAPE = `# HELP export_duration_seconds Time.
# TYPE export_duration_seconds histogram
export_duration_seconds_bucket{le="0.1",format="csv",size_class="lt_1k"} 2
export_duration_seconds_bucket{le="0.5",format="csv",size_class="lt_1k"} 6
export_duration_seconds_bucket{le="1",format="csv",size_class="lt_1k"} 8
export_duration_seconds_bucket{le="+Inf",format="csv",size_class="lt_1k"} 8
export_duration_seconds_bucket{le="0.1",format="pdf",size_class="lt_1k"} 0
export_duration_seconds_bucket{le="0.5",format="pdf",size_class="lt_1k"} 0
export_duration_seconds_bucket{le="1",format="pdf",size_class="lt_1k"} 1
export_duration_seconds_bucket{le="+Inf",format="pdf",size_class="lt_1k"} 2
export_duration_seconds_sum{format="csv",size_class="lt_1k"} 3
export_duration_seconds_count{format="csv",size_class="lt_1k"} 8
# TYPE export_requests_total counter
export_requests_total{format="csv",outcome="ok",user="a \\"quoted\\", name"} 8
export_requests_total{format="pdf",outcome="ok",user="anonymous"} 2
export_requests_total{format="unknown",outcome="rejected",user="anonymous"} 5
export_requests_total{format="unknown",outcome="invalid_argument",user="anonymous"} 0
export_requests_total{format="unknown",outcome="unauthenticated",user="anonymous"} 3
export_requests_total{format="csv",outcome="unavailable",user="anonymous"} 4
# TYPE export_rejected_total counter
export_rejected_total{reason="shutting_down"} 4
export_rejected_total{reason="unauthenticated"} 3
process_start_time_seconds 1.7e9
`;

describe("parseScrape", () => {
  it("reads labels with escapes, special values and types", () => {
    const scrape = parseScrape(SCRAPE);
    expect(scrape.types.get("export_duration_seconds")).toBe("histogram");
    expect(scrape.samples).toContainEqual({
      name: "export_requests_total",
      labels: { format: "csv", outcome: "ok", user: 'a "quoted", name' },
      value: 8,
    });
    expect(sum(scrape, "export_requests_total", { outcome: "ok" })).toBe(10);
    expect(sum(scrape, "process_start_time_seconds")).toBe(1.7e9);
  });

  it("computes a quantile as histogram_quantile does, over every series", () => {
    const scrape = parseScrape(SCRAPE);
    // 10 observations: rank 5 falls in (0.1, 0.5] holding observations 3 to 6.
    expect(histogramQuantile(scrape, "export_duration_seconds", 0.5)).toBeCloseTo(
      0.1 + 0.4 * (3 / 4),
    );
    // Rank 9.5 falls in +Inf: the highest finite bound.
    expect(histogramQuantile(scrape, "export_duration_seconds", 0.95)).toBe(1);
    expect(histogramQuantile(parseScrape(""), "export_duration_seconds", 0.95)).toBeUndefined();
  });
});

describe("checkMetrics", () => {
  it("fails every check on a scrape without the export metrics", () => {
    const checks = checkMetrics(parseScrape("process_start_time_seconds 1\n"), {
      p95Ms: 1_000,
      minSuccessRatio: 0.9,
    });
    expect(checks.map((check) => [check.name, check.pass])).toEqual([
      ["metrics present", false],
      ["requests counted", false],
      ["p95 duration", false],
      ["success ratio", false],
      ["slots respected", false],
      ["bytes exported", false],
    ]);
    expect(checks[2]?.detail).toBe("no successful export measured yet");
  });

  it("leaves refusals out of the success ratio, bad tokens and shutdown refusals included", () => {
    const [, , , ratio] = checkMetrics(parseScrape(SCRAPE), { p95Ms: 1_000, minSuccessRatio: 1 });
    expect(ratio).toEqual({
      name: "success ratio",
      pass: true,
      detail: "1.000 >= 1 (10 ok of 10 admitted)",
    });
  });
});

describe("parseColumns", () => {
  it("reads keys with optional types", () => {
    expect(parseColumns("id:number, name,paid:boolean")).toEqual([
      { key: "id", type: "number" },
      { key: "name", type: "text" },
      { key: "paid", type: "boolean" },
    ]);
    expect(() => parseColumns("id:date")).toThrow(UsageError);
    expect(() => parseColumns("a,,b")).toThrow("--columns has an empty key: a,,b");
  });
});
