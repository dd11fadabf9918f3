/**
 * The charts of conversation runs (`eval run --turns N`), built with the chart kit of charts.ts:
 * - `conversations`: per group (overall, then SOURCE/PERSONA), one bar per run, in three panels: mean
 *   assistant turns, mean turns to the answer, final-answer accuracy. Bars carry `data-bar` with
 *   `data-series` (run), `data-measure`, `data-group` and `data-value`.
 * - `conversation-sweep`: a conversation sweep's turns (mean turns, turns to answer) and accuracy (final
 *   accuracy, share answered) against the swept value; markers carry `data-sweep-point`.
 * A panel without data says why instead of being drawn empty.
 */
import {
  axes,
  type CurveSeries,
  emptyPanel,
  type Frame,
  groupedBars,
  groupedChartHead,
  niceAxis,
  sweepPanel,
  text,
  titleWidth,
} from './charts.js';
import type { Scene, Shape } from './scene.js';

export const CONVERSATION_BAR_MEASURES = [
  ['turns', 'mean turns'],
  ['turns_to_answer', 'turns to answer'],
  ['correct', 'final accuracy'],
] as const;
export type ConversationBarMeasure = (typeof CONVERSATION_BAR_MEASURES)[number][0];

/** Grouped bars of turns, turns to answer and final accuracy per group and run. */
export function conversationChart(
  groups: readonly string[],
  runs: readonly string[],
  value: (measure: ConversationBarMeasure, run: string, group: string) => number | null,
): Scene {
  const head = groupedChartHead('Conversations: turns, turns to the answer, final accuracy', groups, runs);
  const { clusterW, width, shapes } = head;
  let y = head.y;
  const panelH = 120;
  for (const [measure, label] of CONVERSATION_BAR_MEASURES) {
    const f: Frame = { x: 70, y: y + 10, w: Math.max(groups.length * clusterW, 200), h: panelH };
    const values = runs.flatMap((r) => groups.map((g) => value(measure, r, g)));
    const known = values.filter((v): v is number => v !== null);
    if (known.length === 0) {
      emptyPanel(
        shapes,
        f,
        measure === 'correct'
          ? 'No final accuracy: no conversation has a scored final answer.'
          : measure === 'turns_to_answer'
            ? 'No turns to answer: no conversation reached an answer.'
            : 'No conversations.',
      );
      y = f.y + f.h + 26;
      continue;
    }
    const ay =
      measure === 'correct'
        ? { min: 0, max: 1, ticks: [0, 0.25, 0.5, 0.75, 1], step: 0.25 }
        : niceAxis(0, Math.max(1, ...known), 4);
    axes(shapes, f, undefined, ay, { y: label });
    groupedBars(shapes, f, ay, groups, runs, clusterW, (g, r) => {
      const v = value(measure, r, g);
      return v === null
        ? null
        : { value: v, data: { measure }, title: `${g} · ${r}: ${label} ${v.toFixed(3)}` };
    });
    y = f.y + f.h + 26;
  }
  return {
    id: 'conversations',
    kind: 'conversations',
    title: 'Conversations',
    width,
    height: y + 6,
    data: { measures: CONVERSATION_BAR_MEASURES.map(([m]) => m).join(' ') },
    shapes,
  };
}

export interface ConversationSweepCurves {
  param: string;
  /** Mean turns and turns to answer. */
  turns: CurveSeries[];
  /** Final accuracy and share answered (0–1). */
  accuracy: CurveSeries[];
}

/** Turns and accuracy of a conversation sweep against the swept value, one panel each. */
export function conversationSweepChart(run: string, curves: ConversationSweepCurves, id: string): Scene {
  const title = `${run}: conversations over ${curves.param}`;
  const width = Math.max(600, titleWidth(title));
  const shapes: Shape[] = [text(12, 20, title, { size: 13, bold: true })];
  const xsAll = [...curves.turns, ...curves.accuracy].flatMap((s) => s.points.map((p) => p[0]));
  const xs = niceAxis(xsAll.length ? Math.min(...xsAll) : 0, xsAll.length ? Math.max(...xsAll) : 1);
  let y = 36;
  const panels: Array<[CurveSeries[], string, boolean]> = [
    [curves.turns, 'turns', false],
    [curves.accuracy, 'share', true],
  ];
  for (const [series, label, percent] of panels) {
    y = sweepPanel(
      shapes,
      { y, width, xs, param: curves.param },
      series,
      label,
      percent,
      'no point has a value',
    );
  }
  return {
    id,
    kind: 'conversation-sweep',
    title,
    width,
    height: y,
    data: { run, param: curves.param },
    shapes,
  };
}
