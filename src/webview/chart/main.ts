/**
 * The chart webview: one run (training loss raw and smoothed, eval loss with its best point,
 * learning rate and grad norm on axes of their own) or several runs compared (eval and smoothed
 * training losses, a legend naming what sets each run apart). Data comes from the extension
 * (src/shared/chart-protocol.ts); live points are pushed onto the arrays chart.js already holds
 * and drawn once per animation frame without animation. Long series are decimated as they grow
 * (store.ts: min-max per bucket, O(1) per point), so a draw handles a few thousand points however
 * long the run; chart.js's decimation plugin stays on for narrow panels.
 */
import { Chart, Decimation, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip, type ChartDataset, type LegendItem, type Plugin, type TooltipItem } from 'chart.js';
import { DEFAULT_VIEW_OPTIONS, type ChartMark, type ChartPanelState, type ChartRun, type ChartStats, type ChartViewOptions, type FromWebview, type RecallPoint, type RunStatus, type ToWebview } from '../../shared/chart-protocol';
import { formatRecall, scriptStateLabel } from '../../core/training/protocol';
import './chart.css';
import { RunStore, type ChartPoint, type SeriesWanted } from './store';
import { readTheme, withAlpha, type ChartTheme } from './theme';

Chart.register(LineController, LineElement, PointElement, LinearScale, Tooltip, Legend, Decimation);

interface VsCodeApi {
  postMessage(message: FromWebview): void;
  getState(): unknown;
  setState(state: ChartPanelState): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const post = (m: FromWebview) => vscode.postMessage(m);

// Every CSP violation is recorded and reported; tests and the extension's log read them.
const violations: string[] = [];
let probe: ((description: string) => void) | undefined;
document.addEventListener('securitypolicyviolation', (e) => {
  const description = `${e.violatedDirective} blocked ${e.blockedURI || 'inline'}${e.sample ? ` (${e.sample.slice(0, 60)})` : ''}`;
  // The probe's inline <style> (the policy sends no sample, so it is known by what it broke).
  if (probe && e.effectiveDirective.startsWith('style-src') && (!e.blockedURI || e.blockedURI === 'inline')) {
    probe(description);
    return;
  }
  violations.push(description);
  post({ type: 'cspViolation', description });
});
window.addEventListener('error', (e) => post({ type: 'error', message: `${e.message} (${e.filename}:${e.lineno})` }));

// ---------------------------------------------------------------------------------------------
// State

const saved = (vscode.getState() ?? {}) as Partial<ChartPanelState>;
let options: ChartViewOptions = { ...DEFAULT_VIEW_OPTIONS, ...saved.options };
let mode: 'run' | 'compare' = 'run';
let runs: ChartRun[] = [];
let stores: RunStore[] = [];
let missing: string[] = [];
let theme: ChartTheme = readTheme();
let chart: Chart<'line', ChartPoint[]> | undefined;
/** The recall panel below the losses (its own chart, x axis kept equal to the losses'). */
let recallChart: Chart<'line', ChartPoint[]> | undefined;
let frame = 0;
let updates = 0;
let lastUpdateMs = 0;
const recent: number[] = [];
const initTimings = { storesMs: 0, drawMs: 0, totalMs: 0 };

function saveState(): void {
  vscode.setState({ runIds: runs.map((r) => r.id).concat(missing), options });
}

// ---------------------------------------------------------------------------------------------
// Page

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

const title = el('h1', { className: 'title' });
const status = el('span', { className: 'status' });
const legendKey = el('span', { className: 'key' });
const flags = el('ul', { className: 'flags' });
const xSelect = el('select', { id: 'x-axis', title: 'What the x axis counts' }, el('option', { value: 'step', textContent: 'step' }), el('option', { value: 'epoch', textContent: 'epoch' }));
const smoothing = el('input', { id: 'smoothing', type: 'range', min: '0', max: '0.99', step: '0.01', title: 'Smoothing of the training loss (exponential moving average)' });
const smoothingValue = el('output', { className: 'value' });
smoothingValue.htmlFor.add('smoothing');
const toggles: { key: keyof ChartViewOptions; label: string; modes: ('run' | 'compare')[] }[] = [
  { key: 'showRawLoss', label: 'raw loss', modes: ['run'] },
  { key: 'showEval', label: 'eval loss', modes: ['run'] },
  { key: 'showLr', label: 'learning rate', modes: ['run'] },
  { key: 'showGradNorm', label: 'grad norm', modes: ['run'] },
  { key: 'showTrain', label: 'training loss', modes: ['compare'] },
  { key: 'showRecall', label: 'recall', modes: ['run', 'compare'] },
];
const checkboxes = new Map<keyof ChartViewOptions, { input: HTMLInputElement; label: HTMLLabelElement }>();
for (const t of toggles) {
  const input = el('input', { type: 'checkbox', id: `show-${t.key}` });
  const label = el('label', { className: 'toggle' }, input, t.label);
  input.addEventListener('change', () => setOptions({ [t.key]: input.checked }));
  checkboxes.set(t.key, { input, label });
}
const pngButton = el('button', { id: 'export-png', textContent: 'Export PNG', title: 'Save the chart as a PNG image' });
const csvButton = el('button', { id: 'export-csv', textContent: 'Export CSV', title: 'Save the data as CSV' });
pngButton.addEventListener('click', () => post({ type: 'export', format: 'png' }));
csvButton.addEventListener('click', () => post({ type: 'export', format: 'csv' }));
xSelect.addEventListener('change', () => setOptions({ xAxis: xSelect.value === 'epoch' ? 'epoch' : 'step' }));
smoothing.addEventListener('input', () => setOptions({ smoothing: Number(smoothing.value) }));

const canvas = el('canvas', { id: 'chart' });
canvas.setAttribute('role', 'img');
const empty = el('div', { className: 'empty', hidden: true });
const recallCanvas = el('canvas', { id: 'recall-chart' });
recallCanvas.setAttribute('role', 'img');
const recallPlot = el('div', { className: 'plot recall', hidden: true }, recallCanvas);
const adviseButton = el('button', { id: 'train-with-advice', textContent: 'Train With These Settings', title: 'Start a normal run (cosine schedule) for the advised number of epochs' });
adviseButton.addEventListener('click', () => post({ type: 'trainWithAdvice' }));
document.body.append(
  el('header', {}, title, status, el('span', { className: 'spacer' }), pngButton, csvButton),
  el('div', { className: 'toolbar' }, el('label', {}, 'x axis ', xSelect), el('label', { className: 'smoothing' }, 'smoothing ', smoothing, smoothingValue), ...[...checkboxes.values()].map((c) => c.label)),
  legendKey,
  flags,
  el('div', { className: 'plot' }, canvas, empty),
  recallPlot,
);

function syncControls(): void {
  xSelect.value = options.xAxis;
  smoothing.value = String(options.smoothing);
  smoothingValue.textContent = options.smoothing.toFixed(2);
  for (const t of toggles) {
    const c = checkboxes.get(t.key);
    if (!c) continue;
    c.input.checked = Boolean(options[t.key]);
    c.label.hidden = !t.modes.includes(mode);
  }
}

// ---------------------------------------------------------------------------------------------
// Words


function describeStatus(s: RunStatus): string {
  const parts: string[] = [];
  if (s.state === 'running') parts.push((scriptStateLabel(s.scriptState) ?? 'running'));
  else parts.push(s.state === 'setting_up' ? 'setting up' : s.state);
  if (s.step !== undefined) parts.push(`step ${s.step.toLocaleString('en-US')}${s.totalSteps ? ` / ${s.totalSteps.toLocaleString('en-US')}` : ''}`);
  if (s.epoch !== undefined) parts.push(`epoch ${s.epoch.toFixed(2)}`);
  return parts.join(' · ');
}

/** 1.2345 -> "1.234"; 0.0001 -> "1e-4"; 0.0000381 -> "3.81e-5". */
function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a !== 0 && (a < 0.001 || a >= 1e5)) return v.toExponential(2).replace('e+', 'e').replace(/\.?0+e/, 'e');
  return Number(v.toPrecision(4)).toString();
}

