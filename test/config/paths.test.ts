/**
 * One folder rule for every cache: $XDG_CACHE_HOME/gtalign/<kind> when XDG_CACHE_HOME is set, else
 * ~/.cache/gtalign/<kind>; the models folder, the data folder and the judge cache all follow it.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultModelsDir } from '../../src/assistant/models.js';
import { cacheFolder } from '../../src/config/paths.js';
import { defaultOf } from '../../src/config/setting.js';
import { DATA_DIR } from '../../src/config/settings/data.js';
import { CACHE_DIR } from '../../src/config/settings/judge.js';
import { MODELS_DIR } from '../../src/config/settings/models.js';
import { defaultDataDir } from '../../src/data/pull.js';

const XDG = { XDG_CACHE_HOME: '/srv/cache' };
const NONE = { XDG_CACHE_HOME: undefined, GTALIGN_DATA_DIR: undefined };

describe('the cache folder rule', () => {
  it('puts every cache under $XDG_CACHE_HOME/gtalign when it is set', () => {
    expect(cacheFolder('models', XDG)).toBe('/srv/cache/gtalign/models');
    expect(defaultModelsDir(XDG)).toBe('/srv/cache/gtalign/models');
    expect(defaultDataDir(XDG)).toBe('/srv/cache/gtalign/data');
    expect(defaultOf(CACHE_DIR, XDG)).toBe('/srv/cache/gtalign/judge');
    expect(defaultOf(MODELS_DIR, XDG)).toBe('/srv/cache/gtalign/models');
    expect(defaultOf(DATA_DIR, XDG)).toBe('/srv/cache/gtalign/data');
  });

  it('falls back to ~/.cache/gtalign without it, and when it is empty', () => {
    const home = join(homedir(), '.cache', 'gtalign');
    for (const env of [NONE, { XDG_CACHE_HOME: '' }]) {
      expect(defaultModelsDir(env)).toBe(join(home, 'models'));
      expect(defaultDataDir(env)).toBe(join(home, 'data'));
      expect(defaultOf(CACHE_DIR, env)).toBe(join(home, 'judge'));
    }
  });

  it('keeps $GTALIGN_DATA_DIR as the data folder of the library call', () => {
    expect(defaultDataDir({ ...XDG, GTALIGN_DATA_DIR: '/data/gtalign' })).toBe('/data/gtalign');
  });
});
