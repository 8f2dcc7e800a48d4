/**
 * A minimal LSP client for tests and the benchmark: starts the real .qa language server as a child
 * process and talks JSON-RPC to it over stdio, the way an editor would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import type { Diagnostic, PublishDiagnosticsParams, TextDocumentContentChangeEvent } from 'vscode-languageserver-protocol';
import { QaIndexChangedNotification, type QaIndexChangedParams } from '../../src/shared/lsp-protocol';

export const REPO = join(__dirname, '..', '..');

export interface ServerHandle {
  conn: MessageConnection;
  child: ChildProcess;
  /** Latest diagnostics per URI. */
  diagnostics: Map<string, Diagnostic[]>;
  /** The document version the latest diagnostics per URI are for (when the server said). */
  versions: Map<string, number | undefined>;
  /** Resolves with the next diagnostics for `uri` that satisfy `ok` (already published ones count). */
  waitDiagnostics(uri: string, ok?: (d: Diagnostic[]) => boolean, timeoutMs?: number): Promise<Diagnostic[]>;
  /** Errors the server logged (window/logMessage of type Error). */
  errors: string[];
  /** Resolves once the server has read the whole workspace. */
  ready: Promise<void>;
  open(uri: string, text: string, version?: number): void;
  change(uri: string, version: number, changes: TextDocumentContentChangeEvent[]): void;
  close(uri: string): void;
  stop(): Promise<void>;
}

/** The rulebook as Markdown (the text the example project's rulebook.pdf is made from), shipped in test/fixtures. */
export function rulebookPath(): string {
  const path = join(REPO, 'test/fixtures/rulebook.md');
  if (!existsSync(path)) throw new Error(`${path} is missing: it ships with the repository.`);
  return path;
}

export function fileUri(path: string): string {
  return pathToFileURL(path).toString();
}

/** Starts the server: from the bundle (dist/server.js) or from source through tsx. */
export async function startServer(root: string, options: { bundle?: boolean; nodeArgs?: string[]; checkLines?: boolean } = {}): Promise<ServerHandle> {
  const args = [...(options.nodeArgs ?? []), ...(options.bundle ? [join(REPO, 'dist/server.js'), '--stdio'] : ['--import', 'tsx', join(REPO, 'src/server/server.ts'), '--stdio'])];
  // The server compares the lines it tracks from edits with the text after every edit, and says so on a mismatch.
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, MNEMO_QA_CHECK_LINES: options.checkLines === false ? '0' : '1' } });
  const conn = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  const diagnostics = new Map<string, Diagnostic[]>();
  const versions = new Map<string, number | undefined>();
  const waiters: { uri: string; ok: (d: Diagnostic[]) => boolean; resolve: (d: Diagnostic[]) => void }[] = [];
  conn.onNotification('textDocument/publishDiagnostics', (p: PublishDiagnosticsParams) => {
    diagnostics.set(p.uri, p.diagnostics);
    versions.set(p.uri, p.version);
    for (const w of [...waiters]) {
      if (w.uri === p.uri && w.ok(p.diagnostics)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(p.diagnostics);
      }
    }
  });
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  conn.onNotification(QaIndexChangedNotification, (p: QaIndexChangedParams) => {
    if (p.ready) markReady();
  });
  const errors: string[] = [];
  conn.onNotification('window/logMessage', (p: { type: number; message: string }) => {
    if (p.type === 1) errors.push(p.message);
    if (p.message.startsWith('TIMING')) console.log(p.message);
  });
  conn.onRequest('client/registerCapability', () => null);
  conn.onRequest('window/workDoneProgress/create', () => null);
  conn.listen();
  const rootUri = fileUri(root);
  await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri,
    workspaceFolders: [{ uri: rootUri, name: 'project' }],
    capabilities: { workspace: { didChangeWatchedFiles: { dynamicRegistration: true } }, textDocument: { publishDiagnostics: { relatedInformation: true } } },
  });
  await conn.sendNotification('initialized', {});

  return {
    conn,
    child,
    diagnostics,
    versions,
    errors,
    ready,
    waitDiagnostics(uri, ok = () => true, timeoutMs = 20_000) {
      const have = diagnostics.get(uri);
      if (have && ok(have)) return Promise.resolve(have);
      return new Promise((resolve, reject) => {
        const w = { uri, ok, resolve: (d: Diagnostic[]) => (clearTimeout(timer), resolve(d)) };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`No matching diagnostics for ${uri} within ${timeoutMs} ms; last: ${JSON.stringify(diagnostics.get(uri)?.map((d) => d.code))}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    open(uri, text, version = 1) {
      void conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'mnemo-qa', version, text } });
    },
    change(uri, version, changes) {
      void conn.sendNotification('textDocument/didChange', { textDocument: { uri, version }, contentChanges: changes });
    },
    close(uri) {
      void conn.sendNotification('textDocument/didClose', { textDocument: { uri } });
    },
    async stop() {
      try {
        await Promise.race([conn.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 2000))]);
        await conn.sendNotification('exit');
      } catch {
        // The server may already be gone.
      }
      conn.dispose();
      if (child.exitCode === null) {
        await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, 2000))]);
        if (child.exitCode === null) child.kill();
      }
    },
  };
}
