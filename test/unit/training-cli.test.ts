import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cli } from './cli-run';
import { readRun } from '../../src/core/training';
import { startSshd, TEST_HOST_ALIAS, type TestSshd } from '../servers/sshd';
import { fakeScripts, trainingProject } from './training-fixtures';

let sshd: TestSshd;
const scripts = fakeScripts();
before(async () => {
  sshd = await startSshd();
});
after(async () => {
  await sshd?.stop();
});


function configFile(o: Record<string, unknown>): string {
  const f = join(mkdtempSync(join(tmpdir(), 'mnemo-cfg-')), 'train.json');
  writeFileSync(f, JSON.stringify(o));
  return f;
}

const sshEnv = () => ({ MNEMO_SSH_CONFIG: sshd.sshConfig, MNEMO_KNOWN_HOSTS: sshd.knownHosts });
const remote = () => ['--python', 'python3', '--scripts', scripts, '--remote-root', join(sshd.dir, 'cli-runs')];

void test('cli: train --target HOST runs on the sshd and prints its steps; runs lists it', async () => {
  const project = trainingProject();
  const r = await cli(['train', '--project', project.root, '--target', TEST_HOST_ALIAS, '--config', configFile({ max_steps: 4, eval_steps: 2 }), ...remote()], sshEnv());
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /training: 4 steps, 2 train rows/);
  assert.match(r.out, /step 4\/4 {2}loss 2\.4/);
  assert.match(r.out, /eval at step 4/);
  assert.match(r.err, /Run \S+ is done; outputs in runs\/\S+\/output/);
  const id = /Started run (\S+) on/.exec(r.err)![1];
  assert.equal(readRun(project, id).state, 'done');
  assert.ok(existsSync(join(project.runsDir, id, 'output', 'adapter_model.safetensors')));

  const list = await cli(['runs', '--project', project.root]);
  assert.equal(list.code, 0);
  assert.match(list.out, new RegExp(`${id}\\s+done\\s+${TEST_HOST_ALIAS}\\s+4/4\\s+2\\.4\\d+`));
  const json = JSON.parse((await cli(['runs', '--project', project.root, '--json'])).out) as { runs: Array<{ id: string; progress: { step: number } }> };
  assert.equal(json.runs[0].id, id);
  assert.equal(json.runs[0].progress.step, 4);
  const del = await cli(['runs', '--project', project.root, '--delete', id, '--remote'], sshEnv());
  assert.equal(del.code, 0, del.err);
  assert.ok(!existsSync(join(project.runsDir, id)));
});

void test('cli: an unknown host is refused without a terminal, and trusted with --trust-host-key', async () => {
  const project = trainingProject();
  const kh = join(mkdtempSync(join(tmpdir(), 'mnemo-kh-')), 'known_hosts');
  const env = { ...sshEnv(), MNEMO_KNOWN_HOSTS: kh };
  const refused = await cli(['train', '--project', project.root, '--target', TEST_HOST_ALIAS, ...remote()], env);
  assert.equal(refused.code, 1);
  assert.ok(refused.err.includes(`--trust-host-key ${sshd.hostFingerprint}`), refused.err);
  const wrong = await cli(['train', '--project', project.root, '--target', TEST_HOST_ALIAS, '--trust-host-key', 'SHA256:not-it', ...remote()], env);
  assert.equal(wrong.code, 1);
  const ok = await cli(['train', '--project', project.root, '--target', TEST_HOST_ALIAS, '--trust-host-key', sshd.hostFingerprint, '--config', configFile({ max_steps: 2 }), ...remote()], env);
  assert.equal(ok.code, 0, ok.err);
  assert.ok(readFileSync(kh, 'utf8').includes(sshd.hostKeyLine));
});

void test('cli: --detach leaves the run going; runs --cancel stops it; local runs and bad configs', async () => {
  const project = trainingProject();
  const started = await cli(['train', '--project', project.root, '--target', TEST_HOST_ALIAS, '--config', configFile({ max_steps: 100000 }), '--detach', ...remote()], sshEnv());
  assert.equal(started.code, 0, started.err);
  const id = started.out.trim();
  assert.equal(readRun(project, id).state, 'running');
  const cancelled = await cli(['runs', '--project', project.root, '--cancel', id], sshEnv());
  assert.equal(cancelled.code, 0, cancelled.err);
  assert.match(cancelled.out, /cancelled/);
  assert.equal(readRun(project, id).state, 'cancelled');

  const local = await cli(['train', '--project', project.root, '--python', 'python3', '--scripts', scripts, '--config', configFile({ max_steps: 3 }), '--json']);
  assert.equal(local.code, 0, local.err);
  assert.equal(local.out.split('\n').filter((l) => JSON.parse(l).event === 'log').length, 3);

  const bad = await cli(['train', '--project', project.root, '--scripts', scripts, '--config', configFile({ batchsize: 2 })]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /unknown training key "batchsize".*batch_size/);
  const noHost = await cli(['train', '--project', project.root, '--scripts', scripts, '--target', 'not a host'], sshEnv());
  assert.equal(noHost.code, 1);
  assert.match(noHost.err, /is not a host Mnemo knows/);
});
