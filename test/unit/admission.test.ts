import { describe, expect, it } from "vitest";
import { createAdmission } from "../../src/export/admission.js";
import {
  ShuttingDownError,
  SlotsExhaustedError,
  UserSlotsExhaustedError,
} from "../../src/export/errors.js";

describe("admission", () => {
  it("refuses past the limit at once and frees a slot once per lease", () => {
    const admission = createAdmission({ limit: 2, perUserLimit: 0, retryAfterMs: 500 });
    const first = admission.acquire(undefined);
    admission.acquire(undefined);
    expect(() => admission.acquire(undefined)).toThrow(SlotsExhaustedError);
    first.release();
    first.release();
    expect(admission.inUse()).toBe(1);
    admission.acquire(undefined);
    expect(() => admission.acquire(undefined)).toThrow(SlotsExhaustedError);
  });

  it("refuses new exports once closing, and closes when the last slot is free", async () => {
    const admission = createAdmission({ limit: 2, perUserLimit: 0, retryAfterMs: 500 });
    const lease = admission.acquire(undefined);
    let closed = false;
    const closing = admission.close().then(() => {
      closed = true;
    });
    expect(() => admission.acquire(undefined)).toThrow(ShuttingDownError);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(closed).toBe(false);
    lease.release();
    await closing;
    expect(closed).toBe(true);
  });

  it("limits each user to their share, frees it on release, and still caps the total", () => {
    const admission = createAdmission({ limit: 3, perUserLimit: 2, retryAfterMs: 500 });
    const alice = admission.acquire("alice");
    admission.acquire("alice");
    expect(() => admission.acquire("alice")).toThrow(new UserSlotsExhaustedError("alice", 2, 500));
    admission.acquire("bob");
    expect(() => admission.acquire("carol")).toThrow(SlotsExhaustedError);
    alice.release();
    alice.release();
    expect(admission.inUse()).toBe(2);
    admission.acquire("alice");
    expect(() => admission.acquire("alice")).toThrow(UserSlotsExhaustedError);
  });
});
