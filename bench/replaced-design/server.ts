/**
 * The design Export@Scale replaces, kept as a baseline: a plain HTTP/1.1
 * endpoint that receives all rows as one JSON body, parses it whole, renders
 * the whole CSV to one buffer with csv-stringify's sync API and sends it.
 * Nothing goes out before the last row is in, and every row is in memory
 * three times over (the body, the parsed arrays, the CSV).
 *
 *   POST /  {"columns": ["ID", …], "rows": [["100000", …], …]}  →  text/csv
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { stringify } from "csv-stringify/sync";
import { CSV_OPTIONS } from "../rows.js";

interface Body {
  readonly columns: string[];
  readonly rows: string[][];
}

const server = createServer(async (request, response) => {
  const parts: Buffer[] = [];
  for await (const part of request as AsyncIterable<Buffer>) parts.push(part);
  const { columns, rows } = JSON.parse(Buffer.concat(parts).toString("utf8")) as Body;
  const csv = Buffer.from(stringify([columns, ...rows], CSV_OPTIONS));
  response.writeHead(200, {
    "content-type": "text/csv; charset=utf-8",
    "content-length": csv.length,
  });
  response.end(csv);
});

server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? "127.0.0.1", () => {
  const { port } = server.address() as AddressInfo;
  // The line test/support/child-server.ts waits for.
  console.log(JSON.stringify({ msg: "replaced design listening", port }));
});
