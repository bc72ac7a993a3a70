/**
 * Measuring and drawing text in a chain of fonts.
 *
 * Text is split into runs by the font of the chain that has each character
 * (see {@link FontChain}), and each run is drawn in its font. Table cells
 * rarely need OpenType shaping, which costs more than everything else in a
 * table put together, so a run made only of characters that need none
 * (Latin, Greek, Cyrillic, CJK, common symbols) takes a fast path: glyphs are
 * looked up once per code unit and written as plain `Tj` strings (no kerning
 * or ligatures, which a table does not miss). Anything else (combining marks,
 * Arabic, Hebrew, Indic scripts, emoji…) is shaped by fontkit: Arabic letters
 * joined, marks placed, emoji sequences made one glyph. Lines holding
 * right-to-left text are put in visual order first (see {@link visualRuns}).
 *
 * Either way glyphs go into pdfkit's own subset of each font, so pdfkit embeds
 * only the glyphs used and writes the ToUnicode map that text extraction
 * reads. That relies on pdfkit internals, checked when a font is opened.
 */
import { deflateSync } from "node:zlib";
import { type DirectedRun, type FontRun, needsBidi, visualRuns } from "./bidi.js";
import { ContentBytes } from "./content-bytes.js";
import {
  type ChainFont,
  EMOJI_PRESENTATION,
  type FontChain,
  type FontkitFont,
  type FontkitGlyph,
} from "./fonts.js";
import type { Doc } from "./pdfkit.js";
import type { Line } from "./text.js";

/** The parts of pdfkit's EmbeddedFont this module relies on. */
interface EmbeddedFont {
  readonly id: string;
  readonly font: FontkitFont;
  readonly subset: { includeGlyph(glyphId: number): number };
  readonly widths: (number | undefined)[];
  readonly unicode: (readonly number[] | undefined)[];
  readonly ascender: number;
  readonly descender: number;
  ref(): unknown;
}

interface DocInternals {
  _font?: unknown;
  page?: {
    fonts: Record<string, unknown>;
    dictionary?: { data?: { Contents?: unknown } };
    content?: { compress?: boolean; data: { Filter?: string } };
  };
}

function isEmbeddedFont(value: unknown): value is EmbeddedFont {
  const f = value as Partial<EmbeddedFont> | undefined;
  return (
    typeof f?.id === "string" &&
    typeof f.font?.glyphForCodePoint === "function" &&
    typeof f.font.layout === "function" &&
    typeof f.font.unitsPerEm === "number" &&
    typeof f.subset?.includeGlyph === "function" &&
    Array.isArray(f.widths) &&
    Array.isArray(f.unicode) &&
    typeof f.ascender === "number" &&
    typeof f.descender === "number" &&
    typeof f.ref === "function"
  );
}

/** Opens a registered font in `doc`, failing if pdfkit's internals are not as expected. */
function openFont(doc: Doc, name: string): EmbeddedFont {
  doc.font(name);
  const font = (doc as unknown as DocInternals)._font;
  if (!isEmbeddedFont(font)) {
    throw new Error("pdfkit's EmbeddedFont is not as this renderer expects; was pdfkit upgraded?");
  }
  return font;
}

/**
 * 1 for BMP code units that can be drawn glyph by glyph without shaping.
 * Conservative: anything doubtful is shaped.
 */
