import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { watchTree } from '../../core/watch';
import { MetricsReader } from '../../core/training/metrics';
import { RUN_FILES, type BadLine, type DoneEvent, type MetricEvent, type RecallEvent, type RecallSetName, type RunRecord, type RunState, type ScriptState } from '../../core/training/protocol';
import { gradeRecall, readRecallFile, type RecallPoint, type RecallQuestion } from '../../core/training/recall';
import type { Ctx } from '../ctx';

/** A run as the views see it: its record, every metric event so far, and what they add up to. */
export interface RunSnapshot {
  record: RunRecord;
  events: MetricEvent[];
  bad: BadLine[];
  /** The run's recall questions (runs/<id>/recall.jsonl), by id; undefined when the run has none. */
  recallQuestions?: ReadonlyMap<string, RecallQuestion>;
  summary: {
    state: RunState;
    scriptState?: ScriptState;
    step?: number;
    totalSteps?: number;
    epoch?: number;
    loss?: number | null;
    evalLoss?: number | null;
    bestEvalLoss?: number | null;
    /** The latest recall of each set, graded with the core's rule. */
    recall?: Partial<Record<RecallSetName, RecallPoint>>;
    /** The checkpoint the run ended with, and what chose it (the done event). */
    kept?: { step: number; by: DoneEvent['best_by']; value?: number | null };
    startedAt?: string;
    endedAt?: string;
    error?: RunRecord['error'];
  };
}

/** A run the model knows of; its metrics are read only once someone asks for them (get()). */
interface Tracked {
  record: RunRecord;
  /** run.json's modification time and size when last read: a poll compares them. */
  recordStamp: string;
  metrics?: { reader: MetricsReader; events: MetricEvent[]; bad: BadLine[]; summary: RunSnapshot['summary']; questions?: ReadonlyMap<string, RecallQuestion> };
}

/** How often live runs' files are looked at even without a watcher event (a missed or coalesced one). */
const POLL_MS = 2000;
/** A burst of watcher events (a run appending every few ms) is read once. */
const DEBOUNCE_MS = 60;

export function isLive(state: RunState): boolean {
  return state === 'setting_up' || state === 'running';
}

/**
 * The one metrics stream of the project's runs, for the Runs view, the chart and the status bar.
 *
 * The files are the truth: runs/<id>/run.json and runs/<id>/metrics.jsonl, written by whoever runs
 * the training (this window, another window, the CLI). The model watches them and reads each
 * metrics file from the byte offset it reached, with the core's MetricsReader, so every event is
 * delivered exactly once, in file order, however many times it is told to look (a watcher event,
 * the poll, a live run's handle calling `poke`).
 */
