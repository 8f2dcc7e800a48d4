/**
 * One sweep at a time: its cancel token, the `mnemo.generating` context key, the status bar item
 * and the cancellable notification. Shared by "Generate Q&A" and by "Regenerate This Chunk".
 */
import * as vscode from 'vscode';
import { formatDuration, formatUsd, type RunProgress } from '../../core/generation';
import { CONTEXT_KEYS, type Ctx } from '../ctx';

export const PREVIEW_SCHEME = 'mnemo-preview';

export class GenerationState implements vscode.Disposable {
  private controller: AbortController | undefined;
  private readonly status: vscode.StatusBarItem;
  /** Read-only documents shown by "Preview First Chunk", by URI. */
  readonly previews = new Map<string, string>();
  private readonly previewEmitter = new vscode.EventEmitter<vscode.Uri>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly ctx: Ctx) {
    this.status = vscode.window.createStatusBarItem('mnemo.generation', vscode.StatusBarAlignment.Left, 50);
    this.status.name = 'Mnemo Generation';
    this.status.command = 'mnemo.cancelGeneration';
    const previews = this.previews;
    this.disposables.push(
      this.status,
      this.previewEmitter,
      vscode.workspace.registerTextDocumentContentProvider(PREVIEW_SCHEME, {
        onDidChange: this.previewEmitter.event,
        provideTextDocumentContent: (uri) => previews.get(uri.toString()) ?? 'This preview is no longer available: run "Mnemo: Preview Generation for First Chunk" again.',
      }),
    );
  }

  get running(): boolean {
    return this.controller !== undefined;
  }

  cancel(): boolean {
    if (!this.controller) return false;
    this.ctx.log.info('Generation: cancel requested.');
    this.controller.abort();
    return true;
  }

  /**
   * Runs `work` as the one sweep: a cancellable notification and a status bar item show progress;
   * the context key `mnemo.generating` is true meanwhile. Cancel (notification, status bar,
   * "Mnemo: Cancel Generation") aborts the signal handed to `work`.
   */
  async run<T>(title: string, work: (signal: AbortSignal, onProgress: (p: RunProgress) => void) => Promise<T>): Promise<T> {
    if (this.controller) throw new Error('A sweep is already running.');
    const controller = new AbortController();
    this.controller = controller;
    await vscode.commands.executeCommand('setContext', CONTEXT_KEYS.generating, true);
    this.status.text = `$(sync~spin) Mnemo: ${title}`;
    this.status.tooltip = 'Click to cancel; finished requests are kept and a new run resumes.';
    this.status.show();
    try {
      return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Mnemo: ${title}`, cancellable: true }, async (progress, token) => {
        token.onCancellationRequested(() => controller.abort());
        let reported = 0;
        let lastUpdate = 0;
        const onProgress = (p: RunProgress) => {
          const now = Date.now();
          const finished = p.done + p.failed >= p.total;
          if (now - lastUpdate < 250 && !finished) return;
          lastUpdate = now;
          const pct = p.total ? (100 * (p.done + p.failed)) / p.total : 100;
          const eta = p.etaSeconds !== undefined && !finished ? `, about ${formatDuration(p.etaSeconds)} left` : '';
          const failed = p.failed ? `, ${p.failed} failed` : '';
          const retries = p.retries ? `, ${p.retries} retries` : '';
          const limited = p.rateLimited ? `, rate limited: ${p.concurrency} at once` : '';
          progress.report({ increment: pct - reported, message: `${p.done}/${p.total} requests${failed}${retries}${limited}, ${formatUsd(p.spentUsd)}${eta}` });
          reported = pct;
          this.status.text = `$(sync~spin) Mnemo ${p.done}/${p.total} · ${formatUsd(p.spentUsd)}${p.etaSeconds !== undefined && !finished ? ` · ${formatDuration(p.etaSeconds)}` : ''} · ${p.concurrency} at once`;
          this.status.tooltip = `Generating: ${p.inFlight} requests in flight, ${p.concurrency} allowed at once${p.rateLimited ? ` (lowered after ${p.rateLimited} rate-limit answers)` : ''}. Click to cancel; finished requests are kept and a new run resumes.`;
        };
        return work(controller.signal, onProgress);
      });
    } finally {
      this.controller = undefined;
      this.status.hide();
      await vscode.commands.executeCommand('setContext', CONTEXT_KEYS.generating, false);
    }
  }

  /** Shows text in a read-only editor tab. */
  async showReadonly(name: string, text: string): Promise<vscode.TextDocument> {
    const uri = vscode.Uri.from({ scheme: PREVIEW_SCHEME, path: `/${name}`, query: String(Date.now()) });
    this.previews.set(uri.toString(), text);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.languages.setTextDocumentLanguage(doc, 'markdown');
    await vscode.window.showTextDocument(doc, { preview: false });
    return doc;
  }

  dispose(): void {
    this.controller?.abort();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
