/**
 * Run as its own process (`node --import tsx`): makes a PDF renderer,
 * renders a PDF of Latin and Greek text, then one with Chinese, and prints
 * the process's ArrayBuffer bytes before and after each, as JSON. Font files are read into ArrayBuffers and kept
 * for the process's life, so the figures show which fonts were read.
 */
import { createPdfRenderer } from "../../src/render/pdf/index.js";
import { pdfJob, renderPdf } from "./pdf.js";

const job = pdfJob([
  { key: "city", title: "City", kind: "text", width: undefined },
  { key: "note", title: "Note", kind: "text", width: undefined },
]);
/** ArrayBuffer bytes still reachable (run with --expose-gc): the fonts, not a render's spent buffers. */
const arrayBuffers = () => {
  globalThis.gc?.();
  return process.memoryUsage().arrayBuffers;
};

const started = arrayBuffers();
const renderer = createPdfRenderer();
await renderPdf(
  renderer,
  [
    ["Zürich", "Αθήνα"],
    ["Reykjavík", "**bold** is not markup"],
  ],
  job,
);
const latin = arrayBuffers();
await renderPdf(renderer, [["北京", "中文"]], job);
const chinese = arrayBuffers();
process.stdout.write(JSON.stringify({ started, latin, chinese }));
