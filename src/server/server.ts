/**
 * The .qa language server (language id `mnemo-qa`), run in its own process by the extension's
 * language client (Node IPC) or by anything speaking LSP over stdio (`--stdio`).
 *
 * It keeps every .qa file under qa/ parsed and checked, with a workspace index of questions for
 * duplicates across files, and publishes diagnostics for all of them (open or not). Edits are
 * re-checked at once; per-pair work is cached by the pair's text, so a one-line edit in a large
 * file re-analyses one pair.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CodeLensRefreshRequest,
  createConnection,
  DiagnosticSeverity,
  DidChangeWatchedFilesNotification,
  FileChangeType,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
  type InitializeParams,
  type InitializeResult,
  type TextDocumentContentChangeEvent,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { parseQa, printQa, splitLines, type QaFile, type QaProblem } from '../core/qa';
import { QaIndexChangedNotification, QaSummaryRequest, type QaFileSummary } from '../shared/lsp-protocol';
import { codeActions, codeLenses, definition, folding, format, hover, symbols, toDiagnostic } from './features';
import { watchTree, type TreeWatcher } from '../core/watch';
import { QaWorkspace, STAGED_CHARS } from './workspace';

const connection = createConnection(ProposedFeatures.all);

/**
 * The lines of each open document (as LSP counts them: the last one is '' after a final line
 * end), kept up to date from the edits themselves: unchanged lines stay the same strings, so
 * re-parsing after an edit finds it without splitting or comparing the whole text.
 * Absent when unknown (a document just opened, or replaced whole): the text is split then.
 */
const trackedLines = new Map<string, string[]>();
/** Set MNEMO_QA_CHECK_LINES=1 to compare the tracked lines with the text after every edit (tests). */
const checkLines = process.env.MNEMO_QA_CHECK_LINES === '1';

function trackChanges(uri: string, changes: TextDocumentContentChangeEvent[]): void {
  const lines = trackedLines.get(uri);
  for (const c of changes) {
    if (!lines || !('range' in c)) {
      trackedLines.delete(uri);
      return;
    }
    const { start, end } = c.range;
    if (end.line >= lines.length || start.line > end.line) {
      trackedLines.delete(uri);
      return;
    }
    // A lone CR would be a line end to the editor but not to the parser: stop tracking.
    if (/\r(?!\n)/.test(c.text)) {
      trackedLines.delete(uri);
      return;
    }
    const merged = lines[start.line].slice(0, start.character) + c.text + lines[end.line].slice(end.character);
    lines.splice(start.line, end.line - start.line + 1, ...merged.split(/\r?\n/));
  }
  if (lines) trackedLines.set(uri, lines);
}

const documents = new TextDocuments<TextDocument>({
  create: (uri, languageId, version, content) => {
    trackedLines.delete(uri);
    return TextDocument.create(uri, languageId, version, content);
  },
  update: (document, changes, version) => {
    trackChanges(document.uri, changes);
    return TextDocument.update(document, changes, version);
  },
});
let ws = new QaWorkspace(undefined);
let ready = false;
let watchRegistration = false;
let codeLensRefresh = false;

const log = (message: string) => connection.console.log(message);

connection.onInitialize((params: InitializeParams): InitializeResult => {
  const folder = params.workspaceFolders?.[0]?.uri ?? params.rootUri ?? undefined;
  const root = folder?.startsWith('file:') ? fileURLToPath(folder) : undefined;
  ws = new QaWorkspace(root, log);
  ws.onChunksLoaded = (source) => recheck(ws.filesUsing(source));
  watchRegistration = !!params.capabilities.workspace?.didChangeWatchedFiles?.dynamicRegistration;
  codeLensRefresh = !!params.capabilities.workspace?.codeLens?.refreshSupport;
  return {
    capabilities: {
      textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
      hoverProvider: true,
      definitionProvider: true,
      documentSymbolProvider: true,
      foldingRangeProvider: true,
      documentFormattingProvider: true,
      codeActionProvider: { codeActionKinds: ['quickfix'] },
      codeLensProvider: { resolveProvider: false },
    },
    serverInfo: { name: 'mnemo-qa' },
  };
});

