"""A third, independent client stack for the interop tests: Python grpcio
(gRPC C-core, as Debian packages it), with stubs that protoc generated from
proto/ at test time. It runs export cases over and over for a bounded time and
prints one JSON object: per case, how many calls were made and which came back
with anything other than the exact status and details expected.

Usage: grpcio_client.py --target HOST:PORT --cases a,b --seconds S --max-calls N
       [--threads T]
"""

import argparse
import hashlib
import json
import sys
import threading
import time

import grpc

from export.v1 import export_pb2, export_pb2_grpc
from google.rpc import error_details_pb2, status_pb2

COLUMNS = [export_pb2.Column(key="id"), export_pb2.Column(key="name")]


def start(columns=COLUMNS, fmt=export_pb2.FORMAT_CSV, csv=None):
    return export_pb2.ExportRequest(
        start=export_pb2.ExportStart(format=fmt, columns=columns, csv=csv)
    )


# Keys of the longest kind allowed (128 characters), in a script that takes
# three bytes a character in UTF-8 and nine percent-encoded.
LONG_KEYS = [export_pb2.Column(key="键" * 127 + str(i)) for i in range(6)]


def batch(rows):
    return export_pb2.ExportRequest(
        batch=export_pb2.RowBatch(rows=[export_pb2.Row(cells=cells) for cells in rows])
    )


def rows(count, offset=0):
    return [[str(offset + i), f"name {offset + i}, \"quoted\""] for i in range(count)]


# Each case: the messages sent first, whether the client keeps sending batches
# until the answer arrives (else it keeps its side open, silent, until then),
# and the status it must see: code, message (or its start), detail checks.
CASES = {
    "no_columns": dict(
        send=[start(columns=[])],
        code=grpc.StatusCode.INVALID_ARGUMENT,
        message="start.columns: at least one column is required",
        violation="start.columns",
    ),
    "batch_before_start": dict(
        send=[batch(rows(1))],
        code=grpc.StatusCode.INVALID_ARGUMENT,
        message="start: the first message must be start, got batch",
        violation="start",
    ),
    "empty_message": dict(
        send=[export_pb2.ExportRequest()],
        code=grpc.StatusCode.INVALID_ARGUMENT,
        message="start: the first message must be start, got an empty message",
        violation="start",
    ),
    "unknown_format": dict(
        send=[start(fmt=export_pb2.FORMAT_UNSPECIFIED)],
        code=grpc.StatusCode.INVALID_ARGUMENT,
        message="start.format: format is required: FORMAT_CSV, FORMAT_PDF or FORMAT_XLSX",
        violation="start.format",
    ),
    "second_start": dict(
        send=[start(), batch(rows(2)), start()],
        code=grpc.StatusCode.INVALID_ARGUMENT,
        message="batch[1]: start may be sent only once, as the first message",
        violation="batch[1]",
    ),
    "wrong_width": dict(
        send=[start(), batch([["1", "a", "extra"]])],
        code=grpc.StatusCode.INVALID_ARGUMENT,
        message="batch[0].rows[0].cells: row 1 has 3 cells, expected 2 (columns: id, name)",
        violation="batch[0].rows[0].cells",
    ),
    "wrong_width_while_sending": dict(
        send=[start(), batch(rows(100)), batch([["1"]])],
        keep_sending=True,
        code=grpc.StatusCode.INVALID_ARGUMENT,
        message="batch[1].rows[0].cells: row 101 has 1 cells, expected 2 (columns: id, name)",
        violation="batch[1].rows[0].cells",
    ),
    # Messages that quote the request are bounded, so the trailers stay
    # under C-core's 8 KiB (past it: RESOURCE_EXHAUSTED, no details).
    "long_delimiter": dict(
        send=[start(csv=export_pb2.CsvOptions(delimiter="x" * 20_000))],
        code=grpc.StatusCode.INVALID_ARGUMENT,
        message_prefix='start.csv.delimiter: delimiter must be one character other than a quote, CR or LF (got "xxx',
        violation="start.csv.delimiter",
        bounded=True,
    ),
    "long_keys_wrong_width": dict(
        send=[start(columns=LONG_KEYS), batch([["1"]])],
        code=grpc.StatusCode.INVALID_ARGUMENT,
        message_prefix="batch[0].rows[0].cells: row 1 has 1 cells, expected 6 (columns: 键键键",
        violation="batch[0].rows[0].cells",
        bounded=True,
    ),
    # Request metadata past Node's HTTP/2 limits; the messages are C-core's.
    # Too many fields: Node resets the stream with ENHANCE_YOUR_CALM (11).
    "too_many_metadata": dict(
        send=[start()],
        metadata=[(f"x-entry-{i}", "1") for i in range(200)],
        code=grpc.StatusCode.RESOURCE_EXHAUSTED,
        message="Received RST_STREAM with error code 11",
    ),
    # A field over 64 KiB breaks HTTP/2 header compression, so the whole
    # connection fails; Node answers GOAWAY but leaves it open, and the
    # server's keepalive ping, which goes unanswered, closes it: in the
    # test's server, within 0.5 s of pinging and 2 s of waiting.
    "metadata_value_over_64k": dict(
        send=[start()],
        metadata=[("x-large", "a" * 70_000)],
        code=grpc.StatusCode.UNAVAILABLE,
        max_seconds=4,
    ),
    "slots_exhausted": dict(
        send=[start()],
        keep_sending=True,
        code=grpc.StatusCode.RESOURCE_EXHAUSTED,
        message_prefix="all 5 export slots are in use; retry in ",
        reason="EXPORT_SLOTS_EXHAUSTED",
        retry=True,
    ),
    "unauthenticated": dict(
        send=[start()],
        keep_sending=True,
        code=grpc.StatusCode.UNAUTHENTICATED,
        message="authentication required: send the header `authorization: Bearer <token>`",
    ),
    "shutting_down": dict(
        send=[start()],
        keep_sending=True,
        code=grpc.StatusCode.UNAVAILABLE,
        message="the server is shutting down; retry on another instance",
    ),
}