function listSteps(steps: number[]): string {
  const shown = steps.slice(0, 5).map((s) => s.toLocaleString('en-US'));
  return shown.join(', ') + (steps.length > 5 ? ` and ${steps.length - 5} more` : '');
}

function renderHeader(): void {
  if (mode === 'run') {
    const run = runs[0];
    title.textContent = run ? run.name : missing.length ? `Run ${missing[0]}` : 'Run';
    status.textContent = run ? describeStatus(run.status) : '';
    legendKey.textContent = '';
  } else {
    title.textContent = `Comparing ${runs.length} runs`;
    status.textContent = compareSummary;
    legendKey.textContent = options.showTrain ? 'solid: eval loss, with ◆ at the best · dashed: training loss (smoothed)' : 'eval loss, with ◆ at the best';
  }
  const items: { text: string; kind: 'warning' | 'error' | 'info' }[] = [];
  for (const id of missing) items.push({ kind: 'error', text: `Run ${id} is no longer in runs/: it was deleted or renamed.` });
  runs.forEach((run, i) => {
    const store = stores[i];
    const who = mode === 'compare' ? `${run.name}: ` : '';
    // A cancelled run's error says so itself ("The run was cancelled."): not "the run failed".
    if (run.status.error) items.push({ kind: run.status.state === 'cancelled' ? 'info' : 'error', text: run.status.state === 'cancelled' ? `${who}${run.status.error}` : `${who}the run failed: ${run.status.error}` });
    if (store.nonFinite.length) {
      const byKey = new Map<string, number[]>();
      for (const p of store.nonFinite) byKey.set(p.key, [...(byKey.get(p.key) ?? []), p.step]);
      const where = [...byKey].map(([k, steps]) => `${k.replace('_', ' ')} at step${steps.length > 1 ? 's' : ''} ${listSteps(steps)}`).join('; ');
      items.push({ kind: 'warning', text: `${who}${store.nonFinite.length} value${store.nonFinite.length > 1 ? 's were' : ' was'} NaN or infinite (${where}): shown as gaps.` });
    }
    if (run.badLines) items.push({ kind: 'warning', text: `${who}${run.badLines} line${run.badLines > 1 ? 's' : ''} of metrics.jsonl could not be read${run.firstBadLine ? ` (${run.firstBadLine})` : ''}; left out of the chart.` });
    if (store.logCount && !store.evalCount) items.push({ kind: 'info', text: `${who}no eval points yet: eval loss appears after the first evaluation (every eval_steps steps, or at the end).` });
    if (options.xAxis === 'epoch' && store.lacksEpochs) items.push({ kind: 'info', text: `${who}some points have no epoch (the run logged none and sent no start event); they are left out of the epoch axis.` });
    const kept = run.marks.find((m) => m.kind === 'kept');
    if (kept && mode === 'run') items.push({ kind: 'info', text: `Kept checkpoint: ${kept.label.replace(/^kept: /, '')}.` });
    if (run.recallNote) items.push({ kind: 'info', text: `${who}${run.recallNote}` });
    const unsure = run.recall.filter((p) => !p.regraded).length;
    if (unsure && mode === 'run') items.push({ kind: 'info', text: `${unsure} recall measurement${unsure > 1 ? 's' : ''} came without answers to grade (or without recall.jsonl): shown as the script graded ${unsure > 1 ? 'them' : 'it'}.` });
    const unknown = run.recall.reduce((n, p) => n + p.unknown, 0);
    if (unknown && mode === 'run') items.push({ kind: 'warning', text: `${unknown} recall answer${unknown > 1 ? 's' : ''} had no question in recall.jsonl (or ${unknown > 1 ? 'were' : 'was'} malformed) and ${unknown > 1 ? 'are' : 'is'} not counted.` });
  });
  flagTexts = items.map((f) => f.text);
  const advice = mode === 'run' ? runs[0]?.advice : undefined;
  if (advice) flagTexts.push(`Find Epochs: ${advice}`);
  flags.replaceChildren(
    ...items.map((f) => el('li', { className: f.kind, textContent: f.text })),
    ...(advice ? [el('li', { className: 'advice' }, el('strong', { textContent: 'Find Epochs: ' }), advice, ' ', adviseButton)] : []),
  );
  const points = stores.reduce((n, s) => n + s.logCount + s.evalCount, 0);
  empty.hidden = points > 0 || !runs.length;
  recallPlot.hidden = !showRecallPanel();
  // The recall toggle only where there is recall to show.
  const recallToggle = checkboxes.get('showRecall');
  if (recallToggle) recallToggle.label.hidden = !runs.some((r) => r.recall.length > 0);
  // A run that ended before its first step will log none: say so, not "yet".
  const ended = runs.length > 0 && runs.every((r) => r.status.state === 'failed' || r.status.state === 'cancelled');
  empty.textContent = ended ? `No metrics: the run ${runs.every((r) => r.status.state === 'cancelled') ? 'was cancelled' : 'failed'} before it logged a step. Open Run Log shows why.` : 'No metrics yet: the chart fills in as the run logs its first steps.';
  canvas.setAttribute('aria-label', runs.length === 1 ? `Loss chart of ${runs[0].name}` : `Loss chart comparing ${runs.map((r) => r.name).join(', ')}`);
}
let compareSummary = '';
let flagTexts: string[] = [];

