import * as vscode from 'vscode';
import type { Feature } from '../commands';
import type { Ctx } from '../ctx';
import { addSourceCommand, addSources, openChunk, openExtractedText, reextractSource, removeSource } from './commands';
import { SourceContentProvider } from './content';
import { COMMANDS, SOURCE_SCHEME, VIEW_ID } from './ids';
import { SourcesModel } from './model';
import { SourcesTreeProvider } from './provider';

export { SourcesModel } from './model';
export type { TreeSnapshot } from './provider';

/** What the extension's API exposes of the Sources view (tests read the tree through it). */
export interface SourcesView {
  model: SourcesModel;
  provider: SourcesTreeProvider;
  treeView: vscode.TreeView<unknown>;
}

let view: SourcesView | undefined;

/** The Sources view once the feature is active. */
export function getSourcesView(): SourcesView | undefined {
  return view;
}

function need(): SourcesView {
  if (!view) throw new Error('The Sources view is not set up yet.');
  return view;
}

function activate(ctx: Ctx): void {
  // Cheap: no listing, extraction, pdf-parse or tokenizer here; the view's first getChildren starts them.
  const model = ctx.own(new SourcesModel(ctx));
  const provider = ctx.own(new SourcesTreeProvider(model, (files) => addSources(ctx, model, files, true)));
  const treeView = ctx.own(vscode.window.createTreeView(VIEW_ID, { treeDataProvider: provider, dragAndDropController: provider, showCollapseAll: true, canSelectMany: false }));
  ctx.own(vscode.workspace.registerTextDocumentContentProvider(SOURCE_SCHEME, ctx.own(new SourceContentProvider(model))));
  view = { model, provider, treeView };
  ctx.own({ dispose: () => (view = undefined) });
}

export const sourcesFeature: Feature = {
  name: 'sources',
  activate,
  commands: [
    { id: COMMANDS.addSource, run: (ctx, arg, more) => addSourceCommand(ctx, need().model, arg, more) },
    {
      id: COMMANDS.refreshSources,
      run: async () => {
        await need().model.refresh();
        return need().model.all.length;
      },
    },
    { id: COMMANDS.openExtractedText, run: (ctx, arg) => openExtractedText(ctx, need().model, arg) },
    { id: COMMANDS.openChunk, run: (ctx, arg, n) => openChunk(ctx, need().model, arg, n) },
    { id: COMMANDS.reextractSource, run: (ctx, arg) => reextractSource(ctx, need().model, arg) },
    { id: COMMANDS.removeSource, run: (ctx, arg, options) => removeSource(ctx, need().model, arg, options) },
  ],
};
