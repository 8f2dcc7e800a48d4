import { writeFileSync } from 'node:fs';
import { basename, isAbsolute, join } from 'node:path';
import * as vscode from 'vscode';
import { MnemoError } from '../../core/errors';
import type { RunRecord } from '../../core/training/protocol';
import { CHART_VIEW_TYPE, type ChartPanelState } from '../../shared/chart-protocol';
import type { Feature } from '../commands';
import type { Ctx } from '../ctx';
import { formatSetting } from './compare';
import { decodePngDataUrl, toCsv } from './export';
import { runsFeed, type RunsFeed } from './feed';
import { ChartPanel } from './panel';
import { buildColumns } from './series';
import { RunStatusItem } from './status';

export { ChartPanel } from './panel';

export const COMMANDS = {
  openChart: 'mnemo.training.openChart',
  compareRuns: 'mnemo.training.compareRuns',
  exportChartPng: 'mnemo.training.exportChartPng',
  exportChartCsv: 'mnemo.training.exportChartCsv',
} as const;

/** Arguments of the export commands, for scripts and tests: which chart, and where to write (no dialog). */
export interface ExportArgs {
  runIds?: string[];
  /** Absolute, or relative to the project folder. */
  path?: string;
}

function requireFeed(): RunsFeed {
  const feed = runsFeed();
  if (!feed) throw new MnemoError('No Mnemo project is open, so there are no runs to chart.', 'Open a project folder (with mnemo.json), or create one with "Mnemo: New Project".');
  return feed;
}

/** A run id from whatever a caller passes: the id, a Runs view item, `{ runId }`, or the run's folder. */
export function runIdOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg || undefined;
  if (arg instanceof vscode.Uri) return basename(arg.fsPath.replace(/[\\/](run\.json|metrics\.jsonl)$/, ''));
  if (arg && typeof arg === 'object') {
    const a = arg as { runId?: unknown; id?: unknown; record?: { id?: unknown }; snapshot?: { record?: { id?: unknown } } };
    for (const v of [a.runId, a.snapshot?.record?.id, a.record?.id, a.id]) if (typeof v === 'string' && v) return v;
  }
  return undefined;
}

function describeRun(r: RunRecord): vscode.QuickPickItem & { id: string } {
  const cfg = r.config ?? {};
  const parts = [r.state, 'learning_rate' in cfg ? `lr ${formatSetting('learning_rate', cfg.learning_rate)}` : '', 'batch_size' in cfg ? `bs ${formatSetting('batch_size', cfg.batch_size)}` : '', r.dataset ? `${r.dataset.train.rows.toLocaleString('en-US')} rows` : ''].filter(Boolean);
  return { id: r.id, label: r.label || r.id, description: r.label ? r.id : undefined, detail: `${parts.join(' · ')} · ${r.created.slice(0, 16).replace('T', ' ')}` };
}

function requireRun(feed: RunsFeed, id: string): void {
  if (!feed.list().some((r) => r.id === id)) throw new MnemoError(`Run "${id}" is not in runs/.`, 'It may have been deleted or renamed; the Runs view lists the runs there are.');
}

async function openChart(ctx: Ctx, arg?: unknown): Promise<ChartPanel | undefined> {
  const feed = requireFeed();
  let id = runIdOf(arg);
  if (!id) {
    const runs = feed.list();
    if (!runs.length) throw new MnemoError('There are no training runs yet.', 'Start one with "Mnemo: Start Training"; its chart fills in as it trains.');
    const active = feed.active()?.record.id;
    const items = runs.map(describeRun).sort((a, b) => Number(b.id === active) - Number(a.id === active));
    id = (await vscode.window.showQuickPick(items, { title: 'Open the chart of a run', matchOnDescription: true, matchOnDetail: true }))?.id;
    if (!id) return undefined;
  }
  requireRun(feed, id);
  return ChartPanel.show(ctx, [id], runsFeed);
}

async function compareRuns(ctx: Ctx, arg?: unknown, selected?: unknown): Promise<ChartPanel | undefined> {
  const feed = requireFeed();
  // From the Runs view with several runs selected, VS Code passes the clicked item and the selection.
  let ids = (Array.isArray(selected) ? selected : Array.isArray(arg) ? arg : (arg as { runIds?: unknown })?.runIds && Array.isArray((arg as { runIds: unknown[] }).runIds) ? (arg as { runIds: unknown[] }).runIds : [])
    .map(runIdOf)
    .filter((x): x is string => !!x);
  if (ids.length < 2) {
    const runs = feed.list();
    if (runs.length < 2) throw new MnemoError(`Comparing needs at least two runs; this project has ${runs.length}.`, 'Train another run (change one setting, e.g. the learning rate), then compare.');
    const items = runs.map((r) => ({ ...describeRun(r), picked: ids.includes(r.id) }));
    const picked = await vscode.window.showQuickPick(items, { title: 'Compare runs: pick two or more', canPickMany: true, matchOnDescription: true, matchOnDetail: true });
    if (!picked) return undefined;
    if (picked.length < 2) {
      void vscode.window.showInformationMessage('Mnemo: pick at least two runs to compare.');
      return undefined;
    }
    ids = picked.map((p) => p.id);
  }
  ids = [...new Set(ids)];
  for (const id of ids) requireRun(feed, id);
  return ChartPanel.show(ctx, ids, runsFeed);
}