// ---------------------------------------------------------------------------------------------
// Chart

function bestLabel(i: number): string {
  const best = stores[i]?.best;
  if (!best) return '';
  return mode === 'run' ? `best eval ${fmt(best.y)} at step ${best.s.toLocaleString('en-US')}` : `${runs[i].name} best`;
}

type LineDataset = ChartDataset<'line', ChartPoint[]> & { runIndex: number; kind: string };

function line(label: string, data: ChartPoint[], color: string, extra: Partial<ChartDataset<'line', ChartPoint[]>> = {}): Partial<LineDataset> {
  return { label, data, borderColor: color, backgroundColor: color, borderWidth: theme.lineWidth, pointRadius: 0, pointHoverRadius: 3, spanGaps: false, ...extra };
}

function datasets(): LineDataset[] {
  const out: Partial<LineDataset>[] = [];
  const hc = theme.kind.startsWith('high-contrast');
  if (mode === 'run') {
    const s = stores[0];
    if (!s) return [];
    const p = s.points;
    const smoothed = options.smoothing > 0;
    if (smoothed && options.showRawLoss) out.push({ ...line('training loss (raw)', p.raw, withAlpha(theme.loss, hc ? 0.6 : 0.3), { borderWidth: 1 }), kind: 'raw' });
    out.push({ ...line(smoothed ? `training loss (smoothed ${options.smoothing.toFixed(2)})` : 'training loss', smoothed ? p.smooth : p.raw, theme.loss), kind: 'loss' });
    if (options.showEval) {
      out.push({ ...line('eval loss', p.eval, theme.eval, { pointRadius: p.eval.length > 200 ? 0 : 2.5, borderWidth: theme.lineWidth + 0.5 }), kind: 'eval' });
      if (s.best) out.push({ ...line(bestLabel(0), p.best, theme.best, { pointRadius: 7, pointHoverRadius: 8, pointStyle: 'rectRot', borderColor: theme.foreground, borderWidth: 1.5, showLine: false }), kind: 'best' });
    }
    if (options.showLr) out.push({ ...line('learning rate', p.lr, theme.lr, { yAxisID: 'yLr', borderDash: [6, 3], borderWidth: 1.25 }), kind: 'lr' });
    if (options.showGradNorm) out.push({ ...line('grad norm', p.grad, withAlpha(theme.grad, 0.85), { yAxisID: 'yGrad', borderWidth: 1 }), kind: 'grad' });
  } else {
    stores.forEach((s, i) => {
      const color = theme.palette[i % theme.palette.length];
      const p = s.points;
      out.push({ ...line(runs[i].name, p.eval, color, { pointRadius: p.eval.length > 200 ? 0 : 2.5, borderWidth: theme.lineWidth + 0.5 }), kind: 'eval', runIndex: i });
      if (s.best) out.push({ ...line(bestLabel(i), p.best, color, { pointRadius: 6, pointStyle: 'rectRot', borderColor: theme.foreground, borderWidth: 1, showLine: false }), kind: 'best', runIndex: i });
      if (options.showTrain) out.push({ ...line(`${runs[i].name} training`, options.smoothing > 0 ? p.smooth : p.raw, withAlpha(color, hc ? 0.9 : 0.6), { borderDash: [5, 4], borderWidth: 1.25 }), kind: 'train', runIndex: i });
    });
  }
  return out.map((d) => ({ runIndex: 0, ...d }) as LineDataset);
}

