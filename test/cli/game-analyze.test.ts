import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_INPUT_BYTES } from '../../src/cli/io.js';
import { analyzeGame } from '../../src/game/analyze.js';
import { cliShellCommand, REPO_ROOT } from '../support/cli.js';
import { runCliInProcess } from '../support/cli-in-process.js';

interface FixtureCase {
  id: string;
  matrix: Record<string, { LLM: number; user: number }>;
  generic: boolean;
  expected: {
    pareto: string[];
    selected: string;
    argmax_product: string[];
    pure_nash: string[];
    nash?: unknown[];
  };
}

const fixture: FixtureCase[] = readFileSync(new URL('../fixtures/games.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as FixtureCase);

describe('gtalign game analyze', () => {
  it('reports VQ_DA as the only pure equilibrium and DQ_AQ as the choice on the paper matrix', async () => {
    const r = await runCliInProcess(['game', 'analyze', 'examples/prisoners-dilemma.json', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.pure_nash).toEqual(['VQ_DA']);
    expect(out.selected).toBe('DQ_AQ');
    expect(out.degenerate).toBe(false);
    expect(out.nash).toEqual([
      { user: { DQ: 0, VQ: 1 }, llm: { DA: 1, CQ: 0, AQ: 0 }, payoff: { user: 1, LLM: 1 } },
    ]);
  });

  it('prints a readable table with the frontier, equilibria and choice', async () => {
    const r = await runCliInProcess(['game', 'analyze', 'examples/prisoners-dilemma.json']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Pareto frontier: DQ_AQ, VQ_AQ/);
    expect(r.stdout).toMatch(/Selected \(sum\): DQ_AQ/);
    expect(r.stdout).toMatch(/Pure Nash equilibria: VQ_DA/);
  });

  it('answers every fixture game from JSONL on stdin, one line per input, in input order', async () => {
    const input = fixture.map((c) => JSON.stringify({ id: c.id, matrix: c.matrix })).join('\n');
    const r = await runCliInProcess(['game', 'analyze', '-', '--json'], { stdin: input });
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id)).toEqual(fixture.map((c) => c.id));
    for (const [i, c] of fixture.entries()) {
      const got = lines[i];
      const { nash: _nash, ...expected } = c.expected;
      expect({
        pareto: got.pareto,
        selected: got.selected,
        argmax_product: got.argmax_product,
        pure_nash: got.pure_nash,
      }).toEqual(expected);
      if (c.generic) expect(got.nash.length).toBe(c.expected.nash!.length);
    }
  });

  it('applies another selection rule with --rule while keeping the default selected cell', async () => {
    const r = await runCliInProcess([
      'game',
      'analyze',
      'examples/dinosaurs.json',
      '--json',
      '--rule',
      'pareto',
    ]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.selected).toBe('VQ_CQ');
    expect(out.rule).toBe('pareto');
    expect(out.selection.selected).toEqual(out.pareto);
  });

  it('names the line and the key of bad input and exits non-zero', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gtalign-cli-'));
    const file = join(dir, 'bad.jsonl');
    const good = fixture[0]!.matrix;
    await writeFile(
      file,
      [
        JSON.stringify({ id: 'ok', matrix: good }),
        JSON.stringify({ id: 'nan', matrix: { ...good, VQ_CQ: { LLM: 'high', user: 1 } } }),
        '{not json',
        JSON.stringify({ id: 'short', matrix: { DQ_DA: good.DQ_DA } }),
        `{"id":12345678901234567891,"matrix":${JSON.stringify(good)}}`,
      ].join('\n'),
    );
    const r = await runCliInProcess(['game', 'analyze', file, '--json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/line 2: VQ_CQ\.LLM must be a number, got "high"/);
    expect(r.stderr).toMatch(/line 3: not valid JSON/);
    expect(r.stderr).toMatch(/line 4: missing cell DQ_CQ/);
    // Written back, the rounded id would not be the input's.
    expect(r.stderr).toMatch(/line 5: id 12345678901234567000 is an integer past 2\^53 − 1/);
  });

  it('reports one error at the right line for a pretty-printed matrix that is not valid JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gtalign-cli-'));
    const file = join(dir, 'pretty.json');
    const pretty = JSON.stringify(fixture[0]!.matrix, null, 2).split('\n');
    // A trailing comma after the last cell: the error is at the closing brace.
    pretty[pretty.length - 2] += ',';
    await writeFile(file, `${pretty.join('\n')}\n`);
    const r = await runCliInProcess(['game', 'analyze', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`pretty.json: not valid JSON (line ${pretty.length} column 1: `);
    expect(r.stderr).not.toMatch(/bad input line/);
  });

  it('gives a one-line matrix its error alone, not a count of bad lines', async () => {
    // A trailing comma: not JSON, on the only line there is.
    const text = JSON.stringify({ matrix: fixture[0]!.matrix }).replace(/}$/, ',}');
    const r = await runCliInProcess(['game', 'analyze', '-'], { stdin: `${text}\n` });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^gtalign game analyze: <stdin> line 1: not valid JSON \(/);
    expect(r.stderr).not.toMatch(/bad input line/);
  });

  it('names the line and column of a NaN, which V8 gives no position for, in JSONL and on one line', async () => {
    // Python's json.dumps writes NaN: every line of such a JSONL file is not JSON.
    const nan = (id: number) =>
      `{"id": ${id}, "matrix": ${JSON.stringify({ ...fixture[0]!.matrix, DQ_DA: { LLM: 1, user: 1 } }).replace('"LLM":1', '"LLM": NaN')}}`;
    const column = nan(1).indexOf('NaN') + 1;
    const many = await runCliInProcess(['game', 'analyze', '-'], { stdin: `${nan(1)}\n${nan(2)}\n` });
    expect(many.code).toBe(1);
    expect(many.stderr).toContain(`<stdin>: not valid JSON (line 1 column ${column}: Unexpected token 'N'`);
    const one = await runCliInProcess(['game', 'analyze', '-'], { stdin: `${nan(1)}\n` });
    expect(one.code).toBe(1);
    expect(one.stderr).toContain(`<stdin> line 1: not valid JSON (column ${column}: Unexpected token 'N'`);
  });

  it('prints a payoff too small for six decimals in exponent form, not as 0 beside real zeros', async () => {
    const matrix = Object.fromEntries(
      Object.keys(fixture[0]!.matrix).map((k) => [k, { LLM: k === 'DQ_DA' ? 1e-9 : 0, user: 0 }]),
    );
    const r = await runCliInProcess(['game', 'analyze', '-'], { stdin: JSON.stringify({ matrix }) });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1.00e-9');
  });

  it('flags a degenerate game and still lists its pure equilibria', async () => {
    const matrix = Object.fromEntries(Object.keys(fixture[0]!.matrix).map((k) => [k, { LLM: 1, user: 1 }]));
    const r = await runCliInProcess(['game', 'analyze', '-', '--json'], {
      stdin: JSON.stringify({ id: 7, matrix }),
    });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.id).toBe(7);
    expect(out.degenerate).toBe(true);
    expect(out.note).toMatch(/continuum/);
    expect(out.pure_nash).toEqual(['DQ_AQ', 'DQ_CQ', 'DQ_DA', 'VQ_AQ', 'VQ_CQ', 'VQ_DA']);
    expect(out.nash).toHaveLength(6);
    const text = await runCliInProcess(['game', 'analyze', '-'], { stdin: JSON.stringify(matrix) });
    expect(text.stdout).toMatch(/Nash equilibria \(mixed included\): 6 \(degenerate game/);
  });

  it('rejects an unknown rule and an unknown option with usage errors', async () => {
    const a = await runCliInProcess(['game', 'analyze', 'examples/dinosaurs.json', '--rule', 'nope']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/unknown --rule 'nope'/);
    const b = await runCliInProcess(['game', 'analyze', '--frobnicate']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/frobnicate/);
  });

  it('ends quietly when its reader closes the pipe (| head -1)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gtalign-cli-'));
    const file = join(dir, 'many.jsonl');
    const line = JSON.stringify({ id: 'g', matrix: fixture[0]!.matrix });
    await writeFile(file, `${Array.from({ length: 20000 }, () => line).join('\n')}\n`);
    const r = spawnSync(
      'bash',
      [
        '-c',
        `${cliShellCommand()} game analyze "${file}" --json | head -1 >/dev/null; exit \${PIPESTATUS[0]}`,
      ],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    );
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled|internal error/);
    expect(r.status).toBe(0);
  });

  it('analyses games of other sizes given by --rows and --columns, as the library does', async () => {
    const spec = { rows: ['A', 'B', 'C'], columns: ['W', 'X', 'Y', 'Z'] };
    const matrix: Record<string, { LLM: number; user: number }> = {};
    let k = 0;
    for (const r of spec.rows)
      for (const c of spec.columns)
        matrix[`${r}_${c}`] = { LLM: ((k * 7) % 11) - 5, user: ((k++ * 5) % 13) - 6 };
    const r = await runCliInProcess(
      ['game', 'analyze', '-', '--json', '--rows', 'A,B,C', '--columns', 'W,X,Y,Z'],
      {
        stdin: JSON.stringify(matrix),
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout);
    const want = analyzeGame(matrix, { spec });
    expect(got.pareto).toEqual(want.pareto);
    expect(got.selected).toBe(want.selected);
    expect(got.pure_nash).toEqual(want.pure_nash);
    expect(got.nash).toEqual(want.nash);
    const table = await runCliInProcess(['game', 'analyze', '-', '--rows', 'A,B,C', '--columns', 'W,X,Y,Z'], {
      stdin: JSON.stringify(matrix),
    });
    expect(table.stdout).toMatch(/^C +U /m);
    // The default spec's cells are not this game's cells: the error names them.
    const wrong = await runCliInProcess([
      'game',
      'analyze',
      'examples/dinosaurs.json',
      '--rows',
      'A,B,C',
      '--columns',
      'W,X,Y,Z',
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/A_W/);
    const dup = await runCliInProcess(['game', 'analyze', 'examples/dinosaurs.json', '--rows', 'DQ,DQ']);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/duplicate user strategy "DQ"/);
  });

  it('refuses --rows/--columns past the solver limit before reading the input', async () => {
    const names = (prefix: string, n: number) =>
      Array.from({ length: n }, (_, i) => `${prefix}${i}`).join(',');
    // 10 × 11: every matrix would be refused by the solver; the input (no cells) is not even read.
    const r = await runCliInProcess(
      ['game', 'analyze', '-', '--rows', names('R', 10), '--columns', names('C', 11)],
      {
        stdin: '{}',
      },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      '--rows/--columns: game too large for support enumeration: 10×11 has 352715 support pairs, past the 200000 this command solves',
    );
    // The library's advice names an option the command does not have.
    expect(r.stderr).not.toContain('maxSupportPairs');
    expect(r.stderr).not.toMatch(/missing cell/);
  });

  it('refuses a key written twice in one object, naming it and where, instead of keeping the last', async () => {
    const good = fixture[0]!.matrix;
    // A pretty-printed matrix with DQ_DA pasted twice: JSON.parse kept the second silently.
    const pretty = JSON.stringify(good, null, 2).replace('{', '{\n  "DQ_DA": {"LLM": 9, "user": 9},');
    const line = pretty.split('\n').findIndex((l) => l.includes('"DQ_DA"') && !l.includes('9')) + 1;
    const whole = await runCliInProcess(['game', 'analyze', '-'], { stdin: pretty });
    expect(whole.code).toBe(1);
    expect(whole.stderr).toContain(
      `<stdin>: "DQ_DA" appears twice in one object (the second at line ${line} column 3); JSON keeps only the last`,
    );
    const jsonl = `${JSON.stringify({ id: 'a', matrix: good })}\n{"id": "b", "id": "c", "matrix": ${JSON.stringify(good)}}\n`;
    const lines = await runCliInProcess(['game', 'analyze', '-', '--json'], { stdin: jsonl });
    expect(lines.code).toBe(1);
    expect(lines.stdout).toBe('');
    expect(lines.stderr).toContain(
      '<stdin> line 2: "id" appears twice in one object (the second at column 13)',
    );
  });

  it('reads JSONL saved with a byte order mark, as the other JSONL readers do', async () => {
    const line = (id: string) => JSON.stringify({ id, matrix: fixture[0]!.matrix });
    const r = await runCliInProcess(['game', 'analyze', '-', '--json'], {
      stdin: `\ufeff${line('a')}\n${line('b')}\n`,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id),
    ).toEqual(['a', 'b']);
  });

  it('refuses input nested past 64 levels before parsing it (64 MiB of [ took 30 s and 3.5 GB)', async () => {
    const deep = `{"matrix": ${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}`;
    const r = await runCliInProcess(['game', 'analyze', '-'], { stdin: deep });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('<stdin>: nested more than 64 levels deep at line 1 column 75');
  });

  it('names the line and byte of input that is not UTF-8', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gtalign-cli-'));
    const file = join(dir, 'latin1.jsonl');
    const line = (id: string) => JSON.stringify({ id, matrix: fixture[0]!.matrix });
    await writeFile(file, Buffer.from(`${line('a')}\n${line('é')}\n`, 'latin1'));
    const r = await runCliInProcess(['game', 'analyze', file, '--json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      `${file}:2: not valid UTF-8: byte 8 of the line (0xE9) does not start a valid character`,
    );
  });

  it('refuses input past its bound by name, reading no further, instead of failing inside V8', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gtalign-cli-'));
    const file = join(dir, 'huge.jsonl');
    // Sparse: 1 MiB past the bound costs no disk. Past 512 MiB the old reader crashed making the string.
    await writeFile(file, '');
    await truncate(file, MAX_INPUT_BYTES + (1 << 20));
    const r = await runCliInProcess(['game', 'analyze', file, '--json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      `${file}: the input is larger than 64 MiB, the most this command reads at once`,
    );
  });

  it('reports a missing file by name', async () => {
    const r = await runCliInProcess(['game', 'analyze', 'no/such/file.json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no\/such\/file\.json: no such file/);
  });
});
