// The chart's editor-free parts: metric events to columns, CSV, what sets compared runs apart, and
// the webview's point store (EMA smoothing, live appends, lines out of order).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMetricLines } from '../../src/core/training/metrics';
import type { MetricEvent, RunRecord } from '../../src/core/training/protocol';
import { describeDifferences, formatSetting } from '../../src/extension/chart/compare';
import { CSV_HEADER, decodePngDataUrl, toCsv } from '../../src/extension/chart/export';
import { bestEval, buildColumns, SeriesBuilder } from '../../src/extension/chart/series';
import { emptyEval, emptyLog } from '../../src/shared/chart-protocol';
import { DecimatedSeries, Ema, MAX_BUCKETS, RunStore, upperBound } from '../../src/webview/chart/store';
import { withAlpha } from '../../src/webview/chart/theme';

const log = (step: number, loss: number | null, extra: Partial<MetricEvent> = {}): MetricEvent => ({ event: 'log', step, loss, lr: 1e-4, grad_norm: 0.5, ...extra }) as MetricEvent;
const evl = (step: number, loss: number | null): MetricEvent => ({ event: 'eval', step, eval_loss: loss });

void test('columns: sorted by step whatever the file order, eval apart, status events ignored', () => {
  const c = buildColumns([{ event: 'status', state: 'training' }, log(3, 1.5), log(1, 2.5), evl(2, 1.9), log(2, 2.0), evl(1, 2.2)]);
  assert.deepEqual(c.log.step, [1, 2, 3]);
  assert.deepEqual(c.log.loss, [2.5, 2.0, 1.5]);
  assert.deepEqual(c.eval.step, [1, 2]);
  assert.deepEqual(c.eval.loss, [2.2, 1.9]);
  assert.deepEqual(c.nonFinite, []);
  assert.deepEqual(bestEval(c.eval), { step: 2, epoch: null, loss: 1.9 });
});

void test('columns: NaN and Infinity from the file become gaps and are listed', () => {
  const text = ['{"event":"log","step":1,"loss":2.0,"lr":0.0001}', '{"event":"log","step":2,"loss":NaN,"lr":0.0001,"grad_norm":Infinity}', '{"event":"eval","step":2,"eval_loss":-Infinity}', '{"event":"log","step":3,"loss":1.8}', '{"event":"log","st'].join('\n');
  const parsed = parseMetricLines(text);
  assert.equal(parsed.rest, '{"event":"log","st', 'the partial last line waits for its newline');
  const c = buildColumns(parsed.events);
  assert.deepEqual(c.log.loss, [2.0, null, 1.8]);
  assert.deepEqual(c.log.gradNorm, [null, null, null]);
  assert.deepEqual(c.eval.loss, [null]);
  assert.deepEqual(
    c.nonFinite.map((p) => `${p.key}@${p.step}`).sort(),
    ['eval_loss@2', 'grad_norm@2', 'loss@2'],
  );
  assert.equal(bestEval(c.eval), undefined, 'no finite eval loss: no best point');
});

void test('columns: epoch from the event, else from the start event, across batches', () => {
  const b = new SeriesBuilder();
  const first = b.add([{ event: 'start', total_steps: 200, epochs: 2, train_rows: 100, eval_rows: 10 }, log(50, 1)]);
  assert.deepEqual(first.log.epoch, [0.5]);
  const later = b.add([evl(100, 1.2), log(150, 0.9, { epoch: 1.49 } as Partial<MetricEvent>)]);
  assert.deepEqual(later.eval.epoch, [1]);
  assert.deepEqual(later.log.epoch, [1.49], 'an epoch the script wrote wins');
  assert.deepEqual(new SeriesBuilder().add([log(10, 1)]).log.epoch, [null], 'nothing to go by: no epoch');
});