function legendLabels(c: Chart): LegendItem[] {
  const sets = c.data.datasets as LineDataset[];
  const font = { family: theme.font, size: theme.fontSize };
  if (mode === 'run') {
    return sets.map((d, i) => ({
      text: String(d.label),
      datasetIndex: i,
      fillStyle: String(d.kind === 'best' ? theme.best : d.borderColor),
      strokeStyle: String(d.borderColor),
      fontColor: theme.foreground,
      lineWidth: Number(d.borderWidth ?? 1),
      lineDash: (d.borderDash as number[] | undefined) ?? [],
      pointStyle: d.kind === 'best' ? 'rectRot' : 'line',
      hidden: !c.isDatasetVisible(i),
      font,
    }));
  }
  return runs.map((run, i) => {
    const index = sets.findIndex((d) => d.runIndex === i && d.kind === 'eval');
    const extra = [...run.settings, ...(run.dataHint ? [run.dataHint] : [])];
    const color = theme.palette[i % theme.palette.length];
    return { text: extra.length ? `${run.name} — ${extra.join(', ')}` : run.name, datasetIndex: index, fillStyle: color, strokeStyle: color, fontColor: theme.foreground, lineWidth: 3, pointStyle: 'line', hidden: index >= 0 && !c.isDatasetVisible(index), font };
  });
}

// ---------------------------------------------------------------------------------------------
// Recall (a panel below the losses) and the marks (vertical lines on both)

/** The left axes' width (px) in both plots: the recall panel's x axis then lines up with the losses'. */
const Y_AXIS_MIN_WIDTH = 64;
/** The width the recall panel's axis needs: the losses' axis is made as wide. */
let recallAxisWidth = 0;

/** Tags drawn first and always in the same colours; any other tag follows. */
const KNOWN_TAGS = ['forward', 'reversed', 'paraphrase', 'numeric'];

interface RecallChartPoint extends ChartPoint {
  c: number;
  t: number;
}

interface RecallSeries {
  key: string;
  label: string;
  color: string;
  width: number;
  dash: number[];
  points: RecallChartPoint[];
  last?: { correct: number; total: number };
}

function showRecallPanel(): boolean {
  return options.showRecall && runs.some((r) => r.recall.length > 0);
}

function recallPoint(p: RecallPoint, c: { correct: number; total: number } | undefined): RecallChartPoint | undefined {
  const x = options.xAxis === 'step' ? p.step : p.epoch;
  if (x === null) return undefined;
  if (!c || c.total <= 0) return { x, y: null, s: p.step, e: p.epoch, c: 0, t: 0 };
  return { x, y: (100 * c.correct) / c.total, s: p.step, e: p.epoch, c: c.correct, t: c.total };
}

function seriesOf(key: string, label: string, color: string, pts: RecallPoint[], count: (p: RecallPoint) => { correct: number; total: number } | undefined, width = 1.5, dash: number[] = []): RecallSeries {
  const points = pts.map((p) => recallPoint(p, count(p))).filter((x): x is RecallChartPoint => !!x);
  const lastWith = [...pts].reverse().find((p) => (count(p)?.total ?? 0) > 0);
  return { key, label, color, width, dash, points, last: lastWith && count(lastWith) };
}

