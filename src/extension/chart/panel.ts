import * as vscode from 'vscode';
import { CHART_VIEW_TYPE, type ChartPanelState, type ChartRun, type ChartStats, type ChartViewOptions, type FromWebview, type RunStatus, type ToWebview } from '../../shared/chart-protocol';
import type { Ctx } from '../ctx';
import { renderWebviewHtml, webviewOptions } from '../webview';
import { describeDifferences } from './compare';
import { toCsv } from './export';
import type { RunSnapshot, RunsFeed } from './feed';
import { adviseRun } from '../../core/training';
import { buildColumns, recallNote, runMarks, SeriesBuilder, type Columns } from './series';

/** How long a question to the webview may take before it counts as unanswered. */
const REQUEST_TIMEOUT_MS = 15_000;

function statusOf(snap: RunSnapshot): RunStatus {
  const s = snap.summary;
  return { state: s.state, scriptState: s.scriptState, step: s.step, totalSteps: s.totalSteps, epoch: s.epoch, error: s.error?.message.split('\n')[0] };
}

function marksOf(snap: RunSnapshot, builder: SeriesBuilder | undefined) {
  return runMarks(snap.record, snap.summary.kept, (step) => builder?.epochOf(step) ?? null);
}

function statusMessage(runId: string, snap: RunSnapshot, builder: SeriesBuilder | undefined, recallPoints: number): ToWebview {
  return {
    type: 'status',
    runId,
    status: statusOf(snap),
    badLines: snap.bad.length,
    firstBadLine: firstBad(snap),
    marks: marksOf(snap, builder),
    advice: snap.record.advice?.reason,
    recallNote: recallNote(snap.record, recallPoints, snap.events.some((e) => e.event === 'log')),
  };
}

function firstBad(snap: RunSnapshot): string | undefined {
  const b = snap.bad[0];
  return b && `line ${b.line}: ${b.reason}`;
}

/** The key of a panel: the runs it shows, in order. */
export function panelKey(runIds: readonly string[]): string {
  return runIds.join('\n');
}

/**
 * One chart panel: a run, or several compared. The webview asks for its data (`ready`) whenever
 * its content loads (first open, shown again after being hidden, restored after a reload); the
 * panel answers with every point so far, then forwards the runs' new points as RunsModel reports
 * them. It also answers questions from tests and the export commands by a message round trip.
 */
export class ChartPanel implements vscode.Disposable {
  private static readonly open = new Map<string, ChartPanel>();
  /** The chart panel focused last (export commands act on it). */
  private static lastActive: ChartPanel | undefined;

  readonly key: string;
  /** CSP violations the webview reported (none expected). */
  readonly cspViolations: string[] = [];
  /** Errors the webview reported. */
  readonly webviewErrors: string[] = [];
  /** View options as the webview last reported them. */
  viewOptions: ChartViewOptions | undefined;
  private builders = new Map<string, SeriesBuilder>();
  /** Recall points of each run sent so far (for the note saying none came yet). */
  private recallSent = new Map<string, number>();
  /** Events of each run already sent to the webview (to notice a metrics file that started over). */
  private sent = new Map<string, number>();
  private ready = false;
  private subscribed: RunsFeed | undefined;
  private readyWaiters: (() => void)[] = [];
  private nextRequest = 1;
  private readonly pending = new Map<number, { resolve: (m: FromWebview) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly disposables: vscode.Disposable[] = [];
  private disposed = false;
  private readonly disposedEmitter = new vscode.EventEmitter<void>();
  readonly onDidDispose = this.disposedEmitter.event;

  private constructor(
    private readonly ctx: Ctx,
    readonly panel: vscode.WebviewPanel,
    readonly runIds: readonly string[],
    private readonly feed: () => RunsFeed | undefined,
  ) {
    this.key = panelKey(runIds);
    ChartPanel.open.set(this.key, this);
    ChartPanel.lastActive = this;
    panel.webview.options = webviewOptions(ctx.extension.extensionUri);
    panel.iconPath = vscode.Uri.joinPath(ctx.extension.extensionUri, 'media', 'mnemo.svg');
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((m: FromWebview) => this.receive(m)),
      panel.onDidChangeViewState((e) => {
        if (e.webviewPanel.active) ChartPanel.lastActive = this;
        // A hidden webview loses its content and says `ready` again when shown.
        if (!e.webviewPanel.visible) this.ready = false;
      }),
    );
    this.subscribe();
    panel.title = this.title();
    panel.webview.html = renderWebviewHtml(panel.webview, ctx.extension.extensionUri, { title: panel.title, scripts: ['dist/webview/chart.js'], styles: ['dist/webview/chart.css'] });
  }