void test('CSV: one row per run and step, log and eval merged, gaps empty, values quoted when needed', () => {
  const a = buildColumns([log(1, 2.5), evl(1, 2.4), log(2, null), evl(3, 2.0)]);
  const csv = toCsv([
    { id: 'run-a', columns: a },
    { id: 'b,"x"', columns: buildColumns([log(1, 3)]) },
  ]);
  assert.equal(
    csv,
    [CSV_HEADER.join(','), 'run-a,1,,2.5,2.4,0.0001,0.5', 'run-a,2,,,,0.0001,0.5', 'run-a,3,,,2,,', '"b,""x""",1,,3,,0.0001,0.5', ''].join('\n'),
  );
  assert.equal(toCsv([]), CSV_HEADER.join(',') + '\n');
});

void test('PNG data URLs are decoded; anything else is refused', () => {
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2]);
  assert.deepEqual(decodePngDataUrl(`data:image/png;base64,${png.toString('base64')}`), png);
  assert.throws(() => decodePngDataUrl('data:image/jpeg;base64,AAAA'), /PNG/);
  assert.throws(() => decodePngDataUrl(`data:image/png;base64,${Buffer.from('GIF89a..').toString('base64')}`), /not a valid PNG/);
});

const rec = (config: Record<string, unknown>, rows?: number, sha = 'a'.repeat(64)): Pick<RunRecord, 'config' | 'dataset'> => ({ config, dataset: rows ? { train: { sha256: sha, rows } } : undefined });

void test('compare: only the settings that differ, short names, defaults filled in, data as an expansion hint', () => {
  const d = describeDifferences([rec({ model: 'org/SmolLM2-135M', learning_rate: 1e-4, batch_size: 1, seed: 42, output_dir: 'a' }, 83), rec({ model: 'org/SmolLM2-135M', learning_rate: 3e-4, batch_size: 32, output_dir: 'b' }, 750)]);
  assert.deepEqual(d.settings, [
    ['lr 1e-4', 'bs 1'],
    ['lr 3e-4', 'bs 32'],
  ]);
  assert.deepEqual(d.dataHints, ['1x data (83 rows)', '9x data (750 rows)']);
  assert.equal(d.summary, 'lr 1e-4 vs 3e-4 · bs 1 vs 32 · 1x vs 9x data');
  // A key left out equals its default; identical runs differ in nothing.
  assert.deepEqual(describeDifferences([rec({ epochs: 1 }), rec({})]).settings, [[], []]);
  assert.equal(describeDifferences([rec({ lr_scheduler: 'constant' })]).summary, '', 'one run: nothing to compare');
  const three = describeDifferences([rec({ lr_scheduler: 'constant' }), rec({ lr_scheduler: 'cosine' }), rec({ lr_scheduler: 'cosine' })]);
  assert.equal(three.summary, 'sched constant vs cosine');
});

void test('compare: values as a legend writes them', () => {
  assert.equal(formatSetting('learning_rate', 0.0003), '3e-4');
  assert.equal(formatSetting('learning_rate', 0.00015), '1.5e-4');
  assert.equal(formatSetting('lora_dropout', 0.05), '0.05');
  assert.equal(formatSetting('model', '/models/SmolLM2-135M-Instruct/'), 'SmolLM2-135M-Instruct');
  assert.equal(formatSetting('neftune_alpha', null), 'none');
  assert.equal(formatSetting('gradient_checkpointing', false), 'off');
  assert.equal(formatSetting('lora_target_modules', ['q_proj', 'v_proj']), 'q_proj+v_proj');
});

void test('EMA: debiased (the first point is itself), gaps pass through without moving it', () => {
  const e = new Ema(0.9);
  assert.equal(e.next(2), 2);
  assert.equal(e.next(null), null);
  const third = e.next(1);
  assert.ok(third !== null && third > 1 && third < 2);
  assert.equal(new Ema(0).next(5), 5);
  assert.equal(upperBound([1, 2, 2, 4], 2), 3);
  assert.equal(upperBound([], 2), 0);
});

