import * as vscode from 'vscode';
import { MnemoError } from '../../core/errors';
import { coverage, coverageMarkdown, deletePairEdit, parseQa, replacePairEdit, setReviewedEdit, toggleCommentEdit } from '../../core/qa';
import { chunkSource } from '../../core/sources';
import type { ChunkRef } from '../../shared/lsp-protocol';
import type { CommandSpec, Feature } from '../commands';
import type { Ctx } from '../ctx';
import { regenerateChunks } from '../generation';
import { QaClient } from './client';
import { editPair, locatePair, pairTarget } from './edits';
import { COMMANDS, FILTER_CONTEXT_KEY, VIEW_ID, type QaFilter } from './ids';
import { QaModel } from './model';
import { QaTreeProvider } from './provider';

/** The Q&A feature's objects, created at activation (the view, its model and the language client). */
export interface QaServices {
  client: QaClient;
  model: QaModel;
  tree: QaTreeProvider;
  view: vscode.TreeView<unknown>;
}

let services: QaServices | undefined;

/** For tests: the live Q&A services. */
export function qaServices(): QaServices | undefined {
  return services;
}

function need(): QaServices {
  if (!services) throw new MnemoError('The Q&A view is not ready yet.', 'Open a Mnemo project folder.');
  return services;
}

const FILTER_LABELS: Record<QaFilter, string | undefined> = { all: undefined, problems: 'only pairs with problems', filtered: 'only echoed, vacuous or ungrounded pairs', unreviewed: 'only unreviewed pairs' };

async function setFilter(filter: QaFilter): Promise<QaFilter> {
  need().model.setFilter(filter);
  // The view's title says which filter is on, so an emptier view is never a surprise.
  need().view.description = FILTER_LABELS[filter];
  await vscode.commands.executeCommand('setContext', FILTER_CONTEXT_KEY, filter);
  return filter;
}

/** Asks for new text, prefilled; `text` in the arguments (from tests and scripts) skips the prompt. */
async function askText(what: 'question' | 'answer', current: string, given: unknown): Promise<string | undefined> {
  if (typeof given === 'string') return given;
  return vscode.window.showInputBox({
    title: `Edit ${what}`,
    value: current.replace(/\s*\n\s*/g, ' '),
    prompt: `The new ${what}. The pair's metadata and state are kept.`,
    validateInput: (v) => (v.trim() ? undefined : `The ${what} cannot be empty (delete the pair instead).`),
  });
}

function editText(what: 'question' | 'answer') {
  return async (ctx: Ctx, arg: unknown, text?: unknown) => {
    const target = pairTarget(arg, ctx.project?.root ?? ctx.workspaceRoot);
    const file = await need().model.parse(target.uri);
    const pair = locatePair(file, target);
    const value = await askText(what, what === 'question' ? pair.question : pair.answer, text);
    if (value === undefined) return undefined;
    await editPair({ ...target, pair: pair.index, question: pair.question }, (f, p) => replacePairEdit(f, p, { [what]: value }));
    need().model.refresh();
    return value;
  };
}

function chunkRef(arg: unknown): ChunkRef {
  const a = arg as Partial<ChunkRef> | undefined;
  if (!a || typeof a.source !== 'string' || !Number.isInteger(Number(a.chunk))) throw new MnemoError('This command needs a source and a chunk.', 'Run it from the code lens above an "@chunk" line.');
  const temperature = a.temperature !== undefined && Number.isFinite(Number(a.temperature)) ? Number(a.temperature) : undefined;
  return { uri: a.uri, source: a.source, chunk: Number(a.chunk), variant: typeof a.variant === 'string' && a.variant ? a.variant : undefined, temperature, scope: a.scope };
}

