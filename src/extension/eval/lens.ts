import * as vscode from 'vscode';
import type { EvalContentProvider } from './content';
import { COMMANDS, EVAL_SCHEME } from './ids';

/**
 * Lenses above each answer of an answer set document: mark it correct or wrong, or go back to
 * the automatic verdict. (In a diff, VS Code hides lenses unless `diffEditor.codeLens` is on;
 * the same commands are in the editor's context menu and title bar.)
 */
export class VerdictLenses implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private readonly sub: vscode.Disposable;

  constructor(private readonly content: EvalContentProvider) {
    this.sub = vscode.workspace.onDidChangeTextDocument((e) => {
      if (e.document.uri.scheme === EVAL_SCHEME) this.changed.fire();
    });
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const doc = this.content.rendered(document.uri);
    if (!doc || doc.text !== document.getText()) return [];
    return doc.pairs.flatMap((p) => {
      const range = new vscode.Range(p.start, 0, p.start, 0);
      const target = { path: doc.ref.path, questionId: p.questionId };
      const v = p.answer.verdict;
      const lenses = [
        new vscode.CodeLens(range, { title: v.correct === true ? '$(pass-filled) correct' : '$(check) Mark correct', command: COMMANDS.markCorrect, arguments: [target], tooltip: 'Count this answer as correct (your verdict is kept with the results)' }),
        new vscode.CodeLens(range, { title: v.correct === false ? '$(error) wrong' : '$(close) Mark wrong', command: COMMANDS.markWrong, arguments: [target], tooltip: 'Count this answer as wrong (your verdict is kept with the results)' }),
      ];
      if (v.overruled) lenses.push(new vscode.CodeLens(range, { title: `$(discard) Back to ${v.auto?.by ?? 'automatic'} verdict`, command: COMMANDS.clearVerdict, arguments: [target] }));
      return lenses;
    });
  }

  dispose(): void {
    this.sub.dispose();
    this.changed.dispose();
  }
}
