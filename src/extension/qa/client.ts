import * as vscode from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { QA_LANGUAGE_ID, QaIndexChangedNotification, QaSummaryRequest, type QaIndexChangedParams, type QaSummaryResult } from '../../shared/lsp-protocol';
import type { Ctx } from '../ctx';

/**
 * The language client of .qa files: starts the server (dist/server.js) in its own process over
 * Node IPC, and exposes the custom messages the Q&A view uses. Its lifetime is the extension's.
 */
export class QaClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<LanguageClient | undefined> | undefined;
  private readonly changed = new vscode.EventEmitter<QaIndexChangedParams>();
  /** Fires when the server's index of .qa files changes (a file checked, added or removed). */
  readonly onDidChangeIndex = this.changed.event;

  constructor(private readonly ctx: Ctx) {}

  /** Starts the server once; later calls return the same client. Failures are logged and shown once. */
  start(): Promise<LanguageClient | undefined> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<LanguageClient | undefined> {
    const module = this.ctx.extension.asAbsolutePath('dist/server.js');
    const serverOptions: ServerOptions = {
      run: { module, transport: TransportKind.ipc },
      debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6011'] } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ language: QA_LANGUAGE_ID }],
      outputChannel: this.ctx.log,
      // The server watches qa/, sources/ and mnemo.json itself (dynamic registration).
    };
    const client = new LanguageClient('mnemo-qa', 'Mnemo Q&A', serverOptions, clientOptions);
    try {
      await client.start();
    } catch (err) {
      this.ctx.log.error(`The .qa language server did not start: ${err instanceof Error ? err.message : String(err)}`);
      void this.ctx.showError(err);
      return undefined;
    }
    client.onNotification(QaIndexChangedNotification, (p) => this.changed.fire(p));
    this.client = client;
    return client;
  }

  /** Pairs and problem counts per file, from the server (empty until it has started). */
  async summary(uris?: string[]): Promise<QaSummaryResult> {
    const client = await this.start();
    if (!client) return { files: [], ready: true };
    return client.sendRequest(QaSummaryRequest, { uris });
  }

  dispose(): void {
    this.changed.dispose();
    void this.client?.stop();
  }
}
