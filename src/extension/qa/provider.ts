import * as vscode from 'vscode';
import type { QaFileSummary } from '../../shared/lsp-protocol';
import type { QaModel } from './model';
import { FileNode, GroupNode, PairNode, type QaNode } from './nodes';

/** A plain snapshot of a tree item, for tests and logs. */
export interface QaTreeSnapshot {
  label: string;
  description?: string;
  contextValue?: string;
  children?: QaTreeSnapshot[];
}

/** The Q&A tree: sources, then prompt variants, then files (one per temperature), then pairs. */
export class QaTreeProvider implements vscode.TreeDataProvider<QaNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<QaNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly sub: vscode.Disposable;

  constructor(private readonly model: QaModel) {
    this.sub = model.onDidChange(() => this.changed.fire(undefined));
  }

  getTreeItem(node: QaNode): vscode.TreeItem {
    return node.toTreeItem();
  }

  getParent(node: QaNode): QaNode | undefined {
    return node.parent;
  }

  async getChildren(node?: QaNode): Promise<QaNode[]> {
    const filter = this.model.filter;
    if (!node) return group(await this.model.files(), filter);
    if (node instanceof GroupNode) return node.children;
    if (node instanceof FileNode) {
      const file = await this.model.parse(node.uri);
      const problems = new Set(node.summary.problemPairs);
      const filtered = new Set(node.summary.filteredPairs ?? []);
      return file.pairs.map((p) => new PairNode(node, p, problems.has(p.index), filtered.has(p.index))).filter((p) => p.matches(filter));
    }
    return [];
  }

  /** The whole tree as plain data (for tests), expanded `depth` levels. */
  async snapshot(depth = 4, node?: QaNode): Promise<QaTreeSnapshot[]> {
    const children = await this.getChildren(node);
    return Promise.all(
      children.map(async (c) => {
        const item = c.toTreeItem();
        const label = typeof item.label === 'string' ? item.label : (item.label?.label ?? '');
        const snap: QaTreeSnapshot = { label, description: typeof item.description === 'string' ? item.description : undefined, contextValue: item.contextValue };
        if (depth > 1 && !(c instanceof PairNode)) snap.children = await this.snapshot(depth - 1, c);
        return snap;
      }),
    );
  }

  dispose(): void {
    this.sub.dispose();
    this.changed.dispose();
  }
}

/** Groups files by source, then variant; files are sorted by temperature. */
function group(files: QaFileSummary[], filter: Parameters<FileNode['matches']>[0]): GroupNode[] {
  const sources = new Map<string, GroupNode>();
  const variants = new Map<string, GroupNode>();
  for (const s of files) {
    const source = s.header.source ?? '(no @source)';
    const variant = s.header.variant ?? '(no @variant)';
    let sg = sources.get(source);
    if (!sg) sources.set(source, (sg = new GroupNode(`source:${source}`, source, 'source')));
    const vkey = `${source}\u0000${variant}`;
    let vg = variants.get(vkey);
    if (!vg) {
      vg = new GroupNode(`variant:${vkey}`, variant, 'variant', sg);
      variants.set(vkey, vg);
      sg.children.push(vg);
    }
    const f = new FileNode(s, vg);
    if (f.matches(filter)) vg.children.push(f);
  }
  const temp = (n: GroupNode | FileNode) => (n instanceof FileNode ? Number(n.summary.header.temperature ?? Infinity) : 0);
  for (const vg of variants.values()) vg.children.sort((a, b) => temp(a) - temp(b));
  for (const sg of sources.values()) {
    const kept = sg.children.filter((v): v is GroupNode => v instanceof GroupNode && v.children.length > 0).sort((a, b) => a.label.localeCompare(b.label));
    sg.children.splice(0, sg.children.length, ...kept);
  }
  return [...sources.values()].filter((g) => g.children.length > 0).sort((a, b) => a.label.localeCompare(b.label));
}