/** The chart an export command acts on: the runs named, else the active (or last focused) chart. */
function exportTarget(ctx: Ctx, args: ExportArgs | undefined): ChartPanel {
  if (args?.runIds?.length) {
    const feed = requireFeed();
    for (const id of args.runIds) requireRun(feed, id);
    // An open chart is used as it is (its options, its size); questions to it show it if hidden.
    return ChartPanel.find(args.runIds) ?? ChartPanel.show(ctx, args.runIds, runsFeed);
  }
  const panel = ChartPanel.current();
  if (!panel) throw new MnemoError('No chart is open to export.', 'Open a run\'s chart first ("Mnemo: Open Chart"), then export it.');
  return panel;
}

function exportArgs(arg: unknown): ExportArgs | undefined {
  if (typeof arg === 'string') return { path: arg };
  if (arg && typeof arg === 'object' && !(arg instanceof vscode.Uri)) return arg as ExportArgs;
  if (arg instanceof vscode.Uri) return { path: arg.fsPath };
  return undefined;
}

/** Where to write: the path given, else a save dialog in the run's folder. Undefined when the dialog is cancelled. */
async function destination(ctx: Ctx, runIds: readonly string[], ext: 'png' | 'csv', given: string | undefined): Promise<string | undefined> {
  const root = ctx.project?.root ?? ctx.workspaceRoot;
  if (given) return isAbsolute(given) || !root ? given : join(root, given);
  const runsDir = ctx.project?.runsDir;
  const name = runIds.length === 1 ? `${runIds[0]}-chart.${ext}` : `compare-${runIds.join('-').slice(0, 80)}.${ext}`;
  const dir = runsDir ? (runIds.length === 1 ? join(runsDir, runIds[0]) : runsDir) : root;
  const uri = await vscode.window.showSaveDialog({
    title: ext === 'png' ? 'Save the chart as PNG' : 'Save the chart data as CSV',
    defaultUri: dir ? vscode.Uri.file(join(dir, name)) : undefined,
    filters: ext === 'png' ? { 'PNG image': ['png'] } : { CSV: ['csv'] },
  });
  return uri?.fsPath;
}

function announce(ctx: Ctx, what: string, path: string, quiet: boolean): void {
  ctx.log.info(`${what} saved to ${path}`);
  if (quiet) return;
  void vscode.window.showInformationMessage(`Mnemo: ${what} saved to ${path}`, 'Open').then((c) => {
    if (c === 'Open') void vscode.commands.executeCommand('vscode.open', vscode.Uri.file(path));
  });
}

async function exportPng(ctx: Ctx, arg?: unknown): Promise<string | undefined> {
  const args = exportArgs(arg);
  const panel = exportTarget(ctx, args);
  const path = await destination(ctx, panel.runIds, 'png', args?.path);
  if (!path) return undefined;
  const bytes = decodePngDataUrl(await panel.pngDataUrl());
  writeFileSync(path, bytes);
  announce(ctx, 'Chart', path, !!args?.path);
  return path;
}

async function exportCsv(ctx: Ctx, arg?: unknown): Promise<string | undefined> {
  const args = exportArgs(arg);
  const feed = requireFeed();
  const runIds = args?.runIds?.length ? args.runIds : exportTarget(ctx, args).runIds;
  const runs = runIds.map((id) => {
    const snap = feed.get(id);
    if (!snap) throw new MnemoError(`Run "${id}" is not in runs/.`, 'It may have been deleted or renamed.');
    return { id, columns: buildColumns(snap.events, snap.recallQuestions) };
  });
  const path = await destination(ctx, runIds, 'csv', args?.path);
  if (!path) return undefined;
  writeFileSync(path, toCsv(runs));
  announce(ctx, 'Chart data', path, !!args?.path);
  return path;
}

export const chartFeature: Feature = {
  name: 'chart',
  commands: [
    { id: COMMANDS.openChart, run: openChart },
    { id: COMMANDS.compareRuns, run: compareRuns },
    { id: COMMANDS.exportChartPng, run: exportPng },
    { id: COMMANDS.exportChartCsv, run: exportCsv },
  ],
  activate(ctx) {
    // After a window reload VS Code brings chart tabs back with the state their webview kept.
    ctx.own(
      vscode.window.registerWebviewPanelSerializer(CHART_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel, state: unknown) => {
          ChartPanel.revive(ctx, panel, state as ChartPanelState | undefined, runsFeed);
        },
      }),
    );
    const status = ctx.own(new RunStatusItem(COMMANDS.openChart));
    status.attach(runsFeed());
    // The training feature may activate after this one: look again once every feature has.
    setTimeout(() => status.attach(runsFeed()), 0);
    ctx.own(ctx.onDidChangeProject(() => status.attach(runsFeed())));
    ctx.own({ dispose: () => ChartPanel.all().forEach((p) => p.dispose()) });
  },
};
