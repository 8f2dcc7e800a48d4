import { basename } from 'node:path';
import * as vscode from 'vscode';
import { FORGETTING_QUESTIONS_PATH, judgeAgreement, readAnswerSet, type AnswerSetEntry } from '../../core/eval';
import type { EvalModel } from './model';
import { AnswerSetNode, EvalSetNode, GroupNode, LeakNode, LeaksNode, ProblemNode, RegressionNode, RegressionsNode, TagNode, type EvalNode } from './nodes';

/** A plain snapshot of a tree item, for tests and logs. */
export interface EvalTreeSnapshot {
  label: string;
  description?: string;
  contextValue?: string;
  children?: EvalTreeSnapshot[];
}

/** The Evaluations tree: eval sets, then what answered (run, base model, API model), then answer sets with their scores, then tags. */
export class EvalTreeProvider implements vscode.TreeDataProvider<EvalNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<EvalNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly sub: vscode.Disposable;

  constructor(private readonly model: EvalModel) {
    this.sub = model.onDidChange(() => this.changed.fire(undefined));
  }

  getTreeItem(node: EvalNode): vscode.TreeItem {
    return node.toTreeItem();
  }

  getParent(node: EvalNode): EvalNode | undefined {
    return node.parent;
  }

  getChildren(node?: EvalNode): EvalNode[] {
    if (!node) return this.roots();
    if (node instanceof EvalSetNode) return node.children;
    if (node instanceof GroupNode) return node.children;
    if (node instanceof AnswerSetNode) return this.answerSetChildren(node);
    if (node instanceof LeaksNode) {
      try {
        return readAnswerSet(node.parent.path).answers.filter((a) => a.leak).map((a) => new LeakNode(node, a));
      } catch {
        return []; // The set changed under the view; it refreshes on its own.
      }
    }
    if (node instanceof RegressionsNode) return node.row.regressions.map((q) => new RegressionNode(node, q));
    return [];
  }

  /** An answer set's children: the forgetting regressions (a run's forgetting set), the leaked questions, the tags. */
  private answerSetChildren(node: AnswerSetNode): EvalNode[] {
    const out: EvalNode[] = [];
    const forgetting = node.entry.meta.purpose === 'forgetting' && node.entry.meta.kind === 'run' ? this.model.snapshot().forgetting.find((f) => f.path === node.path) : undefined;
    if (forgetting) out.push(new RegressionsNode(node, forgetting));
    const s = node.entry.score;
    if (s.leaked && s.withoutLeaks) out.push(new LeaksNode(node, s.leaked, s.withoutLeaks));
    out.push(...node.tags);
    return out;
  }

  /** Adds the judge's agreement with the user's verdicts to an answer set's tooltip (read when hovered). */
  resolveTreeItem(item: vscode.TreeItem, node: EvalNode): vscode.TreeItem {
    if (!(node instanceof AnswerSetNode) || !(item.tooltip instanceof vscode.MarkdownString)) return item;
    try {
      const a = judgeAgreement(readAnswerSet(node.path));
      if (a.rate !== null) item.tooltip.appendMarkdown('\n\n').appendText(`The judge agreed with your verdicts on ${a.agreed} of ${a.compared} (${Math.round(a.rate * 100)}%).`);
    } catch {
      // The set changed under the view; it refreshes on its own.
    }
    return item;
  }

  private roots(): EvalNode[] {
    const snap = this.model.snapshot();
    const byRel = new Map<string, EvalSetNode>();
    const roots: EvalNode[] = [];
    for (const info of snap.evalSets) {
      const n = new EvalSetNode(info);
      byRel.set(info.rel, n);
      roots.push(n);
    }
    for (const entry of snap.answerSets) {
      const q = entry.meta.questionsPath;
      let setNode = byRel.get(q);
      if (!setNode) {
        // Answers to a question file that is no longer (or never was) under eval/.
        setNode = new EvalSetNode({ path: q, rel: q.startsWith('/') ? basename(q) : q }, false, q === FORGETTING_QUESTIONS_PATH && entry.meta.purpose === 'forgetting');
        byRel.set(q, setNode);
        roots.push(setNode);
      }
      groupFor(setNode, entry).children.push(new AnswerSetNode(entry, groupFor(setNode, entry)));
    }
    for (const p of snap.unreadable) roots.push(new ProblemNode(p.path, p.message));
    return roots;
  }

  /** The node of the answer set saved at `path`, if the view shows it. */
  findAnswerSet(path: string): AnswerSetNode | undefined {
    for (const root of this.roots()) {
      if (!(root instanceof EvalSetNode)) continue;
      for (const g of root.children) for (const s of g.children) if (s.path === path) return s;
    }
    return undefined;
  }

  /** The whole tree as plain data (for tests), expanded `depth` levels. */
  snapshot(depth = 5, node?: EvalNode): EvalTreeSnapshot[] {
    return this.getChildren(node).map((c) => {
      const item = c.toTreeItem();
      const label = typeof item.label === 'string' ? item.label : (item.label?.label ?? '');
      const snap: EvalTreeSnapshot = { label, description: typeof item.description === 'string' ? item.description : undefined, contextValue: item.contextValue };
      if (depth > 1 && !(c instanceof TagNode) && !(c instanceof ProblemNode) && !(c instanceof LeakNode) && !(c instanceof RegressionNode)) snap.children = this.snapshot(depth - 1, c);
      return snap;
    });
  }

  dispose(): void {
    this.sub.dispose();
    this.changed.dispose();
  }
}

function groupFor(setNode: EvalSetNode, entry: AnswerSetEntry): GroupNode {
  const m = entry.meta;
  const [key, label, icon, detail] =
    m.kind === 'run' ? [`run:${m.runId}`, `run ${m.runId}`, 'beaker', undefined] : m.kind === 'base' ? [`base:${m.model}`, 'base model', 'package', m.model] : [`api:${m.model}`, `${m.model} (API)`, 'cloud', m.baseUrl];
  let g = setNode.children.find((c) => c.key === key);
  if (!g) {
    g = new GroupNode(key, label, icon, setNode, detail);
    setNode.children.push(g);
  }
  return g;
}
