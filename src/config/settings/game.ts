/** The settings of `gtalign game analyze` (its selection rule is the steering one). */
import { setting } from '../setting.js';
import { number, text } from '../value-types.js';

export const TOLERANCE = setting({
  name: 'tolerance',
  key: 'game.tolerance',
  type: number({ min: 0 }),
  default: 0,
  arg: 'X',
  help: 'Pareto dominance tolerance',
});

export const ROWS = setting({
  name: 'rows',
  key: 'game.rows',
  type: text(),
  arg: 'LIST',
  help: "the user's strategies, comma-separated",
  defaultText: 'DQ,VQ',
});

export const COLUMNS = setting({
  name: 'columns',
  key: 'game.columns',
  type: text(),
  arg: 'LIST',
  help:
    "the assistant's strategies, comma-separated; cells are ROW_COLUMN.\n" +
    'Mixed equilibria are enumerated up to 10x10 games.',
  defaultText: 'DA,CQ,AQ',
});

export const GAME_SETTINGS = [TOLERANCE, ROWS, COLUMNS] as const;
