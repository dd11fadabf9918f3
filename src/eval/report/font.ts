/**
 * The font of the PNG charts: DejaVu Sans, regular and bold, from the `dejavu-fonts-ttf` package (the
 * Bitstream Vera licence: free to use and redistribute). raster.ts hands these files to resvg and no
 * system font, so a chart's PNG is the same on every machine, offline. The SVG's font-family names
 * DejaVu Sans first, so it resolves to them.
 *
 * The charts measure their labels with the same fonts' advance widths, read here from the files' `cmap`
 * and `hmtx` tables.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** The family name inside the font files (and the first family of the charts' SVG `font-family`). */
export const FONT_FAMILY = 'DejaVu Sans';

const FILES = {
  regular: 'dejavu-fonts-ttf/ttf/DejaVuSans.ttf',
  bold: 'dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf',
} as const;

export type FontWeight = keyof typeof FILES;

const require = createRequire(import.meta.url);

/** The path of one of the fonts (throws when the package is not installed). */
export function fontFile(weight: FontWeight): string {
  return require.resolve(FILES[weight]);
}

/** The paths of every font the charts use: regular and bold. */
export function fontFiles(): string[] {
  return [fontFile('regular'), fontFile('bold')];
}

interface FontMetrics {
  unitsPerEm: number;
  /** The glyph of a code point (0, `.notdef`, when the font has none). */
  glyphOf(cp: number): number;
  /** A glyph's advance width in font units. */
  advanceOf(glyph: number): number;
}

/** Reads the tables the advance widths need from a TrueType file. */
export function parseFontMetrics(buf: Buffer): FontMetrics {
  const tables = new Map<string, number>();
  const numTables = buf.readUInt16BE(4);
  for (let i = 0; i < numTables; i++) {
    const rec = 12 + 16 * i;
    tables.set(buf.toString('latin1', rec, rec + 4), buf.readUInt32BE(rec + 8));
  }
  const table = (tag: string): number => {
    const at = tables.get(tag);
    if (at === undefined) throw new Error(`font has no ${tag} table`);
    return at;
  };
  const unitsPerEm = buf.readUInt16BE(table('head') + 18);
  const numberOfHMetrics = buf.readUInt16BE(table('hhea') + 34);
  const hmtx = table('hmtx');
  return {
    unitsPerEm,
    glyphOf: cmapLookup(buf, table('cmap')),
    // Glyphs past the last long metric share its advance.
    advanceOf: (glyph) => buf.readUInt16BE(hmtx + 4 * Math.min(glyph, numberOfHMetrics - 1)),
  };
}

/** The Unicode subtable of a `cmap`: format 12 (all planes) when there is one, else format 4 (BMP). */
function cmapLookup(buf: Buffer, cmap: number): (cp: number) => number {
  const subtables: Array<{ format: number; at: number }> = [];
  const n = buf.readUInt16BE(cmap + 2);
  for (let i = 0; i < n; i++) {
    const platform = buf.readUInt16BE(cmap + 4 + 8 * i);
    const encoding = buf.readUInt16BE(cmap + 6 + 8 * i);
    const at = cmap + buf.readUInt32BE(cmap + 8 + 8 * i);
    const unicode = platform === 0 || (platform === 3 && (encoding === 1 || encoding === 10));
    if (unicode) subtables.push({ format: buf.readUInt16BE(at), at });
  }
  const f12 = subtables.find((s) => s.format === 12);
  if (f12 !== undefined) {
    const groups = buf.readUInt32BE(f12.at + 12);
    return (cp) => {
      for (let g = 0; g < groups; g++) {
        const rec = f12.at + 16 + 12 * g;
        const start = buf.readUInt32BE(rec);
        if (cp < start) return 0;
        if (cp <= buf.readUInt32BE(rec + 4)) return buf.readUInt32BE(rec + 8) + (cp - start);
      }
      return 0;
    };
  }
  const f4 = subtables.find((s) => s.format === 4);
  if (f4 === undefined) throw new Error('font has no Unicode cmap (format 4 or 12)');
  const segs = buf.readUInt16BE(f4.at + 6) / 2;
  const ends = f4.at + 14;
  const starts = ends + 2 * segs + 2;
  const deltas = starts + 2 * segs;
  const ranges = deltas + 2 * segs;
  return (cp) => {
    if (cp > 0xffff) return 0;
    for (let i = 0; i < segs; i++) {
      if (cp > buf.readUInt16BE(ends + 2 * i)) continue;
      const start = buf.readUInt16BE(starts + 2 * i);
      if (cp < start) return 0;
      const delta = buf.readUInt16BE(deltas + 2 * i);
      const range = buf.readUInt16BE(ranges + 2 * i);
      if (range === 0) return (cp + delta) & 0xffff;
      const g = buf.readUInt16BE(ranges + 2 * i + range + 2 * (cp - start));
      return g === 0 ? 0 : (g + delta) & 0xffff;
    }
    return 0;
  };
}

const loaded = new Map<FontWeight, { metrics: FontMetrics; widths: Map<number, number> }>();

/** The width of `s` in ems: the sum of its characters' advance widths (no kerning) in one weight. */
export function advanceEm(s: string, weight: FontWeight = 'regular'): number {
  let font = loaded.get(weight);
  if (font === undefined) {
    font = { metrics: parseFontMetrics(readFileSync(fontFile(weight))), widths: new Map() };
    loaded.set(weight, font);
  }
  let units = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    let w = font.widths.get(cp);
    if (w === undefined) {
      w = font.metrics.advanceOf(font.metrics.glyphOf(cp));
      font.widths.set(cp, w);
    }
    units += w;
  }
  return units / font.metrics.unitsPerEm;
}
