import * as vscode from 'vscode';
import { MnemoError } from '../../core/errors';
import { lineEditToTextEdit, parseQa, type LineEdit, type QaFile, type QaPair } from '../../core/qa';
import { PairNode } from './nodes';

/** Which pair a command acts on: a tree node, or `{ file, pair }` (a URI or path, and the pair's index) from tests and scripts. */
export interface PairTarget {
  uri: vscode.Uri;
  pair: number;
  /** The question as last seen, to find the pair again if pairs moved since. */
  question?: string;
}

export type PairArg = PairNode | { file: string | vscode.Uri; pair: number; question?: string };

export function pairTarget(arg: unknown, root: string | undefined): PairTarget {
  if (arg instanceof PairNode) return { uri: arg.uri, pair: arg.pair.index, question: arg.pair.question };
  const a = arg as { file?: unknown; pair?: unknown; question?: unknown } | undefined;
  if (a && (typeof a.file === 'string' || a.file instanceof vscode.Uri) && typeof a.pair === 'number') {
    const uri = a.file instanceof vscode.Uri ? a.file : /^[a-z][\w+.-]+:/i.test(a.file) ? vscode.Uri.parse(a.file) : vscode.Uri.file(a.file.startsWith('/') || !root ? a.file : `${root}/${a.file}`);
    return { uri, pair: a.pair, question: typeof a.question === 'string' ? a.question : undefined };
  }
  throw new MnemoError('This command acts on a pair.', 'Run it from a pair in the Q&A view.');
}

/** The pair in the file's current text: by index, checked against the question last seen (pairs may have moved). */
export function locatePair(file: QaFile, target: PairTarget): QaPair {
  const byIndex = file.pairs[target.pair];
  if (byIndex && (target.question === undefined || byIndex.question === target.question)) return byIndex;
  const moved = target.question !== undefined ? file.pairs.filter((p) => p.question === target.question) : [];
  if (moved.length === 1) return moved[0];
  throw new MnemoError('That pair has changed since the Q&A view showed it.', 'Refresh the Q&A view and try again.');
}

/**
 * Applies an edit to one pair through the editor's document, so unsaved changes in an open
 * editor are kept (the edit joins them, nothing is written behind it). A file that had no
 * unsaved changes is saved afterwards, so the edit reaches the disk like any tree action.
 */
export async function editPair(target: PairTarget, make: (file: QaFile, pair: QaPair) => LineEdit): Promise<QaFile> {
  const doc = await vscode.workspace.openTextDocument(target.uri);
  const wasDirty = doc.isDirty;
  const version = doc.version;
  const file = parseQa(doc.getText());
  const pair = locatePair(file, target);
  const t = lineEditToTextEdit(file, make(file, pair));
  if (doc.version !== version) throw new MnemoError('The file changed while the edit was being prepared.', 'Try again.');
  const edit = new vscode.WorkspaceEdit();
  edit.replace(doc.uri, new vscode.Range(t.start.line, t.start.character, t.end.line, t.end.character), t.newText);
  if (!(await vscode.workspace.applyEdit(edit))) {
    throw new MnemoError(`Could not edit ${vscode.workspace.asRelativePath(doc.uri)}.`, 'Is the file read-only? Check its permissions.');
  }
  if (!wasDirty) await doc.save();
  return parseQa(doc.getText());
}