const SIMPLE = (() => {
  const table = new Uint8Array(0x10000).fill(1);
  const complex: [number, number][] = [
    [0x0000, 0x001f], // controls (removed earlier; shaping copes anyway)
    [0x007f, 0x009f],
    [0x00ad, 0x00ad], // soft hyphen
    [0x0300, 0x036f], // combining diacritics
    [0x0483, 0x0489], // Cyrillic combining marks
    [0x0590, 0x08ff], // Hebrew, Arabic, Syriac, Thaana, N'Ko, ...
    [0x0900, 0x0dff], // Indic
    [0x0e00, 0x0fff], // Thai, Lao, Tibetan
    [0x1000, 0x109f], // Myanmar
    [0x1100, 0x11ff], // Hangul Jamo
    [0x1700, 0x1cff], // Philippine, Khmer, Mongolian, Balinese, ...
    [0x1dc0, 0x1dff], // combining supplement
    [0x200b, 0x200f], // zero width, joiners, direction marks
    [0x2028, 0x202e], // separators, bidi embedding
    [0x2060, 0x206f], // invisible operators, bidi isolates
    [0x20d0, 0x20ff], // combining marks for symbols
    [0x302a, 0x302f], // ideographic tone marks
    [0x3099, 0x309a], // kana voicing marks
    [0xa670, 0xa67f], // combining Cyrillic
    [0xa800, 0xabff], // various complex scripts
    [0xd800, 0xdfff], // surrogates: emoji and other astral characters
    [0xfb1d, 0xfdff], // Hebrew and Arabic presentation forms
    [0xfe00, 0xfe0f], // variation selectors
    [0xfe20, 0xfe2f], // combining half marks
    [0xfe70, 0xfeff], // Arabic presentation forms B, BOM
    [0xfff0, 0xffff], // specials
  ];
  for (const [from, to] of complex) table.fill(0, from, to + 1);
  // Shown as emoji by default (☕, ⚡, ⭐): the chain draws them in its emoji
  // font, whatever else the line holds. Every such BMP character lies here.
  for (let code = 0x2000; code < 0x3000; code++) {
    if (EMOJI_PRESENTATION.test(String.fromCharCode(code))) table[code] = 0;
  }
  return table;
})();

const MARK = /^\p{M}$/u;

/**
 * 1 for BMP characters that belong with the character before them (marks,
 * joiners, variation selectors): they stay in its font, so the cluster is
 * shaped as one.
 */
const CLINGS = (() => {
  const table = new Uint8Array(0x10000);
  for (let code = 0x300; code < 0x10000; code++) {
    if ((code < 0xd800 || code > 0xdfff) && MARK.test(String.fromCharCode(code))) table[code] = 1;
  }
  table[0x200c] = 1;
  table[0x200d] = 1;
  table.fill(1, 0xfe00, 0xfe10);
  return table;
})();

/** Whether a character belongs with the one before it (see {@link CLINGS}). */
function clings(codePoint: number): boolean {
  if (codePoint < 0x10000) return CLINGS[codePoint] === 1;
  return (
    (codePoint >= 0x1f3fb && codePoint <= 0x1f3ff) || // emoji skin tones
    (codePoint >= 0xe0020 && codePoint <= 0xe007f) || // tags (subdivision flags)
    (codePoint >= 0xe0100 && codePoint <= 0xe01ef) || // variation selectors supplement
    MARK.test(String.fromCodePoint(codePoint))
  );
}

/** Joiners, variation selectors and tags: invisible, so any font may carry them. */
function invisible(codePoint: number): boolean {
  return (
    codePoint === 0x200c ||
    codePoint === 0x200d ||
    (codePoint >= 0xfe00 && codePoint <= 0xfe0f) ||
    (codePoint >= 0xe0020 && codePoint <= 0xe007f) ||
    (codePoint >= 0xe0100 && codePoint <= 0xe01ef)
  );
}

/** Splits `text` into runs, each drawn by one font of `chain`. */
function fontRuns(text: string, chain: FontChain): FontRun[] {
  const runs: FontRun[] = [];
  let start = 0;
  let font = -1;
  for (let i = 0; i < text.length; ) {
    const codePoint = text.codePointAt(i) as number;
    const units = codePoint > 0xffff ? 2 : 1;
    let next: number;
    if (font >= 0 && clings(codePoint) && (invisible(codePoint) || chain.has(font, codePoint))) {
      next = font;
    } else if (text.charCodeAt(i + units) === 0xfe0f) {
      // U+FE0F asks for emoji presentation.
      next = chain.emojiFontFor(codePoint) ?? chain.fontFor(codePoint);
    } else {
      next = chain.fontFor(codePoint);
    }
    if (next !== font) {
      if (font >= 0) runs.push({ start, end: i, font });
      start = i;
      font = next;
    }
    i += units;
  }
  if (font >= 0) runs.push({ start, end: text.length, font });
  return runs;
}

