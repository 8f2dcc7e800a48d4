// UI checks of the loss chart: a run's chart opened from the Runs view, growing as the trainer
// appends lines, its pixels counted inside the webview, in dark, light and high-contrast themes,
// restored after a reload; the status bar item; two runs compared. Included in test/harness/ui.mjs.
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { openView, runCommand, widenSidebar, workbench } from './ui.mjs';

const line = (e) => JSON.stringify(e) + '\n';

/** Log lines with a falling, noisy loss, a cosine learning rate and a grad norm; evals every 25 steps. */
function metrics(from, to, { total = 300, evalEvery = 25, lr = 1e-4, scale = 1 } = {}) {
  let s = '';
  for (let step = from; step <= to; step++) {
    const loss = scale * (0.35 + 2.2 * Math.exp(-step / 70)) + 0.12 * Math.sin(step * 1.3) * Math.exp(-step / 200);
    const rate = step < 15 ? (lr * step) / 15 : lr * 0.5 * (1 + Math.cos((Math.PI * step) / total));
    s += line({ event: 'log', step, epoch: +(step / 100).toFixed(4), loss: +loss.toFixed(4), lr: +rate.toExponential(4), grad_norm: +(1.2 * Math.exp(-step / 90) + 0.25).toFixed(3) });
    if (step % evalEvery === 0) {
      // Eval loss falls, then turns up: the point the chart is for.
      const ev = scale * (0.9 + 1.6 * Math.exp(-step / 60)) + 0.0000045 * (step - 120) ** 2 * (step > 120 ? 1 : 0);
      s += line({ event: 'eval', step, epoch: +(step / 100).toFixed(4), eval_loss: +ev.toFixed(4) });
    }
  }
  return s;
}

function writeRun(workspace, id, { state = 'done', label, config, rows = 83, text }) {
  const dir = join(workspace, 'runs', id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'metrics.jsonl'), text);
  const now = new Date().toISOString();
  writeFileSync(
    join(dir, 'run.json'),
    JSON.stringify({ version: 1, id, created: now, target: { kind: 'local' }, state, label, config, dataset: { train: { sha256: 'a'.repeat(64), rows } }, startedAt: now }),
  );
  return join(dir, 'metrics.jsonl');
}

/** The chart's document inside VS Code's webview frames. */
function chartFrame(page) {
  return page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
}

/** Pixels of the chart canvas that something was drawn on, and how many distinct colours. */
async function canvasInk(frame) {
  return frame.locator('canvas#chart').evaluate((c) => {
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let ink = 0;
    const colours = new Set();
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] === 0) continue;
      ink++;
      if (data[i + 3] > 200) colours.add((data[i] >> 4) * 256 + (data[i + 1] >> 4) * 16 + (data[i + 2] >> 4));
    }
    return { ink, colours: colours.size, width: c.width, height: c.height };
  });
}

/** Resolves after the webview has painted twice more (what it was asked to draw is on screen). */
async function painted(frame) {
  await frame.locator('canvas#chart').evaluate((c) => {
    const win = c.ownerDocument.defaultView;
    return new Promise((resolve) => win.requestAnimationFrame(() => win.requestAnimationFrame(resolve)));
  });
}

async function expectDrawn(frame, what) {
  const r = await canvasInk(frame);
  // A blank canvas has no ink; axes and labels alone have few colours.
  if (r.ink < 5000 || r.colours < 4) throw new Error(`${what}: the chart canvas looks blank (${r.ink} drawn pixels, ${r.colours} colours, ${r.width}x${r.height})`);
  return r;
}

/** Switches the colour theme through the workspace settings and waits for the webview to follow. */
async function setTheme(page, workspace, theme, bodyClass) {
  mkdirSync(join(workspace, '.vscode'), { recursive: true });
  writeFileSync(join(workspace, '.vscode/settings.json'), JSON.stringify({ 'workbench.colorTheme': theme }));
  await chartFrame(page).locator(`body.${bodyClass}`).waitFor({ state: 'attached', timeout: 30_000 });
}

const RECALL_QUESTIONS = [
  ...['forward', 'forward', 'forward', 'reversed', 'reversed', 'paraphrase', 'paraphrase', 'numeric'].map((tag, i) => ({ id: `q-${i}`, set: 'eval', question: `In Cairnrun, question ${i}?`, reference: `Answer ${i} is Cairn${i}.`, tags: [tag], keys: null })),
  ...[0, 1, 2, 3].map((i) => ({ id: `t-${i}`, set: 'test', question: `In Cairnrun, held-out ${i}?`, reference: `Held ${i} is Stone${i}.`, tags: ['held-out'], keys: null })),
];

