/** One sample line of the Prometheus text exposition format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Scrape {
  readonly samples: readonly Sample[];
  /** Metric family name → type, from the `# TYPE` lines. */
  readonly types: ReadonlyMap<string, string>;
}

const SPECIAL_VALUES: Readonly<Record<string, number>> = {
  "+Inf": Number.POSITIVE_INFINITY,
  "-Inf": Number.NEGATIVE_INFINITY,
  NaN: Number.NaN,
};

/** `{a="1",b="x\"y"}` from `start` (the brace); the labels and the index after `}`. */
function parseLabels(line: string, start: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let index = start + 1;
  for (;;) {
    while (line[index] === " " || line[index] === ",") index++;
    if (line[index] === "}") return [labels, index + 1];
    const equals = line.indexOf("=", index);
    if (equals < 0 || line[equals + 1] !== '"') throw new Error(`bad labels in: ${line}`);
    const name = line.slice(index, equals).trim();
    let value = "";
    index = equals + 2;
    while (line[index] !== '"') {
      if (index >= line.length) throw new Error(`unterminated label value in: ${line}`);
      if (line[index] === "\\") {
        const escaped = line[index + 1];
        value += escaped === "n" ? "\n" : (escaped ?? "");
        index += 2;
      } else {
        value += line[index];
        index++;
      }
    }
    labels[name] = value;
    index++;
  }
}

/** Parses the text format (version 0.0.4), as prom-client writes it. */
export function parseScrape(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ");
      if (name && type) types.set(name, type);
      continue;
    }
    if (line.trim() === "" || line.startsWith("#")) continue;
    const brace = line.indexOf("{");
    const space = line.indexOf(" ");
    let name: string;
    let labels: Record<string, string> = {};
    let rest: string;
    if (brace >= 0 && (space < 0 || brace < space)) {
      name = line.slice(0, brace);
      let after: number;
      [labels, after] = parseLabels(line, brace);
      rest = line.slice(after);
    } else {
      name = line.slice(0, space);
      rest = line.slice(space);
    }
    const [valueText = ""] = rest.trim().split(/\s+/);
    samples.push({ name, labels, value: SPECIAL_VALUES[valueText] ?? Number(valueText) });
  }
  return { samples, types };
}

/** Sum of a metric's samples whose labels include `match`. */
export function sum(scrape: Scrape, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const sample of scrape.samples) {
    if (sample.name !== name) continue;
    if (Object.entries(match).every(([label, value]) => sample.labels[label] === value)) {
      total += sample.value;
    }
  }
  return total;
}

/**
 * The `q` quantile of a histogram over all its series, as PromQL's
 * histogram_quantile computes it from the cumulative buckets: linear within
 * the bucket the rank falls in, the highest finite bound when it falls in
 * +Inf. Undefined when the histogram has no observation.
 */
export function histogramQuantile(scrape: Scrape, name: string, q: number): number | undefined {
  const byBound = new Map<number, number>();
  for (const sample of scrape.samples) {
    if (sample.name !== `${name}_bucket`) continue;
    const bound = SPECIAL_VALUES[sample.labels.le ?? ""] ?? Number(sample.labels.le);
    byBound.set(bound, (byBound.get(bound) ?? 0) + sample.value);
  }
  const buckets = [...byBound.entries()].sort(([a], [b]) => a - b);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return undefined;
  const rank = q * total;
  // Found: the last bucket holds every observation.
  const index = buckets.findIndex(([, cumulative]) => cumulative >= rank);
  const [bound, cumulative] = buckets[index] as [number, number];
  const [lowerBound, lowerCount] = index === 0 ? [0, 0] : (buckets[index - 1] as [number, number]);
  if (bound === Number.POSITIVE_INFINITY) return lowerBound;
  return lowerBound + (bound - lowerBound) * ((rank - lowerCount) / (cumulative - lowerCount));
}