/** One glyph of a shaped run; lengths in 1/1000 em. */
export interface ShapedGlyph {
  readonly glyph: FontkitGlyph;
  /** The glyph's own advance, which the PDF viewer moves by. */
  readonly advance: number;
  /** The advance shaping asked for (kerning, zero-width marks). */
  readonly xAdvance: number;
  readonly xOffset: number;
  readonly yOffset: number;
}

export interface ShapedRun {
  /** In visual order. */
  readonly glyphs: readonly ShapedGlyph[];
  readonly rtl: boolean;
  /** Total advance, 1/1000 em. */
  readonly width: number;
}

/** Entries of a face's advance table that are not advances. */
const UNKNOWN = -1;
const MISSING = -2;

const RTL_LETTER =
  /^[\p{Script=Arabic}\p{Script=Hebrew}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}]$/u;

/**
 * One font of one document: glyph lookup for the fast path, shaping for the
 * rest, and the glyphs' place in pdfkit's subset of the font.
 */
export class Face {
  readonly ascender: number;
  readonly descender: number;
  /** The last page whose resources list this font (kept by {@link ContentBuilder}). */
  page = 0;
  private readonly font: EmbeddedFont;
  private readonly scale: number;
  /** Advance (1/1000 em) per BMP code unit, or UNKNOWN or MISSING. */
  private readonly advances = new Float64Array(0x10000).fill(UNKNOWN);
  /** Subset glyph id per BMP code unit once loaded; the empty box's id where the font has no glyph. */
  private readonly glyphIds = new Uint16Array(0x10000);
  private readonly notdefAdvance: number;
  private readonly spaceGlyph: number;
  /** Shaped runs of the current page, by direction and text. */
  private shaped = new Map<string, ShapedRun>();

  constructor(
    private readonly doc: Doc,
    /** Name the font is registered under in the document. */
    name: string,
  ) {
    this.font = openFont(doc, name);
    this.scale = 1000 / this.font.font.unitsPerEm;
    this.ascender = this.font.ascender;
    this.descender = this.font.descender;
    this.notdefAdvance = this.font.widths[0] ?? 0;
    this.spaceGlyph = this.font.font.glyphForCodePoint(0x20).id;
  }

  /** The PDF resource name of the font (e.g. "F2"). */
  get resourceName(): string {
    return this.font.id;
  }

