import * as vscode from 'vscode';
import { isOfflineGenerator } from '../../core/generation/output';
import type { QaPair } from '../../core/qa';
import type { QaFileSummary } from '../../shared/lsp-protocol';
import { CONTEXT_VALUES, type QaFilter } from './ids';

export type QaNode = GroupNode | FileNode | PairNode;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function problemCount(s: QaFileSummary): number {
  return s.problems.error + s.problems.warning + s.problems.information;
}

/** A source, or a prompt variant within a source: files grouped for the view. */
export class GroupNode {
  readonly children: (GroupNode | FileNode)[] = [];
  constructor(
    readonly id: string,
    readonly label: string,
    readonly kind: 'source' | 'variant',
    readonly parent?: GroupNode,
  ) {}

  get files(): FileNode[] {
    return this.children.flatMap((c) => (c instanceof GroupNode ? c.files : [c]));
  }

  toTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(this.label, vscode.TreeItemCollapsibleState.Expanded);
    item.id = this.id;
    item.contextValue = CONTEXT_VALUES.group;
    const files = this.files;
    const pairs = files.reduce((n, f) => n + f.summary.active, 0);
    const problems = files.reduce((n, f) => n + problemCount(f.summary), 0);
    item.description = `${plural(files.length, 'file')} · ${plural(pairs, 'pair')}${problems ? ` · ${plural(problems, 'problem')}` : ''}`;
    item.iconPath = new vscode.ThemeIcon(this.kind === 'source' ? 'file-pdf' : 'symbol-enum');
    return item;
  }
}

/** One .qa file: its temperature, pair and problem counts. */
export class FileNode {
  constructor(
    readonly summary: QaFileSummary,
    readonly parent: GroupNode | undefined,
  ) {}

  get uri(): vscode.Uri {
    return vscode.Uri.parse(this.summary.uri);
  }

  /** Made by the offline generator: cloze statements, low quality. */
  get offline(): boolean {
    return isOfflineGenerator(this.summary.header.generator);
  }

  toTreeItem(): vscode.TreeItem {
    const s = this.summary;
    const name = s.path.split('/').pop() ?? s.path;
    const t = s.header.temperature;
    const item = new vscode.TreeItem(t !== undefined ? `t=${t}` : name, vscode.TreeItemCollapsibleState.Collapsed);
    item.id = `file:${s.uri}`;
    item.resourceUri = this.uri;
    item.contextValue = CONTEXT_VALUES.file;
    const problems = problemCount(s);
    item.description = `${t !== undefined ? name + ' · ' : ''}${plural(s.active, 'pair')}${problems ? ` · ${plural(problems, 'problem')}` : ''}${this.offline ? ' · offline, low quality' : ''}`;
    item.iconPath = s.problems.error
      ? new vscode.ThemeIcon('error', new vscode.ThemeColor('problemsErrorIcon.foreground'))
      : this.offline
        ? new vscode.ThemeIcon('circuit-board', new vscode.ThemeColor('problemsWarningIcon.foreground'))
        : new vscode.ThemeIcon(problems ? 'warning' : 'file', problems ? new vscode.ThemeColor('problemsWarningIcon.foreground') : undefined);
    item.tooltip = new vscode.MarkdownString(
      [`**${s.path}**`, ...(this.offline ? ['', '$(warning) Made by the offline generator (no model): cloze statements, a low-quality fallback. Generate with a model before training a model you mean to use.'] : []), '', ...Object.entries(s.header).map(([k, v]) => `- ${k}: ${v}`), '', `${s.active} active of ${s.pairs} pairs, ${s.reviewed} reviewed`, `${s.problems.error} errors, ${s.problems.warning} warnings, ${s.problems.information} notes`].join('\n'),
      true,
    );
    return item;
  }

  /** True when the file has something to show under the filter. */
  matches(filter: QaFilter): boolean {
    if (filter === 'problems') return this.summary.problemPairs.length > 0;
    if (filter === 'filtered') return (this.summary.filteredPairs ?? []).length > 0;
    if (filter === 'unreviewed') return this.summary.active > this.summary.reviewed;
    return true;
  }
}

/** One pair: question as label, answer as description; selecting it reveals it in the editor. */
export class PairNode {
  constructor(
    readonly parent: FileNode,
    readonly pair: QaPair,
    readonly hasProblem: boolean,
    /** The generation filters flag it: echo of the prompt's example, vacuous or ungrounded (see its diagnostics). */
    readonly flagged = false,
  ) {}

  get uri(): vscode.Uri {
    return this.parent.uri;
  }

  get contextValue(): string {
    if (this.pair.commented) return CONTEXT_VALUES.pairRejected;
    return this.pair.reviewed ? CONTEXT_VALUES.pairReviewed : CONTEXT_VALUES.pair;
  }

  toTreeItem(): vscode.TreeItem {
    const p = this.pair;
    const item = new vscode.TreeItem(p.question.replace(/\s+/g, ' ') || '(no question)', vscode.TreeItemCollapsibleState.None);
    item.id = `pair:${this.parent.summary.uri}#${p.index}:${p.questionLine}`;
    const offline = this.parent.offline;
    item.description = `${offline ? 'offline · ' : ''}${p.answer.replace(/\s+/g, ' ')}`;
    item.contextValue = this.contextValue;
    item.iconPath = p.commented
      ? new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('disabledForeground'))
      : this.hasProblem
        ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'))
        : p.reviewed
          ? new vscode.ThemeIcon('pass-filled', new vscode.ThemeColor('testing.iconPassed'))
          : offline
            ? new vscode.ThemeIcon('circuit-board', new vscode.ThemeColor('disabledForeground'))
            : new vscode.ThemeIcon('comment-discussion');
    const md = new vscode.MarkdownString();
    md.appendMarkdown(`**Q:** `).appendText(p.question).appendMarkdown('\n\n**A:** ').appendText(p.answer);
    md.appendMarkdown(`\n\n_${[p.chunk ? `chunk ${p.chunk}` : '', offline ? 'offline generator: low quality' : '', p.reviewed ? 'reviewed' : '', p.commented ? 'rejected (commented out)' : '', this.flagged ? 'flagged by the pair filters (echo, vacuous or ungrounded)' : this.hasProblem ? 'has problems' : ''].filter(Boolean).join(' · ')}_`);
    item.tooltip = md;
    const end = p.answerSpan ?? p.questionSpan;
    item.command = {
      command: 'vscode.open',
      title: 'Show Pair',
      arguments: [this.uri, { selection: new vscode.Range(p.questionLine, 0, end.endLine, end.endCol), preserveFocus: true } satisfies vscode.TextDocumentShowOptions],
    };
    return item;
  }

  matches(filter: QaFilter): boolean {
    if (filter === 'problems') return this.hasProblem;
    if (filter === 'filtered') return this.flagged;
    if (filter === 'unreviewed') return !this.pair.commented && !this.pair.reviewed;
    return true;
  }
}
