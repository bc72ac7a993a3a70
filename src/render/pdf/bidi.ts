/**
 * Right-to-left and mixed-direction text: the Unicode Bidirectional Algorithm
 * (UAX #9, implemented by bidi-js) resolves the direction of every character
 * of a line, and the line's runs are drawn in visual order.
 */
import { createRequire } from "node:module";
import type { Bidi, BidiCharTypeName } from "bidi-js";

// bidi-js is a CommonJS module whose type definitions declare an ES default export.
const bidi: Bidi = (
  createRequire(import.meta.url)("bidi-js") as typeof import("bidi-js").default
)();

/**
 * Characters that need the algorithm: right-to-left letters (Hebrew, Arabic,
 * Syriac, Thaana, N'Ko… and their presentation forms, also in the
 * supplementary planes) and explicit embeddings, overrides and isolates.
 * A line without any is drawn left to right as it is.
 */
const BIDI =
  /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc\u202a-\u202e\u2066-\u2069]|[\ud802\ud803\ud83a\ud83b][\udc00-\udfff]/;

export function needsBidi(text: string): boolean {
  return BIDI.test(text);
}

/**
 * Whether a paragraph reads right to left: its first strong character, outside
 * isolates, is right-to-left (rules P2 and P3).
 */
export function isRtlParagraph(text: string): boolean {
  if (!BIDI.test(text)) return false;
  let isolates = 0;
  for (const char of text) {
    const type = bidi.getBidiCharTypeName(char);
    if (type === "LRI" || type === "RLI" || type === "FSI") isolates++;
    else if (type === "PDI") isolates = Math.max(0, isolates - 1);
    else if (isolates === 0 && type === "L") return false;
    else if (isolates === 0 && (type === "R" || type === "AL")) return true;
  }
  return false;
}

/** A stretch of a line drawn in one font. */
export interface FontRun {
  readonly start: number;
  readonly end: number;
  /** Index of the font in the chain. */
  readonly font: number;
}

/** A piece of a line ready to draw: its text (mirrored where right-to-left) and direction. */
export interface DirectedRun {
  readonly text: string;
  readonly font: number;
  readonly rtl: boolean;
}

const SURROGATE_PAIR = /[\ud800-\udbff][\udc00-\udfff]/g;

/** A BMP character of each bidi class a supplementary-plane character can have. */
const STAND_INS: Partial<Record<BidiCharTypeName, string>> = {
  L: "a",
  R: "\u05d0",
  AL: "\u0627",
  EN: "0",
  AN: "\u0660",
  NSM: "\u0300",
  BN: "\u200b",
};

/**
 * bidi-js classifies UTF-16 code units, so each half of a surrogate pair
 * would count as a left-to-right letter; two BMP stand-ins of the pair's
 * own class (an emoji is a neutral) give both halves the right level.
 */
function classifiable(text: string): string {
  if (!/[\ud800-\udbff]/.test(text)) return text;
  return text.replace(SURROGATE_PAIR, (pair) => {
    const standIn = STAND_INS[bidi.getBidiCharTypeName(pair)] ?? "!";
    return standIn + standIn;
  });
}

/**
 * The runs of one line in visual order: font runs split where the embedding
 * level changes, sequences at each level reversed from the highest level
 * down (rule L2), and mirrored characters, such as brackets, swapped in
 * right-to-left runs (rule L4). A right-to-left run's text stays in logical
 * order: its glyphs are reversed when it is shaped.
 */
export function visualRuns(
  text: string,
  fontRuns: readonly FontRun[],
  rtl: boolean,
): DirectedRun[] {
  const { levels } = bidi.getEmbeddingLevels(classifiable(text), rtl ? "rtl" : "ltr");
  const runs: { start: number; end: number; font: number; level: number }[] = [];
  for (const run of fontRuns) {
    let start = run.start;
    for (let i = run.start + 1; i <= run.end; i++) {
      if (i === run.end || levels[i] !== levels[start]) {
        runs.push({ start, end: i, font: run.font, level: levels[start] ?? 0 });
        start = i;
      }
    }
  }
  let highest = 0;
  let lowestOdd = Number.POSITIVE_INFINITY;
  for (const { level } of runs) {
    highest = Math.max(highest, level);
    if (level % 2 === 1) lowestOdd = Math.min(lowestOdd, level);
  }
  for (let level = highest; level >= lowestOdd; level--) {
    for (let i = 0; i < runs.length; ) {
      if ((runs[i]?.level ?? 0) < level) {
        i++;
        continue;
      }
      let j = i;
      while (j < runs.length && (runs[j]?.level ?? 0) >= level) j++;
      const reversed = runs.slice(i, j).reverse();
      runs.splice(i, j - i, ...reversed);
      i = j;
    }
  }
  const mirrored = bidi.getMirroredCharactersMap(text, levels);
  return runs.map(({ start, end, font, level }) => {
    let piece = text.slice(start, end);
    if (mirrored.size > 0 && level % 2 === 1) {
      // Mirrored characters are all in the BMP: code unit indexes match.
      piece = piece
        .split("")
        .map((unit, i) => mirrored.get(start + i) ?? unit)
        .join("");
    }
    return { text: piece, font, rtl: level % 2 === 1 };
  });
}