  /** Width of `text` in 1/1000 em if the fast path draws all of it in this font, else -1. */
  fastWidth(text: string): number {
    const advances = this.advances;
    let advance = 0;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (SIMPLE[code] === 0) return -1;
      let glyphAdvance = advances[code] as number;
      if (glyphAdvance < 0) {
        if (glyphAdvance === UNKNOWN) glyphAdvance = this.load(code);
        if (glyphAdvance === MISSING) return -1;
      }
      advance += glyphAdvance;
    }
    return advance;
  }

  /** Whether the fast path can draw `text` (a run this font was chosen for). */
  isSimple(text: string): boolean {
    for (let i = 0; i < text.length; i++) if (SIMPLE[text.charCodeAt(i)] === 0) return false;
    return true;
  }

  /** Fast-path width of a simple run (see {@link isSimple}); a missing glyph counts as the empty box. */
  simpleWidth(text: string): number {
    let advance = 0;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      let glyphAdvance = this.advances[code] as number;
      if (glyphAdvance < 0) {
        if (glyphAdvance === UNKNOWN) glyphAdvance = this.load(code);
        if (glyphAdvance === MISSING) glyphAdvance = this.notdefAdvance;
      }
      advance += glyphAdvance;
    }
    return advance;
  }

  /**
   * Writes the fast-path glyphs of a simple run (see {@link isSimple}) as
   * the body of a PDF literal string; a missing glyph is the empty box.
   */
  writeGlyphs(text: string, body: ContentBytes): void {
    const advances = this.advances;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (advances[code] === UNKNOWN) this.load(code);
    }
    body.glyphs(text, this.glyphIds);
  }

  /**
   * Width in 1/1000 em of a run this font was chosen for. A run with
   * right-to-left letters is shaped right to left, as it will most likely be
   * drawn, so drawing finds it in the cache.
   */
  runWidth(text: string): number {
    return this.isSimple(text) ? this.simpleWidth(text) : this.shape(text, needsBidi(text)).width;
  }

  /**
   * `text` shaped by fontkit, glyphs in visual order: a right-to-left run's
   * glyphs are reversed. Invisible characters (joiners, selectors left over)
   * are dropped. Cached for the current page.
   */
  shape(text: string, rtl: boolean): ShapedRun {
    const key = rtl ? `r${text}` : `l${text}`;
    let run = this.shaped.get(key);
    if (run !== undefined) return run;
    const { glyphs, positions } = this.font.font.layout(
      text,
      [],
      undefined,
      undefined,
      rtl ? "rtl" : "ltr",
    );
    const scale = this.scale;
    const out: ShapedGlyph[] = [];
    let width = 0;
    glyphs.forEach((glyph, i) => {
      const position = positions[i] as (typeof positions)[number];
      // fontkit shows default-ignorable characters as a zero-width space.
      if (glyph.id === this.spaceGlyph && position.xAdvance === 0) return;
      const xAdvance = position.xAdvance * scale;
      out.push({
        glyph,
        advance: glyph.advanceWidth * scale,
        xAdvance,
        xOffset: position.xOffset * scale,
        yOffset: position.yOffset * scale,
      });
      width += xAdvance;
    });
    run = { glyphs: out, width, rtl };
    this.shaped.set(key, run);
    return run;
  }

  /** A shaped glyph's id in the subset, adding it there. */
  glyphId(glyph: FontkitGlyph, rtl: boolean): number {
    const font = this.font;
    const id = font.subset.includeGlyph(glyph.id);
    if (font.widths[id] == null) font.widths[id] = glyph.advanceWidth * this.scale;
    if (font.unicode[id] == null) {
      const { codePoints } = glyph;
      // Text extraction reverses right-to-left lines character by character,
      // so a ligature of right-to-left letters (Arabic lam-alef) is mapped
      // last letter first to come out in logical order.
      const ligature =
        rtl &&
        codePoints.length > 1 &&
        codePoints.every((c) => RTL_LETTER.test(String.fromCodePoint(c)));
      font.unicode[id] = ligature ? [...codePoints].reverse() : codePoints;
    }
    return id;
  }

  /** Lists the font in the current page's resources. */
  addToPage(): void {
    const page = (this.doc as unknown as DocInternals).page;
    if (page !== undefined) page.fonts[this.font.id] = this.font.ref();
  }

  /** Forgets the shaped runs, which would otherwise grow with every distinct word. */
  trimCaches(): void {
    if (this.shaped.size > 0) this.shaped = new Map();
  }

  /** Adds the glyph for a code unit to the subset; returns its advance, or MISSING. */
  private load(code: number): number {
    const font = this.font;
    const present = font.font.hasGlyphForCodePoint(code);
    const glyph = font.font.glyphForCodePoint(code);
    const id = font.subset.includeGlyph(present ? glyph.id : 0);
    const advance = (glyph.advanceWidth * 1000) / font.font.unitsPerEm;
    if (present) {
      if (font.widths[id] == null) font.widths[id] = advance;
      if (font.unicode[id] == null) font.unicode[id] = glyph.codePoints;
    }
    this.glyphIds[code] = id;
    this.advances[code] = present ? advance : MISSING;
    return present ? advance : MISSING;
  }
}

/**
 * The font chain of one document in one weight: measures and draws strings,
 * each font opened in the document only when a character needs it.
 */
export class Typesetter {
  readonly primary: Face;
  private readonly faces: (Face | undefined)[];

  constructor(
    private readonly doc: Doc,
    private readonly chain: FontChain,
    /** Prefix of the names the chain's fonts are registered under in the document (prefix + index). */
    private readonly prefix: string,
  ) {
    this.faces = new Array(chain.fonts.length);
    this.primary = this.face(0);
  }

  get ascender(): number {
    return this.primary.ascender;
  }

  get descender(): number {
    return this.primary.descender;
  }

