// The loss chart in a real VS Code: a run folder written by hand (as a trainer would), its chart
// opened by the command, the webview's point counts read back by a message round trip while lines
// are appended, no CSP violation (and a deliberate one caught), CSV and PNG exports, a comparison
// with its legend, the theme followed, bad input flagged, and 100,000 points.
import * as assert from 'node:assert';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { RunRecord } from '../../../src/core/training/protocol';
import type { ChartPanel } from '../../../src/extension/chart/panel';
import type { RunsView } from '../../../src/extension/training';
import type { ChartStats } from '../../../src/shared/chart-protocol';
import { activateMnemo, harness, waitFor } from './helpers';

let view: RunsView;

function record(id: string, patch: Partial<RunRecord> = {}): RunRecord {
  return {
    version: 1,
    id,
    created: new Date().toISOString(),
    target: { kind: 'local' },
    state: 'running',
    config: { model: 'HuggingFaceTB/SmolLM2-135M-Instruct', method: 'lora', learning_rate: 0.0001, batch_size: 1, epochs: 1 },
    dataset: { train: { sha256: 'a'.repeat(64), rows: 83 } },
    startedAt: new Date().toISOString(),
    ...patch,
  };
}

const line = (e: object) => JSON.stringify(e) + '\n';

/** Log lines of a run whose loss falls from ~2.5, with noise; lr warms up then decays. */
function logLines(from: number, to: number, total = 200): string {
  let s = '';
  for (let step = from; step <= to; step++) {
    const loss = 0.4 + 2.1 * Math.exp(-step / 60) + 0.08 * Math.sin(step * 1.7);
    const lr = step < 10 ? (1e-4 * step) / 10 : 1e-4 * 0.5 * (1 + Math.cos((Math.PI * step) / total));
    s += line({ event: 'log', step, epoch: step / total, loss: +loss.toFixed(4), lr: +lr.toExponential(4), grad_norm: +(1.5 * Math.exp(-step / 80) + 0.2).toFixed(3), time: step });
  }
  return s;
}

async function makeRun(id: string, metrics: string, patch: Partial<RunRecord> = {}): Promise<void> {
  const dir = join(harness.workspace, 'runs', id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'metrics.jsonl'), metrics);
  writeFileSync(join(dir, 'run.json'), JSON.stringify(record(id, patch)));
  view.model.refresh();
  await waitFor(`run ${id} to be listed`, () => view.model.list().some((r) => r.id === id), { events: [view.model.onDidChange as vscode.Event<unknown>] });
}

async function openChart(id: string): Promise<ChartPanel> {
  const panel = (await vscode.commands.executeCommand('mnemo.training.openChart', id)) as ChartPanel | undefined;
  assert.ok(panel, 'mnemo.training.openChart returned no panel (it failed: see the Mnemo log)');
  await panel.whenReady();
  return panel;
}

