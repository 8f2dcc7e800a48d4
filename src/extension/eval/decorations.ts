import * as vscode from 'vscode';
import type { Ctx } from '../ctx';
import type { EvalContentProvider, RenderedDoc, RenderedPair } from './content';
import { EVAL_SCHEME } from './ids';

type Mark = 'correct' | 'wrong' | 'ungraded';

function markOf(correct: boolean | null | undefined): Mark {
  return correct === true ? 'correct' : correct === false ? 'wrong' : 'ungraded';
}

const SYMBOL: Record<Mark, string> = { correct: '✓', wrong: '✗', ungraded: '?' };

/** A plain record of the decorations on one editor, for tests. */
export interface DecorationSnapshot {
  correct: number[];
  wrong: number[];
  ungraded: number[];
  /** Lines (the `@id:` line of the block) whose verdict differs from the other side, with the text shown after them. */
  changed: { line: number; text: string }[];
  overruled: number[];
}

/**
 * Verdict marks on answer set documents, in single views and on both sides of a diff: the verdict
 * line gets a tinted background, a gutter icon and a mark in the overview ruler (correct, wrong,
 * ungraded); an answer whose verdict differs from the other side of the diff gets a note on its
 * block's first line ("✓ here, ✗ in <other set>") and a mark in the ruler's middle lane; a verdict the user set is
 * labelled as theirs.
 */
export class VerdictDecorations implements vscode.Disposable {
  private readonly types: Record<Mark, vscode.TextEditorDecorationType>;
  private readonly changedType: vscode.TextEditorDecorationType;
  private readonly overruledType: vscode.TextEditorDecorationType;
  private readonly subs: vscode.Disposable[];
  private readonly applied = new Map<vscode.TextEditor, DecorationSnapshot>();

  constructor(
    ctx: Ctx,
    private readonly content: EvalContentProvider,
  ) {
    const icon = (name: string) => vscode.Uri.joinPath(ctx.extension.extensionUri, 'media', `eval-${name}.svg`);
    const lineType = (mark: Mark, background: string, ruler: string) =>
      vscode.window.createTextEditorDecorationType({
        isWholeLine: true,
        backgroundColor: new vscode.ThemeColor(background),
        gutterIconPath: icon(mark),
        gutterIconSize: '80%',
        overviewRulerColor: new vscode.ThemeColor(ruler),
        overviewRulerLane: vscode.OverviewRulerLane.Right,
      });
    this.types = {
      correct: lineType('correct', 'mnemo.eval.correctBackground', 'mnemo.eval.correctForeground'),
      wrong: lineType('wrong', 'mnemo.eval.wrongBackground', 'mnemo.eval.wrongForeground'),
      ungraded: lineType('ungraded', 'mnemo.eval.ungradedBackground', 'mnemo.eval.ungradedForeground'),
    };
    this.changedType = vscode.window.createTextEditorDecorationType({
      overviewRulerColor: new vscode.ThemeColor('mnemo.eval.changedForeground'),
      overviewRulerLane: vscode.OverviewRulerLane.Center,
      after: { color: new vscode.ThemeColor('mnemo.eval.changedForeground'), margin: '0 0 0 2em', fontStyle: 'italic' },
    });
    this.overruledType = vscode.window.createTextEditorDecorationType({
      after: { contentText: '  (your verdict)', color: new vscode.ThemeColor('descriptionForeground'), fontStyle: 'italic' },
    });
    this.subs = [
      ...Object.values(this.types),
      this.changedType,
      this.overruledType,
      vscode.window.onDidChangeVisibleTextEditors(() => this.update()),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document.uri.scheme === EVAL_SCHEME) this.update();
      }),
      vscode.workspace.onDidOpenTextDocument((d) => {
        if (d.uri.scheme === EVAL_SCHEME) this.update();
      }),
    ];
    this.update();
  }

  /** Decorates every visible answer set document. */
  update(): void {
    for (const editor of [...this.applied.keys()]) if (!vscode.window.visibleTextEditors.includes(editor)) this.applied.delete(editor);
    for (const editor of vscode.window.visibleTextEditors) {
      if (editor.document.uri.scheme !== EVAL_SCHEME) continue;
      const doc = this.content.rendered(editor.document.uri);
      // Only when the editor shows what was rendered (a refresh may be on its way).
      if (!doc || doc.text !== editor.document.getText()) continue;
      this.decorate(editor, doc);
    }
  }

  private decorate(editor: vscode.TextEditor, doc: RenderedDoc): void {
    const snap: DecorationSnapshot = { correct: [], wrong: [], ungraded: [], changed: [], overruled: [] };
    const ranges: Record<Mark, vscode.DecorationOptions[]> = { correct: [], wrong: [], ungraded: [] };
    const changed: vscode.DecorationOptions[] = [];
    const overruled: vscode.DecorationOptions[] = [];
    const otherLabel = doc.other?.meta.label ?? '';
    for (const p of doc.pairs) {
      const v = p.answer.verdict;
      const mark = markOf(v.correct);
      const line = editor.document.lineAt(p.verdictLine).range;
      ranges[mark].push({ range: line, hoverMessage: hover(p) });
      snap[mark].push(p.verdictLine);
      if (v.overruled) {
        overruled.push({ range: line });
        snap.overruled.push(p.verdictLine);
      }
      if (doc.other) {
        const otherMark = p.other ? markOf(p.other.verdict.correct) : undefined;
        if (otherMark !== mark) {
          const text = otherMark ? `${SYMBOL[mark]} here, ${SYMBOL[otherMark]} in ${otherLabel}` : `not asked in ${otherLabel}`;
          // On the short `@id:` line that opens the block, where the note is always in view.
          const at = editor.document.lineAt(p.start).range;
          changed.push({ range: new vscode.Range(at.end, at.end), renderOptions: { after: { contentText: text } } });
          snap.changed.push({ line: p.start, text });
        }
      }
    }
    for (const mark of Object.keys(ranges) as Mark[]) editor.setDecorations(this.types[mark], ranges[mark]);
    editor.setDecorations(this.changedType, changed);
    editor.setDecorations(this.overruledType, overruled);
    this.applied.set(editor, snap);
  }

  /** What the decorations on the editor of `uri` mark (for tests). */
  snapshot(uri: vscode.Uri): DecorationSnapshot | undefined {
    for (const [editor, snap] of this.applied) if (editor.document.uri.toString() === uri.toString()) return snap;
    return undefined;
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    this.applied.clear();
  }
}

function hover(p: RenderedPair): vscode.MarkdownString {
  const v = p.answer.verdict;
  const md = new vscode.MarkdownString();
  md.appendMarkdown(`**${v.correct === null ? 'Ungraded' : v.correct ? 'Correct' : 'Wrong'}**`).appendText(` (${v.by}${v.reason ? `: ${v.reason}` : ''})`);
  if (v.overruled && v.auto) md.appendMarkdown('\n\nYou overruled ').appendText(`${v.auto.by}: ${v.auto.correct === null ? 'ungraded' : v.auto.correct ? 'correct' : 'wrong'}${v.auto.reason ? ` (${v.auto.reason})` : ''}`);
  if (v.match) md.appendMarkdown('\n\nKey terms: ').appendText(v.match.terms.join(', ') || '(none)').appendMarkdown(v.match.missing.length ? '; missing: ' : '').appendText(v.match.missing.join(', '));
  if (v.flags?.length) md.appendMarkdown('\n\nFlags: ').appendText(v.flags.join(', '));
  md.appendMarkdown('\n\nRight-click the pair to mark it correct or wrong.');
  return md;
}
