/**
 * Fitting cell text into a column: cleaning, wrapping and cutting with "…".
 * Pure string work; the caller supplies the width measurement.
 */
import { isRtlParagraph } from "./bidi.js";

export const ELLIPSIS = "…";

/** Measures a string in points (in the font and size it will be drawn with). */
export type Measure = (text: string) => number;

export interface Line {
  readonly text: string;
  readonly width: number;
  /** Set when the line's paragraph reads right to left (see {@link isRtlParagraph}). */
  readonly rtl?: true;
}

function line(text: string, width: number, rtl: boolean): Line {
  return rtl ? { text, width, rtl } : { text, width };
}

const NO_LINES: readonly Line[] = [];

// Anything that needs cleaning: C0/C1 controls (tab and newlines included),
// DEL, line/paragraph separators.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const SPECIAL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: vertical tab and form feed end lines
const NEWLINES = /\r\n|[\r\n\u2028\u2029\u000b\u000c\u0085]/g;
const TABS = /\t/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
const SPACES = / +/;

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0xa0;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

// Grapheme clusters as Unicode defines them: a letter with its marks, an
// emoji with its modifiers and ZWJ sequence, a flag's two letters, an Indic
// conjunct.
const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });
// Code units that can join a cluster to their neighbour, surrogates aside:
// marks, format characters (ZWJ, prepended signs), Hangul jamo and the few
// letters Unicode treats as marks.
const JOINS_CLUSTERS =
  /[\p{M}\p{Cf}\u0d4e\u0e33\u0eb3\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff\uff9e\uff9f]/u;

/**
 * Whether a code unit may belong to one cluster with its neighbour. Between
 * two that cannot, there is a cluster boundary (CR LF aside, which
 * paragraphs() has made one newline) and no segmenter is needed: Latin,
 * Greek, Cyrillic, CJK and most Arabic and Hebrew text never asks one.
 */
function mayJoin(code: number): boolean {
  if (!(code >= 0x300)) return false;
  if (code >= 0xd800 && code <= 0xdfff) return true;
  return JOINS_CLUSTERS.test(String.fromCharCode(code));
}

/**
 * The clusters of the text last segmented: a cell is cut at several places
 * in turn (a binary search), and segmenting it anew each time costs more.
 */
let segmented: { text: string; segments: Intl.Segments } | undefined;

function clusterAt(text: string, index: number): Intl.SegmentData | undefined {
  if (segmented?.text !== text) segmented = { text, segments: graphemes.segment(text) };
  return segmented.segments.containing(index);
}

/** The start of the grapheme cluster holding `index`: a cut there splits nothing a reader sees as one. */
export function safeCut(text: string, index: number): number {
  if (index <= 0) return 0;
  if (index >= text.length) return text.length;
  if (!mayJoin(text.charCodeAt(index - 1)) && !mayJoin(text.charCodeAt(index))) return index;
  return clusterAt(text, index)?.index ?? index;
}

/**
 * The longest prefix of `text` (cut at a safe position) whose width fits
 * `maxWidth`. Binary search, so a long string costs log(n) measurements.
 */