/**
 * Recall events after each eval: forward questions are learnt first, reversed ones late, numeric
 * never; held-out pairs a little. Answers are right (the reference) or wrong ("I do not know.").
 */
function recallMetrics(from, to, { evalEvery = 25 } = {}) {
  let s = '';
  for (let step = from; step <= to; step++) {
    if (step % evalEvery) continue;
    const progress = step / 300;
    const knows = (q) => {
      const i = Number(q.id.slice(2));
      if (q.set === 'test') return i < Math.floor(progress * 2.5);
      const tag = q.tags[0];
      return tag === 'forward' ? progress > 0.15 * (i + 1) : tag === 'reversed' ? progress > 0.45 + 0.1 * (i - 3) : tag === 'paraphrase' ? progress > 0.3 : false;
    };
    for (const set of ['eval', 'test']) {
      const qs = RECALL_QUESTIONS.filter((q) => q.set === set);
      const answers = qs.map((q) => ({ id: q.id, answer: knows(q) ? q.reference : 'I do not know.', correct: knows(q), finish_reason: 'stop' }));
      const by_tag = {};
      for (const q of qs) {
        const c = (by_tag[q.tags[0]] ??= { correct: 0, total: 0 });
        c.total++;
        if (knows(q)) c.correct++;
      }
      s += line({ event: 'status', state: 'recall' });
      s += line({ event: 'recall', step, epoch: +(step / 100).toFixed(4), set, correct: answers.filter((a) => a.correct).length, total: qs.length, by_tag, answers, seconds: 1.5 });
      s += line({ event: 'status', state: 'training' });
    }
  }
  return s;
}

