import * as vscode from 'vscode';
import { scriptStateLabel } from '../../core/training/protocol';
import { describeRecall } from '../../core/training/recall';
import type { RunSnapshot, RunsFeed } from './feed';

/** Redraws of the item at most this often while a run logs every few milliseconds. */
const THROTTLE_MS = 250;


function fmtLoss(v: number | null | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (v === null) return 'NaN';
  return v.toFixed(v >= 100 ? 0 : 3);
}

/** The item's text for a run: "$(graph-line) step 120/500 · loss 1.234 · training". */
export function statusText(snap: RunSnapshot): string {
  const s = snap.summary;
  const parts: string[] = [];
  if (s.step !== undefined) parts.push(`step ${s.step}${s.totalSteps ? `/${s.totalSteps}` : ''}`);
  const loss = fmtLoss(s.loss);
  if (loss) parts.push(`loss ${loss}`);
  // The status bar is narrow: the eval set's recall, else the held-out pairs'; the tooltip has both.
  const recall = s.recall && describeRecall(s.recall.eval ? { eval: s.recall.eval } : s.recall);
  if (recall) parts.push(recall);
  parts.push(s.state === 'running' ? (scriptStateLabel(s.scriptState) ?? 'running') : s.state === 'setting_up' ? 'setting up' : s.state);
  return `$(graph-line) ${parts.join(' · ')}`;
}

/**
 * The status bar item of the active run (the newest one setting up or running): its step, last
 * loss and state; a click opens its chart. Hidden while no run is active.
 */
export class RunStatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('mnemo.training.status', vscode.StatusBarAlignment.Left, 40);
  private readonly disposables: vscode.Disposable[] = [this.item];
  private feedSubs: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;
  private feed: RunsFeed | undefined;
  /** The run shown, if any (tests read it). */
  shownRunId: string | undefined;

  constructor(private readonly openChartCommand: string) {
    this.item.name = 'Mnemo Training';
  }

  /** Follows this feed (the training feature's model); again when the model is replaced. */
  attach(feed: RunsFeed | undefined): void {
    if (feed === this.feed) return;
    for (const d of this.feedSubs.splice(0)) d.dispose();
    this.feed = feed;
    if (feed) this.feedSubs.push(feed.onDidChange(() => this.schedule()), feed.onDidAppend(() => this.schedule()));
    this.update();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.update();
    }, THROTTLE_MS);
  }

  update(): void {
    const snap = this.feed?.active();
    if (!snap) {
      this.shownRunId = undefined;
      this.item.hide();
      return;
    }
    const { record, summary } = snap;
    this.shownRunId = record.id;
    this.item.text = statusText(snap);
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`**Mnemo run ${record.label ? `${record.label} (${record.id})` : record.id}**\n\n`);
    if (summary.evalLoss !== undefined) md.appendMarkdown(`last eval loss ${fmtLoss(summary.evalLoss)}`);
    if (summary.bestEvalLoss !== undefined && summary.bestEvalLoss !== null) md.appendMarkdown(` · best ${fmtLoss(summary.bestEvalLoss)}`);
    const recall = summary.recall && describeRecall(summary.recall);
    if (recall) md.appendMarkdown(`\n\n${recall}`);
    md.appendMarkdown(`\n\nClick to open its chart.`);
    this.item.tooltip = md;
    this.item.command = { command: this.openChartCommand, title: 'Open Chart', arguments: [record.id] };
    this.item.show();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const d of this.feedSubs.splice(0)) d.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
