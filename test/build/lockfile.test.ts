import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../support/child-server.js";

interface LockEntry {
  optionalDependencies?: Record<string, string>;
}

describe("package-lock.json", () => {
  it("records every platform's optional binaries, so npm ci works on any machine", () => {
    const lock = JSON.parse(readFileSync(join(PROJECT_ROOT, "package-lock.json"), "utf8")) as {
      packages: Record<string, LockEntry>;
    };
    const missing: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      for (const dependency of Object.keys(entry.optionalDependencies ?? {})) {
        const nested = `${path === "" ? "" : `${path}/`}node_modules/${dependency}`;
        if (!lock.packages[nested] && !lock.packages[`node_modules/${dependency}`]) {
          missing.push(`${path || "(root)"} -> ${dependency}`);
        }
      }
    }
    // A registry without a platform's build for the version we use leaves
    // it out of the lockfile: pin a version published for every platform.
    expect(missing).toEqual([]);
  });
});