/** The recall lines: in a run's chart the eval set, each of its tags and the held-out pairs; comparing, each run's eval set (else held-out). */
function recallSeries(): RecallSeries[] {
  const out: RecallSeries[] = [];
  if (mode === 'run') {
    const run = runs[0];
    if (!run) return out;
    const ev = run.recall.filter((p) => p.set === 'eval');
    const test = run.recall.filter((p) => p.set === 'test');
    if (ev.length) {
      out.push(seriesOf('eval', 'eval set', theme.foreground, ev, (p) => p, theme.lineWidth + 1));
      const tags = new Set<string>();
      for (const p of ev) for (const t of Object.keys(p.byTag)) if (t !== 'held-out') tags.add(t);
      const ordered = [...KNOWN_TAGS.filter((t) => tags.has(t)), ...[...tags].filter((t) => !KNOWN_TAGS.includes(t)).sort()];
      ordered.forEach((tag) => {
        const known = KNOWN_TAGS.indexOf(tag);
        const color = known >= 0 ? theme.palette[known] : withAlpha(theme.palette[5], 0.9);
        out.push(seriesOf(`tag:${tag}`, tag, color, ev, (p) => p.byTag[tag], 1.5, known >= 0 ? [] : [2, 2]));
      });
    }
    if (test.length) out.push(seriesOf('test', 'held-out (test split)', theme.palette[4], test, (p) => p, theme.lineWidth + 0.5, [6, 3]));
  } else {
    runs.forEach((run, i) => {
      const ev = run.recall.filter((p) => p.set === 'eval');
      const pts = ev.length ? ev : run.recall.filter((p) => p.set === 'test');
      if (pts.length) out.push(seriesOf(`run:${run.id}`, `${run.name}${ev.length ? '' : ' (held-out)'}`, theme.palette[i % theme.palette.length], pts, (p) => p, theme.lineWidth + 0.5));
    });
  }
  return out;
}

function recallDatasets(): LineDataset[] {
  return recallSeries().map(
    (r) =>
      ({
        ...line(r.label, r.points, r.color, { borderWidth: r.width, borderDash: r.dash, pointRadius: r.points.length > 60 ? 0 : 2.5 }),
        kind: r.key,
        runIndex: 0,
        recallLast: r.last,
      }) as LineDataset,
  );
}

function recallLegendText(d: LineDataset & { recallLast?: { correct: number; total: number } }): string {
  const last = formatRecall(d.recallLast);
  return last ? `${String(d.label)} ${last}` : String(d.label);
}

function makeRecallChart(): Chart<'line', ChartPoint[]> {
  return new Chart<'line', ChartPoint[]>(recallCanvas, {
    type: 'line',
    data: { datasets: [] },
    plugins: [marksPlugin],
    options: {
      animation: false,
      parsing: false,
      normalized: true,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      plugins: {
        legend: {
          position: 'top',
          align: 'start',
          labels: {
            usePointStyle: true,
            generateLabels: (c) =>
              (c.data.datasets as (LineDataset & { recallLast?: { correct: number; total: number } })[]).map((d, i) => ({
                text: recallLegendText(d),
                datasetIndex: i,
                fillStyle: String(d.borderColor),
                strokeStyle: String(d.borderColor),
                fontColor: theme.foreground,
                lineWidth: Number(d.borderWidth ?? 1),
                lineDash: (d.borderDash as number[] | undefined) ?? [],
                pointStyle: 'line',
                hidden: !c.isDatasetVisible(i),
                font: { family: theme.font, size: theme.fontSize },
              })),
          },
        },
        tooltip: {
          callbacks: {
            title: tooltipTitle,
            label: (item) => {
              const p = item.raw as RecallChartPoint;
              return `${String(item.dataset.label)}: ${p.t ? `${p.c}/${p.t} (${Math.round((100 * p.c) / p.t)}%)` : '—'}`;
            },
          },
        },
      },
      scales: {
        x: { type: 'linear', title: { display: true, text: xTitle() } },
        y: {
          type: 'linear',
          position: 'left',
          min: 0,
          max: 100,
          title: { display: true, text: 'recall' },
          ticks: { callback: (v) => `${String(v)}%`, stepSize: 25 },
          // The same width as the losses' axis: the two x axes then line up.
          afterFit: (scale) => {
            recallAxisWidth = scale.width;
            scale.width = Math.max(scale.width, Y_AXIS_MIN_WIDTH, chart?.chartArea ? chart.chartArea.left : 0);
          },
        },
      },
    },
  });
}

/** The marks drawn: the run's (a run's chart), each run's kept checkpoint (comparing). */
function currentMarks(): (ChartMark & { color: string })[] {
  if (mode === 'run') {
    const run = runs[0];
    return (run?.marks ?? []).map((m) => ({ ...m, color: m.kind === 'kept' ? theme.best : m.kind === 'eval-turn' ? theme.eval : theme.palette[0] }));
  }
  return runs.flatMap((run, i) => run.marks.filter((m) => m.kind === 'kept').map((m) => ({ ...m, color: theme.palette[i % theme.palette.length] })));
}

