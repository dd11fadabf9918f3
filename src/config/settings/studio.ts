/** `gtalign studio`'s own settings: its port and where studies are kept (the rest are the server settings). */
import { group, setting } from '../setting.js';
import { integer, path } from '../value-types.js';

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

export const STUDIO_SETTINGS = [STUDIO_PORT, STUDY_DIR] as const;
export const STUDIO = group('Studio', STUDIO_SETTINGS);
