import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { attachRun, listRuns, readRun, startRun } from '../../src/core/training';
import { pidAlive } from '../../src/core/training/backends';
import { eventsOf, fakeScripts, hooks, isStep, trainingProject, untilEvent } from './training-fixtures';

const scriptsDir = fakeScripts();

/** Any process of the group running (zombies, finished but not yet reaped, do not count). */
const groupAlive = (pgid: number) => pidAlive(-pgid);

void test('local: a full run, its events, its record and its outputs', async () => {
  const project = trainingProject();
  const h = hooks();
  const handle = await startRun(project, { target: 'local', scriptsDir, hooks: h, localPython: 'python3', env: { MNEMO_FAKE_STEPS: '10' } });
  const seen: string[] = [];
  handle.onEvent((ev) => seen.push(ev.event));
  assert.equal(handle.record.state, 'running');
  assert.ok(handle.record.pgid);
  const rec = await handle.finished;
  assert.equal(rec.state, 'done');
  assert.equal(rec.downloaded, true);
  const dir = join(project.runsDir, rec.id);
  const events = eventsOf(join(dir, 'metrics.jsonl'));
  assert.equal(events.filter((e) => e.event === 'log').length, 10);
  assert.equal(events.filter((e) => e.event === 'eval').length, 2);
  assert.deepEqual(seen, events.map((e) => e.event));
  assert.equal(rec.metricsOffset, readFileSync(join(dir, 'metrics.jsonl')).length);
  assert.deepEqual(readRun(project, rec.id), rec);
  assert.ok(existsSync(join(dir, 'output', 'adapter_model.safetensors')));
  assert.ok(!existsSync(join(dir, '.setup-pid')), 'the set-up lock is gone once the script runs');
  assert.equal(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).model, 'fake/model');
  assert.equal(rec.dataset?.train.rows, 2);
  assert.ok(rec.startedAt && rec.endedAt);
  assert.deepEqual(listRuns(project).map((r) => r.id), [rec.id]);
});

void test('local: cancel kills the whole process group (TERM, then KILL when TERM is ignored)', async () => {
  const project = trainingProject();
  for (const ignoreTerm of [false, true]) {
    const env: Record<string, string> = { MNEMO_FAKE_STEPS: '50', MNEMO_FAKE_PAUSE_AT: '2', MNEMO_FAKE_CHILD: '1' };
    if (ignoreTerm) env.MNEMO_FAKE_IGNORE_TERM = '1';
    const h = hooks();
    const handle = await startRun(project, { target: 'local', scriptsDir, hooks: h, localPython: 'python3', env, cancelGraceMs: 500 });
    await untilEvent(handle, isStep(2));
    const pgid = handle.record.pgid!;
    assert.ok(groupAlive(pgid));
    await handle.cancel();
    const rec = await handle.finished;
    assert.equal(rec.state, 'cancelled');
    assert.equal(groupAlive(pgid), false, 'the group (python and its child) is gone');
    assert.equal(h.lines.some((l) => /sending KILL/.test(l)), ignoreTerm);
  }
});

void test('local: a crash and a reported error become failed runs with a message and a hint', async () => {
  const project = trainingProject();
  const crash = await startRun(project, { target: 'local', scriptsDir, hooks: hooks(), localPython: 'python3', env: { MNEMO_FAKE_CRASH_AT: '3' } });
  const r1 = await crash.finished;
  assert.equal(r1.state, 'failed');
  assert.match(r1.error!.message, /exited with code 1/);
  assert.match(r1.error!.message, /RuntimeError: fake crash at step 3/);
  const oom = await startRun(project, { target: 'local', scriptsDir, hooks: hooks(), localPython: 'python3', env: { MNEMO_FAKE_CRASH_AT: '2', MNEMO_FAKE_ERROR: 'oom' } });
  const r2 = await oom.finished;
  assert.equal(r2.state, 'failed');
  assert.equal(r2.error!.kind, 'oom');
  assert.match(r2.error!.hint!, /max_length/);
  const missing = await startRun(project, { target: 'local', scriptsDir, hooks: hooks(), localPython: 'python3', env: { MNEMO_FAKE_CRASH_AT: '2', MNEMO_FAKE_ERROR: 'missing_package' } });
  assert.match((await missing.finished).error!.hint!, /requirements\.txt/);
  const badPython = startRun(project, { target: 'local', scriptsDir, hooks: hooks(), localPython: '/nonexistent/python' });
  const r3 = await (await badPython).finished;
  assert.equal(r3.state, 'failed');
  assert.match(r3.error!.message, /exited with code 127/);
});

