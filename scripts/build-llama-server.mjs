#!/usr/bin/env node
/**
 * Builds llama.cpp's `llama-server` from the source node-llama-cpp ships (`llama/gitRelease.bundle`),
 * CPU only, that one target, and caches the binary outside the repository:
 *   $XDG_CACHE_HOME/gtalign/llama-server/<tag>-<bundle hash>/llama-server   (else ~/.cache/gtalign/…)
 *
 *   node scripts/build-llama-server.mjs            build when missing, print the binary's path
 *   node scripts/build-llama-server.mjs --check    print the path if built, else exit 1 (no build)
 *   node scripts/build-llama-server.mjs --force    rebuild even when cached
 *   node scripts/build-llama-server.mjs --if-tools build only where git, CMake and a compiler exist; else say
 *                                                  so and exit 0 (what `npm test` runs: the tests then skip)
 *
 * Needs git, CMake and a C++ compiler. Takes 10–30 minutes on two cores. The binary only appears
 * once the build finished (staged, then renamed), so a killed build never leaves a broken cache.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const args = new Set(process.argv.slice(2));

function cacheRoot() {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'gtalign', 'llama-server');
}

async function sha256(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

function need(command, versionFlag = '--version') {
  const probe = spawnSync(command, [versionFlag], { stdio: 'ignore' });
  if (probe.error !== undefined || probe.status !== 0) {
    console.error(`build-llama-server: \`${command}\` is not available; install it to build llama-server`);
    process.exit(args.has('--if-tools') ? 0 : 3);
  }
}

function run(command, argv, cwd) {
  console.error(`$ ${command} ${argv.join(' ')}`);
  const result = spawnSync(command, argv, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) {
    console.error(`build-llama-server: ${command} failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
}

// node-llama-cpp's exports do not list package.json: find the package from its main entry.
const require = createRequire(import.meta.url);
let packageDir = dirname(require.resolve('node-llama-cpp'));
while (!existsSync(join(packageDir, 'package.json'))) packageDir = dirname(packageDir);
const bundle = join(packageDir, 'llama', 'gitRelease.bundle');
if (!existsSync(bundle)) {
  console.error(`build-llama-server: ${bundle} is missing; is node-llama-cpp 3.x installed?`);
  process.exit(2);
}
const info = JSON.parse(readFileSync(join(packageDir, 'llama', 'llama.cpp.info.json'), 'utf8'));
const key = `${info.tag}-${(await sha256(bundle)).slice(0, 12)}`;
const target = join(cacheRoot(), key);
const binary = join(target, 'llama-server');

if (existsSync(binary) && !args.has('--force')) {
  console.log(binary);
  process.exit(0);
}
if (args.has('--check')) {
  console.error(`build-llama-server: not built yet (expected at ${binary})`);
  process.exit(1);
}

need('git');
need('cmake');
need(process.env.CXX ?? 'c++');
console.error(`build-llama-server: building llama-server ${info.tag} into ${target} (10–30 minutes, once)`);

const work = join(tmpdir(), `gtalign-llama-build-${process.pid}`);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const source = join(work, 'src');
const build = join(work, 'build');
run('git', ['clone', '--quiet', bundle, source]);
run(
  'cmake',
  [
    '-S',
    source,
    '-B',
    build,
    '-DCMAKE_BUILD_TYPE=Release',
    '-DBUILD_SHARED_LIBS=OFF',
    '-DGGML_NATIVE=ON',
    '-DGGML_CUDA=OFF',
    '-DGGML_VULKAN=OFF',
    '-DGGML_METAL=OFF',
    '-DLLAMA_BUILD_TESTS=OFF',
    '-DLLAMA_BUILD_EXAMPLES=OFF',
    '-DLLAMA_BUILD_SERVER=ON',
    '-DLLAMA_BUILD_UI=OFF',
    // The closed network here cannot fetch a prebuilt web UI; the API does not need it.
    '-DLLAMA_USE_PREBUILT_UI=OFF',
    '-DLLAMA_OPENSSL=OFF',
  ],
  work,
);
const jobs = String(Math.max(1, Number(process.env.GTALIGN_BUILD_JOBS ?? cpus().length)));
run('cmake', ['--build', build, '--target', 'llama-server', '--config', 'Release', '-j', jobs], work);

const built = [join(build, 'bin', 'llama-server'), join(build, 'tools', 'server', 'llama-server')].find(
  existsSync,
);
if (built === undefined) {
  console.error('build-llama-server: the build finished but no llama-server binary was found');
  process.exit(1);
}
// Stage beside the target, then rename: the cache holds a whole binary or none.
mkdirSync(cacheRoot(), { recursive: true });
const staging = `${target}.staging-${process.pid}`;
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
execFileSync('cp', [built, join(staging, 'llama-server')]);
rmSync(target, { recursive: true, force: true });
renameSync(staging, target);
rmSync(work, { recursive: true, force: true });
console.log(binary);
