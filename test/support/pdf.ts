import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/** pdfinfo's page count and size for a PDF file; fails for an invalid file. */
export async function pdfinfo(
  path: string,
): Promise<{ pages: number; pageSize: string; raw: string }> {
  const { stdout } = await run("pdfinfo", [path]);
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(stdout)?.[1] ?? "";
  return { pages: Number(field("Pages")), pageSize: field("Page size"), raw: stdout };
}

/** Text of every page, laid out like the page (pdftotext -layout). */
export async function pageTexts(path: string): Promise<string[]> {
  const { stdout } = await run("pdftotext", ["-layout", "-enc", "UTF-8", path, "-"], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const pages = stdout.split("\f");
  if (pages.at(-1)?.trim() === "") pages.pop();
  return pages;
}

/** Names of the fonts embedded in a PDF (pdffonts). */
export async function pdffonts(path: string): Promise<string> {
  return (await run("pdffonts", [path])).stdout;
}