/** Vertical dashed lines at the marks; on the losses, with their labels. */
const marksPlugin: Plugin<'line'> = {
  id: 'mnemoMarks',
  afterDatasetsDraw(c) {
    const x = c.scales.x;
    const area = c.chartArea;
    if (!x || !area) return;
    const ctx = c.ctx;
    const labelled = c === chart && mode === 'run';
    currentMarks().forEach((m, k) => {
      const v = options.xAxis === 'step' ? m.step : m.epoch;
      if (v === null) return;
      const px = x.getPixelForValue(v);
      if (!Number.isFinite(px) || px < area.left - 1 || px > area.right + 1) return;
      ctx.save();
      ctx.strokeStyle = m.color;
      ctx.lineWidth = 1.5;
      ctx.setLineDash(m.kind === 'kept' ? [] : [5, 4]);
      ctx.beginPath();
      ctx.moveTo(px, area.top);
      ctx.lineTo(px, area.bottom);
      ctx.stroke();
      if (labelled) {
        ctx.setLineDash([]);
        ctx.font = `${theme.fontSize - 1}px ${theme.font}`;
        ctx.fillStyle = m.color;
        const right = px > area.left + area.width * 0.6;
        ctx.textAlign = right ? 'right' : 'left';
        ctx.textBaseline = 'top';
        ctx.fillText(m.label, px + (right ? -5 : 5), area.top + 4 + k * (theme.fontSize + 3));
      }
      ctx.restore();
    });
  },
};

function xTitle(): string {
  return options.xAxis === 'epoch' ? 'epoch' : 'step';
}

function tooltipTitle(items: TooltipItem<'line'>[]): string {
  const p = items[0]?.raw as ChartPoint | undefined;
  if (!p) return '';
  return `step ${p.s.toLocaleString('en-US')}${p.e !== null ? ` · epoch ${p.e.toFixed(3)}` : ''}`;
}

function tooltipLabel(item: TooltipItem<'line'>): string {
  const d = item.dataset as LineDataset;
  const p = item.raw as ChartPoint;
  return `${d.kind === 'best' ? (mode === 'run' ? 'best eval' : d.label) : d.label}: ${fmt(p.y)}`;
}

function makeChart(): Chart<'line', ChartPoint[]> {
  const c = new Chart<'line', ChartPoint[]>(canvas, {
    type: 'line',
    data: { datasets: [] },
    plugins: [marksPlugin],
    options: {
      animation: false,
      parsing: false,
      normalized: true,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      plugins: {
        decimation: { enabled: true, algorithm: 'min-max' },
        legend: {
          position: 'top',
          align: 'start',
          labels: { usePointStyle: true, generateLabels: (ch) => legendLabels(ch), filter: (item) => item.datasetIndex !== undefined && item.datasetIndex >= 0 },
          onClick: (_e, item, legend) => {
            const ch = legend.chart;
            const i = item.datasetIndex ?? -1;
            if (i < 0) return;
            const visible = !ch.isDatasetVisible(i);
            const sets = ch.data.datasets as LineDataset[];
            // In a comparison, one entry stands for all the lines of its run.
            const affected = mode === 'compare' ? sets.map((d, j) => (d.runIndex === sets[i].runIndex ? j : -1)).filter((j) => j >= 0) : [i];
            for (const j of affected) ch.setDatasetVisibility(j, visible);
            ch.update('none');
          },
        },
        tooltip: { callbacks: { title: tooltipTitle, label: tooltipLabel } },
      },
      scales: {
        x: { type: 'linear', title: { display: true, text: xTitle() } },
        // At least as wide as the recall panel's axis needs ("100%"), so the two plots line up.
        y: { type: 'linear', position: 'left', title: { display: true, text: 'loss' }, afterFit: (scale) => void (scale.width = Math.max(scale.width, Y_AXIS_MIN_WIDTH, recallAxisWidth)) },
        yLr: { type: 'linear', position: 'right', display: 'auto', grid: { drawOnChartArea: false }, title: { display: true, text: 'learning rate' }, ticks: { callback: (v) => fmt(Number(v)) } },
        yGrad: { type: 'linear', position: 'right', display: 'auto', grid: { drawOnChartArea: false }, title: { display: true, text: 'grad norm' } },
      },
    },
  });
  return c;
}

/** Colours, fonts and axis titles from the theme and options (a full redraw follows). */
function applyTheme(c: Chart<'line', ChartPoint[]>): void {
  const t = theme;
  const font = { family: t.font, size: t.fontSize };
  Chart.defaults.font.family = t.font;
  Chart.defaults.font.size = t.fontSize;
  Chart.defaults.color = t.foreground;
  const o = c.options;
  for (const [id, scale] of Object.entries(o.scales ?? {})) {
    if (!scale) continue;
    const s = scale as { ticks?: { color?: string; font?: object }; grid?: { color?: string }; border?: { color?: string }; title?: { color?: string; font?: object; text?: string } };
    s.ticks = { ...s.ticks, color: t.muted, font };
    s.grid = { ...s.grid, color: t.grid };
    s.border = { ...s.border, color: t.grid };
    s.title = { ...s.title, color: id === 'yLr' ? t.lr : id === 'yGrad' ? t.grad : t.foreground, font };
    if (id === 'x') s.title.text = xTitle();
  }
  if (o.plugins?.legend?.labels) o.plugins.legend.labels.color = t.foreground;
  if (o.plugins?.tooltip) {
    Object.assign(o.plugins.tooltip, { backgroundColor: withAlpha(t.background, 0.95), titleColor: t.foreground, bodyColor: t.foreground, borderColor: t.grid, borderWidth: 1, titleFont: font, bodyFont: font });
  }
}

