import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** The bare specifiers the declaration files reachable from `entries` import (relative imports followed). */
function declarationImports(entries: string[]): Map<string, string> {
  const seen = new Set<string>();
  const bare = new Map<string, string>();
  const queue = [...entries];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec.replace(/\.js$/, '.d.ts')));
      else if (!bare.has(spec)) bare.set(spec, file.slice(root.length));
    }
  }
  return bare;
}

/** The package a bare specifier names (`@scope/name/sub` → `@scope/name`). */
function packageOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

describe('the npm package', () => {
  it("declares in its public types only what every install has: dependencies and Node's built-ins", () => {
    // A consumer's `tsc` (skipLibCheck off) reads every declaration file reachable from the entry it
    // imports; one that imports an optional peer or an optional dependency fails to compile where that
    // package is not installed (TS2307), though the code never loads it.
    const entries = Object.values(pkg.exports as Record<string, string | { types?: string }>)
      .map((e) => (typeof e === 'string' ? undefined : e.types))
      .filter((t): t is string => t !== undefined)
      .map((t) => join(root, t));
    expect(entries.length).toBeGreaterThan(10);
    const outside = [...declarationImports(entries)]
      .filter(([spec]) => {
        if (spec.startsWith('node:') || builtinModules.includes(spec)) return false;
        return pkg.dependencies?.[packageOf(spec)] === undefined;
      })
      .map(([spec, file]) => `${spec} (${file})`);
    expect(outside).toEqual([]);
  });

  it('installs the default engine with the package, yet optionally: node-llama-cpp is an optional dependency', () => {
    // Installed by `npm install gtalign` (the embedded engine is the default backend), but a platform where
    // it cannot install, or `--omit=optional`, still gets the rest; and npm never installs an optional peer.
    expect(pkg.optionalDependencies?.['node-llama-cpp']).toMatch(/^\^3\./);
    expect(pkg.dependencies?.['node-llama-cpp']).toBeUndefined();
    expect(pkg.peerDependencies?.['node-llama-cpp']).toBeUndefined();
  });

  it('imports node-llama-cpp only lazily or for types, so `import "gtalign"` works without it', () => {
    const offenders = sourceFiles(join(root, 'src')).filter((file) =>
      /^import\s+(?!type\b)[^;]*from\s+'node-llama-cpp'/m.test(readFileSync(file, 'utf8')),
    );
    expect(offenders).toEqual([]);
  });

  it('ships the files the README links to or tells a user to install (docs, trainer adapters)', () => {
    // What `npm pack` puts in the tarball (without building: the file list is all this needs).
    const [packed] = JSON.parse(
      execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    ) as Array<{ files: Array<{ path: string }> }>;
    const files = new Set(packed!.files.map((f) => f.path));
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const linked = [...readme.matchAll(/\]\(((?!https?:|#|\.\.\/)[^)#\s]+)/g)].map((m) => m[1]!);
    const named = [...readme.matchAll(/`(integrations\/[^`\s]+)`/g)].map((m) => m[1]!);
    expect(linked.length).toBeGreaterThan(0);
    expect(named).toContain('integrations/python/gtalign_reward.py');
    const missing = [...new Set([...linked, ...named])].filter((path) =>
      path.endsWith('/') ? ![...files].some((f) => f.startsWith(path)) : !files.has(path),
    );
    expect(missing).toEqual([]);
    // The Python package a trainer installs (`pip install …/integrations/python`) whole.
    // (Python's bytecode cache, left by a local run of the adapter, is left out of the package on purpose.)
    for (const f of readdirSync(join(root, 'integrations/python')))
      if (f !== '__pycache__') expect(files.has(`integrations/python/${f}`), f).toBe(true);
  });

  it('has source maps that carry their sources: the package ships dist/, not the src/ they name', () => {
    // A map whose sources are only paths (../src/…) points an installed package's debugger, stack traces
    // (--enable-source-maps) and bundlers' source-map loaders at files that are not there.
    const maps = (function walk(dir: string): string[] {
      return readdirSync(dir).flatMap((name) => {
        const path = join(dir, name);
        return statSync(path).isDirectory() ? walk(path) : path.endsWith('.js.map') ? [path] : [];
      });
    })(join(root, 'dist'));
    expect(maps.length).toBeGreaterThan(100);
    const without = maps.filter((file) => {
      const map = JSON.parse(readFileSync(file, 'utf8')) as { sources: string[]; sourcesContent?: unknown[] };
      return map.sources.some((_, i) => typeof map.sourcesContent?.[i] !== 'string');
    });
    expect(without.map((f) => f.slice(root.length))).toEqual([]);
  });

  it('exposes the gtalign binary from the build', () => {
    expect(pkg.bin.gtalign).toBe('dist/cli/main.js');
    expect(readFileSync(join(root, 'src/cli/main.ts'), 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
  });
});

describe('the public surface', () => {
  const layers = [
    'game',
    'chain',
    'steering',
    'llm',
    'reward',
    'assistant',
    'data',
    'eval',
    'server',
    'ai-sdk',
  ];

  it('has a subpath export per layer, each pointing at that layer index in the build', () => {
    for (const layer of layers) {
      expect(pkg.exports[`./${layer}`], layer).toEqual({
        types: `./dist/${layer}/index.d.ts`,
        import: `./dist/${layer}/index.js`,
      });
      expect(statSync(join(root, 'src', layer, 'index.ts')).isFile(), layer).toBe(true);
    }
  });

  it('resolves "gtalign" and every subpath from the built package, by name, as a user imports them', async () => {
    // The package imports itself by name (Node resolves a package's own exports), from the build that
    // `npm test` makes first.
    const main = await import('gtalign');
    for (const name of [
      'runTurn',
      'analyzeGame',
      'parsePayoff',
      'resolvePolicy',
      'scoreWithVerdict',
      'evaluate',
    ]) {
      expect(typeof (main as Record<string, unknown>)[name], name).toBe('function');
    }
    // Literal specifiers, as users write them (a template would hide them from the bundler's resolver).
    const subpaths: Array<[string, () => Promise<Record<string, unknown>>, string]> = [
      ['game', () => import('gtalign/game'), 'nashEquilibria'],
      ['chain', () => import('gtalign/chain'), 'extractBlocks'],
      ['steering', () => import('gtalign/steering'), 'compilePolicy'],
      ['llm', () => import('gtalign/llm'), 'createOpenAIModel'],
      ['reward', () => import('gtalign/reward'), 'scoreBatch'],
      ['assistant', () => import('gtalign/assistant'), 'runTurn'],
      ['data', () => import('gtalign/data'), 'loadRows'],
      ['eval', () => import('gtalign/eval'), 'computeMetrics'],
      ['server', () => import('gtalign/server'), 'startRewardServer'],
      ['ai-sdk', () => import('gtalign/ai-sdk'), 'gtalignMiddleware'],
    ];
    expect(subpaths.map(([layer]) => layer)).toEqual(layers);
    for (const [layer, load, name] of subpaths) {
      const mod = await load();
      expect(typeof mod[name], `gtalign/${layer} ${name}`).toBe('function');
    }
    // What embedding the proxy with state on disk needs (ProxyOptions.responseFolder, conversationFolder).
    const server = (await import('gtalign/server')) as Record<string, unknown>;
    for (const name of ['ResponseFolder', 'ConversationFolder', 'ConversationStore'])
      expect(typeof server[name], `gtalign/server ${name}`).toBe('function');
  });

  it('keeps test utilities (the tiny GGUF writer) out of the API, and the root small', async () => {
    const main = (await import('gtalign')) as Record<string, unknown>;
    const llm = (await import('gtalign/llm')) as Record<string, unknown>;
    expect(main.writeTinyLlamaGguf).toBeUndefined();
    expect(llm.writeTinyLlamaGguf).toBeUndefined();
    expect(Object.keys(main).length).toBeLessThan(40);
  });
});
