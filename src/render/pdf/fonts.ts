/**
 * The fonts of the PDF renderer: a chain tried in order for every character.
 *
 * DejaVu Sans (or PDF_FONT_PATH) comes first and draws Latin, Greek,
 * Cyrillic, and also basic Arabic and Hebrew; the fonts after it fill the
 * gaps, each from an npm package so `npm ci` brings it:
 *
 * - Noto Sans Hans (`@embedpdf/fonts-sc`): every CJK Unified Ideograph, so
 *   Simplified and Traditional Chinese and Japanese kanji (drawn in the
 *   Simplified Chinese glyph forms), kana, CJK punctuation and full-width forms;
 * - Noto Sans KR (`@embedpdf/fonts-kr`): all 11,172 Hangul syllables;
 * - Noto Naskh Arabic and Noto Sans Hebrew (`@embedpdf/fonts-arabic`,
 *   `@embedpdf/fonts-hebrew`): the Arabic and Hebrew letters and marks
 *   DejaVu lacks;
 * - Noto Emoji, monochrome (`@expo-google-fonts/noto-emoji`).
 *
 * Fonts are parsed once per process and shared by every document: each
 * document keeps its own subset of a font, and fontkit only ever adds to the
 * caches it keeps on a font (parsed glyphs), synchronously.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

/** The parts of a fontkit glyph the renderer uses. */
export interface FontkitGlyph {
  readonly id: number;
  readonly advanceWidth: number;
  readonly codePoints: readonly number[];
}

export interface FontkitPosition {
  readonly xAdvance: number;
  readonly xOffset: number;
  readonly yOffset: number;
}

/** The parts of a fontkit font the renderer uses (fontkit ships no type definitions). */
export interface FontkitFont {
  readonly postscriptName: string;
  readonly unitsPerEm: number;
  hasGlyphForCodePoint(codePoint: number): boolean;
  glyphForCodePoint(codePoint: number): FontkitGlyph;
  layout(
    text: string,
    features: readonly string[],
    script: undefined,
    language: undefined,
    direction: "ltr" | "rtl",
  ): { readonly glyphs: readonly FontkitGlyph[]; readonly positions: readonly FontkitPosition[] };
}

const fontkit = createRequire(import.meta.url)("fontkit") as {
  create(buffer: Buffer): unknown;
};

/** One font of a chain. */
export interface ChainFont {
  readonly font: FontkitFont;
  /** Preferred for characters shown as emoji by default (and those followed by U+FE0F). */
  readonly emoji: boolean;
}

interface BundledFallback {
  readonly packageName: string;
  readonly regular: string;
  readonly bold: string;
  readonly emoji?: boolean;
}

const BUNDLED_FALLBACKS: readonly BundledFallback[] = [
  {
    packageName: "@embedpdf/fonts-sc",
    regular: "fonts/NotoSansHans-Regular.otf",
    bold: "fonts/NotoSansHans-Bold.otf",
  },
  {
    packageName: "@embedpdf/fonts-kr",
    regular: "fonts/NotoSansKR-Regular.otf",
    bold: "fonts/NotoSansKR-Bold.otf",
  },
  {
    packageName: "@embedpdf/fonts-arabic",
    regular: "fonts/NotoNaskhArabic-Regular.ttf",
    bold: "fonts/NotoNaskhArabic-Bold.ttf",
  },
  {
    packageName: "@embedpdf/fonts-hebrew",
    regular: "fonts/NotoSansHebrew-Regular.ttf",
    bold: "fonts/NotoSansHebrew-Bold.ttf",
  },
  {
    packageName: "@expo-google-fonts/noto-emoji",
    regular: "400Regular/NotoEmoji_400Regular.ttf",
    bold: "700Bold/NotoEmoji_700Bold.ttf",
    emoji: true,
  },
];

/**
 * Where an installed package lives. Looked up by folder rather than through
 * `require.resolve`, because some font packages export no `package.json`.
 */