function rebuild(): void {
  if (!chart) chart = makeChart();
  applyTheme(chart);
  chart.data.datasets = datasets();
  renderHeader();
  if (showRecallPanel()) {
    if (!recallChart) recallChart = makeRecallChart();
    applyTheme(recallChart);
  }
  if (recallChart) recallChart.data.datasets = showRecallPanel() ? recallDatasets() : [];
  draw();
}

/** The recall panel's x axis follows the losses' (same range, same left edge of the plot). */
function drawRecall(): void {
  if (!recallChart || !chart || recallPlot.hidden) return;
  const o = recallChart.options;
  const x = o.scales?.x as { min?: number; max?: number } | undefined;
  if (x) {
    x.min = chart.scales.x?.min;
    x.max = chart.scales.x?.max;
  }
  o.layout = { padding: { right: Math.max(0, chart.width - chart.chartArea.right) } };
  recallChart.update('none');
  // The recall axis needed more room than the losses' had: widen theirs (afterFit reads it) and line up again.
  if (recallChart.chartArea.left > chart.chartArea.left + 0.5) {
    chart.update('none');
    o.layout = { padding: { right: Math.max(0, chart.width - chart.chartArea.right) } };
    recallChart.update('none');
  }
}

function draw(): void {
  if (frame) {
    cancelAnimationFrame(frame);
    frame = 0;
  }
  if (!chart) return;
  const t = performance.now();
  chart.update('none');
  drawRecall();
  lastUpdateMs = performance.now() - t;
  updates++;
  recent.push(lastUpdateMs);
  if (recent.length > 1000) recent.splice(0, recent.length - 1000);
}

/** Live points: one draw per animation frame, however many messages came in it. */
function scheduleDraw(): void {
  if (!frame) {
    frame = requestAnimationFrame(() => {
      frame = 0;
      draw();
      renderHeader();
    });
  }
}

/** The series the current options show. */
function wanted(): SeriesWanted {
  const smoothed = options.smoothing > 0;
  if (mode === 'compare') return { raw: options.showTrain && !smoothed, smooth: options.showTrain && smoothed, lr: false, grad: false };
  return { raw: !smoothed || options.showRawLoss, smooth: smoothed, lr: options.showLr, grad: options.showGradNorm };
}

function setOptions(patch: Partial<ChartViewOptions>): void {
  const before = options;
  options = { ...options, ...patch };
  if (options.xAxis !== before.xAxis) for (const s of stores) s.setAxis(options.xAxis);
  if (options.smoothing !== before.smoothing) for (const s of stores) s.setSmoothing(options.smoothing);
  for (const s of stores) s.setWanted(wanted());
  syncControls();
  saveState();
  post({ type: 'options', options });
  rebuild();
}

// ---------------------------------------------------------------------------------------------
// Reports for the extension (tests, the benchmark, export)

function inkPixels(): number {
  const ctx = canvas.getContext('2d');
  if (!ctx || !canvas.width || !canvas.height) return 0;
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
  return n;
}

function stats(ink: boolean): ChartStats {
  if (frame) draw();
  const drawnPoints = chart ? chart.data.datasets.reduce((n, _d, i) => n + (chart?.getDatasetMeta(i).data.length ?? 0), 0) : 0;
  return {
    runs: runs.map((r, i) => ({ id: r.id, log: stores[i].logCount, eval: stores[i].evalCount, nonFinite: stores[i].nonFinite.length, recall: r.recall.length })),
    recallLegend: recallChart && !recallPlot.hidden ? (recallChart.data.datasets as LineDataset[]).map((d) => recallLegendText(d)) : [],
    marks: currentMarks().map((m) => m.label),
    drawnPoints,
    updates,
    lastUpdateMs,
    recentUpdateMs: [...recent],
    initMs: { ...initTimings },
    theme: theme.kind,
    lossColor: theme.loss,
    options,
    legend: (chart?.legend?.legendItems ?? []).map((i) => i.text),
    flags: flagTexts,
    title: title.textContent ?? '',
    status: status.textContent ?? '',
    cspViolations: [...violations],
    ...(ink ? { inkPixels: inkPixels() } : {}),
    canvas: { width: canvas.width, height: canvas.height },
  };
}

