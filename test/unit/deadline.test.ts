import type { IncomingHttpHeaders } from "node:http2";
import { describe, expect, it } from "vitest";
import { dropUnreachableDeadline } from "../../src/transport/deadline.js";

const withoutFarDeadline = (headers: IncomingHttpHeaders) => {
  dropUnreachableDeadline(headers);
  return headers;
};

describe("dropUnreachableDeadline", () => {
  it("drops gRPC deadlines past Node's 2^31 - 1 ms timers and keeps the rest", () => {
    expect(withoutFarDeadline({ "grpc-timeout": "596H" })).toEqual({ "grpc-timeout": "596H" });
    expect(withoutFarDeadline({ "grpc-timeout": "597H" })).toEqual({});
    expect(withoutFarDeadline({ "grpc-timeout": "2592000S" })).toEqual({});
    expect(withoutFarDeadline({ "grpc-timeout": "2147483S" })).toEqual({
      "grpc-timeout": "2147483S",
    });
    expect(withoutFarDeadline({ "grpc-timeout": "2147484S" })).toEqual({});
    expect(withoutFarDeadline({ "grpc-timeout": "99999999n" })).toEqual({
      "grpc-timeout": "99999999n",
    });
  });

  it("drops Connect deadlines past them too", () => {
    expect(withoutFarDeadline({ "connect-timeout-ms": "2147483647" })).toEqual({
      "connect-timeout-ms": "2147483647",
    });
    expect(withoutFarDeadline({ "connect-timeout-ms": "2147483648" })).toEqual({});
  });

  it("leaves a malformed header for connect-node to refuse", () => {
    for (const value of ["10X", "123456789S", "-1", ""]) {
      expect(withoutFarDeadline({ "grpc-timeout": value })).toEqual({ "grpc-timeout": value });
    }
    expect(withoutFarDeadline({ "connect-timeout-ms": "12345678901" })).toEqual({
      "connect-timeout-ms": "12345678901",
    });
  });
});
