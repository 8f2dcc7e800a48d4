import * as vscode from 'vscode';
import { SCRIPT_STATE_LABELS, type RunRecord } from '../../core/training/protocol';
import { describeRecall, formatKept } from '../../core/training/recall';
import { COMMANDS, runContextValue } from './ids';
import type { RunSnapshot } from './model';


/** "1h 02m", "3m 05s", "42s" */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

/** How long a run has run (or ran): from its start (or creation) to its end (or now). */
export function elapsedMs(snap: RunSnapshot, now = Date.now()): number {
  const from = Date.parse(snap.summary.startedAt ?? snap.record.created);
  const to = snap.summary.endedAt ? Date.parse(snap.summary.endedAt) : now;
  return Number.isFinite(from) && Number.isFinite(to) ? to - from : 0;
}

function loss(x: number | null | undefined): string | undefined {
  if (x === undefined) return undefined;
  if (x === null) return 'NaN';
  // Memorization drives losses far below 0.001: keep three significant digits there.
  return Math.abs(x) >= 0.01 ? x.toFixed(Math.abs(x) >= 100 ? 0 : 3) : x === 0 ? '0' : x.toPrecision(3);
}

/** What a run is doing, in words: "setting up", "training step 40/100", "evaluating", "done", "failed", "cancelled". */
export function describeState(snap: RunSnapshot): string {
  const s = snap.summary;
  const steps = s.step !== undefined ? `step ${s.step}${s.totalSteps ? `/${s.totalSteps}` : ''}` : s.totalSteps ? `step 0/${s.totalSteps}` : undefined;
  switch (s.state) {
    case 'setting_up':
      return 'setting up';
    case 'running':
      if (s.scriptState === 'evaluating') return steps ? `evaluating at ${steps}` : 'evaluating';
      if (s.scriptState === 'recall') return steps ? `measuring recall at ${steps}` : 'measuring recall';
      if (s.scriptState === 'training' || (!s.scriptState && steps) || (s.scriptState === 'starting' && steps)) return `training ${steps ?? ''}`.trim();
      return s.scriptState ? SCRIPT_STATE_LABELS[s.scriptState] : 'starting';
    case 'done':
      return steps ? `done · ${steps}` : 'done';
    case 'failed':
      return 'failed';
    case 'cancelled':
      return steps ? `cancelled at ${steps}` : 'cancelled';
  }
}

/** Where a run runs, in words: "local" or "gpu-box (alice@10.0.0.5:22)". */
export function describeTarget(record: RunRecord): string {
  const t = record.target;
  if (t.kind === 'local') return 'this machine';
  const address = `${t.user}@${t.hostname}${t.port && t.port !== 22 ? `:${t.port}` : ''}`;
  return t.host && t.host !== t.hostname ? `${t.host} (${address})` : address;
}

const ICONS: Record<RunSnapshot['summary']['state'], vscode.ThemeIcon> = {
  setting_up: new vscode.ThemeIcon('loading~spin'),
  running: new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('charts.blue')),
  done: new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
  cancelled: new vscode.ThemeIcon('circle-slash'),
};

/** Config keys shown in a run's tooltip, a line per group, with their names as a person reads them. */
const CONFIG_LINES: [string, string][][] = [
  [['model', 'model']],
  [
    ['method', 'method'],
    ['lora_r', 'LoRA r'],
    ['learning_rate', 'learning rate'],
    ['lr_scheduler', 'scheduler'],
  ],
  [
    ['epochs', 'epochs'],
    ['batch_size', 'batch size'],
    ['grad_accum', 'gradient accumulation'],
    ['max_length', 'max length'],
  ],
  [
    ['eval_steps', 'eval every'],
    ['max_steps', 'max steps'],
    ['seed', 'seed'],
  ],
];

/** One run of the project. */
export class RunNode {
  readonly kind = 'run';
  constructor(readonly snapshot: RunSnapshot) {}

  get id(): string {
    return this.snapshot.record.id;
  }

