import * as vscode from 'vscode';
import { describeError, MnemoError } from '../../core/errors';
import type { Project } from '../../core/project';
import { chunkSource, clearSourceCache, listSources, SourceError, type ChunkedSource, type ExtractProgress, type SourceEntry } from '../../core/sources';
import { watchTree } from '../../core/watch';
import { CONTEXT_KEYS, type Ctx } from '../ctx';
import { VIEW_ID } from './ids';

/** Where a source stands; what its tree item shows. */
export type SourceState =
  | { status: 'pending' }
  | { status: 'extracting'; done: number; total: number }
  | { status: 'ready'; source: ChunkedSource }
  | { status: 'error'; message: string; hint?: string; label: string }
  | { status: 'unsupported'; note: string };

export interface SourceItem {
  entry: SourceEntry;
  state: SourceState;
}

/** Pages from which an extraction also gets a cancellable notification, not only the view's progress bar. */
const NOTIFY_FROM_PAGES = 40;

/**
 * The sources of the open project and the state of each: listed from sources/, extracted and
 * chunked one at a time in the background (never during activation), cached by the core.
 */
export class SourcesModel implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<SourceItem | undefined>();
  /** Fires with the item that changed, or undefined when the list itself changed. */
  readonly onDidChange = this.changed.event;
  private readonly items = new Map<string, SourceItem>();
  private project: Project | undefined;
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;
  private readonly idle = new vscode.EventEmitter<void>();
  private started = false;
  private listing: Promise<void> | undefined;
  private readonly jobs = new Map<string, Promise<ChunkedSource>>();
  private readonly disposables: vscode.Disposable[] = [this.changed, this.idle];
  private watcher: vscode.Disposable | undefined;
  private debounce: NodeJS.Timeout | undefined;

  constructor(private readonly ctx: Ctx) {
    this.disposables.push(ctx.onDidChangeProject(() => this.projectChanged()));
  }

  /** Starts listing and extracting; called when the view first asks for its items, or by a command. */
  start(): Promise<void> {
    if (!this.started) {
      this.started = true;
      this.projectChanged();
    }
    return this.listing ?? Promise.resolve();
  }

  get all(): SourceItem[] {
    return [...this.items.values()];
  }

  get(path: string): SourceItem | undefined {
    return this.items.get(path);
  }

  /** Resolves when every queued extraction has finished (for tests and the CLI-like commands). */
  async whenSettled(): Promise<void> {
    await this.listing;
    while (this.pending > 0) {
      await new Promise<void>((resolve) => {
        const sub = this.idle.event(() => {
          sub.dispose();
          resolve();
        });
      });
    }
  }

  private projectChanged(): void {
    this.watcher?.dispose();
    this.watcher = undefined;
    const next = this.ctx.project;
    const sameSettings = next && this.project && next.root === this.project.root && next.config.tokenizer === this.project.config.tokenizer && next.config.chunking.tokens === this.project.config.chunking.tokens;
    this.project = next;
    if (!sameSettings) this.items.clear();
    if (next && this.started) {
      const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(next.sourcesDir), '**/*'));
      const poke = () => this.scheduleRefresh();
      // The editor's watcher misses files in folders made after it started: see src/core/watch.ts.
      this.watcher = vscode.Disposable.from(w, w.onDidCreate(poke), w.onDidChange(poke), w.onDidDelete(poke), watchTree(next.sourcesDir, poke));
    }
    if (this.started) void this.refresh();
    else this.changed.fire(undefined);
  }

  /** Many files copied at once make many events: refresh once they stop. */
  private scheduleRefresh(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.refresh(), 250);
  }

  /** Re-lists sources/; new or changed files are queued for extraction. */
  refresh(): Promise<void> {
    this.started = true;
    const run = async (): Promise<void> => {
      const project = this.project;
      const entries = project ? await listSources(project).catch((err: unknown) => (this.ctx.log.error(`Listing sources failed: ${describeError(err)}`), [] as SourceEntry[])) : [];
      if (project !== this.project) return;
      const seen = new Set<string>();
      for (const entry of entries) {
        seen.add(entry.path);
        const old = this.items.get(entry.path);
        const unchanged = old && old.entry.size === entry.size && old.entry.mtimeMs === entry.mtimeMs;
        if (unchanged) continue;
        if (!entry.kind) {
          this.items.set(entry.path, { entry, state: { status: 'unsupported', note: entry.note ?? 'Not supported.' } });
          continue;
        }
        this.items.set(entry.path, { entry, state: { status: 'pending' } });
        this.enqueue(entry.path);
      }
      for (const path of [...this.items.keys()]) if (!seen.has(path)) this.items.delete(path);
      this.updateContextKeys();
      this.changed.fire(undefined);
    };
    this.listing = (this.listing ?? Promise.resolve()).then(run, run);
    return this.listing;
  }

  private enqueue(path: string): void {
    this.pending++;
    this.queue = this.queue
      .then(() => (this.items.get(path)?.state.status === 'pending' ? this.ensure(path, { quiet: false }).then(() => undefined) : undefined))
      .catch(() => undefined)
      .finally(() => {
        this.pending--;
        if (this.pending === 0) this.idle.fire();
      });
  }

  /**
   * The chunked source, extracting it now if needed, with progress in the view (and in a
   * cancellable notification for long PDFs). Errors are recorded on the item and rethrown.
   */
  async ensure(path: string, options: { quiet?: boolean; token?: vscode.CancellationToken } = {}): Promise<ChunkedSource> {
    await this.start();
    const item = this.items.get(path);
    if (item?.state.status === 'ready') return item.state.source;
    let job = this.jobs.get(path);
    if (!job) {
      job = this.extract(path, options).finally(() => this.jobs.delete(path));
      this.jobs.set(path, job);
    }
    return job;
  }

  private async extract(path: string, options: { quiet?: boolean; token?: vscode.CancellationToken }): Promise<ChunkedSource> {
    const project = this.project ?? this.ctx.requireProject();
    const abort = new AbortController();
    const sub = options.token?.onCancellationRequested(() => abort.abort());
    let notification: Promise<void> | undefined;
    let reportNotification: ((p: ExtractProgress) => void) | undefined;
    let finishNotification: (() => void) | undefined;
    const name = path.split('/').pop() ?? path;
    const started = performance.now();
    try {
      return await vscode.window.withProgress({ location: { viewId: VIEW_ID }, title: `Extracting ${name}` }, async (viewProgress) => {
        let last = 0;
        const onProgress = (p: ExtractProgress): void => {
          this.setState(path, { status: 'extracting', done: p.done, total: p.total });
          const fraction = p.total ? p.done / p.total : 0;
          viewProgress.report({ increment: (fraction - last) * 100 });
          last = fraction;
          if (!notification && p.total >= NOTIFY_FROM_PAGES && p.done < p.total) {
            notification = Promise.resolve(
              vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Mnemo: extracting ${path}`, cancellable: true }, (progress, token) => {
                token.onCancellationRequested(() => abort.abort());
                let shown = 0;
                reportNotification = (q) => {
                  const f = q.done / q.total;
                  progress.report({ increment: (f - shown) * 100, message: `page ${q.done} of ${q.total}` });
                  shown = f;
                };
                return new Promise<void>((resolve) => (finishNotification = resolve));
              }),
            );
          }
          reportNotification?.(p);
        };
        this.setState(path, { status: 'extracting', done: 0, total: 0 });
        const source = await chunkSource(project, path, { signal: abort.signal, onProgress });
        this.setState(path, { status: 'ready', source });
        this.ctx.log.info(`${path}: ${source.pages.length} pages, ${source.tokens} tokens, ${source.chunks.length} chunks (${((performance.now() - started) / 1000).toFixed(2)} s)`);
        return source;
      });
    } catch (err) {
      const message = err instanceof MnemoError ? err.message : describeError(err);
      const hint = err instanceof MnemoError ? err.hint : undefined;
      const label = err instanceof SourceError ? err.label : 'cannot read';
      if (this.items.has(path) || !(err instanceof SourceError && err.problem === 'missing')) this.setState(path, { status: 'error', message, hint, label });
      this.ctx.log.warn(`${path}: ${describeError(err)}`);
      if (!options.quiet && !(err instanceof SourceError && err.problem === 'cancelled')) void this.ctx.showError(err);
      throw err;
    } finally {
      finishNotification?.();
      await notification;
      sub?.dispose();
    }
  }

  /** Forgets the cached text and chunks of a source and extracts it again. */
  async reextract(path: string): Promise<ChunkedSource> {
    const project = this.ctx.requireProject();
    await this.jobs.get(path)?.catch(() => undefined);
    await clearSourceCache(project, path);
    this.setState(path, { status: 'pending' });
    return this.ensure(path, { quiet: true });
  }

  private setState(path: string, state: SourceState): void {
    const item = this.items.get(path);
    if (!item) return;
    item.state = state;
    this.updateContextKeys();
    this.changed.fire(item);
  }

  private contextKeys = { hasSources: false, hasChunks: false };
  private updateContextKeys(): void {
    const hasSources = this.all.some((i) => i.entry.kind);
    const hasChunks = this.all.some((i) => i.state.status === 'ready' && i.state.source.chunks.length > 0);
    if (hasSources !== this.contextKeys.hasSources) void vscode.commands.executeCommand('setContext', CONTEXT_KEYS.hasSources, hasSources);
    if (hasChunks !== this.contextKeys.hasChunks) void vscode.commands.executeCommand('setContext', CONTEXT_KEYS.hasChunks, hasChunks);
    this.contextKeys = { hasSources, hasChunks };
  }

  dispose(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.watcher?.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