export function fitPrefix(
  text: string,
  maxWidth: number,
  measure: Measure,
): { text: string; width: number } {
  let lo = 0;
  let hi = text.length;
  let best = { text: "", width: 0 };
  while (lo < hi) {
    const mid = safeCut(text, Math.ceil((lo + hi) / 2));
    if (mid <= lo) {
      // Cannot move forward without splitting a cluster; try the cluster's end.
      const end = nextCut(text, lo);
      if (end > hi) break;
      const candidate = text.slice(0, end);
      const width = measure(candidate);
      if (width > maxWidth) break;
      best = { text: candidate, width };
      lo = end;
      continue;
    }
    const candidate = text.slice(0, mid);
    const width = measure(candidate);
    if (width <= maxWidth) {
      best = { text: candidate, width };
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return best;
}

/** The end of the grapheme cluster that starts at `index`. */
function nextCut(text: string, index: number): number {
  if (index >= text.length) return text.length;
  if (!mayJoin(text.charCodeAt(index)) && !mayJoin(text.charCodeAt(index + 1))) return index + 1;
  const cluster = clusterAt(text, index);
  return cluster === undefined ? index + 1 : cluster.index + cluster.segment.length;
}

/** Turns a cell into paragraphs: newlines split, tabs become spaces, other controls vanish. */
export function paragraphs(text: string): string[] {
  const cleaned = SPECIAL.test(text) ? text.replace(NEWLINES, "\n").replace(TABS, " ") : text;
  const out: string[] = [];
  for (const part of cleaned.split("\n")) {
    const trimmed = part.replace(CONTROLS, "").trim();
    if (trimmed !== "") out.push(trimmed);
  }
  return out;
}

/**
 * Cuts a string at a safe position so it holds at most `maxChars` UTF-16
 * code units. A first cluster longer than that (a letter under hundreds of
 * combining marks) is cut inside, between whole code points: cutting
 * before it would leave nothing of the cell.
 */
export function clip(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  // Where a cluster starts depends only on the text up to it: a cell of a
  // million characters is segmented no further than the cut.
  const head = text.slice(0, maxChars + 2);
  const cut = safeCut(head, maxChars);
  if (cut > 0) return head.slice(0, cut);
  return text.slice(0, isHighSurrogate(text.charCodeAt(maxChars - 1)) ? maxChars - 1 : maxChars);
}

/**
 * Lays a cell out in at most `maxLines` lines of at most `maxWidth` points.
 *
 * Newlines inside the cell start a new line; blank lines are dropped. Text is
 * wrapped at spaces; a word wider than the column is broken between
 * characters. When the text does not fit, the last line ends with "…". Only the
 * first `maxChars` characters are ever looked at (a cell longer than that is
 * cut with "…" too), which bounds the work for huge cells.
 */
export function layoutText(
  raw: string,
  maxWidth: number,
  maxLines: number,
  maxChars: number,
  measure: Measure,
): readonly Line[] {
  if (raw === "") return NO_LINES;
  const clipped = raw.length > maxChars;
  const text = clipped ? clip(raw, maxChars) : raw;

  // Fast path: one clean line that fits.
  if (
    !clipped &&
    !SPECIAL.test(text) &&
    !isSpace(text.charCodeAt(0)) &&
    !isSpace(text.charCodeAt(text.length - 1))
  ) {
    const width = measure(text);
    if (width <= maxWidth) return [line(text, width, isRtlParagraph(text))];
  }

  const paras = paragraphs(text);
  if (paras.length === 0) return NO_LINES;
  const lines: Line[] = [];
  const spaceWidth = measure(" ");

  for (let p = 0; p < paras.length; p++) {
    const para = paras[p] ?? "";
    const rtl = isRtlParagraph(para);
    const words = para.split(SPACES);
    let current = "";
    let currentWidth = 0;
    let w = 0;
    while (w < words.length) {
      if (lines.length === maxLines - 1) {
        // The last line allowed takes everything left, cut with "…" if needed.
        const rest = [current, ...words.slice(w), ...paras.slice(p + 1)]
          .filter((s) => s !== "")
          .join(" ");
        lines.push(lastLine(rest, clipped, maxWidth, measure, rtl));
        return lines;
      }
      const word = words[w] ?? "";
      const wordWidth = measure(word);
      if (current === "") {
        if (wordWidth <= maxWidth) {
          current = word;
          currentWidth = wordWidth;
          w++;
        } else {
          // A word wider than the column is broken between characters.
          const head = fitPrefix(word, maxWidth, measure);
          const cut = head.text === "" ? nextCut(word, 0) : head.text.length;
          const piece = word.slice(0, cut);
          lines.push(line(piece, head.text === "" ? measure(piece) : head.width, rtl));
          words[w] = word.slice(cut);
          if (words[w] === "") w++;
        }
      } else if (currentWidth + spaceWidth + wordWidth <= maxWidth) {
        current += ` ${word}`;
        currentWidth += spaceWidth + wordWidth;
        w++;
      } else {
        lines.push(line(current, currentWidth, rtl));
        current = "";
        currentWidth = 0;
      }
    }
    if (current !== "") lines.push(line(current, currentWidth, rtl));
  }
  if (clipped) {
    const last = lines.pop();
    if (last !== undefined) {
      lines.push(lastLine(last.text, true, maxWidth, measure, last.rtl === true));
    }
  }
  return lines;
}

/**
 * One line holding `text`, ending in "…" if it does not fit or `more` is set.
 * `rtl`: its paragraph reads right to left (by default, as `text` does).
 */
export function lastLine(
  text: string,
  more: boolean,
  maxWidth: number,
  measure: Measure,
  rtl = isRtlParagraph(text),
): Line {
  if (!more) {
    const width = measure(text);
    if (width <= maxWidth) return line(text, width, rtl);
  }
  const ellipsisWidth = measure(ELLIPSIS);
  const head = fitPrefix(text, maxWidth - ellipsisWidth, measure);
  const kept = head.text.trimEnd();
  const withEllipsis = kept + ELLIPSIS;
  return line(withEllipsis, measure(withEllipsis), rtl);
}
