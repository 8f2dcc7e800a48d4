import { basename, extname } from 'node:path';
import * as vscode from 'vscode';
import { MnemoError } from '../../core/errors';
import type { Project } from '../../core/project';
import { resolveSourcePath, sourceKind, unsupportedNote } from '../../core/sources';
import type { Ctx } from '../ctx';
import { chunkUri, textUri } from './content';
import type { SourcesModel } from './model';
import { ChunkNode, describeSource, SourceNode } from './nodes';

/** What a Sources command may be given: a tree node, a path ("sources/a.pdf" or "a.pdf"), or a file URI. */
export type SourceArg = SourceNode | ChunkNode | string | vscode.Uri | undefined;

export function sourcePath(project: Project, arg: SourceArg): string {
  if (arg instanceof SourceNode || arg instanceof ChunkNode) return arg.path;
  if (arg instanceof vscode.Uri) return resolveSourcePath(project, arg.fsPath).rel;
  if (typeof arg === 'string' && arg) return resolveSourcePath(project, arg).rel;
  throw new MnemoError('No source was given.', 'Pick a source in the Sources view (right-click it for this command).');
}

export async function openExtractedText(ctx: Ctx, model: SourcesModel, arg: SourceArg): Promise<string> {
  const path = sourcePath(ctx.requireProject(), arg);
  await model.ensure(path, { quiet: true });
  const uri = textUri(path);
  const doc = await vscode.workspace.openTextDocument(uri);
  await vscode.window.showTextDocument(doc, { preview: true });
  return uri.toString();
}

export async function openChunk(ctx: Ctx, model: SourcesModel, arg: SourceArg, n?: number): Promise<string> {
  const path = sourcePath(ctx.requireProject(), arg);
  const number = arg instanceof ChunkNode ? arg.chunk.n : Number(n);
  const source = await model.ensure(path, { quiet: true });
  if (!Number.isInteger(number) || number < 1 || number > source.chunks.length) {
    throw new MnemoError(`${path} has ${source.chunks.length} chunk${source.chunks.length === 1 ? '' : 's'}; there is no chunk ${String(n)}.`, 'Chunks are numbered from 1; expand the source in the Sources view to see them.', path);
  }
  const uri = chunkUri(path, number);
  const doc = await vscode.workspace.openTextDocument(uri);
  await vscode.window.showTextDocument(doc, { preview: true });
  return uri.toString();
}

export async function reextractSource(ctx: Ctx, model: SourcesModel, arg: SourceArg): Promise<string> {
  const path = sourcePath(ctx.requireProject(), arg);
  const source = await model.reextract(path);
  const summary = `${path}: ${describeSource(source)}`;
  void vscode.window.showInformationMessage(`Mnemo: re-extracted ${summary}.`);
  return summary;
}

/** Moves a source to the trash after asking; `{ confirm: false }` skips the question (tests, scripts). */
export async function removeSource(ctx: Ctx, model: SourcesModel, arg: SourceArg, options?: { confirm?: boolean }): Promise<boolean> {
  const project = ctx.requireProject();
  const path = sourcePath(project, arg);
  if (options?.confirm !== false) {
    const choice = await vscode.window.showWarningMessage(`Move ${path} to the trash?`, { modal: true, detail: 'Its cached text stays in .mnemo/ until the cache is cleared; Q&A files made from it are kept.' }, 'Move to Trash');
    if (choice !== 'Move to Trash') return false;
  }
  const uri = vscode.Uri.file(resolveSourcePath(project, path).abs);
  try {
    await vscode.workspace.fs.delete(uri, { useTrash: true });
    ctx.log.info(`Moved ${path} to the trash`);
  } catch (err) {
    // Some file systems (a remote server, for one) have no trash: keep the file under .mnemo/trash/ rather than delete it for good.
    const kept = vscode.Uri.joinPath(vscode.Uri.file(project.cacheDir), 'trash', `${new Date().toISOString().replace(/[:.]/g, '-')}-${basename(path)}`);
    await vscode.workspace.fs.createDirectory(vscode.Uri.joinPath(kept, '..'));
    await vscode.workspace.fs.rename(uri, kept, { overwrite: false });
    const where = vscode.workspace.asRelativePath(kept);
    ctx.log.info(`No trash here (${err instanceof Error ? err.message : String(err)}): moved ${path} to ${where}`);
    void vscode.window.showInformationMessage(`Mnemo: removed ${path} from sources/. There is no trash here, so it was moved to ${where}.`);
  }
  await model.refresh();
  return true;
}