function packageDir(name: string): string {
  const require = createRequire(import.meta.url);
  for (const dir of require.resolve.paths(name) ?? []) {
    const candidate = join(dir, name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
  }
  throw new Error(`the font package ${name} is not installed (run npm ci)`);
}

/** The DejaVu Sans files shipped with the dejavu-fonts-ttf package. */
export function bundledFontPaths(): { regular: string; bold: string } {
  const root = packageDir("dejavu-fonts-ttf");
  return {
    regular: join(root, "ttf", "DejaVuSans.ttf"),
    bold: join(root, "ttf", "DejaVuSans-Bold.ttf"),
  };
}

/** The bundled fallback fonts, in chain order. */
function bundledFallbackPaths(): {
  readonly regular: string;
  readonly bold: string;
  readonly emoji: boolean;
}[] {
  return BUNDLED_FALLBACKS.map((fallback) => {
    const root = packageDir(fallback.packageName);
    return {
      regular: join(root, fallback.regular),
      bold: join(root, fallback.bold),
      emoji: fallback.emoji === true,
    };
  });
}

// Every renderer of the process shares one parsed copy of each file (the
// bundled fonts take about 30 MB).
const parsed = new Map<string, FontkitFont>();

/** Reads and parses a .ttf or .otf file once per process; throws if it is no single font. */
function loadFont(path: string): FontkitFont {
  let font = parsed.get(path);
  if (font === undefined) {
    const candidate = fontkit.create(readFileSync(path)) as Partial<FontkitFont> | undefined;
    if (typeof candidate?.layout !== "function" || typeof candidate.unitsPerEm !== "number") {
      throw new Error(`${path} is not a single TrueType or OpenType font`);
    }
    font = candidate as FontkitFont;
    parsed.set(path, font);
  }
  return font;
}

const NOT_LOOKED_UP = -1;
export const EMOJI_PRESENTATION = /\p{Emoji_Presentation}/u;

/**
 * Which font of the chain draws each code point: the first that has a glyph
 * for it, except that characters shown as emoji by default go to an emoji
 * font first. Answers are cached: the chain is shared by every document.
 */
export class FontChain {
  private readonly bmp = new Int16Array(0x10000).fill(NOT_LOOKED_UP);
  private readonly astral = new Map<number, number>();
  private readonly emojiFonts: readonly number[];

  constructor(readonly fonts: readonly ChainFont[]) {
    this.emojiFonts = fonts.flatMap((font, index) => (font.emoji ? [index] : []));
  }

  /** The font for `codePoint`; the first font (which draws its empty box) if none has it. */
  fontFor(codePoint: number): number {
    if (codePoint < 0x10000) {
      const known = this.bmp[codePoint] as number;
      if (known !== NOT_LOOKED_UP) return known;
      const index = this.lookUp(codePoint);
      this.bmp[codePoint] = index;
      return index;
    }
    let index = this.astral.get(codePoint);
    if (index === undefined) {
      index = this.lookUp(codePoint);
      this.astral.set(codePoint, index);
    }
    return index;
  }

  /** An emoji font that has `codePoint` (for a character asked to show as emoji), if any. */
  emojiFontFor(codePoint: number): number | undefined {
    return this.emojiFonts.find((index) => this.has(index, codePoint));
  }

  has(index: number, codePoint: number): boolean {
    return this.fonts[index]?.font.hasGlyphForCodePoint(codePoint) === true;
  }

  private lookUp(codePoint: number): number {
    if (EMOJI_PRESENTATION.test(String.fromCodePoint(codePoint))) {
      const emoji = this.emojiFontFor(codePoint);
      if (emoji !== undefined) return emoji;
    }
    const index = this.fonts.findIndex(({ font }) => font.hasGlyphForCodePoint(codePoint));
    return index === -1 ? 0 : index;
  }
}

export interface FontChainOptions {
  /** A font to use instead of DejaVu Sans as the first of the chain. */
  readonly fontPath?: string | undefined;
  /** Its bold face; the regular one when only `fontPath` is set. */
  readonly boldFontPath?: string | undefined;
  /** Fonts tried after the first and before the bundled fallbacks, for regular and bold text. */
  readonly fallbackFontPaths?: readonly string[] | undefined;
}

/** The regular and bold chains for the given options (configured fonts read and checked now). */
export function fontChains(options: FontChainOptions): { regular: FontChain; bold: FontChain } {
  const dejaVu = bundledFontPaths();
  const regularPath = options.fontPath ?? dejaVu.regular;
  const boldPath =
    options.boldFontPath ?? (options.fontPath === undefined ? dejaVu.bold : regularPath);
  const extra = (options.fallbackFontPaths ?? []).map((path) => ({
    font: loadFont(path),
    emoji: false,
  }));
  const bundled = bundledFallbackPaths();
  // The bundled fallbacks are read when a character first needs them: a
  // server that renders only Latin text (or only CSV) never holds their
  // 30 MB. A configured font is read now, so a bad file stops the start.
  const lazily = (path: string, emoji: boolean): ChainFont => ({
    get font() {
      return loadFont(path);
    },
    emoji,
  });
  const chain = (first: string, weight: "regular" | "bold") =>
    new FontChain([
      { font: loadFont(first), emoji: false },
      ...extra,
      ...bundled.map((fallback) => lazily(fallback[weight], fallback.emoji)),
    ]);
  return { regular: chain(regularPath, "regular"), bold: chain(boldPath, "bold") };
}
