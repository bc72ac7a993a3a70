import { describe, expect, it } from "vitest";
import { createAdmission } from "../../src/export/admission.js";
import { ShuttingDownError, SlotsExhaustedError } from "../../src/export/errors.js";

describe("admission", () => {
  it("refuses past the limit at once and frees a slot once per lease", () => {
    const admission = createAdmission({ limit: 2, retryAfterMs: 500 });
    const first = admission.acquire();
    admission.acquire();
    expect(() => admission.acquire()).toThrow(SlotsExhaustedError);
    first.release();
    first.release();
    expect(admission.inUse()).toBe(1);
    admission.acquire();
    expect(() => admission.acquire()).toThrow(SlotsExhaustedError);
  });

  it("refuses new exports once closing, and closes when the last slot is free", async () => {
    const admission = createAdmission({ limit: 2, retryAfterMs: 500 });
    const lease = admission.acquire();
    let closed = false;
    const closing = admission.close().then(() => {
      closed = true;
    });
    expect(() => admission.acquire()).toThrow(ShuttingDownError);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(closed).toBe(false);
    lease.release();
    await closing;
    expect(closed).toBe(true);
  });
});
