/** `gtalign studio`'s own settings: its port and where studies are kept (the rest are the server settings). */
import { group, setting } from '../setting.js';
import { httpUrl, integer, modelName, path } from '../value-types.js';

export const STUDIO_PORT = setting({
  name: 'port',
  key: 'studio.port',
  type: integer({ min: 0, max: 65535 }),
  default: 8790,
  env: ['GTALIGN_STUDIO_PORT'],
  arg: 'N',
  help: 'port (0 = any free port, printed at start)',
});

export const STUDY_DIR = setting({
  name: 'study-dir',
  key: 'studio.studyDir',
  type: path(),
  default: 'gtalign-studies',
  env: ['GTALIGN_STUDY_DIR'],
  arg: 'DIR',
  help: 'folder of the user studies (study.json and the append-only ratings.jsonl of each)',
});

export const COMPARE_BASE_URL = setting({
  name: 'compare-base-url',
  key: 'studio.compareBaseUrl',
  type: httpUrl(),
  arg: 'URL',
  help:
    'a second OpenAI-compatible server (e.g. the base model next to a trained one): a live\n' +
    "study's arm may answer from it (needs --compare-model)",
});

export const COMPARE_MODEL = setting({
  name: 'compare-model',
  key: 'studio.compareModel',
  type: modelName(),
  arg: 'NAME',
  help: 'the model the second server serves',
});

export const STUDIO_SETTINGS = [STUDIO_PORT, STUDY_DIR, COMPARE_BASE_URL, COMPARE_MODEL] as const;
export const STUDIO = group('Studio', STUDIO_SETTINGS);
