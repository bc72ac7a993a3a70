import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ColumnType } from "../../gen/export/v1/export_pb.js";
import { PROJECT_ROOT } from "./child-server.js";
import type { ColumnInit } from "./tables.js";

/** The team's sample: 1,000 orders, 8 fields, from ../shared/data. */
export const ORDERS_PATH = join(PROJECT_ROOT, "..", "shared", "data", "orders-1k.ndjson");

export type Order = Record<string, string | number | boolean | null>;

export function readOrders(): Order[] {
  return readFileSync(ORDERS_PATH, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Order);
}

export const ORDER_COLUMNS: ColumnInit[] = [
  { key: "order_id", title: "Order", type: ColumnType.NUMBER },
  { key: "customer", title: "Customer" },
  { key: "email", title: "Email" },
  { key: "amount", title: "Amount", type: ColumnType.NUMBER },
  { key: "paid", title: "Paid", type: ColumnType.BOOLEAN },
  { key: "created_at", title: "Created" },
  { key: "city", title: "City" },
  { key: "note", title: "Note" },
];

/** An order as JSON values in column order, for `json_rows`. */
export function orderValues(order: Order): (string | number | boolean | null)[] {
  return ORDER_COLUMNS.map((column) => order[column.key as string] ?? null);
}