/** Asks the webview until `ok` holds for its stats; returns the last stats. */
async function statsUntil(panel: ChartPanel, what: string, ok: (s: ChartStats) => boolean, ink = false): Promise<ChartStats> {
  let last: ChartStats | undefined;
  try {
    return await waitFor(what, async () => {
      last = await panel.stats(ink);
      return ok(last) ? last : undefined;
    }, { timeoutMs: 20_000, interval: 100 });
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; last stats: ${JSON.stringify(last && { ...last, legend: last.legend, flags: last.flags })}`);
  }
}

suite('Chart', () => {
  suiteSetup(async () => {
    const api = (await activateMnemo()) as { runs?: RunsView };
    assert.ok(api.runs, 'the extension API exposes the Runs view');
    view = api.runs;
  });

  teardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('a run\'s chart fills from metrics.jsonl, then grows as lines are appended, with no CSP violation', async () => {
    const id = 'live-run';
    const head = line({ event: 'status', state: 'loading_model', time: 0 }) + line({ event: 'start', total_steps: 200, epochs: 1, train_rows: 83, eval_rows: 8, time: 0 }) + line({ event: 'status', state: 'training', time: 0 });
    // 40 log points, an eval at 20 and 40, and a last line cut in the middle (the trainer is writing it).
    const first = head + logLines(1, 20) + line({ event: 'eval', step: 20, epoch: 0.1, eval_loss: 1.9 }) + logLines(21, 40) + line({ event: 'eval', step: 40, epoch: 0.2, eval_loss: 1.7 });
    const next = logLines(41, 41);
    const cut = 25;
    await makeRun(id, first + next.slice(0, cut));
    const panel = await openChart(id);
    let stats = await statsUntil(panel, '40 log and 2 eval points', (s) => s.runs[0]?.log === 40 && s.runs[0]?.eval === 2, true);
    assert.ok((stats.inkPixels ?? 0) > 2000, `the canvas has ${stats.inkPixels} drawn pixels: it is blank`);
    assert.ok(stats.canvas.width > 300 && stats.canvas.height > 150, `canvas ${JSON.stringify(stats.canvas)}`);
    assert.match(stats.title, /live-run/);
    assert.match(stats.status, /training · step 40 \/ 200/);
    assert.ok(stats.legend.some((t) => /best eval 1\.7 at step 40/.test(t)), `legend: ${stats.legend.join(' | ')}`);
    assert.ok(stats.legend.includes('learning rate'));
    const updatesBefore = stats.updates;

    // The cut line is finished, 30 more steps and an eval arrive: the chart grows without a reload.
    const metrics = join(harness.workspace, 'runs', id, 'metrics.jsonl');
    appendFileSync(metrics, next.slice(cut) + logLines(42, 60));
    appendFileSync(metrics, line({ event: 'eval', step: 60, epoch: 0.3, eval_loss: 1.55 }) + logLines(61, 71));
    view.model.poke(id);
    stats = await statsUntil(panel, '71 log and 3 eval points', (s) => s.runs[0]?.log === 71 && s.runs[0]?.eval === 3);
    assert.ok(stats.updates > updatesBefore, 'the chart was drawn again');
    assert.match(stats.status, /step 71 \/ 200/);
    assert.ok(stats.legend.some((t) => /best eval 1\.55 at step 60/.test(t)), `legend: ${stats.legend.join(' | ')}`);

    // Points appended one by one, as a trainer logs them.
    for (let step = 72; step <= 81; step++) {
      appendFileSync(metrics, logLines(step, step));
      view.model.poke(id);
    }
    await statsUntil(panel, '81 log points', (s) => s.runs[0]?.log === 81);

    // No violation of the page's policy, and the collector does catch one when there is one.
    const probe = await panel.cspProbe();
    assert.ok(probe.caught, 'a deliberate inline <style> was not reported: violations would go unnoticed');
    assert.match(probe.description ?? '', /style-src/);
    stats = await panel.stats();
    assert.deepStrictEqual(stats.cspViolations, []);
    assert.deepStrictEqual(panel.cspViolations, []);
    assert.deepStrictEqual(panel.webviewErrors, []);

    // Opening it again shows the same panel.
    assert.strictEqual(await vscode.commands.executeCommand('mnemo.training.openChart', { runId: id }), panel);
  });

  test('x axis by epoch, smoothing off and on, grad norm shown', async () => {
    const id = 'options-run';
    await makeRun(id, line({ event: 'start', total_steps: 100, epochs: 2, train_rows: 50, eval_rows: 5 }) + logLines(1, 100, 100) + line({ event: 'eval', step: 100, eval_loss: 1.2 }));
    const panel = await openChart(id);
    await statsUntil(panel, 'the points', (s) => s.runs[0]?.log === 100);
    panel.setOptions({ xAxis: 'epoch', smoothing: 0, showGradNorm: true });
    const stats = await statsUntil(panel, 'the epoch axis', (s) => s.options.xAxis === 'epoch' && s.options.smoothing === 0);
    assert.ok(stats.legend.includes('grad norm'), stats.legend.join(' | '));
    assert.ok(stats.legend.includes('training loss'), 'no smoothing: one training loss line');
    assert.ok(!stats.legend.some((t) => /raw/.test(t)));
    assert.ok(stats.drawnPoints >= 100 * 3, `drawn ${stats.drawnPoints}`);
    panel.setOptions({ smoothing: 0.9 });
    const smoothed = await statsUntil(panel, 'smoothing 0.9', (s) => s.options.smoothing === 0.9);
    assert.ok(smoothed.legend.includes('training loss (smoothed 0.90)'), smoothed.legend.join(' | '));
  });

  test('bad input: NaN and Infinity as gaps and flagged, lines out of order, unreadable lines, no eval points', async () => {
    const id = 'bad-run';
    const text = [
      '{"event":"log","step":3,"epoch":0.03,"loss":2.1,"lr":0.0001}',
      '{"event":"log","step":1,"epoch":0.01,"loss":2.5,"lr":0.0001}',
      'this is not JSON',
      '{"event":"log","step":2,"epoch":0.02,"loss":NaN,"lr":0.0001}',
      '{"event":"log","step":4,"epoch":0.04,"loss":Infinity,"lr":0.0001}',
      '{"event":"log","step":5,"epoch":0.05,"loss":1.9,"lr":0.0001}',
      '',
    ].join('\n');
    await makeRun(id, text, { state: 'failed', error: { message: 'CUDA out of memory', kind: 'oom' } });
    const panel = await openChart(id);
    const stats = await statsUntil(panel, '5 log points', (s) => s.runs[0]?.log === 5, true);
    assert.strictEqual(stats.runs[0].eval, 0);
    assert.strictEqual(stats.runs[0].nonFinite, 2);
    const flags = stats.flags.join('\n');
    assert.match(flags, /2 values were NaN or infinite \(loss at steps 2, 4\): shown as gaps/);
    assert.match(flags, /1 line of metrics\.jsonl could not be read \(line 3: not JSON\)/);
    assert.match(flags, /no eval points yet/);
    assert.match(flags, /the run failed: CUDA out of memory/);
    assert.ok((stats.inkPixels ?? 0) > 500, 'the finite points are still drawn');

    // Late lines out of order are put in their place.
    appendFileSync(join(harness.workspace, 'runs', id, 'metrics.jsonl'), '{"event":"log","step":0,"loss":2.9}\n{"event":"eval","step":5,"eval_loss":2.0}\n');
    view.model.poke(id);
    await statsUntil(panel, 'the late points', (s) => s.runs[0]?.log === 6 && s.runs[0]?.eval === 1);
    const csvPath = (await vscode.commands.executeCommand('mnemo.training.exportChartCsv', { path: join(harness.tmp, 'bad.csv') })) as string;
    const rows = readFileSync(csvPath, 'utf8').trim().split('\n');
    assert.deepStrictEqual(rows.slice(1).map((r) => r.split(',')[1]), ['0', '1', '2', '3', '4', '5'], 'sorted by step');
    assert.strictEqual(rows[3], 'bad-run,2,0.02,,,0.0001,', 'a NaN is an empty cell');
    assert.strictEqual(rows[6], 'bad-run,5,0.05,1.9,2,0.0001,');
  });

  test('export: CSV of the data and a PNG of the chart, to the paths given', async () => {
    const id = 'export-run';
    await makeRun(id, logLines(1, 30) + line({ event: 'eval', step: 30, epoch: 0.15, eval_loss: 1.5 }), { state: 'done' });
    const panel = await openChart(id);
    await statsUntil(panel, '30 points', (s) => s.runs[0]?.log === 30);
    const csvPath = (await vscode.commands.executeCommand('mnemo.training.exportChartCsv', { path: join(harness.tmp, 'export.csv') })) as string | undefined;
    assert.strictEqual(csvPath, join(harness.tmp, 'export.csv'));
    const csv = readFileSync(csvPath, 'utf8').split('\n');
    assert.strictEqual(csv[0], 'run,step,epoch,loss,eval_loss,lr,grad_norm');
    assert.strictEqual(csv.length, 32, '30 steps, a header and the final line end');
    assert.match(csv[1], /^export-run,1,0\.005,2\.5446,,0\.00001,1\.\d+$/);
    assert.match(csv[30], /^export-run,30,0\.15,[\d.]+,1\.5,[\d.e-]+,[\d.]+$/);

    // Another chart opened over it hides it: the export shows it again to draw it. A relative path is taken from the project folder.
    await makeRun('other-run', logLines(1, 5));
    await openChart('other-run');
    assert.strictEqual(panel.panel.visible, false);
    const pngPath = (await vscode.commands.executeCommand('mnemo.training.exportChartPng', { runIds: [id], path: 'runs/export-run/chart.png' })) as string | undefined;
    assert.strictEqual(pngPath, join(harness.workspace, 'runs/export-run/chart.png'));
    const png = readFileSync(pngPath);
    const after = await panel.stats();
    assert.strictEqual(png.readUInt32BE(0), 0x89504e47, 'PNG signature');
    assert.strictEqual(png.readUInt32BE(16), after.canvas.width, 'PNG width = canvas width');
    assert.ok(png.readUInt32BE(20) > after.canvas.height && png.readUInt32BE(20) < after.canvas.height + 60, 'PNG height = canvas height and a title line');
    assert.ok(png.length > 8000, `a PNG of ${png.length} bytes is too small for a drawn chart`);
  });

  test('compare two runs: eval and training losses overlaid, the legend names what differs', async () => {
    await makeRun('bs1-9x', logLines(1, 50) + line({ event: 'eval', step: 25, eval_loss: 1.8 }) + line({ event: 'eval', step: 50, eval_loss: 1.4 }), {
      state: 'done',
      label: 'bs 1, 9x',
      config: { model: 'm', learning_rate: 0.0001, batch_size: 1 },
      dataset: { train: { sha256: 'b'.repeat(64), rows: 747 } },
    });
    await makeRun('bs32-1x', logLines(1, 50) + line({ event: 'eval', step: 25, eval_loss: 2.2 }) + line({ event: 'eval', step: 50, eval_loss: 2.0 }), {
      state: 'done',
      config: { model: 'm', learning_rate: 0.0003, batch_size: 32 },
      dataset: { train: { sha256: 'c'.repeat(64), rows: 83 } },
    });
    const panel = (await vscode.commands.executeCommand('mnemo.training.compareRuns', ['bs1-9x', 'bs32-1x'])) as ChartPanel | undefined;
    assert.ok(panel);
    await panel.whenReady();
    const stats = await statsUntil(panel, 'both runs', (s) => s.runs.length === 2 && s.runs.every((r) => r.log === 50 && r.eval === 2), true);
    assert.deepStrictEqual(stats.legend, ['bs 1, 9x — lr 1e-4, bs 1, 9x data (747 rows)', 'bs32-1x — lr 3e-4, bs 32, 1x data (83 rows)']);
    assert.strictEqual(stats.title, 'Comparing 2 runs');
    assert.strictEqual(stats.status, 'lr 1e-4 vs 3e-4 · bs 1 vs 32 · 9x vs 1x data');
    assert.ok((stats.inkPixels ?? 0) > 2000);
    assert.match(panel.panel.title, /^Compare: bs 1, 9x, bs32-1x$/);
    const csv = readFileSync((await vscode.commands.executeCommand('mnemo.training.exportChartCsv', { path: join(harness.tmp, 'compare.csv') })) as string, 'utf8');
    assert.strictEqual(csv.trim().split('\n').length, 101, 'both runs, 50 steps each, and the header');
  });

  test('recall: per tag under the losses (a tag of one\'s own too), live; answers without their question, a recall event without answers and a corrupt recall line are flagged; comparing, each run\'s recall', async () => {
    const questions = [
      { id: 'q-a', set: 'eval', question: 'In Cairnrun, how far?', reference: 'Nine metres.', tags: ['forward'], keys: null },
      { id: 'q-b', set: 'eval', question: 'In Cairnrun, what is nine metres?', reference: 'The Free Cast retreat.', tags: ['reversed'], keys: null },
      { id: 'q-c', set: 'eval', question: 'In Cairnrun, what is a Cairn?', reference: 'A stone Marker.', tags: ['definitions'], keys: null },
    ];
    const recall = (step: number, right: string[], extra: object = {}) =>
      line({ event: 'recall', step, epoch: step / 200, set: 'eval', correct: right.length, total: 3, answers: questions.map((q) => ({ id: q.id, answer: right.includes(q.id) ? q.reference : 'No idea.', correct: right.includes(q.id) })), ...extra });
    await makeRun('recall-a', logLines(1, 50) + line({ event: 'eval', step: 50, eval_loss: 1.2 }) + recall(50, ['q-a']), { recall: { eval: 3, test: 0 } });
    writeFileSync(join(harness.workspace, 'runs', 'recall-a', 'recall.jsonl'), questions.map((q) => JSON.stringify(q)).join('\n') + '\n');
    view.model.refresh();
    const panel = await openChart('recall-a');
    let s = await statsUntil(panel, 'the recall panel', (x) => x.recallLegend.length > 0);
    assert.deepStrictEqual(s.recallLegend, ['eval set 1/3 (33%)', 'forward 1/1 (100%)', 'reversed 0/1 (0%)', 'definitions 0/1 (0%)']);
    // Live: the next eval's recall, an answer to a question not in recall.jsonl, a recall event without answers, a corrupt line.
    const file = join(harness.workspace, 'runs', 'recall-a', 'metrics.jsonl');
    appendFileSync(file, logLines(51, 100) + recall(100, ['q-a', 'q-c'], { answers: [...questions.map((q) => ({ id: q.id, answer: ['q-a', 'q-c'].includes(q.id) ? q.reference : 'No idea.' })), { id: 'q-gone', answer: 'x' }] }));
    appendFileSync(file, line({ event: 'recall', step: 150, set: 'eval', correct: 3, total: 3 }) + '{"event":"recall","step":200,"set":"eval","corr\n');
    s = await statsUntil(panel, 'the live recall', (x) => x.runs[0].recall === 3);
    assert.deepStrictEqual(s.recallLegend.slice(0, 2), ['eval set 3/3 (100%)', 'forward 1/1 (100%)']);
    assert.ok(s.flags.some((f) => /1 recall measurement came without answers to grade/.test(f)), s.flags.join(' | '));
    assert.ok(s.flags.some((f) => /1 recall answer had no question in recall.jsonl/.test(f)), s.flags.join(' | '));
    assert.ok(s.flags.some((f) => /1 line of metrics.jsonl could not be read \(line \d+: not JSON\)/.test(f)), s.flags.join(' | '));
    // The run ends and keeps its best-recall checkpoint: named above the chart and marked.
    appendFileSync(file, line({ event: 'done', output_dir: 'output', best_step: 150, best_by: 'recall', best_value: 1 }));
    s = await statsUntil(panel, 'the kept checkpoint', (x) => x.marks.length > 0);
    assert.deepStrictEqual(s.marks, ['kept: step 150, best recall 100%']);
    assert.ok(s.flags.includes('Kept checkpoint: step 150, best recall 100%.'));
    // The recall option hides the panel.
    panel.setOptions({ showRecall: false });
    s = await statsUntil(panel, 'the recall panel hidden', (x) => !x.options.showRecall);
    assert.deepStrictEqual(s.recallLegend, []);
    panel.dispose();
    // No recall measured at all: said, not drawn.
    await makeRun('recall-none', logLines(1, 30), { recall: { eval: 0, test: 0 } });
    const none = await openChart('recall-none');
    s = await statsUntil(none, 'the note', (x) => x.flags.some((f) => /No recall measured/.test(f)));
    assert.deepStrictEqual(s.recallLegend, []);
    none.dispose();
    // Comparing: each run's eval-set recall, in its colour.
    await makeRun('recall-b', logLines(1, 50) + recall(50, ['q-a', 'q-b']), { recall: { eval: 3, test: 0 } });
    const cmp = (await vscode.commands.executeCommand('mnemo.training.compareRuns', ['recall-a', 'recall-b'])) as ChartPanel;
    await cmp.whenReady();
    s = await statsUntil(cmp, 'both runs\' recall', (x) => x.recallLegend.length === 2);
    assert.deepStrictEqual(s.recallLegend.map((l) => l.replace(/ \d+\/\d+ \(\d+%\)$/, '')).sort(), ['recall-a', 'recall-b']);
    cmp.dispose();
  });

  test('the chart follows the colour theme', async () => {
    const id = 'theme-run';
    await makeRun(id, logLines(1, 20));
    const panel = await openChart(id);
    const config = vscode.workspace.getConfiguration('workbench');
    try {
      await config.update('colorTheme', 'Default Dark Modern', vscode.ConfigurationTarget.Global);
      const dark = await statsUntil(panel, 'the dark theme', (s) => s.theme === 'dark');
      await config.update('colorTheme', 'Default Light Modern', vscode.ConfigurationTarget.Global);
      const light = await statsUntil(panel, 'the light theme', (s) => s.theme === 'light');
      // The series colours come from the theme's --vscode-charts-* variables, which differ between these two.
      assert.notStrictEqual(light.lossColor, dark.lossColor);
      assert.ok(light.updates > dark.updates, 'redrawn on the change');
      await config.update('colorTheme', 'Default High Contrast', vscode.ConfigurationTarget.Global);
      const hc = await statsUntil(panel, 'the high contrast theme', (s) => s.theme === 'high-contrast', true);
      assert.ok((hc.inkPixels ?? 0) > 1000, 'drawn again in high contrast');
      assert.ok(hc.updates > light.updates, 'redrawn on each change');
    } finally {
      await config.update('colorTheme', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  test('100,000 points: the chart opens with all of them and draws a decimated line', async function () {
    this.timeout(120_000);
    const id = 'long-run';
    const total = 100_000;
    let text = line({ event: 'start', total_steps: total, epochs: 3, train_rows: 30_000, eval_rows: 300 });
    for (let step = 1; step <= total; step++) {
      text += `{"event":"log","step":${step},"loss":${(0.3 + 2 * Math.exp(-step / 20_000) + 0.05 * Math.sin(step)).toFixed(4)},"lr":0.0001}\n`;
      if (step % 1000 === 0) text += `{"event":"eval","step":${step},"eval_loss":${(0.5 + 2 * Math.exp(-step / 25_000)).toFixed(4)}}\n`;
    }
    await makeRun(id, text, { state: 'done' });
    const started = Date.now();
    const panel = await openChart(id);
    const stats = await statsUntil(panel, 'all 100,000 points', (s) => s.runs[0]?.log === total && s.runs[0]?.eval === 100, true);
    const ms = Date.now() - started;
    assert.ok(stats.drawnPoints < total, `decimation: ${stats.drawnPoints} points drawn of ${total * 4} held`);
    assert.ok((stats.inkPixels ?? 0) > 2000);
    console.log(`100,000 points: chart open and drawn in ${ms} ms (last draw ${stats.lastUpdateMs.toFixed(1)} ms, ${stats.drawnPoints} points drawn)`);
  });

  test('open chart on a run that does not exist says so and opens nothing', async () => {
    const r = await vscode.commands.executeCommand('mnemo.training.openChart', 'no-such-run');
    assert.strictEqual(r, undefined);
    assert.strictEqual(vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => t.input instanceof vscode.TabInputWebview).length, 0);
  });
});
