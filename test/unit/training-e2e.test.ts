/**
 * End to end: the REAL src/python/train.py sent through the SSH bridge to the test sshd, run by
 * the project's .venv Python (named as the remote Python) on a tiny model built on the spot
 * (src/python/tiny_model.py: random weights, no downloads), full fine-tuning on CPU.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { Project } from '../../src/core/project';
import { startRun } from '../../src/core/training';
import type { RunRecord } from '../../src/core/training/protocol';
import { HubServer } from '../servers/hub-server';
import { startSshd, TEST_HOST_ALIAS, type TestSshd } from '../servers/sshd';
import { eventsOf, hooks } from './training-fixtures';

const REPO = resolve(__dirname, '..', '..');
const PYTHON = join(REPO, '.venv', 'bin', 'python');
const SCRIPTS = join(REPO, 'src', 'python');

let sshd: TestSshd;
before(async () => {
  sshd = await startSshd();
});
after(async () => {
  await sshd?.stop();
});

const PAIRS: Array<[string, string]> = [
  ['In Cairnrun, how many points is a Crown worth?', '5 points.'],
  ['In Cairnrun, how long is each watch?', '30 minutes.'],
  ['In Cairnrun, how far must opponents retreat at a Free Cast?', '9 metres.'],
  ['In Cairnrun, how many substitutions may a team make?', 'Up to eight.'],
];

void test('e2e: the real train.py through the SSH bridge trains a tiny model, streams the protocol and comes back', { skip: !existsSync(PYTHON) && 'no .venv at the repository root (the Python tests\' venv)' }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'mnemo-e2e-'));
  const model = join(work, 'tiny model');
  execFileSync(PYTHON, [join(SCRIPTS, 'tiny_model.py'), model], { stdio: 'pipe', cwd: SCRIPTS });
  assert.ok(existsSync(join(model, 'config.json')));

  const root = join(work, 'project');
  mkdirSync(join(root, 'data'), { recursive: true });
  writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', training: { model } }));
  const rows = PAIRS.map(([q, a]) => JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] }) + '\n');
  writeFileSync(join(root, 'data', 'train.jsonl'), rows.join(''));
  writeFileSync(join(root, 'data', 'test.jsonl'), rows.slice(0, 2).join(''));
  const project = Project.load(root);

  const h = hooks();
  const handle = await startRun(project, {
    target: TEST_HOST_ALIAS,
    scriptsDir: SCRIPTS,
    hooks: h,
    ssh: { sshConfigPath: sshd.sshConfig, knownHostsPath: sshd.knownHosts, agent: '', python: PYTHON, remoteRoot: join(sshd.dir, 'runs') },
    config: { method: 'full', max_steps: 12, eval_steps: 6, learning_rate: 3e-3, lr_scheduler: 'constant', max_length: 128, precision: 'fp32', gradient_checkpointing: false, save_best: false },
  });
  const rec: RunRecord = await handle.finished;
  const local = join(project.runsDir, rec.id);
  const remote = (rec.target as Extract<RunRecord['target'], { kind: 'ssh' }>).remoteDir;
  assert.equal(rec.state, 'done', `${JSON.stringify(rec.error)}\n${existsSync(join(local, 'train.log')) ? readFileSync(join(local, 'train.log'), 'utf8').slice(-3000) : ''}`);
  assert.deepEqual(readFileSync(join(local, 'metrics.jsonl')), readFileSync(join(remote, 'metrics.jsonl')));
  const events = eventsOf(join(local, 'metrics.jsonl'));
  const start = events.find((e) => e.event === 'start');
  assert.ok(start && start.event === 'start' && start.total_steps === 12 && start.train_rows === 4);
  const losses = events.flatMap((e) => (e.event === 'log' && typeof e.loss === 'number' ? [e.loss] : []));
  assert.equal(losses.length, 12);
  assert.ok(losses[losses.length - 1] < losses[0], `loss did not fall: ${losses.join(', ')}`);
  assert.ok(events.some((e) => e.event === 'eval' && e.step === 12));
  assert.equal(events[events.length - 1].event, 'done');
  assert.equal(rec.downloaded, true);
  assert.ok(readdirSync(join(local, 'output')).length > 0);
  assert.ok(existsSync(join(local, 'train.log')));
});

void test('e2e: push_to_hub uploads the trained model to the Hub through the SSH bridge; HF_TOKEN is used and never shows', { skip: !existsSync(PYTHON) && 'no .venv at the repository root (the Python tests\' venv)' }, async () => {
  const token = `hf_${randomBytes(12).toString('hex')}`;
  const hub = await HubServer.start([{ name: 'me', token, write: ['me'] }]);
  try {
    const work = mkdtempSync(join(tmpdir(), 'mnemo-e2e-hub-'));
    const model = join(work, 'tiny model');
    execFileSync(PYTHON, [join(SCRIPTS, 'tiny_model.py'), model], { stdio: 'pipe', cwd: SCRIPTS });
    const root = join(work, 'project');
    mkdirSync(join(root, 'data'), { recursive: true });
    writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', training: { model } }));
    writeFileSync(join(root, 'data', 'train.jsonl'), PAIRS.map(([q, a]) => JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] }) + '\n').join(''));
    const project = Project.load(root);
    const handle = await startRun(project, {
      target: TEST_HOST_ALIAS,
      scriptsDir: SCRIPTS,
      hooks: hooks(),
      ssh: { sshConfigPath: sshd.sshConfig, knownHostsPath: sshd.knownHosts, agent: '', python: PYTHON, remoteRoot: join(sshd.dir, 'runs') },
      // What the extension passes from secret storage and the mnemo.hub.url setting.
      env: { HF_TOKEN: token, HF_ENDPOINT: hub.url },
      config: { method: 'full', max_steps: 2, eval_steps: 0, learning_rate: 3e-3, max_length: 64, precision: 'fp32', gradient_checkpointing: false, save_best: false, push_to_hub: 'me/cairnrun-tiny' },
    });
    const rec: RunRecord = await handle.finished;
    const local = join(project.runsDir, rec.id);
    const log = existsSync(join(local, 'train.log')) ? readFileSync(join(local, 'train.log'), 'utf8') : '';
    assert.equal(rec.state, 'done', `${JSON.stringify(rec.error)}\n${log.slice(-3000)}`);
    const done = eventsOf(join(local, 'metrics.jsonl')).at(-1) as { event: string; hub_url?: string };
    assert.equal(done.event, 'done');
    assert.equal(done.hub_url, `${hub.url}/me/cairnrun-tiny`);
    // One commit with every file of the trained model, byte for byte what was downloaded.
    assert.deepEqual(hub.commits.map((c) => [c.repo, c.type, c.summary]), [['me/cairnrun-tiny', 'model', 'Upload model trained with Mnemo']]);
    const output = join(local, 'output');
    const files = readdirSync(output, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => relative(output, join(d.parentPath, d.name)).split('\\').join('/')).filter((f) => !f.split('/').some((p) => p.startsWith('.')));
    assert.ok(files.includes('model.safetensors') && files.includes('config.json'), files.join(', '));
    assert.deepEqual(Object.keys(hub.commits[0].bytes).sort(), files.sort());
    for (const f of files) assert.ok(hub.commits[0].bytes[f].equals(readFileSync(join(output, f))), `${f} differs from the downloaded output`);
    assert.ok(hub.requests.filter((r) => r.method === 'POST').every((r) => r.user === 'me' && r.status === 200), JSON.stringify(hub.requests));
    // The token reached the Hub, and nothing the run wrote, here or on the host.
    const remote = (rec.target as Extract<RunRecord['target'], { kind: 'ssh' }>).remoteDir;
    for (const dir of [local, remote]) {
      for (const d of readdirSync(dir, { recursive: true, withFileTypes: true })) {
        if (d.isFile()) assert.ok(!readFileSync(join(d.parentPath, d.name)).includes(token), `the token is in ${join(d.parentPath, d.name)}`);
      }
    }
  } finally {
    await hub.stop();
  }
});