  toTreeItem(now = Date.now()): vscode.TreeItem {
    const snap = this.snapshot;
    const { record, summary } = snap;
    const t = new vscode.TreeItem(record.label ? `${record.label}` : record.id, vscode.TreeItemCollapsibleState.None);
    t.id = `run:${record.id}`;
    const parts = [describeState(snap), formatElapsed(elapsedMs(snap, now))];
    const l = loss(summary.loss);
    if (l) parts.push(`loss ${l}`);
    const e = loss(summary.evalLoss);
    if (e) parts.push(`eval ${e}`);
    const r = summary.recall && describeRecall(summary.recall);
    if (r) parts.push(r);
    if (record.advice) parts.push(`advice: ${record.advice.epochs} epoch${record.advice.epochs > 1 ? 's' : ''}`);
    if (record.state === 'failed' && summary.error) parts.push(summary.error.message.split('\n')[0].slice(0, 80));
    t.description = parts.join(' · ');
    t.iconPath = ICONS[summary.state];
    t.contextValue = runContextValue(record.state, record.target.kind);
    t.tooltip = tooltip(snap, now);
    t.command = { command: COMMANDS.openChart, title: 'Open Chart', arguments: [record.id] };
    return t;
  }
}

function tooltip(snap: RunSnapshot, now: number): vscode.MarkdownString {
  const { record, summary } = snap;
  const md = new vscode.MarkdownString();
  md.appendMarkdown(`**${escape(record.label ?? record.id)}** · ${escape(describeState(snap))} · ${formatElapsed(elapsedMs(snap, now))}\n\n`);
  if (record.label) md.appendMarkdown(`run \`${record.id}\`  \n`);
  md.appendMarkdown(`on ${escape(describeTarget(record))}`);
  if (record.target.kind === 'ssh') md.appendMarkdown(`, in \`${record.target.remoteDir}\``);
  md.appendMarkdown('\n\n');
  const shown = (k: string) => record.config[k] !== undefined && record.config[k] !== null && !(k === 'max_steps' && record.config[k] === -1) && !(k === 'lora_r' && record.config.method === 'full');
  const rows = CONFIG_LINES.map((line) => line.filter(([k]) => shown(k)).map(([k, name]) => `${name} \`${formatValue(record.config[k])}\``).join(' · ')).filter(Boolean);
  if (rows.length) md.appendMarkdown(rows.join('  \n') + '\n\n');
  if (record.dataset) md.appendMarkdown(`dataset: ${record.dataset.train.rows} train rows${record.dataset.test ? `, ${record.dataset.test.rows} test rows` : ''}\n\n`);
  const losses = [summary.loss !== undefined ? `loss ${loss(summary.loss)}` : '', summary.evalLoss !== undefined ? `eval loss ${loss(summary.evalLoss)}` : '', summary.bestEvalLoss !== undefined && summary.bestEvalLoss !== null ? `best eval loss ${loss(summary.bestEvalLoss)}` : ''].filter(Boolean);
  if (losses.length) md.appendMarkdown(losses.join(' · ') + '\n\n');
  const recall = summary.recall && describeRecall(summary.recall);
  if (recall) md.appendMarkdown(`${escape(recall)}${summary.recall?.eval?.regraded === false || summary.recall?.test?.regraded === false ? ' (as the script graded it)' : ''}\n\n`);
  else if (record.recall && !record.recall.eval && !record.recall.test) md.appendMarkdown('no recall measured: no eval questions with answers and no held-out pairs\n\n');
  const kept = formatKept(summary.kept);
  if (kept) md.appendMarkdown(`kept checkpoint: ${escape(kept)}\n\n`);
  if (record.advice) md.appendMarkdown(`**Find Epochs:** ${escape(record.advice.reason)}\n\n`);
  md.appendMarkdown(`created ${new Date(record.created).toLocaleString()}`);
  if (summary.endedAt) md.appendMarkdown(`, ended ${new Date(summary.endedAt).toLocaleString()}`);
  if (record.downloaded) md.appendMarkdown(' · outputs downloaded');
  if (summary.error) md.appendMarkdown(`\n\n**${escape(summary.error.message)}**${summary.error.hint ? `  \n${escape(summary.error.hint)}` : ''}`);
  return md;
}

function formatValue(v: unknown): string {
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
