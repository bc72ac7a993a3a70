/**
 * Fonts and glyph output for the PDF renderer.
 *
 * pdfkit shapes every string with fontkit's OpenType engine, which costs more
 * than everything else in a table put together (~3,000 rows/s for 8 columns)
 * and caches every distinct word for the life of the document (~10 KB per
 * row). Table cells rarely need shaping, so text made only of characters
 * that need none (Latin, Greek, Cyrillic, CJK, common symbols) takes a fast
 * path: glyphs are looked up once per code point and written as plain `Tj`
 * strings (no kerning or ligatures, which a table does not miss), into
 * pdfkit's own font subset so embedding and ToUnicode work as usual. Anything else (combining marks, Arabic, Hebrew, Indic scripts,
 * emoji…) goes through pdfkit's shaping. The fast path uses pdfkit internals
 * that are checked when a font is opened; if they are missing (another pdfkit
 * version) all text goes through pdfkit's public API instead.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Doc } from "./pdfkit.js";

/** The DejaVu Sans files shipped with the dejavu-fonts-ttf package. */
export function bundledFontPaths(): { regular: string; bold: string } {
  const root = dirname(createRequire(import.meta.url).resolve("dejavu-fonts-ttf/package.json"));
  return {
    regular: join(root, "ttf", "DejaVuSans.ttf"),
    bold: join(root, "ttf", "DejaVuSans-Bold.ttf"),
  };
}

export function readFont(path: string): Buffer {
  return readFileSync(path);
}

/** The parts of pdfkit's EmbeddedFont the fast path relies on. */
interface EmbeddedFont {
  readonly id: string;
  readonly font: {
    readonly unitsPerEm: number;
    glyphForCodePoint(codePoint: number): {
      readonly id: number;
      readonly advanceWidth: number;
      readonly codePoints: number[];
    };
  };
  readonly subset: { includeGlyph(glyphId: number): number };
  readonly widths: (number | undefined)[];
  readonly unicode: (number[] | undefined)[];
  readonly ascender: number;
  readonly descender: number;
  layoutCache?: Record<string, unknown>;
  ref(): unknown;
}

interface DocInternals {
  _font?: unknown;
  _fragment?: (text: string, x: number, y: number, options: object) => void;
  page?: { fonts: Record<string, unknown> };
}

function isEmbeddedFont(value: unknown): value is EmbeddedFont {
  const f = value as Partial<EmbeddedFont> | undefined;
  return (
    typeof f?.id === "string" &&
    typeof f.font?.glyphForCodePoint === "function" &&
    typeof f.font.unitsPerEm === "number" &&
    typeof f.subset?.includeGlyph === "function" &&
    Array.isArray(f.widths) &&
    Array.isArray(f.unicode) &&
    typeof f.ascender === "number" &&
    typeof f.descender === "number" &&
    typeof f.ref === "function"
  );
}

/**
 * 1 for BMP code units that can be drawn glyph by glyph without shaping.
 * Conservative: anything doubtful is shaped by pdfkit.
 */