connection.onInitialized(async () => {
  if (watchRegistration) {
    await connection.client.register(DidChangeWatchedFilesNotification.type, {
      watchers: [{ globPattern: '**/qa/**/*.qa' }, { globPattern: '**/mnemo.json' }, { globPattern: '**/sources/**' }],
    });
  }
  await loadWorkspace();
  watchQaFolder();
});

/**
 * qa/ watched by the server itself, besides the editor's watcher: that one misses files in
 * folders made after it started (a first sweep into qa/<source>/), see src/core/watch.ts.
 */
let qaWatch: TreeWatcher | undefined;
function watchQaFolder(): void {
  qaWatch?.dispose();
  if (!ws.root) return;
  qaWatch = watchTree(join(ws.root, 'qa'), (paths) => {
    void ws.diskChanges(paths).then((changes) => {
      if (changes.length) return filesChanged(changes.map((c) => ({ uri: c.uri, type: c.deleted ? FileChangeType.Deleted : FileChangeType.Changed })));
    });
  });
}
connection.onShutdown(() => qaWatch?.dispose());

/** A failure of a whole pass is logged and leaves the server answering (with what it has). */
async function guarded(what: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    connection.console.error(`${what} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    ready = true;
  }
}

/** Reads mnemo.json, the sources' chunks and every .qa file under qa/, and publishes all diagnostics. */
function loadWorkspace(): Promise<void> {
  return guarded('Reading the .qa files', readWorkspace);
}

async function readWorkspace(): Promise<void> {
  const started = performance.now();
  ready = false;
  await ws.loadProject();
  const uris = await ws.listQaFiles();
  const texts = new Map<string, string>();
  await Promise.all(
    uris.map(async (uri) => {
      const open = documents.get(uri);
      const text = open ? open.getText() : await ws.readFromDisk(uri);
      if (text !== undefined) texts.set(uri, text);
    }),
  );
  for (const d of documents.all()) if (!texts.has(d.uri)) texts.set(d.uri, d.getText());
  // Chunks first, so the first pass already checks answers against their source.
  await Promise.all(ws.sourcesOf([...texts.values()]).map((s) => ws.chunks.load(s)));
  for (const [uri, text] of texts) ws.update(uri, text, !!documents.get(uri));
  for (const uri of texts.keys()) publish(uri);
  ready = true;
  log(`Checked ${texts.size} .qa files (${ws.index.questionCount} questions) in ${(performance.now() - started).toFixed(0)} ms`);
  announce(texts.keys());
  // Lenses asked for before the first pass were empty.
  if (codeLensRefresh) void connection.sendRequest(CodeLensRefreshRequest.type);
}

/** More problems than this in one file are summed up in one line: the editor stays responsive. */
const MAX_DIAGNOSTICS = 1000;
const RANK = { error: 0, warning: 1, information: 2, hint: 3 } as const;

function publish(uri: string): void {
  void send(uri, ws.problems(uri));
}

/** Sends problems as a file's diagnostics; resolves once the message is written. */
function send(uri: string, all: QaProblem[]): Promise<void> {
  let problems = all;
  let more = 0;
  if (problems.length > MAX_DIAGNOSTICS) {
    more = problems.length - MAX_DIAGNOSTICS;
    problems = [...problems].sort((a, b) => RANK[a.severity] - RANK[b.severity] || a.startLine - b.startLine).slice(0, MAX_DIAGNOSTICS);
  }
  const diagnostics = problems.map((p) => toDiagnostic(p, ws));
  if (more) diagnostics.push({ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, severity: DiagnosticSeverity.Information, source: 'mnemo', code: 'too-many-problems', message: `${more.toLocaleString('en')} more problems in this file are not shown (only the first ${MAX_DIAGNOSTICS} are).` });
  return connection.sendDiagnostics({ uri, version: documents.get(uri)?.version, diagnostics });
}

// The Q&A view refreshes on this; bursts of edits are batched.
let pendingAnnounce = new Set<string>();
let announceTimer: NodeJS.Timeout | undefined;
function announce(uris: Iterable<string>): void {
  for (const u of uris) pendingAnnounce.add(u);
  announceTimer ??= setTimeout(() => {
    announceTimer = undefined;
    const batch = [...pendingAnnounce];
    pendingAnnounce = new Set();
    void connection.sendNotification(QaIndexChangedNotification, { uris: batch, ready });
  }, 100);
}

// Edits are checked on the next turn of the event loop, so a burst of changes costs one check.
const queued = new Set<string>();
/** Large documents whose structure problems are published and whose full check is queued: their parsed text. */
const staged = new Map<string, { text: string; file: QaFile }>();
let flushScheduled = false;
function schedule(uri: string): void {
  queued.add(uri);
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flush);
}
function flush(): void {
  flushScheduled = false;
  const touched = new Set<string>();
  for (const uri of [...queued]) {
    queued.delete(uri);
    const doc = documents.get(uri);
    if (!doc) continue;
    const text = doc.getText();
    const tracked = trackedLines.get(uri);
    let split: { lines: string[]; finalEol: boolean } | undefined;
    if (tracked) {
      const finalEol = tracked.length > 1 && tracked[tracked.length - 1] === '';
      split = { lines: finalEol ? tracked.slice(0, -1) : text === '' ? [] : tracked.slice(), finalEol };
      if (checkLines) {
        const expected = splitLines(text);
        if (expected.finalEol !== split.finalEol || JSON.stringify(expected.lines) !== JSON.stringify(split.lines)) connection.console.error(`tracked lines of ${uri} do not match its text`);
      }
    }
    const t0 = performance.now();
    const pre = staged.get(uri);
    staged.delete(uri);
    if (!pre && !ws.files.get(uri)?.analyses && text.length >= STAGED_CHARS && text.length <= ws.checker.largeFileChars) {
      // A large document checked for the first time: its structure problems now, the rest on the next turn (same results, in two publishes).
      const file = parseQa(text);
      staged.set(uri, { text, file });
      // The rest once this publish is out: messages are written one at a time, and a full check started
      // before would hold this one back. A request before then finds the document queued (see fresh).
      queued.add(uri);
      const rest = () => {
        if (queued.has(uri)) schedule(uri);
      };
      send(uri, file.problems).then(rest, rest);
      if (process.env.MNEMO_QA_TIMING) log(`TIMING structure ${(performance.now() - t0).toFixed(1)}`);
      continue;
    }
    for (const t of ws.update(uri, text, true, split, pre?.text === text ? pre.file : undefined)) touched.add(t);
    const t1 = performance.now();
    // From now on edits are applied to these lines (a copy: the parsed file keeps its own). Only
    // where re-parsing is incremental, and not where a lone CR makes the editor count lines differently.
    const state = ws.files.get(uri);
    if (state?.analyses && (tracked || !/\r(?!\n)/.test(text))) {
      trackedLines.set(uri, state.file.finalEol || state.file.lines.length === 0 ? [...state.file.lines, ''] : [...state.file.lines]);
    } else trackedLines.delete(uri);
    publish(uri);
    // MNEMO_QA_TIMING=1 (the benchmark) logs where an edit's time goes.
    if (process.env.MNEMO_QA_TIMING) log(`TIMING update ${(t1 - t0).toFixed(1)} publish ${(performance.now() - t1).toFixed(1)}`);
    touched.delete(uri);
    announce([uri]);
  }
  for (const t of touched) publish(t);
  announce(touched);
}

/** Re-checks files with their current text (after chunks arrive or settings change). */
function recheck(uris: string[]): void {
  const touched = new Set<string>();
  for (const uri of uris) {
    const state = ws.files.get(uri);
    if (!state) continue;
    const text = documents.get(uri)?.getText() ?? printQa(state.file);
    for (const t of ws.update(uri, text, state.open)) touched.add(t);
    touched.add(uri);
  }
  for (const t of touched) publish(t);
  announce(touched);
}

documents.onDidChangeContent((e) => {
  if (ready) schedule(e.document.uri);
});
documents.onDidOpen((e) => {
  if (!ready) return;
  // Opening a file under qa/ that is already indexed with the same text costs nothing new.
  schedule(e.document.uri);
  const source = ws.sourcesOf([e.document.getText()])[0];
  if (source) void ws.chunks.load(source);
});
documents.onDidClose(async (e) => {
  const uri = e.document.uri;
  trackedLines.delete(uri);
  staged.delete(uri);
  if (ws.isIndexed(uri)) {
    // A closed file under qa/ is still checked: from its saved text.
    const text = await ws.readFromDisk(uri);
    const touched = text === undefined ? ws.remove(uri) : ws.update(uri, text, false);
    if (text === undefined) void connection.sendDiagnostics({ uri, diagnostics: [] });
    else publish(uri);
    for (const t of touched) publish(t);
    announce([uri, ...touched]);
  } else {
    ws.remove(uri);
    void connection.sendDiagnostics({ uri, diagnostics: [] });
    announce([uri]);
  }
});

connection.onDidChangeWatchedFiles(({ changes }) => filesChanged(changes));

async function filesChanged(changes: Array<{ uri: string; type: FileChangeType }>): Promise<void> {
  if (!ready) return;
  if (changes.some((c) => c.uri.endsWith('/mnemo.json'))) {
    await loadWorkspace();
    return;
  }
  const touched = new Set<string>();
  for (const c of changes) {
    const path = ws.pathOf(c.uri);
    if (path.startsWith('sources/')) {
      ws.chunks.forget(path);
      ws.checker.forgetSource(path);
      void ws.chunks.load(path);
      continue;
    }
    if (!ws.isIndexed(c.uri) || documents.get(c.uri)) continue; // Open files follow the editor, not the disk.
    if (c.type === FileChangeType.Deleted) {
      for (const t of ws.remove(c.uri)) touched.add(t);
      void connection.sendDiagnostics({ uri: c.uri, diagnostics: [] });
    } else {
      const text = await ws.readFromDisk(c.uri);
      if (text === undefined) continue;
      for (const t of ws.update(c.uri, text, false)) touched.add(t);
      touched.add(c.uri);
    }
  }
  for (const t of touched) if (ws.files.has(t)) publish(t);
  announce([...touched, ...changes.map((c) => c.uri)]);
}

connection.onRequest(QaSummaryRequest, (params) => {
  const uris = params.uris ?? [...ws.files.keys()];
  const files = uris.map((u) => ws.summary(u)).filter((s): s is QaFileSummary => !!s);
  return { files, ready };
});

/** Requests see the document's latest text: a change still queued (or a file not read yet) is checked first. */
function fresh(uri: string): string {
  if (queued.has(uri)) flush();
  const doc = documents.get(uri);
  if (doc && !ws.files.has(uri)) ws.update(uri, doc.getText(), true);
  return uri;
}

connection.onHover((p) => hover(ws, fresh(p.textDocument.uri), p.position.line));
connection.onDefinition((p) => definition(ws, fresh(p.textDocument.uri), p.position.line));
connection.onDocumentSymbol((p) => symbols(ws, fresh(p.textDocument.uri)));
connection.onFoldingRanges((p) => folding(ws, fresh(p.textDocument.uri)));
connection.onDocumentFormatting((p) => format(ws, fresh(p.textDocument.uri)));
connection.onCodeAction((p) => codeActions(ws, { ...p, textDocument: { uri: fresh(p.textDocument.uri) } }));
connection.onCodeLens((p) => codeLenses(ws, fresh(p.textDocument.uri)));

documents.listen(connection);
connection.listen();
