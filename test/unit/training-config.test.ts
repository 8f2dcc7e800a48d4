import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MnemoError } from '../../src/core/errors';
import { Project, ProjectConfigError } from '../../src/core/project';
import { listBrokenRuns, listHosts, listRuns, readRun, resolveTrainConfig, TRAIN_DEFAULTS, TRAIN_KEYS } from '../../src/core/training';
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

void test('hosts: Include (globs in lexical order, nested, quoted, inside a Host block, relative to ~/.ssh) agrees with ssh -G', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-sshinc-'));
  mkdirSync(join(dir, 'conf.d'));
  mkdirSync(join(dir, 'with space'));
  writeFileSync(join(dir, 'conf.d', '20-b.conf'), ['Host b-host', '  HostName %h.example', '  Port 2201', 'Host a-host', '  Port 9999', ''].join('\n'));
  writeFileSync(join(dir, 'conf.d', '10-a.conf'), ['Host a-host', '  HostName a.example', '  Port 2200', `Include ${join(dir, 'nested.conf')}`, ''].join('\n'));
  writeFileSync(join(dir, 'conf.d', '.hidden.conf'), 'Host hidden-host\n');
  writeFileSync(join(dir, 'nested.conf'), ['  User nest', 'Host nested-host', '  HostName %h.nested.example', ''].join('\n'));
  writeFileSync(join(dir, 'with space', 'x.conf'), ['Host spaced-host', '  HostName spaced.example', ''].join('\n'));
  writeFileSync(join(dir, 'user.conf'), ['  User fromblock', '  Port 2022', ''].join('\n'));
  const cfg = join(dir, 'config');
  writeFileSync(cfg, [`Include ${join(dir, 'conf.d', '*.conf')} "${join(dir, 'with space', 'x.conf')}" ${join(dir, 'nothing-*.conf')}`, 'Host top', '  HostName top.example', `  Include ${join(dir, 'user.conf')}`, 'Host *', '  User bob', ''].join('\n'));
  const hosts = listHosts({ sshConfigPath: cfg });
  assert.equal(hosts[0].user, 'nest', "nested.conf's leading User applies to a-host");
  // nested.conf is included inside a-host's block: OpenSSH reads it for a-host only, so nested-host is no alias.
  assert.deepEqual(hosts.map((h) => h.name), ['a-host', 'b-host', 'spaced-host', 'top']);
  for (const h of hosts) {
    // What OpenSSH itself makes of the same file.
    const g = Object.fromEntries(execFileSync('ssh', ['-G', '-F', cfg, h.name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').map((l) => [l.split(' ')[0], l.slice(l.indexOf(' ') + 1)]));
    assert.deepEqual({ hostname: h.hostname, port: String(h.port), user: h.user }, { hostname: g.hostname, port: g.port, user: g.user }, h.name);
  }
  // A path that is not absolute is relative to ~/.ssh, as for ssh.
  const home = mkdtempSync(join(tmpdir(), 'mnemo-sshhome-'));
  mkdirSync(join(home, '.ssh', 'config.d'), { recursive: true });
  writeFileSync(join(home, '.ssh', 'config.d', 'gpu'), 'Host rel-gpu\n  HostName 10.9.9.9\n');
  writeFileSync(join(dir, 'relative'), 'Include config.d/*\n');
  const savedHome = process.env.HOME;
  process.env.HOME = home;
  try {
    assert.deepEqual(listHosts({ sshConfigPath: join(dir, 'relative') }).map((h) => [h.name, h.hostname]), [['rel-gpu', '10.9.9.9']]);
  } finally {
    process.env.HOME = savedHome;
  }
  // A loop is stopped with a message, not a stack overflow.
  writeFileSync(join(dir, 'loop'), `Include ${join(dir, 'loop')}\nHost x\n`);
  assert.throws(() => listHosts({ sshConfigPath: join(dir, 'loop') }), (e: unknown) => e instanceof MnemoError && /more than 16 deep .*an Include loop/.test(e.message));
});

void test('hosts: IdentityFile tokens (%d %h %r %p %n %u %%, ${VAR}) are expanded; unknown ones are kept', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-sshtok-'));
  const cfg = join(dir, 'config');
  process.env.MNEMO_TEST_KEYS = join(dir, 'keys');
  writeFileSync(cfg, ['Host gpu', '  HostName 10.0.0.7', '  User ml', '  Port 2222', '  IdentityFile %d/.ssh/id_%h_%r_%p', '  IdentityFile ~/.ssh/%n-%u-100%%', '  IdentityFile ${MNEMO_TEST_KEYS}/%C-${MNEMO_UNSET_VAR}', ''].join('\n'));
  try {
    const [gpu] = listHosts({ sshConfigPath: cfg });
    assert.deepEqual(gpu.identityFiles, [join(homedir(), '.ssh', 'id_10.0.0.7_ml_2222'), join(homedir(), '.ssh', `gpu-${userInfo().username}-100%`), `${join(dir, 'keys')}/%C-\${MNEMO_UNSET_VAR}`]);
  } finally {
    delete process.env.MNEMO_TEST_KEYS;
  }
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

void test('config: the keys, defaults and checks agree with train.py\'s dataclass and with mnemo.json\'s schema', () => {
  // train.py needs only the standard library to import (its heavy imports are inside main()).
  const py = existsSync(join(__dirname, '..', '..', '.venv', 'bin', 'python')) ? join(__dirname, '..', '..', '.venv', 'bin', 'python') : 'python3';
  const code = 'import dataclasses, json, train; print(json.dumps({f.name: (None if f.default is dataclasses.MISSING else f.default) for f in dataclasses.fields(train.TrainConfig)}))';
  const fields = JSON.parse(execFileSync(py, ['-c', code], { cwd: join(__dirname, '..', '..', 'src', 'python'), encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } })) as Record<string, unknown>;
  assert.deepEqual(Object.keys(TRAIN_KEYS).sort(), Object.keys(fields).sort(), 'TRAIN_KEYS names every field of TrainConfig, and no other');
  for (const [key, value] of Object.entries(fields)) {
    if (key === 'model') continue;
    // Keys whose default is null are left to train.py; the others are sent explicitly, with train.py's default.
    if (value === null) assert.ok(!(key in TRAIN_DEFAULTS), `${key}: null default, not sent`);
    else assert.deepEqual(TRAIN_DEFAULTS[key], value, `${key}: the same default as train.py`);
    if (value !== null) assert.ok(TRAIN_KEYS[key].check(value), `${key}: train.py's default passes the check`);
  }
  const schema = JSON.parse(readFileSync(join(__dirname, '..', '..', 'schemas', 'mnemo.schema.json'), 'utf8')) as { properties: { training: { properties: Record<string, { default?: unknown }> } } };
  const props = schema.properties.training.properties;
  assert.deepEqual(Object.keys(props).sort(), Object.keys(fields).sort(), 'the schema names every field of TrainConfig');
  for (const [key, p] of Object.entries(props)) if ('default' in p) assert.deepEqual(p.default, fields[key], `schema default of ${key}`);
  // The new keys' checks: what train.py refuses is refused here first.
  const p = project({ model: 'm' });
  assert.equal(resolveTrainConfig(p, { save_best: true }).save_best, true);
  assert.throws(() => resolveTrainConfig(p, { save_best: 'best' }), /"save_best" must be "auto", "recall", "eval_loss" or "none"/);
  assert.throws(() => resolveTrainConfig(p, { evals_per_epoch: -1 }), /"evals_per_epoch" must be/);
  assert.throws(() => resolveTrainConfig(p, { recall_max_new_tokens: 0 }), /"recall_max_new_tokens" must be a positive integer/);
  assert.throws(() => resolveTrainConfig(p, { recall_limit: 1.5 }), /"recall_limit" must be/);
  assert.equal(resolveTrainConfig(p, { recall_file: null }).recall_file, null);
  assert.throws(() => project({ model: 'm', save_best: 'sometimes' }), (e: ProjectConfigError) => e.problems[0].pointer === '/training/save_best');
});