export const chartChecks = [
  {
    name: 'chart of recall while training, the kept checkpoint and a Find Epochs probe',
    timeoutMs: 240_000,
    async run({ page, workspace, screenshot }) {
      const config = { model: 'HuggingFaceTB/SmolLM2-135M-Instruct', learning_rate: 1e-4, batch_size: 1, epochs: 3, save_best: 'auto' };
      const recall = { eval: 8, test: 4 };
      const start = line({ event: 'start', total_steps: 300, epochs: 3, train_rows: 747, eval_rows: 75 }) + line({ event: 'status', state: 'training' });
      let text = start;
      for (let k = 0; k < 8; k++) text += metrics(k * 25 + 1, (k + 1) * 25) + recallMetrics(k * 25 + 1, (k + 1) * 25);
      const file = writeRun(workspace, 'recall-9x', { state: 'running', label: 'recall 9x', config, text });
      const dir = dirname(file);
      writeFileSync(join(dir, 'recall.jsonl'), RECALL_QUESTIONS.map((q) => JSON.stringify(q)).join('\n') + '\n');
      const rec = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
      writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...rec, recall }));
      await workbench(page);
      const sidebar = await openView(page, 'Mnemo');
      await widenSidebar(page, 620);
      // The Runs view row and the status bar show the latest recall, graded by the extension.
      const row = sidebar.locator('.monaco-list-row', { hasText: 'recall 9x' }).first();
      await row.waitFor({ state: 'visible', timeout: 90_000 });
      const described = row.locator('.label-description', { hasText: /recall 7\/8 \(88%\) · held-out 1\/4 \(25%\)/ });
      await described.waitFor({ state: 'visible', timeout: 30_000 });
      await page.locator('.statusbar-item', { hasText: /step 200\/300 · loss [\d.]+ · recall 7\/8 \(88%\) · training/ }).first().waitFor({ state: 'visible', timeout: 30_000 });
      await screenshot('recall-runs-view');
      await runCommand(page, 'Mnemo: Open Chart');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'recall 9x' }).first().click();
      const frame = chartFrame(page);
      await frame.locator('h1.title', { hasText: 'recall 9x' }).waitFor({ state: 'visible', timeout: 60_000 });
      await frame.locator('.plot.recall:not([hidden]) canvas#recall-chart').waitFor({ state: 'visible', timeout: 30_000 });
      // The run ends: the checkpoint it kept (by recall) is named and marked.
      appendFileSync(file, metrics(201, 300) + recallMetrics(201, 300) + line({ event: 'done', output_dir: 'output', best_step: 275, best_by: 'recall', best_value: 0.875 }));
      writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...rec, recall, state: 'done', endedAt: new Date().toISOString() }));
      await frame.locator('ul.flags li', { hasText: 'Kept checkpoint: step 275, best recall 88%' }).waitFor({ state: 'visible', timeout: 30_000 });
      // The side bar closed (the chart gets the width); the keyboard is in the webview, so no palette here.
      await page.keyboard.press('Control+B');
      await page.mouse.move(5, 5);
      await setTheme(page, workspace, 'Default Dark Modern', 'vscode-dark');
      await expectDrawn(frame, 'recall chart');
      const recallInk = await frame.locator('canvas#recall-chart').evaluate((c) => {
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let ink = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) ink++;
        return ink;
      });
      if (recallInk < 3000) throw new Error(`the recall panel looks blank (${recallInk} drawn pixels)`);
      await painted(frame);
      await screenshot('recall-chart-dark');
      await setTheme(page, workspace, 'Default Light Modern', 'vscode-light');
      await painted(frame);
      await screenshot('recall-chart-light');
      await page.keyboard.press('Control+B');

      // A Find Epochs probe that ended while nobody followed it: opening its chart advises.
      const probeText = start + [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((k) => {
        const step = (k + 1) * 25;
        const loss = 1 + 0.6 * ((step / 100) - 1.5) ** 2;
        const correct = Math.min(8, Math.round(step / 25)) - (step > 250 ? 1 : 0);
        return line({ event: 'log', step, epoch: step / 100, loss: 2 / (1 + step / 50) }) + line({ event: 'eval', step, epoch: step / 100, eval_loss: +loss.toFixed(4) }) + line({ event: 'recall', step, epoch: step / 100, set: 'eval', correct, total: 8 });
      }).join('') + line({ event: 'done', output_dir: 'output', best_by: null });
      writeRun(workspace, 'probe', { label: 'Find Epochs (3 epochs)', config: { ...config, lr_scheduler: 'constant', evals_per_epoch: 4, save_best: 'none' }, text: probeText });
      const probeRecord = join(workspace, 'runs', 'probe', 'run.json');
      writeFileSync(probeRecord, JSON.stringify({ ...JSON.parse(readFileSync(probeRecord, 'utf8')), purpose: 'find-epochs', recall: { eval: 8, test: 0 } }));
      // Its row in the Runs view opens its chart (a run that is over: no clock redraws the row under the click).
      const probeRow = sidebar.locator('.monaco-list-row', { hasText: 'Find Epochs (3 epochs)' }).first();
      await probeRow.waitFor({ state: 'visible', timeout: 60_000 });
      await probeRow.click();
      const probe = chartFrame(page);
      await probe.locator('h1.title', { hasText: 'Find Epochs (3 epochs)' }).waitFor({ state: 'visible', timeout: 60_000 });
      await probe.locator('ul.flags li.advice', { hasText: /Find Epochs: Recall of the eval set peaks at epoch 2 \(8\/8, 100%\); the eval loss turns up after epoch 1\.5/ }).waitFor({ state: 'visible', timeout: 30_000 });
      const advice = JSON.parse(readFileSync(probeRecord, 'utf8')).advice;
      if (advice?.epochs !== 2) throw new Error(`run.json's advice is ${JSON.stringify(advice)}, expected 2 epochs`);
      await page.mouse.move(5, 5);
      await painted(probe);
      await screenshot('find-epochs-chart');
      // "Train With These Settings" starts Start Training with the advice (here: it asks where to run).
      mkdirSync(join(workspace, 'data'), { recursive: true });
      writeFileSync(join(workspace, 'data', 'train.jsonl'), JSON.stringify({ messages: [{ role: 'user', content: 'Q?' }, { role: 'assistant', content: 'A.' }] }) + '\n');
      await probe.locator('#train-with-advice').click();
      await page.locator('.quick-input-widget', { hasText: 'where should it run' }).waitFor({ state: 'visible', timeout: 30_000 });
      await page.keyboard.press('Escape');
      const after = (await sidebar.locator('.monaco-list-row', { hasText: 'recall 9x' }).first().locator('.label-description').textContent())?.trim();
      return `Runs view at the end: "${after}"; advice ${advice.epochs} epochs`;
    },
  },

  {
    name: 'chart of a live run',
    timeoutMs: 240_000,
    async run({ page, workspace, screenshot }) {
      const file = writeRun(workspace, 'lr-1e-4', {
        state: 'running',
        label: 'lr 1e-4 · 9x',
        config: { model: 'HuggingFaceTB/SmolLM2-135M-Instruct', learning_rate: 1e-4, batch_size: 1, epochs: 3 },
        text: line({ event: 'start', total_steps: 300, epochs: 3, train_rows: 747, eval_rows: 75 }) + line({ event: 'status', state: 'training' }) + metrics(1, 200),
      });
      await workbench(page);
      const sidebar = await openView(page, 'Mnemo');
      await widenSidebar(page, 380);
      // The Runs view lists the run; clicking it opens its chart.
      const run = sidebar.locator('.monaco-list-row', { hasText: 'lr 1e-4 · 9x' }).first();
      await run.waitFor({ state: 'visible', timeout: 90_000 });
      await run.click();
      const frame = chartFrame(page);
      const title = frame.locator('h1.title', { hasText: 'lr 1e-4 · 9x' });
      let opened = 'by a click';
      try {
        await title.waitFor({ state: 'visible', timeout: 15_000 });
      } catch {
        // A live run's row is redrawn every second (its clock) and a click that straddles a redraw
        // selects the row without running its command ("Actual command not found").
        // The row's inline Open Chart action passes the view's item (not the id) to the command.
        opened = 'by the row\'s Open Chart action (the click only selected the row)';
        await run.hover();
        await run.locator('.action-label[aria-label^="Open Chart"]').click();
        await title.waitFor({ state: 'visible', timeout: 60_000 });
      }
      await frame.locator('.status', { hasText: 'step 200 / 300' }).waitFor({ state: 'visible' });
      // The status bar shows the active run; it is what a person glances at.
      await page.locator('.statusbar-item', { hasText: /step 200\/300 · loss [\d.]+ · training/ }).first().waitFor({ state: 'visible', timeout: 30_000 });

      // The trainer goes on: 60 more steps arrive and the chart follows without being reopened.
      appendFileSync(file, metrics(201, 260));
      await frame.locator('.status', { hasText: 'step 260 / 300' }).waitFor({ state: 'visible', timeout: 30_000 });
      await page.locator('.statusbar-item', { hasText: /step 260\/300/ }).first().waitFor({ state: 'visible', timeout: 30_000 });
      await runCommand(page, 'Notifications: Clear All Notifications');
      await setTheme(page, workspace, 'Default Dark Modern', 'vscode-dark');
      await page.mouse.move(5, 5);
      const dark = await expectDrawn(frame, 'dark theme');
      await painted(frame);
      const shot = await screenshot('chart-dark');

      // Export PNG from the chart's own button: the save dialog (VS Code's, in the browser: a path
      // to type) suggests the run's folder; the file is the chart on the editor's background.
      await frame.locator('#export-png').click();
      const pathInput = page.locator('.quick-input-widget .quick-input-box input').first();
      await pathInput.waitFor({ state: 'visible' });
      // The dialog fills its input after it shows.
      await page.waitForFunction((input) => input.value.endsWith('.png'), await pathInput.elementHandle(), { timeout: 10_000 }).catch(() => {});
      const suggested = await pathInput.inputValue();
      if (!suggested.endsWith('runs/lr-1e-4/lr-1e-4-chart.png')) throw new Error(`the save dialog suggests "${suggested}", expected the run's folder`);
      const exported = join(workspace, 'runs/lr-1e-4/exported.png');
      await pathInput.fill(exported);
      await pathInput.press('Enter');
      await page.locator('.notification-toast', { hasText: 'Chart saved to' }).first().waitFor({ state: 'visible', timeout: 30_000 });
      const png = readFileSync(exported);
      if (png.readUInt32BE(0) !== 0x89504e47 || png.length < 20_000) throw new Error(`the exported PNG (${png.length} bytes) is not a drawn chart`);
      copyFileSync(exported, join(dirname(shot), 'chart-export.png'));
      await runCommand(page, 'Notifications: Clear All Notifications');

      // Hovering a point shows its step and values.
      const box = await frame.locator('canvas#chart').boundingBox();
      if (box) {
        await page.mouse.move(box.x + box.width * 0.55, box.y + box.height * 0.5);
        await painted(frame);
        await screenshot('chart-tooltip');
        await page.mouse.move(5, 5);
      }

      await setTheme(page, workspace, 'Default Light Modern', 'vscode-light');
      const light = await expectDrawn(frame, 'light theme');
      await painted(frame);
      await screenshot('chart-light');

      await setTheme(page, workspace, 'Default High Contrast', 'vscode-high-contrast');
      await expectDrawn(frame, 'high contrast theme');
      await painted(frame);
      await screenshot('chart-high-contrast');

      // A reload brings the chart back (the webview serializer), with its data and its options.
      await setTheme(page, workspace, 'Default Dark Modern', 'vscode-dark');
      await frame.locator('#show-showGradNorm').check();
      await frame.locator('#x-axis').selectOption('epoch');
      // Developer: Reload Window, as a person would: the workbench saves its state (the webview's too) before it goes.
      await runCommand(page, 'Developer: Reload Window');
      await page.waitForEvent('load', { timeout: 60_000 });
      await workbench(page);
      await chartFrame(page).locator('h1.title', { hasText: 'lr 1e-4 · 9x' }).waitFor({ state: 'visible', timeout: 90_000 });
      await chartFrame(page).locator('.status', { hasText: 'step 260 / 300' }).waitFor({ state: 'visible', timeout: 30_000 });
      await expectDrawn(chartFrame(page), 'after a reload');
      if (!(await chartFrame(page).locator('#show-showGradNorm').isChecked()) || (await chartFrame(page).locator('#x-axis').inputValue()) !== 'epoch') throw new Error('the options set before the reload (grad norm shown, x by epoch) were not restored');
      await page.mouse.move(5, 5);
      await painted(chartFrame(page));
      await screenshot('chart-restored');
      return `opened ${opened}; ${dark.width}x${dark.height} canvas, ${dark.ink} drawn pixels dark, ${light.ink} light`;
    },
  },
  {
    name: 'chart comparing runs',
    timeoutMs: 180_000,
    async run({ page, workspace, screenshot }) {
      const config = { model: 'HuggingFaceTB/SmolLM2-135M-Instruct', epochs: 3 };
      writeRun(workspace, 'bs1-9x', { label: 'bs 1, 9x', config: { ...config, learning_rate: 1e-4, batch_size: 1 }, rows: 747, text: metrics(1, 300) });
      writeRun(workspace, 'bs32-9x', { label: 'bs 32, 9x', config: { ...config, learning_rate: 1e-4, batch_size: 32 }, rows: 747, text: metrics(1, 300, { scale: 1.25 }) });
      writeRun(workspace, 'bs1-1x', { label: 'bs 1, 1x', config: { ...config, learning_rate: 1e-4, batch_size: 1 }, rows: 83, text: metrics(1, 300, { scale: 1.12 }) });
      await workbench(page);
      const sidebar = await openView(page, 'Mnemo');
      await sidebar.locator('.monaco-list-row', { hasText: 'bs 32, 9x' }).first().waitFor({ state: 'visible', timeout: 90_000 });
      await runCommand(page, 'Mnemo: Compare Runs…');
      // A multi-select quick pick: a click on a row ticks it; Enter accepts the ticked ones.
      const quick = page.locator('.quick-input-widget');
      for (const label of ['bs 1, 9x', 'bs 32, 9x', 'bs 1, 1x']) await quick.locator('.quick-input-list .monaco-list-row', { hasText: label }).first().click();
      await quick.locator('.quick-input-count', { hasText: '3 Selected' }).waitFor({ state: 'visible' });
      await quick.locator('.quick-input-box input').first().press('Enter');
      const frame = chartFrame(page);
      await frame.locator('h1.title', { hasText: 'Comparing 3 runs' }).waitFor({ state: 'visible', timeout: 60_000 });
      const status = (await frame.locator('.status').textContent())?.trim() ?? '';
      // Values come in the order of the runs, newest first: the three runs are written within a
      // millisecond or two of each other, so that order (and "1 vs 32" or "32 vs 1") is not fixed.
      if (!/bs (1 vs 32|32 vs 1)/.test(status) || !/(9x vs 1x|1x vs 9x) data/.test(status)) throw new Error(`the comparison says "${status}", expected the differing batch sizes and data`);
      // Close the side bar: the chart gets the width.
      await page.keyboard.press('Control+B');
      await page.mouse.move(5, 5);
      await expectDrawn(frame, 'comparison');
      await painted(frame);
      await screenshot('chart-compare');
      return status;
    },
  },
];
