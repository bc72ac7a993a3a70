import { SingleBar } from "cli-progress";
import { bytes, count } from "./report.js";

export interface ProgressSource {
  /** Rows sent and file bytes received so far. */
  progress(): { readonly rowsSent: number; readonly bytesReceived: number };
  /** Input bytes read so far, and the input's size when known. */
  inputBytes(): number;
  readonly inputTotal: number | undefined;
}

export interface Progress {
  stop(): void;
}

const REDRAW_MS = 200;

/**
 * A one-line progress display on stderr, redrawn in place (cli-progress):
 * rows sent, bytes received, rate and elapsed time, with a bar and a
 * percentage of the input read when the input's size is known.
 */
export function showProgress(source: ProgressSource): Progress {
  const known = source.inputTotal !== undefined && source.inputTotal > 0;
  const bar = new SingleBar({
    stream: process.stderr,
    format: `${known ? "{bar} {percentage}% | " : ""}{rows} rows sent | {received} received | {rate} rows/s | {duration_formatted}`,
    hideCursor: null,
    fps: 1000 / REDRAW_MS,
    barsize: 24,
  });
  const startedAt = performance.now();
  const payload = () => {
    const { rowsSent, bytesReceived } = source.progress();
    const elapsed = (performance.now() - startedAt) / 1000;
    return {
      rows: count(rowsSent),
      received: bytes(bytesReceived),
      rate: count(elapsed > 0 ? rowsSent / elapsed : 0),
    };
  };
  const read = () => (known ? source.inputBytes() : 0);
  bar.start(known ? (source.inputTotal as number) : 1, 0, payload());
  const timer = setInterval(() => bar.update(read(), payload()), REDRAW_MS);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      bar.update(read(), payload());
      bar.stop();
    },
  };
}
