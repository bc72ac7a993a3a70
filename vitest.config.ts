import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real servers and measure memory: keep files
    // apart in their own processes, two at a time on a 2-core machine.
    pool: "forks",
    maxWorkers: 2,
  },
});
