/**
 * A page's content stream, written straight into bytes as its operators are
 * drawn. Built as a string, a page was thousands of short strings joined
 * into a rope, which was flattened to be written: that flattening alone took
 * 15% of a render thread's time, and collecting the strings more.
 */

/** Bytes a page starts with room for; a page of an eight-column table takes about 10 KB. */
const INITIAL_BYTES = 16 * 1024;

/**
 * Whole hundredths below this are written digit by digit: with at most 15
 * significant digits, the exact decimal is also the shortest that reads
 * back as the same double, which is what Number#toString writes.
 */
const EXACT_HUNDREDTHS = 1e15;

/** The longest number written digit by digit: a sign, 13 digits, a point, 2 digits. */
const MAX_NUMBER_BYTES = 17;

/** Strings longer than this are written by Buffer#write; shorter ones cost less one byte at a time. */
const LONG_TEXT = 64;

const DIGIT_0 = 0x30;
const BACKSLASH = 0x5c;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const MINUS = 0x2d;
const POINT = 0x2e;

/** 1 for the bytes a PDF literal string escapes (see {@link stringByte}). */
const ESCAPED = new Uint8Array(256);
for (const byte of [0x28, 0x29, BACKSLASH, LINE_FEED, CARRIAGE_RETURN]) ESCAPED[byte] = 1;

export class ContentBytes {
  private buffer = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  private length = 0;

  get empty(): boolean {
    return this.length === 0;
  }

  /** Writes `text`, a byte a character (latin1): operators, and glyph ids as two characters each. */
  text(text: string): void {
    const count = text.length;
    this.reserve(count);
    if (count > LONG_TEXT) {
      this.length += this.buffer.write(text, this.length, "latin1");
      return;
    }
    const buffer = this.buffer;
    let at = this.length;
    for (let i = 0; i < count; i++) buffer[at++] = text.charCodeAt(i);
    this.length = at;
  }

  /** Writes a subset glyph id as the two bytes of a PDF literal string, escaped where its syntax needs it. */
  glyph(id: number): void {
    this.reserve(4);
    const buffer = this.buffer;
    this.length = stringByte(buffer, stringByte(buffer, this.length, id >> 8), id & 0xff);
  }

  /** Writes the glyph of each code unit of `text` (its id in `glyphIds`), as {@link glyph} does. */
  glyphs(text: string, glyphIds: Uint16Array): void {
    const count = text.length;
    this.reserve(4 * count);
    const buffer = this.buffer;
    let at = this.length;
    for (let i = 0; i < count; i++) {
      const id = glyphIds[text.charCodeAt(i)] as number;
      const high = id >> 8;
      const low = id & 0xff;
      if (ESCAPED[high] === 0 && ESCAPED[low] === 0) {
        buffer[at] = high;
        buffer[at + 1] = low;
        at += 2;
      } else {
        at = stringByte(buffer, stringByte(buffer, at, high), low);
      }
    }
    this.length = at;
  }

  /**
   * Writes `value` rounded to the hundredth, as Number#toString writes the
   * rounded value: "12", "12.5", "-0.05".
   */
  number(value: number): void {
    this.hundredths(Math.round(value * 100));
  }

  /** Writes `hundredths / 100` as {@link number} writes it. */
  hundredths(hundredths: number): void {
    if (!Number.isInteger(hundredths) || Math.abs(hundredths) >= EXACT_HUNDREDTHS) {
      this.text(String(hundredths / 100));
      return;
    }
    this.reserve(MAX_NUMBER_BYTES);
    const buffer = this.buffer;
    let at = this.length;
    // -0 is written "0", as Number#toString writes it.
    if (hundredths < 0) buffer[at++] = MINUS;
    const magnitude = Math.abs(hundredths);
    const fraction = magnitude % 100;
    let whole = (magnitude - fraction) / 100;
    let digits = 1;
    for (let rest = whole; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    at += digits;
    for (let i = 1; i <= digits; i++) {
      const digit = whole % 10;
      buffer[at - i] = DIGIT_0 + digit;
      whole = (whole - digit) / 10;
    }
    if (fraction !== 0) {
      const last = fraction % 10;
      buffer[at++] = POINT;
      buffer[at++] = DIGIT_0 + (fraction - last) / 10;
      if (last !== 0) buffer[at++] = DIGIT_0 + last;
    }
    this.length = at;
  }

  /**
   * The bytes written since the last take, between `prefix` and `suffix`, in
   * a buffer of their own (which a render thread can hand over whole); the
   * next page starts empty.
   */
  take(prefix: string, suffix: string): Buffer {
    const body = this.length;
    const page = Buffer.allocUnsafeSlow(prefix.length + body + suffix.length);
    page.write(prefix, 0, "latin1");
    this.buffer.copy(page, prefix.length, 0, body);
    page.write(suffix, prefix.length + body, "latin1");
    this.length = 0;
    return page;
  }

  private reserve(count: number): void {
    const needed = this.length + count;
    if (needed <= this.buffer.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(needed, 2 * this.buffer.length));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}

/** Writes `byte` inside a PDF literal string at `at`, escaped if it is a parenthesis, backslash, CR or LF; returns where it ends. */
function stringByte(buffer: Buffer, at: number, byte: number): number {
  if (byte === 0x28 || byte === 0x29 || byte === BACKSLASH) {
    buffer[at] = BACKSLASH;
    buffer[at + 1] = byte;
    return at + 2;
  }
  if (byte === LINE_FEED || byte === CARRIAGE_RETURN) {
    buffer[at] = BACKSLASH;
    buffer[at + 1] = byte === LINE_FEED ? 0x6e : 0x72;
    return at + 2;
  }
  buffer[at] = byte;
  return at + 1;
}
