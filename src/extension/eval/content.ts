import { isAbsolute, join, relative, sep } from 'node:path';
import * as vscode from 'vscode';
import { answerSetToQa, compareAnswerSets, readAnswerSet, type AnswerRecord, type AnswerSet } from '../../core/eval';
import { MnemoError } from '../../core/errors';
import { EVAL_SCHEME } from './ids';

/**
 * Answer sets as read-only `.qa` documents, for reading one set and for diffs of two:
 *   mnemo-eval:/eval/results/api-gpt-4o-mini-none-questions.qa
 *   mnemo-eval:/runs/r1/eval/questions.qa?vs=eval/results/base-smollm2-questions.json
 * The path is the set's JSON file (project-relative) with `.json` written as `.qa` (so the
 * document gets the .qa language's colours); `vs` names the set on the other side of a diff: both
 * sides then list the questions in the same order, and verdicts that differ are marked.
 */
export interface EvalDocRef {
  /** Absolute path of the answer set's JSON file. */
  path: string;
  /** Absolute path of the set it is compared with. */
  vs?: string;
}

function rel(root: string, path: string): string {
  const r = relative(root, path);
  if (!r || r.startsWith('..') || isAbsolute(r)) throw new MnemoError(`The answer set ${path} is outside the project.`, 'Answer sets live in eval/results/ and runs/<id>/eval/.');
  return r.split(sep).join('/');
}

export function evalDocUri(root: string, ref: EvalDocRef): vscode.Uri {
  const path = `/${rel(root, ref.path).replace(/\.json$/, '')}.qa`;
  return vscode.Uri.from({ scheme: EVAL_SCHEME, path, query: ref.vs ? `vs=${encodeURIComponent(rel(root, ref.vs))}` : '' });
}

export function parseEvalDocUri(root: string, uri: vscode.Uri): EvalDocRef {
  if (uri.scheme !== EVAL_SCHEME || !uri.path.endsWith('.qa')) throw new MnemoError(`Not an answer set document: ${uri.toString()}.`);
  const path = join(root, `${uri.path.slice(1, -'.qa'.length)}.json`);
  const vs = new URLSearchParams(uri.query).get('vs');
  return { path, vs: vs ? join(root, vs) : undefined };
}

/** Where one answer sits in a rendered document (0-based lines). */
export interface RenderedPair {
  questionId: string;
  answer: AnswerRecord;
  /** The `@id:` line that opens the block. */
  start: number;
  /** The `# verdict:` line. */
  verdictLine: number;
  /** The `Q:` line. */
  questionLine: number;
  /** The last line of the answer. */
  end: number;
  /** The same question in the set on the other side, when there is one. */
  other?: AnswerRecord;
}

export interface RenderedDoc {
  ref: EvalDocRef;
  set: AnswerSet;
  other?: AnswerSet;
  text: string;
  pairs: RenderedPair[];
}

/**
 * Renders a set with the core's .qa form (`answerSetToQa`) and finds each answer's lines in it:
 * a block starts at `@id: <question id>` (continuation lines that would look like metadata are
 * indented by the core, so an `@id:` at the start of a line is always a block).
 */
export function renderEvalDoc(ref: EvalDocRef): RenderedDoc {
  const set = readAnswerSet(ref.path);
  let other: AnswerSet | undefined;
  let order: string[] | undefined;
  if (ref.vs) {
    other = readAnswerSet(ref.vs);
    // Both sides list the union of questions in one order (the left set's, then the rest), so
    // that the diff lines them up. Which side is "left" does not matter for the order: sort ids
    // the same way whichever document asks.
    const [a, b] = ref.path <= ref.vs ? [set, other] : [other, set];
    order = compareAnswerSets(a, b).rows.map((r) => r.questionId);
  }
  const text = answerSetToQa(set, order);
  const lines = text.split('\n');
  const byId = new Map(set.answers.map((a) => [a.questionId, a]));
  const otherById = new Map(other?.answers.map((a) => [a.questionId, a]));
  const pairs: RenderedPair[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^@id: (\S+)/.exec(lines[i]);
    if (!m) continue;
    const answer = byId.get(m[1]);
    if (!answer) continue;
    let verdictLine = i;
    let questionLine = i;
    let end = i;
    for (let j = i + 1; j < lines.length && lines[j].trim() !== '' && !lines[j].startsWith('@id: '); j++) {
      if (lines[j].startsWith('# verdict:')) verdictLine = j;
      if (lines[j].startsWith('Q: ') && questionLine === i) questionLine = j;
      end = j;
    }
    pairs.push({ questionId: m[1], answer, start: i, verdictLine, questionLine, end, other: otherById.get(m[1]) });
  }
  return { ref, set, other, text, pairs };
}

/** The answer whose block holds `line`, if any. */
export function pairAtLine(doc: RenderedDoc, line: number): RenderedPair | undefined {
  return doc.pairs.find((p) => line >= p.start && line <= p.end);
}

/** Serves the documents, remembers what each one shows, and re-renders them when their sets change. */
export class EvalContentProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly docs = new Map<string, RenderedDoc>();
  private readonly subs: vscode.Disposable[];

  constructor(private readonly root: () => string | undefined) {
    this.subs = [this.changed, vscode.workspace.onDidCloseTextDocument((d) => this.docs.delete(d.uri.toString()))];
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    try {
      const root = this.root();
      if (!root) throw new MnemoError('No Mnemo project is open: open the project folder the answer set belongs to.');
      const doc = renderEvalDoc(parseEvalDocUri(root, uri));
      this.docs.set(uri.toString(), doc);
      return doc.text;
    } catch (err) {
      this.docs.delete(uri.toString());
      // The editor shows the reason in place of the answers (e.g. a set deleted while open).
      return `# ${err instanceof Error ? err.message : String(err)}\n`;
    }
  }

  /** What an open document shows (undefined until VS Code has asked for its text). */
  rendered(uri: vscode.Uri): RenderedDoc | undefined {
    return this.docs.get(uri.toString());
  }

  /** Re-renders every open document that shows the set at `path` (on either side). */
  refresh(path?: string): void {
    for (const [key, doc] of this.docs) {
      if (!path || doc.ref.path === path || doc.ref.vs === path) this.changed.fire(vscode.Uri.parse(key));
    }
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
  }
}
