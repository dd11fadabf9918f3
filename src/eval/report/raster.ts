/**
 * The PNG charts: a chart's standalone SVG (scene.ts) rendered by resvg (`@resvg/resvg-js`, native
 * code) with the DejaVu Sans fonts of font.ts and no system font, so the same scene gives the same
 * pixels on any machine. resvg is loaded on first use, not when the CLI starts; where its native binding
 * cannot load, {@link loadPngRenderer} says why and the report is written with SVG charts only.
 *
 * Also the width of a label as these fonts draw it, with which charts.ts lays out and wraps its text.
 */
import { advanceEm, FONT_FAMILY, fontFiles } from './font.js';
import { type Scene, sceneToSvg } from './scene.js';

/** The part of `@resvg/resvg-js` used here (tests inject a stand-in, or a loader that fails). */
export interface ResvgModule {
  Resvg: new (
    svg: string | Buffer,
    options?: import('@resvg/resvg-js').ResvgRenderOptions | null,
  ) => { render(): { asPng(): Buffer } };
}

export type ResvgLoader = () => Promise<ResvgModule>;

/** Loads `@resvg/resvg-js` and, through it, its platform's native binding. */
export const loadResvg: ResvgLoader = () => import('@resvg/resvg-js');

export interface PngRenderer {
  /** The scene as a PNG of (width × scale) × (height × scale) pixels. */
  render(scene: Scene, scale?: number): Buffer;
}

/** A renderer, or why there is none (the message of the error that stopped it, first line). */
export type PngRendererResult = { ok: true; renderer: PngRenderer } | { ok: false; reason: string };

const firstLine = (err: unknown): string =>
  (err instanceof Error ? err.message : String(err)).split('\n')[0]!.trim() || 'unknown error';

/** Loads resvg and finds the fonts; never throws: a failure comes back as its reason. */
export async function loadPngRenderer(load: ResvgLoader = loadResvg): Promise<PngRendererResult> {
  let resvg: ResvgModule;
  try {
    resvg = await load();
  } catch (err) {
    return { ok: false, reason: `cannot load @resvg/resvg-js: ${firstLine(err)}` };
  }
  let files: string[];
  try {
    files = fontFiles();
  } catch (err) {
    return { ok: false, reason: `cannot find the DejaVu Sans fonts (dejavu-fonts-ttf): ${firstLine(err)}` };
  }
  const font = {
    fontFiles: files,
    loadSystemFonts: false,
    defaultFontFamily: FONT_FAMILY,
    sansSerifFamily: FONT_FAMILY,
  };
  return {
    ok: true,
    renderer: {
      render(scene, scale = 2) {
        const svg = sceneToSvg(scene, { standalone: true });
        const r = new resvg.Resvg(svg, { font, fitTo: { mode: 'zoom', value: scale }, logLevel: 'error' });
        return r.render().asPng();
      },
    },
  };
}

/**
 * The width of `s` at font `size`, in scene units, as the charts' fonts draw it: the wider of DejaVu
 * Sans regular and bold (the caller does not say which), without kerning. Text is drawn as outlines,
 * so the width is the same at every scale.
 */
export function textExtent(s: string, size: number): number {
  return size * Math.max(advanceEm(s, 'regular'), advanceEm(s, 'bold'));
}