void test('local: detach (a reload) and attach again: the run goes on, nothing lost or doubled', async () => {
  const project = trainingProject();
  const first = await startRun(project, { target: 'local', scriptsDir, hooks: hooks(), localPython: 'python3', env: { MNEMO_FAKE_STEPS: '8', MNEMO_FAKE_PAUSE_AT: '3' } });
  await untilEvent(first, isStep(3));
  const id = first.record.id;
  const follower = join(project.runsDir, id, '.follower.json');
  assert.equal(JSON.parse(readFileSync(follower, 'utf8')).pid, process.pid);
  first.detach();
  assert.ok(!existsSync(follower), 'a detached handle no longer claims the run');
  // Another live process following the run (a window, `mnemo train`): a second follower is refused.
  const { spawn } = await import('node:child_process');
  const other = spawn('sleep', ['30']);
  try {
    writeFileSync(follower, JSON.stringify({ pid: other.pid, since: new Date().toISOString() }));
    await assert.rejects(attachRun(project, id, { hooks: hooks() }), /already followed by another Mnemo process/);
  } finally {
    other.kill();
    await new Promise((r) => other.once('exit', r));
  }
  const again = await attachRun(project, id, { hooks: hooks() });
  assert.equal(again.record.state, 'running');
  const later: number[] = [];
  again.onEvent((ev) => ev.event === 'log' && later.push(ev.step));
  writeFileSync(join(project.runsDir, id, 'release'), '');
  const rec = await again.finished;
  assert.equal(rec.state, 'done');
  const steps = eventsOf(join(project.runsDir, id, 'metrics.jsonl')).flatMap((e) => (e.event === 'log' ? [e.step] : []));
  assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(later, [4, 5, 6, 7, 8]);
  assert.ok(!existsSync(follower), 'a finished run has no follower');
  // A finished run attaches as finished.
  assert.equal((await (await attachRun(project, id, { hooks: hooks() })).finished).state, 'done');
});

void test('local: no dataset, no train.py, a bad config: refused before anything starts', async () => {
  const project = trainingProject();
  await assert.rejects(startRun(project, { target: 'local', scriptsDir: project.root, hooks: hooks() }), /no train\.py/);
  await assert.rejects(startRun(project, { target: 'local', scriptsDir, hooks: hooks(), config: { lr: 1 } }), /unknown training key "lr"/);
  writeFileSync(join(project.dataDir, 'train.jsonl'), '');
  const { rmSync } = await import('node:fs');
  rmSync(join(project.dataDir, 'train.jsonl'));
  await assert.rejects(startRun(project, { target: 'local', scriptsDir, hooks: hooks() }), /no dataset to train on/);
  assert.deepEqual(listRuns(project), []);
});

void test('attach: a run left setting up is failed, unless the process setting it up still lives', async () => {
  const project = trainingProject();
  const { spawn } = await import('node:child_process');
  const { writeRecord } = await import('../../src/core/training/runs');
  const base = { version: 1 as const, created: new Date().toISOString(), target: { kind: 'local' as const }, state: 'setting_up' as const, config: {} };
  const sleeper = spawn('sleep', ['30']);
  try {
    writeRecord(project, { ...base, id: 'busy' });
    writeFileSync(join(project.runsDir, 'busy', '.setup-pid'), `${sleeper.pid}\n`);
    await assert.rejects(attachRun(project, 'busy', { hooks: hooks() }), /still being set up by another Mnemo process/);
    assert.equal(readRun(project, 'busy').state, 'setting_up');
  } finally {
    sleeper.kill();
  }
  writeRecord(project, { ...base, id: 'orphan' });
  const h = await attachRun(project, 'orphan', { hooks: hooks() });
  const rec = await h.finished;
  assert.equal(rec.state, 'failed');
  assert.match(rec.error!.message, /interrupted before the script started/);
});
