import { readFile } from 'node:fs/promises';
import * as vscode from 'vscode';
import { parseQa, type QaFile } from '../../core/qa';
import type { QaFileSummary } from '../../shared/lsp-protocol';
import type { QaClient } from './client';
import type { QaFilter } from './ids';

/**
 * What the Q&A view shows: the .qa files under qa/ with their pair and problem counts (from the
 * language server, which checks them all), and each file's pairs, parsed on demand from the
 * editor's text when the file is open (unsaved edits included), else from disk.
 */
export class QaModel implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private summaries: QaFileSummary[] | undefined;
  private loading: Promise<QaFileSummary[]> | undefined;
  private filterValue: QaFilter = 'all';
  private readonly subs: vscode.Disposable[];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly client: QaClient) {
    this.subs = [
      this.changed,
      client.onDidChangeIndex(() => this.refresh()),
      // Pairs shown for an open file follow its unsaved text.
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document.languageId === 'mnemo-qa' && e.contentChanges.length) this.refreshSoon();
      }),
    ];
  }

  get filter(): QaFilter {
    return this.filterValue;
  }

  setFilter(filter: QaFilter): void {
    this.filterValue = filter;
    this.changed.fire();
  }

  /** Forgets what was loaded; the view asks again. */
  refresh(): void {
    this.summaries = undefined;
    this.loading = undefined;
    this.changed.fire();
  }

  private refreshSoon(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), 150);
  }

  /** Every .qa file under qa/ the server knows, sorted by path. */
  async files(): Promise<QaFileSummary[]> {
    if (this.summaries) return this.summaries;
    this.loading ??= this.client.summary().then((r) => {
      const files = r.files.filter((f) => f.path.startsWith('qa/')).sort((a, b) => a.path.localeCompare(b.path));
      this.summaries = files;
      return files;
    });
    return this.loading;
  }

  /** A file's current text: the editor's (unsaved changes included) when open, else the disk's. */
  async text(uri: vscode.Uri): Promise<string> {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (open) return open.getText();
    return readFile(uri.fsPath, 'utf8');
  }

  async parse(uri: vscode.Uri): Promise<QaFile> {
    return parseQa(await this.text(uri));
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const s of this.subs) s.dispose();
  }
}
