import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MnemoError } from '../../src/core/errors';
import { Project, ProjectConfigError } from '../../src/core/project';
import { listBrokenRuns, listHosts, listRuns, readRun, resolveTrainConfig, TRAIN_DEFAULTS } from '../../src/core/training';
import { checkHostKey, fingerprint, knownHostName, rememberHostKey } from '../../src/core/training/known-hosts';
import { writeRecord } from '../../src/core/training/runs';
import type { RunRecord } from '../../src/core/training/protocol';

function project(training?: unknown): Project {
  const root = mkdtempSync(join(tmpdir(), 'mnemo-train-cfg-'));
  writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', ...(training === undefined ? {} : { training }) }));
  return Project.load(root);
}

void test('config: defaults, then mnemo.json, then the run\'s overrides', () => {
  const p = project({ model: 'org/base', lora_r: 8, learning_rate: 2e-4 });
  const c = resolveTrainConfig(p, { learning_rate: 5e-5, eval_file: null });
  assert.equal(c.model, 'org/base');
  assert.equal(c.lora_r, 8);
  assert.equal(c.learning_rate, 5e-5);
  assert.equal(c.eval_file, null);
  assert.equal(c.batch_size, TRAIN_DEFAULTS.batch_size);
  assert.equal(c.lr_scheduler, 'cosine');
});

void test('config: unknown keys, wrong types and no model are refused with the key named', () => {
  const p = project({ model: 'm' });
  assert.throws(() => resolveTrainConfig(p, { learningRate: 1 }), (e: MnemoError) => /unknown training key "learningRate"/.test(e.message) && /learning_rate/.test(e.hint ?? ''));
  assert.throws(() => resolveTrainConfig(p, { batch_size: 0 }), /"batch_size" must be a positive integer/);
  assert.throws(() => resolveTrainConfig(p, { lr_scheduler: 'cosine_with_restarts' }), /"lr_scheduler" must be/);
  assert.throws(() => resolveTrainConfig(project(), {}), /No model to train/);
  // mnemo.json's schema checks the section when the project loads.
  assert.throws(() => project({ model: 'm', lora_rank: 3 }), (e: ProjectConfigError) => e.problems[0].pointer === '/training/lora_rank');
});

void test('runs: listed newest first; a broken run.json is reported, not thrown', () => {
  const p = project({ model: 'm' });
  const base: RunRecord = { version: 1, id: 'a', created: '2026-01-01T00:00:00.000Z', target: { kind: 'local' }, state: 'done', config: {} };
  writeRecord(p, base);
  writeRecord(p, { ...base, id: 'b', created: '2026-02-01T00:00:00.000Z', state: 'failed' });
  mkdirSync(join(p.runsDir, 'c'));
  writeFileSync(join(p.runsDir, 'c', 'run.json'), '{ not json');
  mkdirSync(join(p.runsDir, 'd'));
  assert.deepEqual(listRuns(p).map((r) => r.id), ['b', 'a']);
  assert.deepEqual(listBrokenRuns(p).map((b) => b.id).sort(), ['c', 'd']);
  assert.equal(readRun(p, 'a').state, 'done');
  assert.throws(() => readRun(p, 'c'), /cannot be read/);
  assert.throws(() => readRun(p, 'zz'), /There is no run "zz"/);
  assert.throws(() => readRun(p, '../x'), /not a run id/);
  assert.ok(JSON.parse(readFileSync(join(p.runsDir, 'a', 'run.json'), 'utf8')).id === 'a');
});

void test('hosts: ~/.ssh/config aliases (HostName, User, Port, IdentityFile with ~) then settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-sshcfg-'));
  const cfg = join(dir, 'config');
  writeFileSync(cfg, ['Host gpu gpu-alias', '  HostName 10.0.0.5', '  Port 2222', '  IdentityFile ~/.ssh/gpu_key', 'Host *.internal', '  User wild', 'Host box', '  HostName box.example', 'Host *', '  User bob', ''].join('\n'));
  const hosts = listHosts({ sshConfigPath: cfg, settingsHosts: [{ host: 'h100.example', user: 'me', port: 22 }, { name: 'gpu', host: 'ignored' }] });
  assert.deepEqual(hosts.map((h) => h.name), ['gpu', 'gpu-alias', 'box', 'h100.example']);
  const gpu = hosts[0];
  assert.equal(gpu.hostname, '10.0.0.5');
  assert.equal(gpu.port, 2222);
  assert.equal(gpu.user, 'bob');
  assert.ok(gpu.identityFiles[0].endsWith('/.ssh/gpu_key') && !gpu.identityFiles[0].startsWith('~'));
  assert.equal(hosts[2].hostname, 'box.example');
  assert.equal(hosts[3].from, 'settings');
  assert.deepEqual(listHosts({ sshConfigPath: join(dir, 'missing') }), []);
});

void test('known_hosts: plain, [host]:port and hashed entries; a different key is a change', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-kh-'));
  const keyFile = join(dir, 'k');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
  const other = join(dir, 'o');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
  const blob = Buffer.from(readFileSync(`${keyFile}.pub`, 'utf8').split(' ')[1], 'base64');
  const otherBlob = Buffer.from(readFileSync(`${other}.pub`, 'utf8').split(' ')[1], 'base64');
  assert.equal(fingerprint(blob), execFileSync('ssh-keygen', ['-lf', `${keyFile}.pub`], { encoding: 'utf8' }).split(' ')[1]);
  const kh = join(dir, 'known_hosts');
  assert.equal(checkHostKey(kh, 'gpu.example', 2222, blob), 'unknown');
  rememberHostKey(kh, 'gpu.example', 2222, blob);
  assert.match(readFileSync(kh, 'utf8'), /^\[gpu\.example\]:2222 ssh-ed25519 /);
  assert.equal(checkHostKey(kh, 'gpu.example', 2222, blob), 'known');
  assert.equal(checkHostKey(kh, 'gpu.example', 22, blob), 'unknown');
  assert.equal(checkHostKey(kh, 'gpu.example', 2222, otherBlob), 'changed');
  // Hash the file the way `ssh-keygen -H` does: the entries must still be found.
  rememberHostKey(kh, 'plain.example', 22, otherBlob);
  execFileSync('ssh-keygen', ['-q', '-H', '-f', kh], { stdio: 'ignore' });
  assert.match(readFileSync(kh, 'utf8'), /^\|1\|/);
  assert.equal(checkHostKey(kh, 'gpu.example', 2222, blob), 'known');
  assert.equal(checkHostKey(kh, 'plain.example', 22, otherBlob), 'known');
  assert.equal(checkHostKey(kh, 'plain.example', 22, blob), 'changed');
  assert.equal(knownHostName('h', 22), 'h');
});
