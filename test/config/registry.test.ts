/**
 * The schema is the one place settings are declared: every command's settings are in the registry (so a
 * settings file may hold them), keys are unique, and each command's flags and help come from it.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMAND_ENTRIES, loadAllCommands } from '../../src/cli/commands.js';
import { loadSettings } from '../../src/config/load.js';
import { defaultOf } from '../../src/config/setting.js';
import { ALL_SETTINGS } from '../../src/config/settings/index.js';

const ENV = {};
const COMMANDS = await loadAllCommands();

describe('the settings registry', () => {
  it('gives every setting its own key', () => {
    const keys = ALL_SETTINGS.map((s) => s.key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('holds every setting of every command, with the same kind of value', () => {
    const byKey = new Map(ALL_SETTINGS.map((s) => [s.key, s]));
    for (const command of COMMANDS) {
      for (const s of command.settings.flatMap((g) => g.settings)) {
        const known = byKey.get(s.key);
        expect(known, `${command.name}: ${s.key}`).toBeDefined();
        expect([s.type.flagKind, s.type.multiple], `${command.name}: ${s.key}`).toEqual([
          known!.type.flagKind,
          known!.type.multiple,
        ]);
      }
    }
  });

  it('loads every command with nothing given: flags unique, defaults valid', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'gtalign-registry-'));
    for (const command of COMMANDS) {
      const loaded = await loadSettings(command.settings, {
        args: [],
        env: ENV,
        cwd,
        known: ALL_SETTINGS,
        allowPositionals: true,
      });
      const sources = Object.values(loaded.sources) as Array<{ kind: string }>;
      expect(sources.every((s) => s.kind === 'default')).toBe(true);
    }
  });
});

describe('the command table', () => {
  it('names each command as the command itself does, once', () => {
    expect(COMMANDS.map((c) => c.name)).toEqual(COMMAND_ENTRIES.map((e) => e.name));
    expect(new Set(COMMANDS.map((c) => c.name)).size).toBe(COMMANDS.length);
  });
});

describe('generated help', () => {
  it("lists every flag of a command with the schema's default", () => {
    for (const command of COMMANDS) {
      const help = command.help({ env: ENV, cwd: '/' });
      for (const s of command.settings.flatMap((g) => g.settings)) {
        if (s.flag === false) {
          for (const name of s.env ?? []) expect(help, `${command.name}: $${name}`).toContain(`$${name}`);
          continue;
        }
        expect(help, `${command.name}: --${s.name}`).toMatch(new RegExp(`^  --${s.name}\\b`, 'm'));
        const value = defaultOf(s, ENV);
        if (s.defaultText === undefined && typeof value === 'number') {
          expect(help, `${command.name}: --${s.name} default`).toContain(`default ${value}`);
        }
      }
      expect(help).toMatch(/^ {2}--config FILE/m);
    }
  });

  it('shows a command its own defaults', () => {
    const help = (name: string) => COMMANDS.find((c) => c.name === name)!.help({ env: ENV, cwd: '/' });
    expect(help('serve')).toMatch(/--port N .*\(default 8080; env GTALIGN_PORT\)/);
    expect(help('reward serve')).toMatch(/--port N .*\(default 5000; env GTALIGN_PORT\)/);
    expect(help('eval score')).toMatch(/--concurrency N +outputs being scored at once \(default 32;/);
    expect(help('eval sweep')).toMatch(/--policy NAME\|FILE .*\(default api; env GTALIGN_POLICY\)/);
  });
});