  /** Width of `text` in points at `size`. */
  width(text: string, size: number): number {
    let advance = this.primary.fastWidth(text);
    if (advance < 0) {
      advance = 0;
      for (const run of fontRuns(text, this.chain)) {
        advance += this.face(run.font).runWidth(text.slice(run.start, run.end));
      }
    }
    return (advance * size) / 1000;
  }

  /** Draws text the fast path cannot: run by run, each in its font, shaped where needed. */
  private drawRuns(
    content: ContentBuilder,
    text: string,
    size: number,
    x: number,
    baseline: number,
    color: Rgb,
    rtl: boolean,
  ): void {
    const runs = fontRuns(text, this.chain);
    const pieces: readonly DirectedRun[] =
      rtl || needsBidi(text)
        ? visualRuns(text, runs, rtl)
        : runs.map((run) => ({ text: text.slice(run.start, run.end), font: run.font, rtl: false }));
    let pen = x;
    for (const piece of pieces) {
      const face = this.face(piece.font);
      if (!piece.rtl && face.isSimple(piece.text)) {
        content.show(face, size, piece.text, pen, baseline, color);
        pen += (face.simpleWidth(piece.text) * size) / 1000;
      } else {
        const shaped = face.shape(piece.text, piece.rtl);
        content.shaped(face, size, shaped, pen, baseline, color);
        pen += (shaped.width * size) / 1000;
      }
    }
  }

  /**
   * Draws a laid-out line with its left end at `x` and its baseline at
   * `baseline` (top-down), right to left if its paragraph reads so.
   */
  drawLine(
    content: ContentBuilder,
    line: Line,
    size: number,
    x: number,
    baseline: number,
    color: Rgb,
  ): void {
    if (line.text === "") return;
    const rtl = line.rtl === true;
    if (!rtl && this.primary.fastWidth(line.text) >= 0) {
      content.show(this.primary, size, line.text, x, baseline, color);
      return;
    }
    this.drawRuns(content, line.text, size, x, baseline, color, rtl);
  }

  /** Forgets shaped runs (call once a page). */
  trimCaches(): void {
    for (const face of this.faces) face?.trimCaches();
  }

  /**
   * The chain's font at `index`, registered in the document only now:
   * registering reads a bundled fallback from disk, so a process that draws
   * only Latin text never reads their 30 MB.
   */
  private face(index: number): Face {
    let face = this.faces[index];
    if (face === undefined) {
      const name = `${this.prefix}${index}`;
      const { font } = this.chain.fonts[index] as ChainFont;
      // pdfkit also takes a parsed fontkit font (PDFFontFactory.open), which its types leave out.
      this.doc.registerFont(name, font as unknown as Buffer);
      face = new Face(this.doc, name);
      this.faces[index] = face;
    }
    return face;
  }
}

export type Rgb = readonly [number, number, number];

type PdfStream = ReturnType<Doc["ref"]>;

/** pdfkit writes anything but a Buffer as text. */
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
}

/**
 * Page content (mostly two-byte glyph ids, which deflate poorly) is
 * deflated at this level: measured on table pages, a third of the CPU time
 * of pdfkit's level 6 for a file a few percent larger.
 */
const CONTENT_DEFLATE_LEVEL = 3;

/** A page's content stream, deflated as every page's is. */
export function deflatePageContent(content: Uint8Array): Buffer {
  return deflateSync(content, { level: CONTENT_DEFLATE_LEVEL });
}

/**
 * Deflates a page's content elsewhere (a render thread asks the main thread,
 * which has the time) and gives the bytes {@link deflatePageContent} would.
 */
export type PageDeflater = (content: Buffer) => Promise<Uint8Array>;

/**
 * Collects raw content-stream operators for the current page and adds them
 * to it as a content stream of its own. Coordinates are top-down like
 * pdfkit's; the block is wrapped in `q 1 0 0 -1 0 H cm … Q` to undo pdfkit's
 * flipped page matrix.
 */