  /** Opens (or shows again) the chart of these runs. */
  static show(ctx: Ctx, runIds: readonly string[], feed: () => RunsFeed | undefined): ChartPanel {
    const existing = ChartPanel.open.get(panelKey(runIds));
    if (existing) {
      existing.panel.reveal(undefined, false);
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(CHART_VIEW_TYPE, 'Chart', { viewColumn: vscode.ViewColumn.Active, preserveFocus: false }, webviewOptions(ctx.extension.extensionUri));
    return new ChartPanel(ctx, panel, runIds, feed);
  }

  /** Takes over a panel VS Code restored after a reload (the serializer). */
  static revive(ctx: Ctx, panel: vscode.WebviewPanel, state: ChartPanelState | undefined, feed: () => RunsFeed | undefined): ChartPanel {
    const ids = Array.isArray(state?.runIds) ? state.runIds.filter((s): s is string => typeof s === 'string') : [];
    const existing = ChartPanel.open.get(panelKey(ids));
    if (existing && existing.panel !== panel) {
      // The same chart is already open: one panel per run (or comparison) is enough.
      panel.dispose();
      return existing;
    }
    return new ChartPanel(ctx, panel, ids, feed);
  }

  /** The panel an export command acts on: the active chart, else the last one focused. */
  static current(): ChartPanel | undefined {
    for (const p of ChartPanel.open.values()) if (p.panel.active) return p;
    return ChartPanel.lastActive && !ChartPanel.lastActive.disposed ? ChartPanel.lastActive : undefined;
  }

  static find(runIds: readonly string[]): ChartPanel | undefined {
    return ChartPanel.open.get(panelKey(runIds));
  }

  static all(): ChartPanel[] {
    return [...ChartPanel.open.values()];
  }

  get mode(): 'run' | 'compare' {
    return this.runIds.length > 1 ? 'compare' : 'run';
  }

  private title(): string {
    const feed = this.feed();
    const names = this.runIds.map((id) => feed?.get(id)?.record.label || id);
    if (names.length <= 1) return `Chart: ${names[0] ?? 'run'}`;
    const joined = names.join(', ');
    return `Compare: ${joined.length > 48 ? `${joined.slice(0, 47)}…` : joined}`;
  }

  private post(m: ToWebview): void {
    if (this.disposed) return;
    void this.panel.webview.postMessage(m);
  }

  /** Follows the runs' stream (again when the feed appears late: the training feature activated after this panel). */
  private subscribe(): void {
    const feed = this.feed();
    if (!feed || feed === this.subscribed) return;
    this.subscribed = feed;
    this.disposables.push(
      feed.onDidAppend((e) => {
        if (!this.ready || !this.runIds.includes(e.runId)) return;
        const builder = this.builders.get(e.runId);
        const snap = feed.get(e.runId);
        if (!builder || !snap) return this.sendInit();
        // recall.jsonl came after the chart opened (a run seen while setting up): draw anew, graded against it.
        if (!builder.questions && snap.recallQuestions && e.events.some((x) => x.event === 'recall')) return this.sendInit();
        this.sent.set(e.runId, (this.sent.get(e.runId) ?? 0) + e.events.length);
        const cols = builder.add(e.events);
        const recallPoints = (this.recallSent.get(e.runId) ?? 0) + cols.recall.length;
        this.recallSent.set(e.runId, recallPoints);
        if (cols.log.step.length || cols.eval.step.length || cols.nonFinite.length || cols.recall.length) {
          const note = recallNote(snap.record, recallPoints, snap.events.some((x) => x.event === 'log'));
          this.post({ type: 'append', runId: e.runId, log: cols.log, eval: cols.eval, nonFinite: cols.nonFinite, recall: cols.recall, marks: marksOf(snap, builder), recallNote: note, badLines: snap.bad.length, status: statusOf(snap) });
        } else {
          this.post(statusMessage(e.runId, snap, builder, recallPoints));
        }
      }),
      feed.onDidChange((id) => {
        if (!this.ready) return;
        if (id === undefined) {
          // The list changed: a run of this chart may have appeared or gone.
          const known = new Set(feed.list().map((r) => r.id));
          const had = new Set(this.builders.keys());
          if (this.runIds.some((r) => known.has(r) !== had.has(r))) this.sendInit();
          return;
        }
        if (!this.runIds.includes(id)) return;
        const snap = feed.get(id);
        if (!snap) return this.sendInit();
        // The metrics file started over (a run made again under the same id): draw it anew.
        if (snap.events.length < (this.sent.get(id) ?? 0)) return this.sendInit();
        this.post(statusMessage(id, snap, this.builders.get(id), this.recallSent.get(id) ?? 0));
        this.panel.title = this.title();
      }),
    );
  }

  /** Every point of every run, from the runs' snapshots. */
  private sendInit(): void {
    const feed = this.feed();
    const snaps = this.runIds.map((id) => ({ id, snap: feed?.get(id) }));
    const found = snaps.filter((s): s is { id: string; snap: RunSnapshot } => !!s.snap);
    const diff = describeDifferences(found.map((s) => s.snap.record));
    this.builders = new Map();
    this.sent = new Map();
    this.recallSent = new Map();
    const runs: ChartRun[] = found.map(({ id, snap }, i) => {
      const builder = new SeriesBuilder(snap.recallQuestions);
      this.builders.set(id, builder);
      this.sent.set(id, snap.events.length);
      const cols = builder.add(snap.events);
      this.recallSent.set(id, cols.recall.length);
      this.adviseLater(snap);
      return {
        id,
        name: snap.record.label || id,
        settings: diff.settings[i],
        dataHint: diff.dataHints[i],
        status: statusOf(snap),
        log: cols.log,
        eval: cols.eval,
        nonFinite: cols.nonFinite,
        recall: cols.recall,
        marks: marksOf(snap, builder),
        recallNote: recallNote(snap.record, cols.recall.length, cols.log.step.length > 0),
        advice: snap.record.advice?.reason,
        badLines: snap.bad.length,
        firstBadLine: firstBad(snap),
      };
    });
    const missing = snaps.filter((s) => !s.snap).map((s) => s.id);
    if (missing.length) this.ctx.log.warn(`Chart: run${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not found in runs/.`);
    this.post({ type: 'init', mode: this.mode, runs, missing, summary: diff.summary });
    this.panel.title = this.title();
  }

  /** A Find Epochs probe that ended without its advice (followed by nobody, or an older Mnemo): advise now; run.json changes and the chart follows. */
  private adviseLater(snap: RunSnapshot): void {
    const r = snap.record;
    const project = this.ctx.project;
    if (r.purpose !== 'find-epochs' || r.advice || r.state === 'running' || r.state === 'setting_up' || !project) return;
    try {
      adviseRun(project, r.id);
    } catch (err) {
      this.ctx.log.warn(`Find Epochs: could not advise from run ${r.id}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private receive(m: FromWebview): void {
    switch (m.type) {
      case 'ready':
        this.ready = true;
        this.subscribe();
        this.sendInit();
        for (const w of this.readyWaiters.splice(0)) w();
        break;
      case 'options':
        this.viewOptions = m.options;
        break;
      case 'export':
        void vscode.commands.executeCommand(m.format === 'png' ? 'mnemo.training.exportChartPng' : 'mnemo.training.exportChartCsv', { runIds: this.runIds });
        break;
      case 'trainWithAdvice':
        void vscode.commands.executeCommand('mnemo.training.trainWithAdvice', this.runIds[0]);
        break;
      case 'cspViolation':
        this.cspViolations.push(m.description);
        this.ctx.log.warn(`Chart webview: Content-Security-Policy violation: ${m.description}`);
        break;
      case 'error':
        this.webviewErrors.push(m.message);
        this.ctx.log.error(`Chart webview: ${m.message}`);
        break;
      case 'queryResult':
      case 'pngResult':
      case 'cspProbeResult': {
        const p = this.pending.get(m.requestId);
        if (p) {
          clearTimeout(p.timer);
          this.pending.delete(m.requestId);
          p.resolve(m);
        }
        break;
      }
    }
  }

  /** Resolves once the webview has loaded and been sent its data. */
  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  private async request<T extends FromWebview['type']>(make: (requestId: number) => ToWebview, answer: T): Promise<Extract<FromWebview, { type: T }>> {
    // A hidden webview has no page to answer: show the chart (without taking the focus).
    if (!this.panel.visible) this.panel.reveal(undefined, true);
    const requestId = this.nextRequest++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new Error(`The chart did not answer within ${REQUEST_TIMEOUT_MS / 1000} s.`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(requestId, { resolve: (m) => (m.type === answer ? resolve(m as Extract<FromWebview, { type: T }>) : reject(new Error(`unexpected ${m.type}`))), reject, timer });
      void this.whenReady().then(() => this.post(make(requestId)));
    });
  }

  /** What the webview holds and drew (point counts, theme, CSP violations); `ink` counts drawn pixels too. */
  async stats(ink = false): Promise<ChartStats> {
    return (await this.request((requestId) => ({ type: 'query', requestId, ink }), 'queryResult')).stats;
  }

  /** The chart as a PNG data URL, on the editor's background. */
  async pngDataUrl(): Promise<string> {
    return (await this.request((requestId) => ({ type: 'png', requestId }), 'pngResult')).dataUrl;
  }

  /** Makes the webview break its own CSP once, to show that violations are caught and reported. */
  async cspProbe(): Promise<{ caught: boolean; description?: string }> {
    const r = await this.request((requestId) => ({ type: 'cspProbe', requestId }), 'cspProbeResult');
    return { caught: r.caught, description: r.description };
  }

  /** Changes the view options (as the controls do). */
  setOptions(options: Partial<ChartViewOptions>): void {
    this.post({ type: 'setOptions', options });
  }

  /** The runs' data as CSV, from the runs' current snapshots. */
  csv(): string {
    const feed = this.feed();
    const runs: { id: string; columns: Columns }[] = [];
    for (const id of this.runIds) {
      const snap = feed?.get(id);
      if (snap) runs.push({ id, columns: buildColumns(snap.events, snap.recallQuestions) });
    }
    return toCsv(runs);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (ChartPanel.open.get(this.key) === this) ChartPanel.open.delete(this.key);
    if (ChartPanel.lastActive === this) ChartPanel.lastActive = undefined;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error('The chart was closed.'));
    }
    this.pending.clear();
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
    this.disposedEmitter.fire();
    this.disposedEmitter.dispose();
  }
}