type Incoming = vscode.Uri | { name: string; data: Uint8Array };

/**
 * Copies files into sources/. Never overwrites: an identical file is skipped, a different one
 * with the same name is kept as "name (2).ext" (when `ask` is set, after asking).
 */
export async function addSources(ctx: Ctx, model: SourcesModel, files: Incoming[], ask: boolean): Promise<string[]> {
  const project = ctx.requireProject();
  const dir = vscode.Uri.file(project.sourcesDir);
  await vscode.workspace.fs.createDirectory(dir);
  const added: string[] = [];
  const notes: string[] = [];
  for (const file of files) {
    const name = file instanceof vscode.Uri ? basename(file.path) : file.name;
    if (!sourceKind(name)) {
      notes.push(`${name} was not added: ${unsupportedNote(name)}`);
      continue;
    }
    const data = file instanceof vscode.Uri ? await vscode.workspace.fs.readFile(file) : file.data;
    let target = vscode.Uri.joinPath(dir, name);
    const existing = await readIfExists(target);
    if (existing) {
      if (Buffer.from(existing).equals(Buffer.from(data))) {
        notes.push(`${name} is already in sources/ (same content).`);
        continue;
      }
      target = await freeName(dir, name);
      if (ask) {
        const keep = `Keep Both (as ${basename(target.path)})`;
        const choice = await vscode.window.showWarningMessage(`sources/${name} already exists with different content.`, { modal: true, detail: 'Mnemo never overwrites a source.' }, keep);
        if (choice !== keep) continue;
      } else {
        notes.push(`sources/${name} already exists with different content; added as ${basename(target.path)}.`);
      }
    }
    await vscode.workspace.fs.writeFile(target, data);
    added.push(`sources/${basename(target.path)}`);
  }
  for (const n of notes) ctx.log.info(n);
  if (notes.length) void vscode.window.showInformationMessage(`Mnemo: ${notes.join(' ')}`);
  if (added.length) {
    ctx.log.info(`Added ${added.join(', ')}`);
    await model.refresh();
  }
  return added;
}

async function readIfExists(uri: vscode.Uri): Promise<Uint8Array | undefined> {
  try {
    return await vscode.workspace.fs.readFile(uri);
  } catch {
    return undefined;
  }
}

async function freeName(dir: vscode.Uri, name: string): Promise<vscode.Uri> {
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let i = 2; ; i++) {
    const uri = vscode.Uri.joinPath(dir, `${stem} (${i})${ext}`);
    if (!(await readIfExists(uri))) return uri;
  }
}

/** "Mnemo: Add Source…": files given (a path, URIs from the Explorer) or picked in a dialog. */
export async function addSourceCommand(ctx: Ctx, model: SourcesModel, arg?: string | vscode.Uri | string[], more?: vscode.Uri[]): Promise<string[]> {
  ctx.requireProject();
  let files: vscode.Uri[];
  let ask = false;
  if (Array.isArray(more) && more.length) files = more;
  else if (Array.isArray(arg)) files = arg.map((p) => vscode.Uri.file(p));
  else if (arg instanceof vscode.Uri) files = [arg];
  else if (typeof arg === 'string' && arg) files = [vscode.Uri.file(arg)];
  else {
    const picked = await vscode.window.showOpenDialog({
      title: 'Mnemo: Add Source',
      canSelectMany: true,
      openLabel: 'Add to Sources',
      filters: { Documents: ['pdf', 'txt', 'md', 'markdown'] },
    });
    if (!picked?.length) return [];
    files = picked;
    ask = true;
  }
  return addSources(ctx, model, files, ask);
}
