/**
 * `text` in JSON quotes, cut after `maxChars` characters (code points) and
 * marked with "…": a client's name or header echoed back stays short
 * enough for every client to read the status.
 */
export function quoteCut(text: string, maxChars: number): string {
  let shown = 0;
  let units = 0;
  for (const character of text) {
    if (shown === maxChars) return `${JSON.stringify(text.slice(0, units))}…`;
    shown++;
    units += character.length;
  }
  return JSON.stringify(text);
}
