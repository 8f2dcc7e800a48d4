import * as vscode from 'vscode';
import { ChunkNode, SourceNode, type SourcesNode } from './nodes';
import type { SourceItem, SourcesModel } from './model';
import { VIEW_ID } from './ids';

/** A plain snapshot of a tree item, for tests and logs. */
export interface TreeSnapshot {
  label: string;
  description?: string;
  contextValue?: string;
  tooltip?: string;
  children?: TreeSnapshot[];
}

/**
 * The Sources tree: sources at the top, their chunks below. Files dropped on it (from the
 * Explorer or the operating system) are added as sources.
 */
export class SourcesTreeProvider implements vscode.TreeDataProvider<SourcesNode>, vscode.TreeDragAndDropController<SourcesNode>, vscode.Disposable {
  readonly dropMimeTypes = ['text/uri-list', 'files'];
  readonly dragMimeTypes: string[] = [];
  private readonly changed = new vscode.EventEmitter<SourcesNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly nodes = new Map<string, SourceNode>();
  private readonly sub: vscode.Disposable;

  constructor(
    private readonly model: SourcesModel,
    private readonly addFiles: (files: vscode.Uri[] | { name: string; data: Uint8Array }[]) => Promise<unknown>,
  ) {
    this.sub = model.onDidChange((item) => {
      const node = item && this.nodes.get(item.entry.path);
      this.changed.fire(node && node.item === item ? node : undefined);
    });
  }

  getTreeItem(node: SourcesNode): vscode.TreeItem {
    return node.toTreeItem();
  }

  async getChildren(node?: SourcesNode): Promise<SourcesNode[]> {
    if (!node) {
      // The first look at the view starts listing and extracting, never activation itself.
      await this.model.start();
      this.nodes.clear();
      return this.model.all.map((item) => this.nodeFor(item));
    }
    if (node instanceof SourceNode && node.item.state.status === 'ready') {
      const source = node.item.state.source;
      return source.chunks.map((c) => new ChunkNode(node, source, c));
    }
    return [];
  }

  getParent(node: SourcesNode): SourcesNode | undefined {
    return node instanceof ChunkNode ? node.parent : undefined;
  }

  private nodeFor(item: SourceItem): SourceNode {
    const node = new SourceNode(item);
    this.nodes.set(item.entry.path, node);
    return node;
  }

  async handleDrop(_target: SourcesNode | undefined, data: vscode.DataTransfer, token: vscode.CancellationToken): Promise<void> {
    const uriList = await data.get('text/uri-list')?.asString();
    if (token.isCancellationRequested) return;
    const uris = (uriList ?? '')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => vscode.Uri.parse(l));
    if (uris.length) {
      await this.addFiles(uris);
      return;
    }
    // Files from the operating system come as file items with their bytes.
    const files: { name: string; data: Uint8Array }[] = [];
    for (const [, item] of data) {
      const file = item.asFile();
      if (file) files.push({ name: file.name, data: await file.data() });
    }
    if (files.length) await this.addFiles(files);
  }

  /** The tree as it is shown now, through the same getChildren/getTreeItem VS Code calls. */
  async snapshot(): Promise<TreeSnapshot[]> {
    const walk = async (nodes: SourcesNode[]): Promise<TreeSnapshot[]> =>
      Promise.all(
        nodes.map(async (n) => {
          const t = this.getTreeItem(n);
          const tooltip = t.tooltip instanceof vscode.MarkdownString ? t.tooltip.value : t.tooltip;
          const children = t.collapsibleState !== vscode.TreeItemCollapsibleState.None ? await walk(await this.getChildren(n)) : undefined;
          return { label: typeof t.label === 'string' ? t.label : (t.label?.label ?? ''), description: typeof t.description === 'string' ? t.description : undefined, contextValue: t.contextValue, tooltip, children };
        }),
      );
    return walk(await this.getChildren());
  }

  dispose(): void {
    this.sub.dispose();
    this.changed.dispose();
  }
}

export { VIEW_ID };
