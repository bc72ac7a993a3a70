// A raw gRPC client in a process of its own, driven by its parent over IPC,
// so that it keeps sending and reading while the parent's server is held up.
//   open   { frames (base64), end, paused }  starts an Export call
//   send   { frames, delayMs }                writes them after delayMs, then ends
//   resume { delayMs }                        starts reading after delayMs
// It reports ready, opened, then done { status, message, received }, or
// error { message }.
import { connect } from "node:http2";

const session = connect(process.argv[2]);
session.on("error", (error) => {
  process.send({ type: "error", message: String(error) });
});
let stream;
let received = 0;
const decode = (frames) => frames.map((frame) => Buffer.from(frame, "base64"));

process.on("message", (command) => {
  if (command.type === "open") {
    stream = session.request({
      ":method": "POST",
      ":path": "/export.v1.ExportService/Export",
      "content-type": "application/grpc+proto",
      te: "trailers",
    });
    if (command.paused) stream.pause();
    stream.on("data", (data) => {
      received += data.length;
    });
    stream.on("trailers", (trailers) => {
      const message = decodeURIComponent(trailers["grpc-message"] ?? "");
      process.send({ type: "done", status: Number(trailers["grpc-status"]), message, received });
    });
    stream.on("close", () => {
      process.send({ type: "done", status: undefined, rstCode: stream.rstCode, received });
      session.close();
    });
    for (const frame of decode(command.frames)) stream.write(frame);
    if (command.end) stream.end();
    process.send({ type: "opened" });
  } else if (command.type === "send") {
    setTimeout(() => {
      for (const frame of decode(command.frames)) stream.write(frame);
      stream.end();
    }, command.delayMs);
  } else if (command.type === "resume") {
    setTimeout(() => stream.resume(), command.delayMs);
  }
});
process.send({ type: "ready" });
