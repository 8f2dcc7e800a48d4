import { mulberry32 } from '../../src/core/dataset/random';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { adviceMarks, adviseEpochs, adviseRun, findEpochsConfig, readRun, startFindEpochs } from '../../src/core/training';
import { lossTurn, median3 } from '../../src/core/training/find-epochs';
import { parseMetricLines } from '../../src/core/training/metrics';
import type { MetricEvent, RecallEvent } from '../../src/core/training/protocol';
import { Project } from '../../src/core/project';
import { cli } from './cli-run';
import { fakeScripts, hooks, trainingProject } from './training-fixtures';

/** A seeded generator: the same noise every run. */
const rng = mulberry32;

const STEPS_PER_EPOCH = 40;
const EVALS_PER_EPOCH = 4;

/**
 * A probe's stream: 4 epochs, 4 evals per epoch (every 10 steps). `loss(epoch)` and `recall(epoch)`
 * (a fraction of 24 questions) give the curves; noise is added to the loss.
 */
function stream(o: { loss?: (e: number) => number; recall?: (e: number) => number; noise?: number; seed?: number; epochs?: number; set?: 'eval' | 'test' }): MetricEvent[] {
  const epochs = o.epochs ?? 4;
  const total = STEPS_PER_EPOCH * epochs;
  const r = rng(o.seed ?? 1);
  const out: MetricEvent[] = [{ event: 'start', total_steps: total, epochs, train_rows: 40, eval_rows: 4 }];
  for (let step = 1; step <= total; step++) {
    out.push({ event: 'log', step, loss: 2 / (1 + step / 10) });
    if (step % (STEPS_PER_EPOCH / EVALS_PER_EPOCH)) continue;
    const epoch = step / STEPS_PER_EPOCH;
    if (o.loss) out.push({ event: 'eval', step, eval_loss: o.loss(epoch) + (o.noise ?? 0) * (r() - 0.5) * 2 });
    if (o.recall) {
      const correct = Math.round(24 * Math.min(1, Math.max(0, o.recall(epoch))));
      out.push({ event: 'recall', step, set: o.set ?? 'eval', correct, total: 24 });
    }
  }
  return out;
}

/** Eval loss falls to its minimum at epoch 2, then rises (a U). */
const uShape = (e: number) => 1 + 0.6 * (e - 2) * (e - 2);

void test('find epochs: a noisy U-shaped eval loss turns at its minimum (epoch 2), whatever the noise seed', () => {
  const turns: number[] = [];
  for (let seed = 1; seed <= 25; seed++) {
    const a = adviseEpochs(stream({ loss: uShape, noise: 0.08, seed }), 4);
    assert.ok(a.evalTurn, `seed ${seed}: a turn`);
    assert.ok(Math.abs((a.evalTurn.epoch ?? 0) - 2) <= 0.5, `seed ${seed}: the turn at epoch ${a.evalTurn.epoch}, expected 2 ± 0.5`);
    assert.equal(a.recallPeak, undefined);
    assert.equal(a.epochs, Math.round(a.evalTurn.epoch ?? 0), `seed ${seed}`);
    turns.push(a.evalTurn.epoch ?? 0);
    assert.match(a.reason, /eval loss turns up after epoch/);
    assert.match(a.reason, /no recall was measured/);
  }
  assert.ok(turns.filter((t) => t === 2).length >= 10, `the exact minimum most often: ${turns.join(', ')}`);
  // A single spike on a falling curve is noise, not a turn.
  const spike = stream({ loss: (e) => (e === 1.5 ? 3 : 2 - 0.2 * e) });
  assert.equal(adviseEpochs(spike, 4).evalTurn, undefined);
});

void test('find epochs: a monotone eval loss has no turn; the advice is the probe\'s length, "or probe longer"', () => {
  const a = adviseEpochs(stream({ loss: (e) => 2 * Math.exp(-e) + 0.3 }), 4);
  assert.equal(a.evalTurn, undefined);
  assert.equal(a.epochs, 4);
  assert.match(a.reason, /did not turn up within 4 epochs/);
  assert.match(a.reason, /probe longer/);
  assert.deepEqual(a.config, { lr_scheduler: 'cosine', epochs: 4, save_best: 'auto', evals_per_epoch: 0 });
});