void test('store: live points append in place; an older point is inserted and the arrays rebuilt', () => {
  const init = buildColumns([log(1, 3), log(2, 2), evl(2, 2.5)]);
  const s = new RunStore(init, 'step', 0.5);
  const raw = s.points.raw;
  const more = buildColumns([log(3, 1.5), evl(3, 2.1)]);
  assert.equal(s.append(more.log, more.eval), 'appended');
  assert.equal(s.points.raw, raw, 'same array: chart.js keeps drawing it');
  assert.deepEqual(raw.map((p) => p.x), [1, 2, 3]);
  assert.equal(s.best?.y, 2.1);
  const old = buildColumns([log(0, 4)]);
  assert.equal(s.append(old.log, emptyEval()), 'rebuilt');
  assert.deepEqual(s.points.raw.map((p) => p.s), [0, 1, 2, 3]);
  assert.equal(s.points.smooth[0].y, 4, 'smoothing restarts from the first step');
  assert.equal(s.logCount, 4);
  assert.equal(s.evalCount, 2);
  // The epoch axis leaves out points without an epoch, and says so.
  s.setAxis('epoch');
  assert.equal(s.points.raw.length, 0);
  assert.ok(s.lacksEpochs);
  const empty = new RunStore({ log: emptyLog(), eval: emptyEval(), nonFinite: [] }, 'step', 0.6);
  assert.equal(empty.best, undefined);
});

void test('store: 100,000 points appended one by one stay sorted and cost little', () => {
  const s = new RunStore({ log: emptyLog(), eval: emptyEval(), nonFinite: [] }, 'step', 0.9);
  const started = performance.now();
  for (let i = 1; i <= 100_000; i++) {
    const c = emptyLog();
    c.step.push(i);
    c.epoch.push(i / 50_000);
    c.loss.push(Math.exp(-i / 20_000) + (i % 7) * 0.01);
    c.lr.push(1e-4);
    c.gradNorm.push(1);
    s.append(c, emptyEval());
  }
  const ms = performance.now() - started;
  assert.equal(s.logCount, 100_000);
  assert.ok(s.points.smooth.length <= 4 * MAX_BUCKETS, `${s.points.smooth.length} points drawn for 100,000`);
  const xs = s.points.raw.map((p) => p.x);
  assert.deepEqual(xs, [...xs].sort((a, b) => a - b), 'sorted by x');
  assert.equal(xs[xs.length - 1], 100_000, 'the newest point is drawn');
  assert.ok(ms < 5000, `appending took ${ms.toFixed(0)} ms`);
});

void test('decimation: small series exact; large ones keep every bucket\'s extremes and gaps, in order', () => {
  const series = (ys: (number | null)[]) => new DecimatedSeries((i) => ({ x: i, y: ys[i], s: i, e: null }), (i) => ys[i]);
  const smallYs = Array.from({ length: 500 }, (_, i) => i % 3);
  const small = series(smallYs);
  for (let i = 0; i < 500; i++) small.push(i);
  assert.equal(small.out.length, 500);
  const n = 250_000;
  const ys = Array.from({ length: n }, (_, i) => (i === 123_456 ? null : i === 77_777 ? -5 : i === 200_001 ? 9 : Math.sin(i / 1000)));
  // One by one (live) and all at once (opening a chart) give the same points.
  const live = series(ys);
  for (let i = 0; i < n; i++) live.push(i);
  const bulk = series(ys);
  bulk.pushAll(ys.keys());
  assert.deepEqual(bulk.out, live.out);
  for (const big of [live, bulk]) {
    assert.equal(big.count, n);
    assert.ok(big.out.length <= 5 * MAX_BUCKETS && big.out.length >= MAX_BUCKETS, `${big.out.length} points`);
    assert.ok(big.out.some((p) => p.y === -5), 'the lowest point survives');
    assert.ok(big.out.some((p) => p.y === 9), 'the highest point survives');
    assert.ok(big.out.some((p) => p.y === null && p.s === 123_456), 'the gap survives');
    const steps = big.out.map((p) => p.s);
    assert.deepEqual(steps, [...steps].sort((a, b) => a - b));
    assert.equal(steps[steps.length - 1], n - 1, 'the newest point is drawn');
  }
});

