import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { PROJECT_ROOT } from "../support/child-server.js";
import { parseDockerfile } from "../support/dockerfile.js";
import { parseYamlDocuments } from "../support/manifests.js";

/**
 * The GitHub Actions workflow gives .ci/run a machine and adds what needs
 * one: buf breaking against main and a real image build. GitHub runs it,
 * not this suite, so here it is held to the rest of the repository.
 */

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}

interface Job {
  "runs-on"?: string;
  container?: string;
  steps?: Step[];
}

const [workflow] = parseYamlDocuments(
  readFileSync(join(PROJECT_ROOT, ".github/workflows/ci.yml"), "utf8"),
  "ci.yml",
) as [{ on: Record<string, unknown>; jobs: Record<string, Job> }];
const jobs = Object.values(workflow.jobs);

function jobRunning(pattern: RegExp): Job {
  const job = jobs.find((candidate) =>
    candidate.steps?.some((step) => pattern.test(step.run ?? "")),
  );
  if (!job) throw new Error(`no job runs ${pattern}`);
  return job;
}

describe(".github/workflows/ci.yml", () => {
  it("runs .ci/run on every push and pull request, on the image's Node.js version", () => {
    expect(Object.keys(workflow.on).sort()).toEqual(["pull_request", "push"]);
    const job = jobRunning(/^bash \.ci\/run$/);
    const base = parseDockerfile(readFileSync(join(PROJECT_ROOT, "Dockerfile"), "utf8")).stages[0]
      ?.image;
    const nodeVersion = /^node:(\d+\.\d+\.\d+)-bookworm-slim$/.exec(base ?? "")?.[1];
    expect(job.container).toBe(`node:${nodeVersion}-bookworm`);
  });

  it("checks the API for breaking changes against main, with main's history fetched", () => {
    const job = jobRunning(/buf breaking/);
    const checkout = job.steps?.find((step) => step.uses?.startsWith("actions/checkout@"));
    expect(checkout?.with?.["fetch-depth"]).toBe(0);
    const script = job.steps?.map((step) => step.run ?? "").join("\n") ?? "";
    expect(script).toContain(
      "git fetch --no-tags origin +refs/heads/main:refs/remotes/origin/main",
    );
    expect(script).toContain("npx buf breaking --against '.git#branch=origin/main'");
  });

  it("builds the image and stops it within a timeout longer than SHUTDOWN_GRACE_MS", () => {
    const script =
      jobRunning(/docker build/)
        .steps?.map((step) => step.run ?? "")
        .join("\n") ?? "";
    const stopTimeout = Number(/--stop-timeout (\d+)/.exec(script)?.[1]);
    expect(stopTimeout * 1000).toBeGreaterThan(loadConfig([], {}).shutdownGraceMs);
    expect(script).toContain("--read-only");
    expect(script).toContain("{{.State.Health.Status}}");
  });
});