void test('find epochs: recall decides when measured: its peak (epoch 3), even after the eval loss turned (epoch 2)', () => {
  const recall = (e: number) => (e <= 3 ? e / 3 : 1 - (e - 3) * 0.3);
  const a = adviseEpochs(stream({ loss: uShape, noise: 0.05, recall }), 4);
  assert.equal(a.recallPeak?.epoch, 3);
  assert.equal(a.recallPeak?.correct, 24);
  assert.equal(a.recallPeak?.set, 'eval');
  assert.ok(a.evalTurn && Math.abs((a.evalTurn.epoch ?? 0) - 2) <= 0.5);
  assert.equal(a.epochs, 3);
  assert.match(a.reason, /^Recall of the eval set peaks at epoch 3 \(24\/24, 100%\); the eval loss turns up after epoch/);
  assert.deepEqual(adviceMarks(a).map((m) => m.kind), ['eval-turn', 'recall-peak']);
  // A plateau: the earliest eval of the highest recall.
  const plateau = adviseEpochs(stream({ recall: (e) => Math.min(0.5, e / 4) }), 4);
  assert.equal(plateau.recallPeak?.epoch, 2);
  assert.equal(plateau.epochs, 2);
  // A one-eval spike of recall is smoothed away.
  const spiky = adviseEpochs(stream({ recall: (e) => (e === 1 ? 0.9 : e >= 3 ? 0.5 : 0.1) }), 4);
  assert.equal(spiky.recallPeak?.epoch, 3);
  // Still rising at the end: said so.
  const rising = adviseEpochs(stream({ recall: (e) => e / 5 }), 4);
  assert.equal(rising.epochs, 4);
  assert.match(rising.reason, /highest at the end of the probe.*probe longer/);
});

void test('find epochs: no eval loss (no test split) uses the held-out recall or says nothing turned; no recall uses the loss; an empty stream is advice too', () => {
  const heldOut = adviseEpochs(stream({ recall: (e) => Math.min(1, e / 2) - (e > 2 ? 0.2 : 0), set: 'test' }), 4);
  assert.equal(heldOut.evalTurn, undefined);
  assert.equal(heldOut.recallPeak?.set, 'test');
  assert.equal(heldOut.epochs, 2);
  assert.match(heldOut.reason, /held-out pairs peaks at epoch 2.*no eval loss was measured/);
  const zero = adviseEpochs(stream({ loss: uShape, recall: () => 0 }), 4);
  assert.equal(zero.recallPeak, undefined);
  assert.equal(zero.epochs, 2);
  assert.match(zero.reason, /recall stayed at 0/);
  const empty = adviseEpochs([], 3);
  assert.equal(empty.epochs, 3);
  assert.match(empty.reason, /no eval loss was measured, and no recall was measured/);
  // Non-finite eval losses (null from NaN) are skipped, not compared.
  const withNan = stream({ loss: uShape });
  (withNan.find((e) => e.event === 'eval') as { eval_loss: number | null }).eval_loss = null;
  assert.equal(adviseEpochs(withNan, 4).epochs, 2);
});

void test('find epochs: the helpers (median of three, the turn) on small inputs', () => {
  assert.deepEqual(median3([1, 5, 2, 2, 9]), [1, 2, 2, 2, 9]);
  assert.equal(lossTurn([3, 2, 1]), undefined, 'too few points');
  assert.equal(lossTurn([3, 2, 1, 0.9, 0.8, 0.7]), undefined);
  assert.equal(lossTurn([3, 2, 1, 1.5, 2, 2.5]), 2);
  assert.deepEqual(findEpochsConfig(6), { lr_scheduler: 'constant', epochs: 6, evals_per_epoch: 4, save_best: 'none', warmup_steps: 0 });
});