function png(): string {
  if (frame) draw();
  // The chart under a line saying what it is (the run, or the comparison, and where it stands).
  const scale = canvas.width / Math.max(1, canvas.clientWidth);
  const band = Math.round((theme.fontSize * 1.3 + 16) * scale);
  const out = document.createElement('canvas');
  const withRecall = !recallPlot.hidden && recallCanvas.height > 0;
  out.width = canvas.width;
  out.height = canvas.height + band + (withRecall ? recallCanvas.height : 0);
  const ctx = out.getContext('2d');
  if (!ctx) throw new Error('no 2D context');
  ctx.fillStyle = theme.background;
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.textBaseline = 'middle';
  ctx.fillStyle = theme.foreground;
  ctx.font = `600 ${Math.round(theme.fontSize * 1.15 * scale)}px ${theme.font}`;
  const head = title.textContent ?? '';
  ctx.fillText(head, 8 * scale, band / 2);
  const headWidth = ctx.measureText(head).width;
  ctx.fillStyle = theme.muted;
  ctx.font = `${Math.round(theme.fontSize * scale)}px ${theme.font}`;
  ctx.fillText(status.textContent ?? '', 8 * scale + headWidth + 12 * scale, band / 2);
  ctx.drawImage(canvas, 0, band);
  if (withRecall) ctx.drawImage(recallCanvas, 0, band + canvas.height);
  return out.toDataURL('image/png');
}

function cspProbe(requestId: number): void {
  // An inline style element: forbidden by the page's policy, so it must be reported.
  const timer = setTimeout(() => {
    probe = undefined;
    post({ type: 'cspProbeResult', requestId, caught: false });
  }, 2000);
  probe = (description) => {
    clearTimeout(timer);
    probe = undefined;
    style.remove();
    post({ type: 'cspProbeResult', requestId, caught: true, description });
  };
  const style = document.createElement('style');
  style.textContent = '/* mnemo-csp-probe */ body { outline: 1px solid red; }';
  document.head.append(style);
}

// ---------------------------------------------------------------------------------------------
// Messages

window.addEventListener('message', (event: MessageEvent<ToWebview>) => {
  const m = event.data;
  try {
    switch (m.type) {
      case 'init': {
        mode = m.mode;
        runs = m.runs;
        missing = m.missing ?? [];
        compareSummary = m.summary ?? '';
        if (m.options) options = { ...options, ...m.options };
        const t0 = performance.now();
        stores = runs.map((r) => new RunStore(r, options.xAxis, options.smoothing, wanted()));
        initTimings.storesMs = performance.now() - t0;
        syncControls();
        saveState();
        rebuild();
        initTimings.drawMs = lastUpdateMs;
        initTimings.totalMs = performance.now() - t0;
        break;
      }
      case 'append': {
        const i = runs.findIndex((r) => r.id === m.runId);
        if (i < 0) break;
        runs[i].status = m.status;
        runs[i].badLines = m.badLines;
        runs[i].marks = m.marks;
        runs[i].recallNote = m.recallNote;
        const hadRecall = showRecallPanel();
        if (m.recall.length) {
          // A step measured again (a resumed stream) replaces the earlier point of its set.
          const fresh = new Set(m.recall.map((p) => `${p.set}@${p.step}`));
          runs[i].recall = [...runs[i].recall.filter((p) => !fresh.has(`${p.set}@${p.step}`)), ...m.recall].sort((a, b) => a.step - b.step);
        }
        const bestBefore = stores[i].best;
        const how = stores[i].append(m.log, m.eval, m.nonFinite);
        if (m.recall.length || hadRecall !== showRecallPanel()) {
          renderHeader();
          if (showRecallPanel() && !recallChart) {
            recallChart = makeRecallChart();
            applyTheme(recallChart);
          }
          if (recallChart) recallChart.data.datasets = showRecallPanel() ? recallDatasets() : [];
        }
        if (chart && (how === 'rebuilt' || (stores[i].best && !bestBefore))) chart.data.datasets = datasets();
        else if (chart && stores[i].best !== bestBefore) {
          // A new best eval point: the marker moved by itself (same array), its legend entry says where.
          for (const d of chart.data.datasets as LineDataset[]) if (d.kind === 'best' && d.runIndex === i) d.label = bestLabel(i);
        }
        scheduleDraw();
        break;
      }
      case 'status': {
        const i = runs.findIndex((r) => r.id === m.runId);
        if (i < 0) break;
        Object.assign(runs[i], { status: m.status, badLines: m.badLines, firstBadLine: m.firstBadLine, marks: m.marks, advice: m.advice, recallNote: m.recallNote });
        renderHeader();
        // A mark may have come (the run ended and kept a checkpoint, a probe's advice): draw it.
        scheduleDraw();
        break;
      }
      case 'setOptions':
        setOptions(m.options);
        break;
      case 'query':
        post({ type: 'queryResult', requestId: m.requestId, stats: stats(!!m.ink) });
        break;
      case 'png':
        post({ type: 'pngResult', requestId: m.requestId, dataUrl: png() });
        break;
      case 'cspProbe':
        cspProbe(m.requestId);
        break;
    }
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});

// The theme: VS Code swaps the body's classes and the variables on <html> when it changes.
const observer = new MutationObserver(() => {
  const next = readTheme();
  if (JSON.stringify(next) === JSON.stringify(theme)) return;
  theme = next;
  if (chart) rebuild();
});
observer.observe(document.body, { attributes: true, attributeFilter: ['class'] });
observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });

syncControls();
post({ type: 'ready' });