export class RunsModel implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<string | undefined>();
  private readonly appended = new vscode.EventEmitter<{ runId: string; events: MetricEvent[] }>();
  /** A run id whose record or summary changed; undefined when the list itself changed. */
  readonly onDidChange = this.changed.event;
  /** New metric events of a run, in file order, each delivered once. */
  readonly onDidAppend = this.appended.event;

  private readonly runs = new Map<string, Tracked>();
  private runsDir: string | undefined;
  private watcher: vscode.Disposable | undefined;
  private readonly dirty = new Set<string>();
  private relist = false;
  private debounce: NodeJS.Timeout | undefined;
  private readonly poll: NodeJS.Timeout;
  private readonly disposables: vscode.Disposable[] = [this.changed, this.appended];

  constructor(private readonly ctx: Ctx) {
    this.disposables.push(ctx.onDidChangeProject(() => this.projectChanged()));
    this.projectChanged();
    this.poll = setInterval(() => this.pollLive(), POLL_MS);
  }

  /** Every run of the project, newest first. */
  list(): RunRecord[] {
    return [...this.runs.values()].map((t) => t.record).sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : a.id < b.id ? 1 : -1));
  }

  /** A run with its metrics: read in full on the first call, then kept current. */
  get(id: string): RunSnapshot | undefined {
    const t = this.runs.get(id);
    if (!t) return undefined;
    if (!t.metrics) {
      const questions = this.runsDir ? readRecallFile(join(this.runsDir, id, RUN_FILES.recall))?.questions : undefined;
      t.metrics = { reader: new MetricsReader(), events: [], bad: [], summary: summarize(t.record, [], questions), questions };
      this.readMetrics(id, t, false);
    }
    // Copies: a snapshot stays as it was when taken; news comes through onDidAppend.
    return { record: t.record, events: t.metrics.events.slice(), bad: t.metrics.bad.slice(), recallQuestions: t.metrics.questions, summary: { ...t.metrics.summary } };
  }

  /** The newest run that is setting up or running. */
  active(): RunSnapshot | undefined {
    const live = this.list().find((r) => isLive(r.state));
    return live && this.get(live.id);
  }

  /** The folder of a run (runs/<id>), whether or not it exists yet. */
  runDir(id: string): string | undefined {
    return this.runsDir && join(this.runsDir, id);
  }

  /** Looks at a run's files now (its handle calls this on news, so the view need not wait for the watcher). */
  poke(id?: string): void {
    if (id === undefined) this.relist = true;
    else this.dirty.add(id);
    this.flush();
  }

  /** Re-reads the whole runs/ folder. */
  refresh(): void {
    this.relist = true;
    this.flush();
  }

  private projectChanged(): void {
    const next = this.ctx.project?.runsDir;
    if (next === this.runsDir) return;
    this.watcher?.dispose();
    this.watcher = undefined;
    this.runsDir = next;
    this.runs.clear();
    if (next) {
      const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(next), `*/{${RUN_FILES.record},${RUN_FILES.metrics}}`));
      const onFile = (uri: vscode.Uri) => {
        const parts = uri.fsPath.slice(next.length + 1).split(/[\\/]/);
        if (parts.length === 2) this.dirty.add(parts[0]);
        this.schedule();
      };
      // A run folder deleted as a whole only reports the folder.
      const folders = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(next), '*'), true, true, false);
      // The editor's watcher misses files in folders made after it started (a new run's folder): see src/core/watch.ts.
      const tree = watchTree(next, (paths) => {
        for (const p of paths) {
          const parts = p.slice(next.length + 1).split(/[\\/]/);
          if (parts.length === 1) this.relist = true;
          if (parts.length === 1 || parts[1] === RUN_FILES.record || parts[1] === RUN_FILES.metrics) this.dirty.add(parts[0]);
        }
        this.schedule();
      }, { depth: 1 });
      this.watcher = vscode.Disposable.from(w, w.onDidCreate(onFile), w.onDidChange(onFile), w.onDidDelete(onFile), folders, folders.onDidDelete(() => ((this.relist = true), this.schedule())), tree);
      this.scanAll();
    }
    this.changed.fire(undefined);
  }

  private schedule(): void {
    if (this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.flush();
    }, DEBOUNCE_MS);
  }

  /** Reads whatever was marked: the list, changed records, appended metrics. Synchronous, so never interleaved. */
  private flush(): void {
    if (this.debounce) {
      clearTimeout(this.debounce);
      this.debounce = undefined;
    }
    if (this.relist) {
      this.relist = false;
      this.scanAll();
      this.changed.fire(undefined);
    }
    const ids = [...this.dirty];
    this.dirty.clear();
    let listChanged = false;
    for (const id of ids) {
      const r = this.refreshRun(id);
      if (r === 'list') listChanged = true;
    }
    if (listChanged) this.changed.fire(undefined);
  }

  private scanAll(): void {
    const dir = this.runsDir;
    if (!dir) return;
    let names: string[] = [];
    try {
      names = readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch {
      // No runs/ folder yet: no runs.
    }
    const seen = new Set(names);
    for (const id of [...this.runs.keys()]) if (!seen.has(id)) this.runs.delete(id);
    for (const id of names) this.refreshRun(id, true);
  }

  /**
   * Brings one run up to date with its files. Returns 'list' when it appeared or vanished,
   * 'changed' when its record or metrics moved, undefined when nothing did.
   */
  private refreshRun(id: string, quiet = false): 'list' | 'changed' | undefined {
    const dir = this.runsDir;
    if (!dir) return undefined;
    const recordPath = join(dir, id, RUN_FILES.record);
    const t = this.runs.get(id);
    const stamp = fileStamp(recordPath);
    if (!stamp) {
      if (!t) return undefined;
      // run.json gone: the run was deleted (or is being rewritten: a later event brings it back).
      if (existsSync(join(dir, id))) return undefined;
      this.runs.delete(id);
      return 'list';
    }
    let recordChanged = false;
    let tracked = t;
    if (!tracked || tracked.recordStamp !== stamp) {
      const record = readRecord(recordPath, id, this.ctx);
      if (!record) return undefined;
      if (!tracked) {
        tracked = { record, recordStamp: stamp };
        this.runs.set(id, tracked);
        return 'list';
      }
      tracked.recordStamp = stamp;
      recordChanged = JSON.stringify(tracked.record) !== JSON.stringify(record);
      tracked.record = record;
    }
    const metricsChanged = tracked.metrics ? this.readMetrics(id, tracked, true) : false;
    // Most record changes are the copy's offset moving; only what the summary shows re-summarizes.
    if (tracked.metrics && recordChanged && summaryFieldsDiffer(tracked.metrics.summary, tracked.record)) tracked.metrics.summary = summarize(tracked.record, tracked.metrics.events, tracked.metrics.questions);
    if ((recordChanged || metricsChanged) && !quiet) this.changed.fire(id);
    return recordChanged || metricsChanged ? 'changed' : undefined;
  }

  /** Reads a run's metrics.jsonl from the offset reached; returns whether anything was new. */
  private readMetrics(id: string, t: Tracked, announce: boolean): boolean {
    const m = t.metrics;
    const dir = this.runsDir;
    if (!m || !dir) return false;
    const path = join(dir, id, RUN_FILES.metrics);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      return false;
    }
    let fresh: MetricEvent[] = [];
    let reset = false;
    try {
      const size = fstatSync(fd).size;
      // The file was replaced by a shorter one (a run deleted and made again under the same id): start over.
      const consumed = m.reader.offset + Buffer.byteLength(m.reader.partial);
      if (size < consumed) {
        m.reader = new MetricsReader();
        m.events = [];
        m.bad = [];
        reset = true;
      }
      const from = m.reader.offset + Buffer.byteLength(m.reader.partial);
      if (size > from) {
        const buf = Buffer.alloc(size - from);
        let got = 0;
        while (got < buf.length) {
          const n = readSync(fd, buf, got, buf.length - got, from + got);
          if (n <= 0) break;
          got += n;
        }
        const r = m.reader.push(buf.subarray(0, got));
        fresh = r.events;
        m.events.push(...r.events);
        m.bad.push(...r.bad);
        for (const b of r.bad) this.ctx.log.warn(`Run ${id}: metrics line ${b.line} skipped (${b.reason}): ${b.text}`);
      }
    } finally {
      closeSync(fd);
    }
    if (!fresh.length && !reset) return false;
    // recall.jsonl is written before the script starts; a run seen while setting up may have had none yet.
    if (!m.questions && fresh.some((e) => e.event === 'recall')) m.questions = readRecallFile(join(dir, id, RUN_FILES.recall))?.questions;
    m.summary = summarize(t.record, m.events, m.questions);
    if (announce && fresh.length) this.appended.fire({ runId: id, events: fresh });
    return true;
  }

  /**
   * Live runs, and the list of run folders, are looked at every few seconds whatever the watcher
   * says: a watcher may miss or coalesce events (a folder made and filled at once, a network file
   * system, files.watcherExclude).
   */
  private pollLive(): void {
    const dir = this.runsDir;
    if (!dir) return;
    for (const [id, t] of this.runs) if (isLive(t.record.state)) this.dirty.add(id);
    try {
      for (const d of readdirSync(dir, { withFileTypes: true })) if (d.isDirectory() && !this.runs.has(d.name)) this.dirty.add(d.name);
    } catch {
      // No runs/ folder (yet).
    }
    if (this.dirty.size) this.flush();
  }

  dispose(): void {
    clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
    this.watcher?.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

function fileStamp(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.mtimeMs}:${s.size}`;
  } catch {
    return undefined;
  }
}

function readRecord(path: string, id: string, ctx: Ctx): RunRecord | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const value = JSON.parse(text) as RunRecord;
    if (!value || typeof value !== 'object' || typeof value.state !== 'string' || !value.target) throw new Error('not a run record');
    return { ...value, id: typeof value.id === 'string' ? value.id : id };
  } catch (err) {
    // Written while we read it (a later event brings the whole file), or damaged by hand.
    ctx.log.debug(`runs/${id}/run.json cannot be read yet: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

function summaryFieldsDiffer(s: RunSnapshot['summary'], r: RunRecord): boolean {
  return s.state !== r.state || s.startedAt !== r.startedAt || s.endedAt !== r.endedAt || (r.error !== undefined && JSON.stringify(s.error) !== JSON.stringify(r.error));
}

/** What a run's events add up to: the last step, losses and the script's state. */
export function summarize(record: RunRecord, events: MetricEvent[], questions?: ReadonlyMap<string, RecallQuestion>): RunSnapshot['summary'] {
  const s: RunSnapshot['summary'] = { state: record.state, startedAt: record.startedAt, endedAt: record.endedAt, error: record.error };
  const lastRecall: Partial<Record<RecallSetName, RecallEvent>> = {};
  for (const e of events) {
    switch (e.event) {
      case 'status':
        s.scriptState = e.state;
        break;
      case 'start':
        s.totalSteps = e.total_steps;
        break;
      case 'log':
        s.step = Math.max(s.step ?? 0, e.step);
        s.loss = e.loss;
        if (e.epoch !== undefined) s.epoch = e.epoch;
        break;
      case 'eval':
        s.step = Math.max(s.step ?? 0, e.step);
        s.evalLoss = e.eval_loss;
        if (e.epoch !== undefined) s.epoch = e.epoch;
        if (e.eval_loss !== null && (s.bestEvalLoss === undefined || s.bestEvalLoss === null || e.eval_loss < s.bestEvalLoss)) s.bestEvalLoss = e.eval_loss;
        break;
      case 'recall':
        lastRecall[e.set] = e;
        break;
      case 'done':
        if (e.best_eval_loss !== undefined) s.bestEvalLoss = e.best_eval_loss;
        if (typeof e.best_step === 'number') {
          // A script of before best_by kept the lowest eval loss.
          const by = e.best_by !== undefined ? e.best_by : e.best_eval_loss !== undefined ? 'eval_loss' : null;
          s.kept = { step: e.best_step, by, value: e.best_value !== undefined ? e.best_value : by === 'eval_loss' ? e.best_eval_loss : undefined };
        } else if (e.best_by === null && s.step !== undefined) s.kept = { step: s.step, by: null };
        break;
      case 'error':
        // The record has the error once the runner saw it; until then the script's own words.
        s.error ??= { message: e.message, hint: e.hint, kind: e.kind };
        break;
    }
  }
  // Only the latest of each set is shown: grading older ones would cost time on every append.
  for (const [set, e] of Object.entries(lastRecall) as [RecallSetName, RecallEvent][]) (s.recall ??= {})[set] = gradeRecall(e, questions);
  return s;
}

let current: RunsModel | undefined;

/** The project's runs, once the training feature is active (the chart and the status bar read it). */
export function getRunsModel(): RunsModel | undefined {
  return current;
}

/** Set by the training feature's activate(); cleared when it is disposed. */
export function setRunsModel(model: RunsModel | undefined): void {
  current = model;
}
