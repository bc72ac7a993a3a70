import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { type ExportClient, type RequestInit, requestStream } from "./connect-client.js";

export interface ExportFailure {
  readonly error: ConnectError;
  readonly kinds: string[];
}

/** Runs an export that must fail; returns the error and what arrived first. */
export async function failedExport(
  client: ExportClient,
  messages: Iterable<RequestInit> | AsyncIterable<RequestInit>,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<ExportFailure> {
  const kinds: string[] = [];
  try {
    for await (const response of client.export(requestStream(messages), options)) {
      kinds.push(response.kind.case ?? "empty");
    }
  } catch (error) {
    return { error: ConnectError.from(error), kinds };
  }
  throw new Error(`export succeeded, expected an error (got ${kinds.join(", ")})`);
}

/** Asserts INVALID_ARGUMENT with the message and a matching BadRequest. */
export async function expectInvalidArgument(
  client: ExportClient,
  messages: Iterable<RequestInit> | AsyncIterable<RequestInit>,
  field: string,
  description: string,
): Promise<ExportFailure> {
  const failure = await failedExport(client, messages);
  expect(failure.error.code).toBe(Code.InvalidArgument);
  expect(failure.error.rawMessage).toBe(`${field}: ${description}`);
  const [badRequest] = failure.error.findDetails(BadRequestSchema);
  expect(badRequest?.fieldViolations.map((v) => ({ ...v }))).toEqual([
    expect.objectContaining({ field, description }),
  ]);
  expect(failure.kinds).not.toContain("summary");
  return failure;
}