void test('colours with opacity from the forms themes use', () => {
  assert.equal(withAlpha('#3794ff', 0.5), 'rgba(55, 148, 255, 0.5)');
  assert.equal(withAlpha('#fff', 0.25), 'rgba(255, 255, 255, 0.25)');
  assert.equal(withAlpha('#00000080', 0.5), 'rgba(0, 0, 0, 0.251)');
  assert.equal(withAlpha('rgba(10, 20, 30, 0.5)', 0.5), 'rgba(10, 20, 30, 0.25)');
  assert.equal(withAlpha('red', 0.5), 'red');
});

void test('recall: points graded with the core\'s rule against recall.jsonl, in step order, with the epoch from the start event; marks and notes', async () => {
  const { recallNote, runMarks } = await import('../../src/extension/chart/series');
  const questions = new Map([['q1', { id: 'q1', set: 'eval' as const, question: 'In Cairnrun, how far?', reference: 'Nine metres.', tags: ['forward'], keys: null }]]);
  const rec = (step: number, answer: string): MetricEvent => ({ event: 'recall', step, set: 'eval', correct: 1, total: 1, answers: [{ id: 'q1', answer, correct: true }] });
  const b = new SeriesBuilder(questions);
  const c = b.add([{ event: 'start', total_steps: 40, epochs: 2, train_rows: 4, eval_rows: 1 }, rec(20, 'Nine metres.'), rec(10, 'Ten metres.')]);
  assert.deepEqual(c.recall.map((p) => [p.step, p.epoch, p.correct, p.total, p.byTag.forward?.correct]), [[10, 0.5, 0, 1, 0], [20, 1, 1, 1, 1]]);
  assert.equal(c.recall[0].disagreements, 1, 'the script said right, the core says wrong');
  const record: RunRecord = { version: 1, id: 'r', created: '2026-01-01T00:00:00Z', target: { kind: 'local' }, state: 'done', config: {}, recall: { eval: 1, test: 0 } };
  assert.deepEqual(runMarks(record, { step: 20, by: 'recall', value: 1 }, (s) => b.epochOf(s)), [{ kind: 'kept', step: 20, epoch: 1, label: 'kept: step 20, best recall 100%' }]);
  assert.deepEqual(runMarks(record, { step: 40, by: null }, (s) => b.epochOf(s)), [], 'the last step is no mark');
  const advice = { probeEpochs: 4, epochs: 2, reason: 'r', config: {}, evalTurn: { step: 10, epoch: 0.5, evalLoss: 1.2 }, recallPeak: { step: 20, epoch: 1, recall: 1, set: 'eval' as const, correct: 1, total: 1 } };
  assert.deepEqual(runMarks({ ...record, advice }, undefined, () => null).map((m) => `${m.kind}@${m.step}: ${m.label}`), ['eval-turn@10: eval loss turns up (epoch 0.5)', 'recall-peak@20: recall peaks 100% (epoch 1)']);
  assert.equal(recallNote(record, 2, true), undefined);
  assert.match(recallNote(record, 0, true) ?? '', /Recall \(1 eval questions\) appears after the first evaluation/);
  assert.match(recallNote({ ...record, recall: { eval: 0, test: 0 } }, 0, false) ?? '', /No recall measured: the project has no eval questions .* and no held-out pairs/);
  assert.match(recallNote({ ...record, recall: { eval: 0, test: 0 }, config: { recall_file: null } }, 0, false) ?? '', /recall_file is null/);
  assert.equal(recallNote({ ...record, recall: undefined }, 0, true), undefined, 'an older run says nothing');
});
