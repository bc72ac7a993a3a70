import type { ColumnDefinition } from "../client/index.js";

/** The columns of generated orders, as in the team's sample orders-1k.ndjson. */
export const ORDER_COLUMNS: readonly ColumnDefinition[] = [
  { key: "order_id", title: "Order", type: "number" },
  { key: "customer", title: "Customer" },
  { key: "email", title: "Email" },
  { key: "amount", title: "Amount", type: "number" },
  { key: "paid", title: "Paid", type: "boolean" },
  { key: "created_at", title: "Created" },
  { key: "city", title: "City" },
  { key: "note", title: "Note" },
];

const FIRST_NAMES = [
  "Ada",
  "Søren",
  "Zoë",
  "José",
  "Łukasz",
  "Björk",
  "Chloé",
  "Nguyễn",
  "Ольга",
  "Дмитрий",
  "Ελένη",
  "Αλέξανδρος",
  "Yusuf",
  "محمد",
  "יעל",
  "Grace",
  "Linus",
  "Ayşe",
  "François",
  "Ingrid",
];
const LAST_NAMES = [
  "Lovelace",
  "Quintero",
  "Ulrich",
  "Müller",
  "Østergaard",
  "García Márquez",
  "Иванова",
  "Παπαδόπουλος",
  "Hopper",
  "O'Brien",
  "Nakamura",
  "Kowalczyk",
  "Dubois",
  "Alvarez",
];
const CITIES = [
  "Zürich",
  "Reykjavík",
  "Berlin",
  "São Paulo",
  "Kraków",
  "Москва",
  "Αθήνα",
  "Tel Aviv-Yafo",
  "Montréal",
  "İstanbul",
  "Ciudad de México",
  "Oslo",
];
const NOTES = [
  "call before delivery",
  "gift, wrap it",
  'customer said "leave it at the door"',
  "multi-line\nnote",
  "=not a formula",
  'deliver to reception, 3rd floor; ask for "Sam"',
  "",
  null,
  "paid by invoice",
  "fragile — handle with care",
];

/** mulberry32: a small seeded generator, so the same seed gives the same orders. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Order = Record<string, string | number | boolean | Date | null>;

/** `count` realistic orders, generated one at a time as they are read. */
export function* generateOrders(count: number, seed = 1): Generator<Order> {
  const next = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const start = Date.UTC(2026, 0, 1);
  for (let index = 0; index < count; index++) {
    const first = pick(FIRST_NAMES);
    const last = pick(LAST_NAMES);
    const local = `${first}.${last}`
      .normalize("NFD")
      .replace(/[^A-Za-z.]/g, "")
      .toLowerCase();
    yield {
      order_id: 100_001 + index,
      customer: `${first} ${last}`,
      email: `${local.replace(/^\.|\.$/g, "") || "customer"}${index}@example.com`,
      amount: Math.round(next() * 500_000) / 100,
      paid: next() < 0.7,
      created_at: new Date(start + Math.floor(next() * 365 * 24 * 60) * 60_000),
      city: pick(CITIES),
      note: pick(NOTES),
    };
  }
}