const SIMPLE = (() => {
  const table = new Uint8Array(0x10000).fill(1);
  const complex: [number, number][] = [
    [0x0000, 0x001f], // controls (removed earlier; shaped path copes anyway)
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
  return table;
})();

/** A subset glyph id as the two bytes of a PDF literal string, escaped where needed. */
function glyphBytes(id: number): string {
  let out = "";
  for (const byte of [id >> 8, id & 0xff]) {
    if (byte === 0x28 || byte === 0x29 || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
    else if (byte === 0x0a) out += "\\n";
    else if (byte === 0x0d) out += "\\r";
    else out += String.fromCharCode(byte);
  }
  return out;
}

/**
 * One font of one document. Measures and draws strings at any size; every
 * drawing call appends to a {@link ContentBuilder} (fast path) or goes
 * straight through pdfkit (shaped path).
 */
export class Face {
  readonly ascender: number;
  readonly descender: number;
  private readonly font: EmbeddedFont | undefined;
  /** Advance (1/1000 em) per BMP code unit; -1 = not looked up yet. */
  private readonly advances = new Float64Array(0x10000).fill(-1);
  /** Encoded glyph (see {@link glyphBytes}) per BMP code unit. */
  private readonly encoded: string[] = [];

  constructor(
    private readonly doc: Doc,
    /** Name the font is registered under in the document. */
    readonly name: string,
  ) {
    doc.font(name);
    const font = (doc as unknown as DocInternals)._font;
    this.font = isEmbeddedFont(font) ? font : undefined;
    const metrics = font as { ascender?: number; descender?: number } | undefined;
    this.ascender = metrics?.ascender ?? 900;
    this.descender = metrics?.descender ?? -200;
  }

  /** Width of `text` in points at `size`. */
  width(text: string, size: number): number {
    if (this.font !== undefined) {
      let advance = 0;
      let i = 0;
      for (; i < text.length; i++) {
        const code = text.charCodeAt(i);
        if (SIMPLE[code] === 0) break;
        let glyphAdvance = this.advances[code] as number;
        if (glyphAdvance < 0) glyphAdvance = this.load(code);
        advance += glyphAdvance;
      }
      if (i === text.length) return (advance * size) / 1000;
    }
    this.select(size);
    return this.doc.widthOfString(text);
  }

  /**
   * The glyphs of `text` as the body of a PDF literal string, or undefined if
   * the text needs shaping (or the fast path is unavailable).
   */
  encode(text: string): string | undefined {
    if (this.font === undefined) return undefined;
    let out = "";
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (SIMPLE[code] === 0) return undefined;
      if ((this.advances[code] as number) < 0) this.load(code);
      out += this.encoded[code];
    }
    return out;
  }

  /** Makes this font current in pdfkit (for the shaped path). */
  select(size: number): void {
    this.doc.font(this.name).fontSize(size);
  }

  /** Registers the font in the current page's resources (fast path needs it). */
  addToPage(): void {
    if (this.font === undefined) return;
    const page = (this.doc as unknown as DocInternals).page;
    if (page !== undefined) page.fonts[this.font.id] = this.font.ref();
  }

  /** The PDF resource name of the font (e.g. "F2"), for the fast path. */
  get resourceName(): string {
    return this.font?.id ?? "";
  }

  /**
   * Forgets pdfkit's per-word shaping cache, which otherwise grows with every
   * distinct word for the whole document.
   */
  trimCaches(): void {
    if (this.font?.layoutCache !== undefined) this.font.layoutCache = Object.create(null);
  }

  /** Adds the glyph for a code unit to the subset; returns its advance. */
  private load(code: number): number {
    const font = this.font as EmbeddedFont;
    const glyph = font.font.glyphForCodePoint(code);
    const id = font.subset.includeGlyph(glyph.id);
    const advance = (glyph.advanceWidth * 1000) / font.font.unitsPerEm;
    if (font.widths[id] == null) font.widths[id] = advance;
    if (font.unicode[id] == null) font.unicode[id] = glyph.codePoints;
    this.advances[code] = advance;
    this.encoded[code] = glyphBytes(id);
    return advance;
  }
}

export type Rgb = readonly [number, number, number];

const n = (value: number) => (Math.round(value * 100) / 100).toString();

/**
 * Collects raw content-stream operators for the current page and hands them
 * to pdfkit in one piece. Coordinates are top-down like pdfkit's; the block is
 * wrapped in `q 1 0 0 -1 0 H cm … Q` to undo pdfkit's flipped page matrix.
 */
export class ContentBuilder {
  private parts: string[] = [];
  private inText = false;
  private textFont = "";
  private textSize = 0;
  private fill = "";
  private stroke = "";
  private lineWidth = -1;
  private pageHeight = 0;

  constructor(private readonly doc: Doc) {}

  startPage(pageHeight: number): void {
    this.flush();
    this.pageHeight = pageHeight;
  }

  rect(x: number, y: number, width: number, height: number, color: Rgb): void {
    this.endText();
    this.setFill(color);
    this.parts.push(`${n(x)} ${n(this.pageHeight - y - height)} ${n(width)} ${n(height)} re f\n`);
  }

  hline(x1: number, x2: number, y: number, width: number, color: Rgb): void {
    this.endText();
    const stroke = `${n(color[0])} ${n(color[1])} ${n(color[2])} RG\n`;
    if (stroke !== this.stroke) {
      this.stroke = stroke;
      this.parts.push(stroke);
    }
    if (width !== this.lineWidth) {
      this.lineWidth = width;
      this.parts.push(`${n(width)} w\n`);
    }
    const py = n(this.pageHeight - y);
    this.parts.push(`${n(x1)} ${py} m ${n(x2)} ${py} l S\n`);
  }

  /**
   * Draws `text` with its left end at `x` and its baseline at `baseline`
   * (top-down). `width` is the text's measured width, for the shaped path.
   */
  text(
    face: Face,
    size: number,
    text: string,
    x: number,
    baseline: number,
    width: number,
    color: Rgb,
  ): void {
    if (text === "") return;
    const glyphs = face.encode(text);
    if (glyphs !== undefined) {
      if (!this.inText) {
        this.parts.push("BT\n");
        this.inText = true;
        this.textFont = "";
      }
      this.setFill(color);
      if (face.resourceName !== this.textFont || size !== this.textSize) {
        this.textFont = face.resourceName;
        this.textSize = size;
        this.parts.push(`/${face.resourceName} ${n(size)} Tf\n`);
      }
      this.parts.push(`1 0 0 1 ${n(x)} ${n(this.pageHeight - baseline)} Tm (${glyphs}) Tj\n`);
      return;
    }
    this.flush();
    face.select(size);
    this.doc.fillColor([color[0] * 255, color[1] * 255, color[2] * 255]);
    const top = baseline - (face.ascender * size) / 1000;
    const internals = this.doc as unknown as DocInternals;
    if (typeof internals._fragment === "function") {
      internals._fragment.call(this.doc, text, x, top, { textWidth: width, wordCount: 1 });
    } else {
      this.doc.text(text, x, top, { lineBreak: false });
    }
  }

  /** Hands the collected operators to pdfkit. */
  flush(): void {
    this.endText();
    if (this.parts.length > 0) {
      const body = this.parts.join("");
      this.doc.addContent(
        Buffer.from(`q\n1 0 0 -1 0 ${n(this.pageHeight)} cm\n${body}Q\n`, "latin1"),
      );
      this.parts = [];
    }
    this.fill = "";
    this.stroke = "";
    this.lineWidth = -1;
  }

  private endText(): void {
    if (this.inText) {
      this.parts.push("ET\n");
      this.inText = false;
    }
  }

  private setFill(color: Rgb): void {
    const fill = `${n(color[0])} ${n(color[1])} ${n(color[2])} rg\n`;
    if (fill !== this.fill) {
      this.fill = fill;
      this.parts.push(fill);
    }
  }
}
