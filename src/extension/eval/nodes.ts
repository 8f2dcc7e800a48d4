import { basename } from 'node:path';
import * as vscode from 'vscode';
import { formatScore, UNTAGGED, type AnswerSetEntry, type Score } from '../../core/eval';
import { COMMANDS, CONTEXT_VALUES } from './ids';
import type { EvalSetInfo } from './model';

export type EvalNode = EvalSetNode | GroupNode | AnswerSetNode | TagNode | ProblemNode;

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
  ) {}

  get parent(): undefined {
    return undefined;
  }

  toTreeItem(): vscode.TreeItem {
    const i = this.info;
    const item = new vscode.TreeItem(i.rel.replace(/^eval\//, ''), this.children.length ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
    // A new id once it has answer sets: VS Code keeps an id's old (collapsed) state otherwise.
    item.id = `evalset:${i.rel}${this.children.length ? '' : ':empty'}`;
    item.contextValue = CONTEXT_VALUES.evalSet;
    if (i.error) {
      item.description = i.error;
      item.iconPath = new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'));
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
    const item = new vscode.TreeItem(meta.label, this.tags.length ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    item.id = `answers:${this.entry.path}`;
    item.contextValue = CONTEXT_VALUES.answerSet;
    item.description = formatScore(score.overall);
    const o = score.overall;
    item.iconPath = new vscode.ThemeIcon(o.graded ? 'graph' : 'circle-large-outline');
    item.command = { command: COMMANDS.openResults, title: 'Open Results', arguments: [this] };
    const md = new vscode.MarkdownString();
    md.appendMarkdown('**').appendText(meta.label).appendMarkdown('**\n\n');
    md.appendText(`${formatScore(o)}\n`);
    const lines = [
      `model: ${meta.model}`,
      meta.runId ? `run: ${meta.runId}` : '',
      meta.context ? `context: ${meta.context}${meta.topK ? ` (top ${meta.topK} chunks)` : ''}` : '',
      `graded by: ${meta.grading}${meta.judge ? ` (${meta.judge.model})` : ''}`,
      `answered: ${meta.created}`,
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