class Requests:
    """The request side: the case's messages, then either more batches or
    silence, until the answer has arrived; never a half-close before it."""

    def __init__(self, first, keep_sending):
        self.first = first
        self.keep_sending = keep_sending
        self.answered = threading.Event()

    def __iter__(self):
        yield from self.first
        sent = 0
        while not self.answered.is_set() and sent < 10_000:
            if self.keep_sending:
                yield batch(rows(50, sent))
                sent += 50
            else:
                self.answered.wait(10)


def status_details(error):
    """The google.rpc.Status the server put in grpc-status-details-bin."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    return None


def unpack(status, message_type):
    found = []
    for detail in status.details if status else ():
        message = message_type()
        if detail.Unpack(message):
            found.append(message)
    return found


def check_error(case, error):
    """What is wrong with the status a case got; None when it is exact."""
    if error.code() != case["code"]:
        return f"{error.code().name}: {error.details()}"
    message = error.details() or ""
    if message != case.get("message", message) or not message.startswith(case.get("message_prefix", "")):
        return f"message {message!r}"
    if case.get("bounded") and (len(message.encode()) > 512 or not message.endswith("…")):
        return f"message of {len(message.encode())} bytes, not cut to 512 with an ellipsis"
    status = status_details(error)
    if status is not None and status.code != case["code"].value[0]:
        return f"details carry code {status.code}"
    if "violation" in case:
        fields = [v.field for b in unpack(status, error_details_pb2.BadRequest) for v in b.field_violations]
        if fields != [case["violation"]]:
            return f"BadRequest fields {fields}"
    if "reason" in case:
        infos = unpack(status, error_details_pb2.ErrorInfo)
        if [i.reason for i in infos] != [case["reason"]] or infos[0].domain != "export.v1":
            return f"ErrorInfo {[(i.domain, i.reason) for i in infos]}"
    if case.get("retry"):
        retries = unpack(status, error_details_pb2.RetryInfo)
        if len(retries) != 1 or retries[0].retry_delay.ToMilliseconds() <= 0:
            return "no RetryInfo with a delay"
    return None


def run_case(stub, name, timeout):
    case = CASES[name]
    requests = Requests(case["send"], case.get("keep_sending", False))
    started = time.monotonic()
    try:
        for _ in stub.Export(iter(requests), timeout=timeout, metadata=case.get("metadata")):
            pass
        return "the export succeeded"
    except grpc.RpcError as error:
        took = time.monotonic() - started
        if took > case.get("max_seconds", timeout):
            return f"answered after {took:.1f} s"
        return check_error(case, error)
    finally:
        requests.answered.set()


def run_export(stub, timeout, row_count):
    """A whole export that may be refused: the file must match its summary,
    and a refusal must be exactly RESOURCE_EXHAUSTED with its details."""
    requests = Requests([start()] + [batch(rows(100, i)) for i in range(0, row_count, 100)], False)
    requests.answered.set()
    digest, size, summary = hashlib.sha256(), 0, None
    try:
        for response in stub.Export(iter(requests), timeout=timeout):
            if response.HasField("chunk"):
                if response.chunk.offset != size:
                    return "ok", f"chunk offset {response.chunk.offset}, expected {size}"
                digest.update(response.chunk.data)
                size += len(response.chunk.data)
            elif response.HasField("summary"):
                summary = response.summary
    except grpc.RpcError as error:
        return "refused", check_error(CASES["slots_exhausted"], error)
    if summary is None:
        return "ok", "no summary"
    if summary.rows != row_count or summary.bytes != size or summary.sha256 != digest.hexdigest():
        return "ok", f"summary {summary.rows} rows {summary.bytes} bytes does not match the file"
    return "ok", None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--cases", required=True, help="case names, or 'exports' for whole exports")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--max-calls", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=10)
    args = parser.parse_args()

    names = args.cases.split(",")
    deadline = time.monotonic() + args.seconds
    lock = threading.Lock()
    tally = {}
    calls = [0]

    def record(name, wrong):
        with lock:
            entry = tally.setdefault(name, {"calls": 0, "wrong": 0, "examples": []})
            entry["calls"] += 1
            if wrong:
                entry["wrong"] += 1
                if len(entry["examples"]) < 5:
                    entry["examples"].append(wrong)

    def take_call():
        with lock:
            if calls[0] >= args.max_calls or time.monotonic() > deadline:
                return False
            calls[0] += 1
            return True

    def worker():
        channel = grpc.insecure_channel(args.target)
        stub = export_pb2_grpc.ExportServiceStub(channel)
        index = 0
        while take_call():
            name = names[index % len(names)]
            index += 1
            if name == "exports":
                outcome, wrong = run_export(stub, args.timeout, args.rows)
                record(outcome, wrong)
            else:
                record(name, run_case(stub, name, args.timeout))
        channel.close()

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    json.dump(tally, sys.stdout)
    print()


if __name__ == "__main__":
    main()