export class ContentBuilder {
  /** The current page's operators so far. */
  private readonly body = new ContentBytes();
  private inText = false;
  /** The start of the text line, in hundredths of a point (see {@link moveTo}). */
  private lineX = 0;
  private lineY = 0;
  private textFont = "";
  private textSize = 0;
  /** The fill color set last; undefined at the start of a block. */
  private fill: Rgb | undefined;
  /** The stroke color set last; undefined at the start of a block. */
  private stroke: Rgb | undefined;
  private lineWidth = -1;
  private pageHeight = 0;
  private page = 0;
  /**
   * Content streams of finished pages not yet ended, oldest first, with their
   * content deflated or being deflated.
   */
  private readonly unwritten: { stream: PdfStream; deflated: Uint8Array | Promise<Uint8Array> }[] =
    [];

  /** `deflater`: where page content is deflated; in this thread, as it is added, by default. */
  constructor(
    private readonly doc: Doc,
    private readonly deflater?: PageDeflater,
  ) {}

  /**
   * Writes the content streams of all but the last `pages` finished pages,
   * in page order, waiting for any still being deflated elsewhere (the
   * promise; undefined when nothing was waited for). pdfkit writes a stream
   * where it is when it ends, so the streams are ended here, at the same
   * points of the file wherever pages are deflated: the file is the same
   * byte for byte.
   */
  settle(pages: number): Promise<void> | undefined {
    while (this.unwritten.length > pages) {
      const { stream, deflated } = this.unwritten[0] as (typeof this.unwritten)[number];
      if (deflated instanceof Promise) return this.settleDeflating(pages);
      this.unwritten.shift();
      stream.end(asBuffer(deflated));
    }
    return undefined;
  }

  startPage(pageHeight: number): void {
    this.flush();
    this.pageHeight = pageHeight;
    this.page++;
  }

  rect(x: number, y: number, width: number, height: number, color: Rgb): void {
    this.endText();
    this.setFill(color);
    const body = this.body;
    body.number(x);
    body.text(" ");
    body.number(this.pageHeight - y - height);
    body.text(" ");
    body.number(width);
    body.text(" ");
    body.number(height);
    body.text(" re f\n");
  }

  hline(x1: number, x2: number, y: number, width: number, color: Rgb): void {
    this.endText();
    const body = this.body;
    // Colors are constants: the same one is the same array.
    if (color !== this.stroke) {
      this.stroke = color;
      this.color(color);
      body.text(" RG\n");
    }
    if (width !== this.lineWidth) {
      this.lineWidth = width;
      body.number(width);
      body.text(" w\n");
    }
    const py = this.pageHeight - y;
    body.number(x1);
    body.text(" ");
    body.number(py);
    body.text(" m ");
    body.number(x2);
    body.text(" ");
    body.number(py);
    body.text(" l S\n");
  }

  /** A simple run (see {@link Face.isSimple}) in one `Tj`, with its left end at `x`. */
  show(face: Face, size: number, text: string, x: number, baseline: number, color: Rgb): void {
    this.beginText(face, size, color);
    this.moveTo(x, this.pageHeight - baseline);
    const body = this.body;
    body.text(" (");
    face.writeGlyphs(text, body);
    body.text(") Tj\n");
  }

  /**
   * A shaped run with its left end at `x`: glyphs in one `TJ` with
   * adjustments where shaping changed an advance, and placed one by one
   * where it moved them (marks, cursive joins).
   */
  shaped(face: Face, size: number, run: ShapedRun, x: number, baseline: number, color: Rgb): void {
    this.beginText(face, size, color);
    const scale = size / 1000;
    const y = this.pageHeight - baseline;
    const body = this.body;
    let pen = x;
    // The `TJ` array and the string in it being written, if open.
    let array = false;
    let string = false;
    let placed = false;
    const closeArray = () => {
      if (string) body.text(")");
      if (array) body.text("] TJ\n");
      array = false;
      string = false;
    };
    this.moveTo(x, y);
    body.text("\n");
    for (const { glyph, advance, xAdvance, xOffset, yOffset } of run.glyphs) {
      const id = face.glyphId(glyph, run.rtl);
      if (xOffset !== 0 || yOffset !== 0) {
        closeArray();
        this.moveTo(pen + xOffset * scale, y + yOffset * scale);
        body.text(" (");
        body.glyph(id);
        body.text(") Tj\n");
        placed = true;
      } else {
        if (placed) {
          closeArray();
          this.moveTo(pen, y);
          body.text("\n");
          placed = false;
        }
        if (!string) body.text(array ? " (" : "[(");
        array = true;
        string = true;
        body.glyph(id);
        if (xAdvance !== advance) {
          body.text(") ");
          body.number(advance - xAdvance);
          string = false;
        }
      }
      pen += xAdvance * scale;
    }
    closeArray();
  }