const commands: CommandSpec[] = [
  {
    // `{ snapshot: true }` (for tests and scripts) returns what the view then shows, expanded.
    id: COMMANDS.refresh,
    run: async (_ctx, arg?: { snapshot?: boolean }) => {
      need().model.refresh();
      return arg?.snapshot ? need().tree.snapshot() : undefined;
    },
  },
  { id: COMMANDS.editQuestion, run: editText('question') },
  { id: COMMANDS.editAnswer, run: editText('answer') },
  {
    id: COMMANDS.deletePair,
    run: async (ctx, arg) => {
      await editPair(pairTarget(arg, ctx.project?.root ?? ctx.workspaceRoot), deletePairEdit);
      need().model.refresh();
    },
  },
  {
    id: COMMANDS.rejectPair,
    run: async (ctx, arg) => {
      await editPair(pairTarget(arg, ctx.project?.root ?? ctx.workspaceRoot), toggleCommentEdit);
      need().model.refresh();
    },
  },
  {
    id: COMMANDS.markReviewed,
    run: async (ctx, arg) => {
      await editPair(pairTarget(arg, ctx.project?.root ?? ctx.workspaceRoot), (f, p) => setReviewedEdit(f, p, true));
      need().model.refresh();
    },
  },
  { id: COMMANDS.filterProblems, run: () => setFilter('problems') },
  { id: COMMANDS.filterUnreviewed, run: () => setFilter('unreviewed') },
  { id: COMMANDS.filterFiltered, run: () => setFilter('filtered') },
  { id: COMMANDS.clearFilter, run: () => setFilter('all') },
  { id: COMMANDS.showCoverage, run: (ctx) => showCoverage(ctx) },
  {
    // Regenerating is the generation stage's job: it asks for this one chunk again (its progress and
    // cancel UI), replacing the chunk's pairs in untouched files and appending in edited ones. By
    // default one request, the file's own variant and temperature; scope 'all' sweeps the chunk.
    id: COMMANDS.regenerateChunk,
    run: async (ctx, arg) => {
      const ref = chunkRef(arg);
      const own = ref.scope !== 'all' && ref.variant !== undefined && ref.temperature !== undefined;
      const outcome = await regenerateChunks(ctx, ref.source, [ref.chunk], own ? { variants: [ref.variant!], temperatures: [ref.temperature!] } : {});
      need().model.refresh();
      return outcome;
    },
  },
  {
    id: COMMANDS.openSourceChunk,
    run: async (_ctx, arg) => {
      const ref = chunkRef(arg);
      // The Sources feature serves chunks as read-only documents (mnemo-source:/<path> (chunk n)).
      const uri = vscode.Uri.from({ scheme: 'mnemo-source', path: `/${ref.source} (chunk ${ref.chunk})` });
      const doc = await vscode.workspace.openTextDocument(uri);
      await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true, preserveFocus: true });
      return uri.toString();
    },
  },
];

/** Coverage of sources by pairs, as a Markdown document: chunks with no pairs, pairs per chunk and temperature. */
async function showCoverage(ctx: Ctx): Promise<string> {
  const project = ctx.requireProject();
  const files = await need().model.files();
  // A file deleted since the server last listed it is left out (the server's next summary drops it too).
  const read = await Promise.all(files.map(async (f) => ({ path: f.path, text: await need().model.text(vscode.Uri.parse(f.uri)).catch(() => undefined) })));
  const parsed = read.flatMap((f) => (f.text === undefined ? [] : [{ path: f.path, file: parseQa(f.text) }]));
  const sources = new Set(files.map((f) => f.header.source).filter((s): s is string => !!s));
  const chunkCounts = new Map<string, number>();
  await Promise.all(
    [...sources].map(async (s) => {
      try {
        chunkCounts.set(s, (await chunkSource(project, s)).chunks.length);
      } catch (err) {
        ctx.log.warn(`Coverage: the chunks of ${s} are unavailable: ${err instanceof Error ? err.message : String(err)}`);
      }
    }),
  );
  const markdown = coverageMarkdown(coverage(parsed, chunkCounts));
  // A read-only document (nothing to save on close), shown rendered: the tables are the point.
  coverageReport.set(markdown);
  await vscode.commands.executeCommand('markdown.showPreview', COVERAGE_URI);
  return markdown;
}

const COVERAGE_URI = vscode.Uri.from({ scheme: 'mnemo-qa-coverage', path: '/Q&A coverage.md' });

/** The coverage report's read-only document. */
class CoverageReport implements vscode.TextDocumentContentProvider {
  private text = '';
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  set(text: string): void {
    this.text = text;
    this.changed.fire(COVERAGE_URI);
  }
  provideTextDocumentContent(): string {
    return this.text;
  }
}
const coverageReport = new CoverageReport();

export const qaFeature: Feature = {
  name: 'qa',
  commands,
  activate(ctx) {
    const client = ctx.own(new QaClient(ctx));
    const model = ctx.own(new QaModel(client));
    const tree = ctx.own(new QaTreeProvider(model));
    const view = ctx.own(vscode.window.createTreeView(VIEW_ID, { treeDataProvider: tree, showCollapseAll: true }));
    services = { client, model, tree, view: view as vscode.TreeView<unknown> };
    ctx.own(vscode.workspace.registerTextDocumentContentProvider(COVERAGE_URI.scheme, coverageReport));
    void vscode.commands.executeCommand('setContext', FILTER_CONTEXT_KEY, 'all');
    ctx.own(ctx.onDidChangeProject(() => model.refresh()));
    ctx.own({ dispose: () => (services = undefined) });
    // The server checks every .qa file of the project: start it with the project, not only when a .qa file opens.
    if (ctx.project || vscode.workspace.textDocuments.some((d) => d.languageId === 'mnemo-qa')) void client.start();
  },
};
