// Mnemo's own Python on this machine (src/core/pyenv.ts): made once from a requirements file and
// reused, the same code as the SSH target's. A tiny requirements file (nothing to install) keeps
// this offline and quick; the real one is torch & co. (5.6 GB), which no test makes.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_MODEL, defaultModelDir, localModelPath } from '../../src/core/default-model';
import { MnemoError } from '../../src/core/errors';
import { ensureLocalPython, findLocalPython, localVenvDir, userCacheDir, venvName } from '../../src/core/pyenv';
import { readRun, startRun } from '../../src/core/training';
import { fakeScripts, hooks, trainingProject } from './training-fixtures';

function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-pyenv-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

void test('a venv per requirements file: made once under the cache folder, then reused; another file, another venv', async (t) => {
  const dir = scratch(t);
  const env = { XDG_CACHE_HOME: join(dir, 'cache') };
  const req = join(dir, 'requirements.txt');
  writeFileSync(req, '# nothing to install\n');
  assert.equal(findLocalPython(req, undefined, env), undefined);
  const lines: string[] = [];
  const first = await ensureLocalPython(req, { env, log: (l) => lines.push(l) });
  assert.equal(first.source, 'venv');
  assert.equal(first.python, join(dir, 'cache', 'mnemo', venvName(readFileSync(req)), 'bin', 'python'));
  assert.ok(existsSync(first.python));
  assert.ok(lines.some((l) => l.startsWith('Setting up Python on this machine (once): about 5.6 GB')), lines.join('\n'));
  // No half-made venv is left under a temporary name.
  assert.deepEqual(readdirSync(join(dir, 'cache', 'mnemo')), [venvName(readFileSync(req))]);
  const again: string[] = [];
  const second = await ensureLocalPython(req, { env, log: (l) => again.push(l) });
  assert.equal(second.python, first.python);
  assert.ok(!again.some((l) => l.startsWith('Setting up')), 'reused, not made again');
  writeFileSync(req, '# another set\n');
  assert.notEqual(localVenvDir(req, env), join(dir, 'cache', 'mnemo', venvName('# nothing to install\n')));
});

void test('the order: a named Python, then MNEMO_PYTHON, then the venv', (t) => {
  const dir = scratch(t);
  const req = join(dir, 'requirements.txt');
  writeFileSync(req, '');
  const env = { XDG_CACHE_HOME: join(dir, 'cache'), MNEMO_PYTHON: '/opt/py/bin/python' };
  assert.deepEqual(findLocalPython(req, '/setting/python', env), { python: '/setting/python', source: 'given' });
  assert.deepEqual(findLocalPython(req, '  ', env), { python: '/opt/py/bin/python', source: 'MNEMO_PYTHON' });
  assert.equal(userCacheDir({ XDG_CACHE_HOME: 'relative' }).endsWith(join('.cache', 'mnemo')), true);
});

void test('no Python to make a venv with: one message that says so and what to do', async (t) => {
  const dir = scratch(t);
  const req = join(dir, 'requirements.txt');
  writeFileSync(req, '');
  await assert.rejects(
    ensureLocalPython(req, { env: { XDG_CACHE_HOME: join(dir, 'cache') }, basePython: join(dir, 'no-such-python3') }),
    (e: unknown) => e instanceof MnemoError && /There is no Python on this machine/.test(e.message) && /mnemo\.python/.test(e.hint ?? ''),
  );
  assert.ok(!existsSync(join(dir, 'cache', 'mnemo', venvName(''))), 'nothing left behind');
});

void test('a local run without a named Python uses Mnemo\'s venv, the same one each time', async (t) => {
  const dir = scratch(t);
  const saved = { xdg: process.env.XDG_CACHE_HOME, py: process.env.MNEMO_PYTHON };
  process.env.XDG_CACHE_HOME = join(dir, 'cache');
  delete process.env.MNEMO_PYTHON;
  t.after(() => {
    if (saved.xdg === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved.xdg;
    if (saved.py !== undefined) process.env.MNEMO_PYTHON = saved.py;
  });
  const scriptsDir = fakeScripts();
  const project = trainingProject();
  const h = hooks();
  const rec = await (await startRun(project, { target: 'local', scriptsDir, hooks: h, env: { MNEMO_FAKE_STEPS: '2' } })).finished;
  assert.equal(rec.state, 'done', JSON.stringify(rec.error));
  const venv = localVenvDir(join(scriptsDir, 'requirements.txt'));
  assert.ok(h.lines.some((l) => l.startsWith(`Starting ${join(venv, 'bin', 'python')} train.py`)), h.lines.join('\n'));
  assert.deepEqual(readdirSync(join(dir, 'cache', 'mnemo')), [venv.split('/').pop()]);
  assert.equal(readRun(project, rec.id).state, 'done');
});

void test('the default model\'s Hub id means its converted copy on this machine, once there', (t) => {
  const dir = scratch(t);
  const env = { XDG_CACHE_HOME: dir };
  assert.equal(localModelPath(DEFAULT_MODEL.id, env), DEFAULT_MODEL.id, 'no copy yet: the id as it is');
  mkdirSync(defaultModelDir(env), { recursive: true });
  writeFileSync(join(defaultModelDir(env), 'config.json'), '{}');
  assert.equal(localModelPath(DEFAULT_MODEL.id, env), join(dir, 'mnemo', 'models', 'smollm2-135m-instruct'));
  assert.equal(localModelPath('gpt2', env), 'gpt2');
});