  /** Hands the collected operators to pdfkit. */
  flush(): void {
    this.endText();
    if (!this.body.empty) {
      // Number#toString of the rounded height: what ContentBytes#number writes.
      const flip = `q\n1 0 0 -1 0 ${Math.round(this.pageHeight * 100) / 100} cm\n`;
      this.addStream(this.body.take(flip, "Q\n"));
    }
    this.fill = undefined;
    this.stroke = undefined;
    this.lineWidth = -1;
  }

  private async settleDeflating(pages: number): Promise<void> {
    while (this.unwritten.length > pages) {
      const { stream, deflated } = this.unwritten.shift() as (typeof this.unwritten)[number];
      stream.end(asBuffer(await deflated));
    }
  }

  /**
   * Adds `body` to the current page as a content stream of its own, deflated
   * (see {@link deflatePageContent}); the stream is written by {@link settle}.
   */
  private addStream(body: Buffer): void {
    const pdfkitPage = (this.doc as unknown as DocInternals).page;
    const page = pdfkitPage?.dictionary?.data;
    if (page?.Contents === undefined || pdfkitPage?.content?.compress === undefined) {
      throw new Error("pdfkit's page is not as this renderer expects; was pdfkit upgraded?");
    }
    // pdfkit's own stream holds only its flipped matrix: a deflate of its
    // own would cost more than the few bytes it saves.
    pdfkitPage.content.compress = false;
    delete pdfkitPage.content.data.Filter;
    // A stream given its filter is written as it is: pdfkit does not deflate it again.
    const stream = this.doc.ref({ Length: 0, Filter: "FlateDecode" });
    page.Contents = [...(Array.isArray(page.Contents) ? page.Contents : [page.Contents]), stream];
    const deflated = this.deflater === undefined ? deflatePageContent(body) : this.deflater(body);
    // Its failure comes out of settle; until then it is not unhandled.
    if (deflated instanceof Promise) deflated.catch(() => {});
    this.unwritten.push({ stream, deflated });
  }

  private beginText(face: Face, size: number, color: Rgb): void {
    if (face.page !== this.page) {
      face.addToPage();
      face.page = this.page;
    }
    if (!this.inText) {
      this.body.text("BT\n");
      this.inText = true;
      this.lineX = 0;
      this.lineY = 0;
      this.textFont = "";
    }
    this.setFill(color);
    if (face.resourceName !== this.textFont || size !== this.textSize) {
      this.textFont = face.resourceName;
      this.textSize = size;
      this.body.text(`/${face.resourceName} `);
      this.body.number(size);
      this.body.text(" Tf\n");
    }
  }

  /**
   * A `Td` that starts the next text at (x, y), rounded to the hundredth.
   * Shorter than a `Tm` a cell; the moves are kept in whole hundredths, so
   * they add up to exactly the position a `Tm` would set.
   */
  private moveTo(x: number, y: number): void {
    const toX = Math.round(x * 100);
    const toY = Math.round(y * 100);
    const body = this.body;
    body.hundredths(toX - this.lineX);
    body.text(" ");
    body.hundredths(toY - this.lineY);
    body.text(" Td");
    this.lineX = toX;
    this.lineY = toY;
  }

  private endText(): void {
    if (this.inText) {
      this.body.text("ET\n");
      this.inText = false;
    }
  }

  private setFill(color: Rgb): void {
    // Colors are constants: the same one is the same array.
    if (color === this.fill) return;
    this.fill = color;
    this.color(color);
    this.body.text(" rg\n");
  }

  private color(color: Rgb): void {
    const body = this.body;
    body.number(color[0]);
    body.text(" ");
    body.number(color[1]);
    body.text(" ");
    body.number(color[2]);
  }
}
