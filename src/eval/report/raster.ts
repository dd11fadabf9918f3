/**
 * Rasterizes a chart {@link Scene} into RGB pixels for PNG output, without native code: filled
 * rectangles, discs, thick (optionally dashed) lines with a one-pixel soft edge, and text in the 5×7
 * bitmap font of font.ts (so PNG labels are blocky but legible).
 */
import { GLYPH_ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, glyph } from './font.js';
import { encodePng } from './png.js';
import type { Scene, Shape } from './scene.js';

type Rgb = [number, number, number];

const NAMED: Record<string, Rgb> = { white: [255, 255, 255], black: [0, 0, 0], none: [255, 255, 255] };

export function parseColor(color: string): Rgb {
  const m = /^#([0-9a-f]{6}|[0-9a-f]{3})$/i.exec(color.trim());
  if (m) {
    let h = m[1]!;
    if (h.length === 3) h = [...h].map((c) => c + c).join('');
    return [
      Number.parseInt(h.slice(0, 2), 16),
      Number.parseInt(h.slice(2, 4), 16),
      Number.parseInt(h.slice(4, 6), 16),
    ];
  }
  return NAMED[color.trim().toLowerCase()] ?? [0, 0, 0];
}

export class Raster {
  readonly data: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = new Uint8Array(width * height * 3).fill(255);
  }

  blend(x: number, y: number, c: Rgb, alpha: number): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height || alpha <= 0) return;
    const i = (y * this.width + x) * 3;
    const d = this.data;
    if (alpha >= 1) {
      d[i] = c[0];
      d[i + 1] = c[1];
      d[i + 2] = c[2];
      return;
    }
    d[i] = Math.round(d[i]! + (c[0] - d[i]!) * alpha);
    d[i + 1] = Math.round(d[i + 1]! + (c[1] - d[i + 1]!) * alpha);
    d[i + 2] = Math.round(d[i + 2]! + (c[2] - d[i + 2]!) * alpha);
  }

  fillRect(x: number, y: number, w: number, h: number, c: Rgb, alpha = 1): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) this.blend(xx, yy, c, alpha);
  }

  fillCircle(cx: number, cy: number, r: number, c: Rgb, alpha = 1): void {
    const x0 = Math.floor(cx - r - 1);
    const x1 = Math.ceil(cx + r + 1);
    const y0 = Math.floor(cy - r - 1);
    const y1 = Math.ceil(cy + r + 1);
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
        const cover = Math.min(1, Math.max(0, r + 0.5 - d));
        if (cover > 0) this.blend(x, y, c, cover * alpha);
      }
    }
  }

  /** A segment of width `w`; `dash` > 0 draws dashes and gaps of that length. */
  line(x1: number, y1: number, x2: number, y2: number, w: number, c: Rgb, dash = 0): void {
    const half = Math.max(0.5, w / 2);
    const dx = x2 - x1;
    const dy = y2 - y1;
    const len2 = dx * dx + dy * dy;
    const bx0 = Math.floor(Math.min(x1, x2) - half - 1);
    const bx1 = Math.ceil(Math.max(x1, x2) + half + 1);
    const by0 = Math.floor(Math.min(y1, y2) - half - 1);
    const by1 = Math.ceil(Math.max(y1, y2) + half + 1);
    const len = Math.sqrt(len2);
    for (let y = Math.max(0, by0); y <= Math.min(this.height - 1, by1); y++) {
      for (let x = Math.max(0, bx0); x <= Math.min(this.width - 1, bx1); x++) {
        const px = x + 0.5;
        const py = y + 0.5;
        let t = len2 === 0 ? 0 : ((px - x1) * dx + (py - y1) * dy) / len2;
        if (t < 0) t = 0;
        else if (t > 1) t = 1;
        if (dash > 0 && Math.floor((t * len) / dash) % 2 === 1) continue;
        const d = Math.hypot(px - (x1 + t * dx), py - (y1 + t * dy));
        const cover = Math.min(1, Math.max(0, half + 0.5 - d));
        if (cover > 0) this.blend(x, y, c, cover);
      }
    }
  }

  /** Text with its baseline at y; `px` = size of one font pixel. */
  text(
    s: string,
    x: number,
    y: number,
    px: number,
    c: Rgb,
    anchor: 'start' | 'middle' | 'end',
    vertical: boolean,
  ): void {
    const chars = [...s];
    const width = chars.length * GLYPH_ADVANCE * px - px;
    const shift = anchor === 'start' ? 0 : anchor === 'middle' ? -width / 2 : -width;
    for (let k = 0; k < chars.length; k++) {
      const g = glyph(chars[k]!);
      const along = shift + k * GLYPH_ADVANCE * px;
      for (let r = 0; r < g.rows; r++) {
        for (let col = 0; col < GLYPH_WIDTH; col++) {
          if (g.bits[r * GLYPH_WIDTH + col] === 0) continue;
          const a = along + col * px; // along the baseline
          const b = (r - GLYPH_HEIGHT) * px; // above the baseline (negative)
          // Rotated −90°: "along" points up the page, "above" points left.
          const gx = vertical ? x + b : x + a;
          const gy = vertical ? y - a - px : y + b;
          this.fillRect(gx, gy, px, px, c);
        }
      }
    }
  }
}