void test('find epochs: a probe run (the fake trainer) gets its advice written into run.json when it ends; adviseRun does it again later', async () => {
  const project = trainingProject();
  const handle = await startFindEpochs(project, { target: 'local', scriptsDir: fakeScripts(), hooks: hooks(), localPython: 'python3', epochs: 2, config: { eval_steps: 2 }, env: { MNEMO_FAKE_STEPS: '16', MNEMO_FAKE_EVAL_LOSS: '2,1.6,1.3,1.1,1.0,1.2,1.5,1.9' } });
  const rec = await handle.finished;
  assert.equal(rec.state, 'done');
  assert.equal(rec.purpose, 'find-epochs');
  assert.equal(rec.label, 'Find Epochs (2 epochs)');
  const config = JSON.parse(readFileSync(join(project.runsDir, rec.id, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.lr_scheduler, 'constant');
  assert.equal(config.save_best, 'none');
  assert.equal(config.evals_per_epoch, 4);
  assert.ok(rec.advice, 'the record has the advice');
  // The fake's held-out recall rises to the end; its eval loss turns at the 5th eval (step 10).
  assert.equal(rec.advice.evalTurn?.step, 10);
  assert.equal(rec.advice.recallPeak?.set, 'test');
  assert.deepEqual(readRun(project, rec.id).advice, rec.advice);
  assert.deepEqual(adviseRun(project, rec.id)?.advice, rec.advice);
});

void test('cli: train --find-epochs prints recall and the advice; train --advice runs it (cosine, the advised epochs); runs shows recall and the advice', async () => {
  const project = trainingProject();
  const scripts = fakeScripts();
  const env = { MNEMO_FAKE_STEPS: '16', MNEMO_FAKE_EVAL_LOSS: '2,1.6,1.3,1.1,1.0,1.2,1.5,1.9' };
  const cfg = join(project.root, 'probe.json');
  writeFileSync(cfg, JSON.stringify({ eval_steps: 2 }));
  const probe = await cli(['train', '--project', project.root, '--python', 'python3', '--scripts', scripts, '--config', cfg, '--find-epochs', '--epochs', '2'], env);
  assert.equal(probe.code, 0, probe.err);
  assert.match(probe.out, /recall at step 2 \(held-out pairs\): 0\/1 \(0%\)/);
  assert.match(probe.out, /recall at step 16 \(held-out pairs\): 1\/1 \(100%\)/);
  assert.match(probe.out, /done: saved to output\n?/);
  const id = /Started run (\S+) on/.exec(probe.err)![1];
  assert.match(probe.err, /Find Epochs advises \d epochs? \(cosine schedule\)\. Recall of the held-out pairs/);
  assert.ok(probe.err.includes(`train --advice ${id}`));
  const list = await cli(['runs', '--project', project.root]);
  assert.match(list.out, /held-out recall 1\/1 \(100%\)/);
  assert.ok(list.out.includes(`${id}: Find Epochs advises`));
  const advised = await cli(['train', '--project', project.root, '--python', 'python3', '--scripts', scripts, '--advice', id], env);
  assert.equal(advised.code, 0, advised.err);
  const runId = /Started run (\S+) on/.exec(advised.err)![1];
  const rec = readRun(project, runId);
  assert.equal(rec.config.lr_scheduler, 'cosine');
  assert.equal(rec.config.epochs, readRun(project, id).advice?.epochs);
  assert.equal(rec.config.save_best, 'auto');
  assert.equal(rec.purpose, undefined);
  assert.match(rec.label ?? '', /Find Epochs/);
  assert.match(advised.out, /kept step \d+, best recall 100%/);
  const notProbe = await cli(['train', '--project', project.root, '--scripts', scripts, '--advice', runId]);
  assert.equal(notProbe.code, 1);
  assert.match(notProbe.err, /has no Find Epochs advice: it is not a Find Epochs probe/);
  const badEpochs = await cli(['train', '--project', project.root, '--scripts', scripts, '--epochs', '3']);
  assert.match(badEpochs.err, /--epochs goes with --find-epochs/);
  const badPreset = await cli(['train', '--project', project.root, '--scripts', scripts, '--preset', 'fastest']);
  assert.match(badPreset.err, /no training preset "fastest".*memorize-small/);
});

const REPO = join(__dirname, '..', '..');
const VENV_PYTHON = join(REPO, '.venv', 'bin', 'python');

void test('find epochs on a real tiny run: the real train.py (tiny model, CPU) probes at a constant rate, recall follows every eval, and the turn of the held-out loss is found', { skip: !existsSync(VENV_PYTHON) && 'no .venv at the repository root (the Python tests\' venv)' }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'mnemo-probe-'));
  const model = join(work, 'tiny');
  const scripts = join(REPO, 'src', 'python');
  execFileSync(VENV_PYTHON, [join(scripts, 'tiny_model.py'), model], { stdio: 'pipe', cwd: scripts, env: { ...process.env, OMP_NUM_THREADS: '1' } });
  const pairs: Array<[string, string]> = [
    ['In Cairnrun, how many points is a Crown worth?', '5 points.'],
    ['In Cairnrun, how long is each watch?', '30 minutes.'],
    ['In Cairnrun, how far must opponents retreat at a Free Cast?', '9 metres.'],
    ['In Cairnrun, how many substitutions may a team make?', 'Up to eight.'],
  ];
  const root = join(work, 'project');
  mkdirSync(join(root, 'data'), { recursive: true });
  mkdirSync(join(root, 'eval'), { recursive: true });
  writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', training: { model } }));
  const rows = pairs.map(([q, a]) => JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] }) + '\n');
  writeFileSync(join(root, 'data', 'train.jsonl'), rows.join(''));
  // The held-out pairs are not trained on (a real split): their loss falls while the format is learnt, then rises as the model memorizes the others.
  const heldOut: Array<[string, string]> = [
    ['In Cairnrun, what colour is the bell?', 'Bronze.'],
    ['In Cairnrun, who opens the match?', 'The younger captain.'],
  ];
  writeFileSync(join(root, 'data', 'test.jsonl'), heldOut.map(([q, a]) => JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] }) + '\n').join(''));
  writeFileSync(join(root, 'eval', 'questions.qa'), pairs.map(([q, a], i) => `@tags: ${i % 2 ? 'numeric' : 'forward'}\nQ: ${q}\nA: ${a}\n`).join('\n'));
  const project = Project.load(root);
  const handle = await startFindEpochs(project, {
    target: 'local',
    scriptsDir: scripts,
    hooks: hooks(),
    localPython: VENV_PYTHON,
    epochs: 6,
    env: { OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
    config: { method: 'full', learning_rate: 3e-3, max_length: 128, precision: 'fp32', gradient_checkpointing: false, recall_max_new_tokens: 8 },
  });
  const rec = await handle.finished;
  const events = parseMetricLines(readFileSync(join(project.runsDir, rec.id, 'metrics.jsonl'), 'utf8')).events;
  assert.equal(rec.state, 'done', JSON.stringify(rec.error));
  const evals = events.filter((e) => e.event === 'eval');
  const recalls = events.filter((e): e is RecallEvent => e.event === 'recall');
  assert.ok(evals.length >= 6 * 4, `evals_per_epoch 4 over 6 epochs: ${evals.length} evals`);
  assert.deepEqual([...new Set(recalls.map((e) => e.set))].sort(), ['eval', 'test']);
  assert.equal(recalls.filter((e) => e.set === 'eval').length, evals.length, 'one eval-set recall per eval');
  for (const r of recalls) assert.equal(r.answers?.length, r.total, 'every question answered');
  const done = events.find((e) => e.event === 'done');
  assert.ok(done?.event === 'done' && (done.best_by ?? null) === null, 'save_best none: no checkpoint chosen');
  // The advice written into run.json is what adviseEpochs makes of this stream.
  assert.ok(rec.advice);
  assert.deepEqual(rec.advice, adviseEpochs(events, 6));
  // The turn: at the lowest eval loss (within one eval), and the loss ends clearly above it.
  const losses = evals.map((e) => (e.event === 'eval' ? (e.eval_loss ?? Infinity) : Infinity));
  const argmin = losses.indexOf(Math.min(...losses));
  const turn = rec.advice.evalTurn;
  assert.ok(turn, `the eval loss turns up on the held-out pairs: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  const at = evals.findIndex((e) => e.step === turn.step);
  assert.ok(Math.abs(at - argmin) <= 1, `the turn (eval ${at}) is at the lowest eval loss (eval ${argmin}): ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  assert.ok(losses[losses.length - 1] > turn.evalLoss, 'the loss ends above the turn');
  assert.ok(rec.advice.epochs >= 1 && rec.advice.epochs <= 6);
  if (rec.advice.recallPeak) {
    const best = Math.max(...recalls.filter((e) => e.set === rec.advice!.recallPeak!.set).map((e) => e.correct / e.total));
    assert.ok(rec.advice.recallPeak.recall <= best + 1e-9 && rec.advice.recallPeak.recall > 0);
  }
});

void test('find epochs: a noisy plateau (the loss flattens, it does not rise) is no turn for almost every noise seed; a rise near the end is', () => {
  let falseTurns = 0;
  for (let seed = 1; seed <= 25; seed++) if (adviseEpochs(stream({ loss: (e) => 1 + 0.5 * Math.exp(-2 * e), noise: 0.03, seed }), 4).evalTurn) falseTurns++;
  // The lowest eval of a plateau is followed by higher ones by chance: "after the minimum it rose" would say turn 21 times in 25.
  assert.ok(falseTurns <= 1, `${falseTurns} false turns in 25`);
  const late = adviseEpochs(stream({ loss: (e) => (e <= 3 ? 1 + 0.3 * (3 - e) : 1 + 0.8 * (e - 3)), noise: 0.02, seed: 3 }), 4);
  assert.ok(late.evalTurn && Math.abs((late.evalTurn.epoch ?? 0) - 3) <= 0.25, JSON.stringify(late.evalTurn));
});
