import { basename } from 'node:path';
import * as vscode from 'vscode';
import { formatScore, UNTAGGED, type AnswerRecord, type AnswerSetEntry, type ForgettingRow, type Score } from '../../core/eval';
import { COMMANDS, CONTEXT_VALUES } from './ids';
import type { EvalSetInfo } from './model';

export type EvalNode = EvalSetNode | GroupNode | AnswerSetNode | TagNode | ProblemNode | LeaksNode | LeakNode | RegressionsNode | RegressionNode;

/** The label of the forgetting check's question set in the view. */
export const FORGETTING_LABEL = 'General knowledge (forgetting check)';

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** An eval set (a .qa file of questions) with the answer sets made on it, grouped by what answered. */
export class EvalSetNode {
  readonly children: GroupNode[] = [];
  constructor(
    readonly info: EvalSetInfo,
    /** False for question files outside eval/ that answer sets still name. */
    readonly onDisk = true,
    /** Mnemo's general-knowledge set (the forgetting check), not a file of the project. */
    readonly forgetting = false,
  ) {}

  get parent(): undefined {
    return undefined;
  }

  toTreeItem(): vscode.TreeItem {
    const i = this.info;
    const item = new vscode.TreeItem(this.forgetting ? FORGETTING_LABEL : i.rel.replace(/^eval\//, ''), this.children.length ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
    // A new id once it has answer sets: VS Code keeps an id's old (collapsed) state otherwise.
    item.id = `evalset:${i.rel}${this.children.length ? '' : ':empty'}`;
    item.contextValue = CONTEXT_VALUES.evalSet;
    if (i.error) {
      item.description = i.error;
      item.iconPath = new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'));
    } else if (this.forgetting) {
      item.description = 'shipped with Mnemo · base model vs run';
      item.iconPath = new vscode.ThemeIcon('history');
    } else if (this.onDisk) {
      const tags = i.tags?.length ? ` · ${i.tags.join(', ')}` : '';
      item.description = `${plural(i.questions ?? 0, 'question')}${tags}${i.problems ? ` · ${plural(i.problems, 'problem')}` : ''}`;
      item.iconPath = new vscode.ThemeIcon('checklist');
    } else {
      item.description = 'question file not under eval/';
      item.iconPath = new vscode.ThemeIcon('question');
    }
    if (this.onDisk) {
      item.resourceUri = vscode.Uri.file(i.path);
      item.command = { command: 'vscode.open', title: 'Open Eval Set', arguments: [vscode.Uri.file(i.path)] };
    }
    item.tooltip = `${i.rel}\n${this.children.reduce((n, g) => n + g.children.length, 0)} answer set(s)`;
    return item;
  }
}

/** The answer sets of one model, run or API model on an eval set. */
export class GroupNode {
  readonly children: AnswerSetNode[] = [];
  constructor(
    readonly key: string,
    readonly label: string,
    readonly icon: string,
    readonly parent: EvalSetNode,
    /** The base model's name, or the API model's endpoint. */
    readonly detail?: string,
  ) {}

  toTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(this.label, vscode.TreeItemCollapsibleState.Expanded);
    item.id = `group:${this.parent.info.rel}:${this.key}`;
    item.contextValue = CONTEXT_VALUES.group;
    item.iconPath = new vscode.ThemeIcon(this.icon);
    item.description = [this.detail, this.children.length > 1 ? plural(this.children.length, 'answer set') : undefined].filter(Boolean).join(' · ') || undefined;
    return item;
  }
}

/** One saved answer set: its score with the interval; its tags below. */
export class AnswerSetNode {
  constructor(
    readonly entry: AnswerSetEntry,
    readonly parent: GroupNode,
  ) {}

  get path(): string {
    return this.entry.path;
  }

  get tags(): TagNode[] {
    const tags = Object.entries(this.entry.score.byTag);
    // A set without tags gets no children: 'untagged' alone would repeat the overall score.
    if (tags.length === 1 && tags[0][0] === UNTAGGED) return [];
    return tags.map(([tag, score]) => new TagNode(tag, score, this));
  }

  toTreeItem(): vscode.TreeItem {
    const { meta, score } = this.entry;
    const more = this.tags.length > 0 || score.leaked > 0 || (meta.purpose === 'forgetting' && meta.kind === 'run');
    const item = new vscode.TreeItem(meta.label, more ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    item.id = `answers:${this.entry.path}`;
    item.contextValue = CONTEXT_VALUES.answerSet;
    item.description = formatScore(score.overall) + (score.leaked ? ` · ${score.leaked} leaked` : '');
    const o = score.overall;
    item.iconPath = new vscode.ThemeIcon(o.graded ? 'graph' : 'circle-large-outline');
    item.command = { command: COMMANDS.openResults, title: 'Open Results', arguments: [this] };
    const md = new vscode.MarkdownString();
    md.appendMarkdown('**').appendText(meta.label).appendMarkdown('**\n\n');
    md.appendText(`${formatScore(o)}\n`);
    if (score.withoutLeaks) md.appendText(`without the ${score.leaked} leaked question(s): ${formatScore(score.withoutLeaks)}\n`);
    const lines = [
      `model: ${meta.model}`,
      meta.runId ? `run: ${meta.runId}` : '',
      meta.context ? `context: ${meta.context}${meta.topK ? ` (top ${meta.topK} chunks)` : ''}` : '',
      `graded by: ${meta.grading}${meta.judge ? ` (${meta.judge.model})` : ''}`,
      `answered: ${meta.created}`,
      meta.leakSource ? `leakage checked against: ${meta.leakSource}` : '',
      `file: ${this.entry.path}`,
    ].filter(Boolean);
    md.appendMarkdown('\n\n').appendText(lines.join('\n'));
    item.tooltip = md;
    return item;
  }
}

/** A tag's score within an answer set ("forward 5/6 (83%, 95% CI 44–97%)"). */
export class TagNode {
  constructor(
    readonly tag: string,
    readonly score: Score,
    readonly parent: AnswerSetNode,
  ) {}

  toTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(this.tag, vscode.TreeItemCollapsibleState.None);
    item.id = `tag:${this.parent.entry.path}:${this.tag}`;
    item.contextValue = CONTEXT_VALUES.tag;
    item.description = formatScore(this.score);
    item.iconPath = new vscode.ThemeIcon('tag');
    return item;
  }
}

/** An answer set file that could not be read. */
export class ProblemNode {
  constructor(
    readonly path: string,
    readonly message: string,
  ) {}

  get parent(): undefined {
    return undefined;
  }

  toTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(basename(this.path), vscode.TreeItemCollapsibleState.None);
    item.id = `problem:${this.path}`;
    item.contextValue = CONTEXT_VALUES.problem;
    item.description = this.message;
    item.tooltip = `${this.path}\n${this.message}`;
    item.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('problemsErrorIcon.foreground'));
    item.resourceUri = vscode.Uri.file(this.path);
    item.command = { command: 'vscode.open', title: 'Open File', arguments: [vscode.Uri.file(this.path)] };
    return item;
  }
}

/** An answer set's questions that near-duplicate training questions, and its score without them. */
export class LeaksNode {
  constructor(
    readonly parent: AnswerSetNode,
    readonly leaked: number,
    readonly without: Score,
  ) {}

  toTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(`${plural(this.leaked, 'leaked question')}`, vscode.TreeItemCollapsibleState.Collapsed);
    item.id = `leaks:${this.parent.entry.path}`;
    item.contextValue = CONTEXT_VALUES.leaks;
    item.description = `without: ${formatScore(this.without)}`;
    item.iconPath = new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'));
    item.tooltip = `These eval questions near-duplicate a question the model trained on (${this.parent.entry.meta.leakSource ?? 'the training set'}; the dataset split's similarity): answering them shows memorized pairs, not recall of the document. Score without them: ${formatScore(this.without)}.`;
    return item;
  }
}

/** One leaked question: the eval question, the training question it near-duplicates. */
export class LeakNode {
  constructor(
    readonly parent: LeaksNode,
    readonly answer: AnswerRecord,
  ) {}

  toTreeItem(): vscode.TreeItem {
    const leak = this.answer.leak!;
    const item = new vscode.TreeItem(this.answer.question, vscode.TreeItemCollapsibleState.None);
    item.id = `leak:${this.parent.parent.entry.path}:${this.answer.questionId}`;
    item.contextValue = CONTEXT_VALUES.leak;
    item.description = `${Math.round(leak.similarity * 100)}% alike: ${leak.trainQuestion}`;
    item.tooltip = `Eval question: ${this.answer.question}\nTraining question (${Math.round(leak.similarity * 100)}% alike): ${leak.trainQuestion}`;
    item.iconPath = new vscode.ThemeIcon('copy');
    return item;
  }
}

/** A run's forgetting check: the general-knowledge questions it now gets wrong, base model right. */
export class RegressionsNode {
  constructor(
    readonly parent: AnswerSetNode,
    readonly row: ForgettingRow,
  ) {}

  toTreeItem(): vscode.TreeItem {
    const r = this.row;
    const n = r.regressions.length;
    const item = new vscode.TreeItem(r.before ? (n ? plural(n, 'regression') : 'no regression') : 'no base answers', n ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
    item.id = `regressions:${r.path}`;
    item.contextValue = CONTEXT_VALUES.regressions;
    item.description = r.before && r.drop !== undefined ? `base ${r.before.correct}/${r.before.graded} → run ${r.after.correct}/${r.after.graded} (${r.drop > 0 ? '-' : r.drop < 0 ? '+' : '±'}${Math.abs(r.drop)} points)` : 'check forgetting again to answer with the base model';
    item.iconPath = new vscode.ThemeIcon(n ? 'arrow-down' : 'pass', n ? new vscode.ThemeColor('problemsErrorIcon.foreground') : undefined);
    return item;
  }
}

/** One question the base model answered right and the run wrong. */
export class RegressionNode {
  constructor(
    readonly parent: RegressionsNode,
    readonly q: ForgettingRow['regressions'][number],
  ) {}

  toTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(this.q.question, vscode.TreeItemCollapsibleState.None);
    item.id = `regression:${this.parent.row.path}:${this.q.questionId}`;
    item.contextValue = CONTEXT_VALUES.regression;
    item.description = `was "${this.q.baseAnswer.replace(/\s+/g, ' ').slice(0, 40)}", now "${this.q.runAnswer.replace(/\s+/g, ' ').slice(0, 60)}"`;
    item.tooltip = `${this.q.question}\nreference: ${this.q.reference ?? '-'}\nbase model: ${this.q.baseAnswer}\nrun: ${this.q.runAnswer}`;
    item.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('problemsErrorIcon.foreground'));
    return item;
  }
}