/** The size of one font pixel for text of `size` at `scale`: a 7-pixel glyph at about 0.7 of the font size, like a sans-serif's cap height. */
export function fontPixel(size: number, scale: number): number {
  return Math.max(1, Math.round((size * scale * 0.72) / GLYPH_HEIGHT));
}

/** The width of `s` at font `size` as drawn at `scale`, in scene units (image pixels / scale). */
export function textExtent(s: string, size: number, scale: number): number {
  const n = [...s].length;
  if (n === 0) return 0;
  const px = fontPixel(size, scale);
  return (n * GLYPH_ADVANCE * px - px) / scale;
}

function drawShape(r: Raster, s: Shape, k: number): void {
  switch (s.kind) {
    case 'rect':
      r.fillRect(s.x * k, s.y * k, s.w * k, s.h * k, parseColor(s.fill), s.opacity ?? 1);
      return;
    case 'circle':
      if (s.stroke !== undefined) r.fillCircle(s.cx * k, s.cy * k, (s.r + 1) * k, parseColor(s.stroke));
      r.fillCircle(s.cx * k, s.cy * k, s.r * k, parseColor(s.fill), s.opacity ?? 1);
      return;
    case 'line':
      r.line(s.x1 * k, s.y1 * k, s.x2 * k, s.y2 * k, s.width * k, parseColor(s.stroke), (s.dash ?? 0) * k);
      return;
    case 'polyline': {
      const c = parseColor(s.stroke);
      for (let i = 1; i < s.points.length; i++) {
        const [ax, ay] = s.points[i - 1]!;
        const [bx, by] = s.points[i]!;
        r.line(ax * k, ay * k, bx * k, by * k, s.width * k, c, (s.dash ?? 0) * k);
      }
      return;
    }
    case 'text': {
      r.text(
        s.text,
        s.x * k,
        s.y * k,
        fontPixel(s.size, k),
        parseColor(s.fill),
        s.anchor,
        s.vertical === true,
      );
      return;
    }
  }
}

/** Draws the scene at `scale` pixels per scene unit. */
export function rasterize(scene: Scene, scale = 1): Raster {
  const r = new Raster(Math.round(scene.width * scale), Math.round(scene.height * scale));
  for (const s of scene.shapes) drawShape(r, s, scale);
  return r;
}

/** The scene as a PNG file of (width × scale) × (height × scale) pixels. */
export function sceneToPng(scene: Scene, scale = 2): Buffer {
  const r = rasterize(scene, scale);
  return encodePng(r.width, r.height, r.data);
}
