import * as vscode from 'vscode';
import { isLive, type RunsModel } from './model';
import { RunNode } from './nodes';

/** A plain snapshot of a tree item, for tests and logs. */
export interface RunTreeSnapshot {
  id: string;
  label: string;
  description?: string;
  contextValue?: string;
  tooltip?: string;
}

/**
 * A run's item is redrawn at most this often: a run logging several steps a second would
 * otherwise redraw it all the time (and a redraw closes the item's tooltip). The elapsed time
 * of live runs ticks at the same pace while the view is visible.
 */
const REDRAW_MS = 2000;

/** The Runs tree: one item per run, newest first. */
export class RunsTreeProvider implements vscode.TreeDataProvider<RunNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly nodes = new Map<string, RunNode>();
  private readonly subs: vscode.Disposable[];
  private ticker: NodeJS.Timeout | undefined;
  private visible = false;

  constructor(private readonly model: RunsModel) {
    this.subs = [
      this.changed,
      model.onDidChange((id) => {
        if (id === undefined) this.changed.fire(undefined);
        else this.redraw(id);
        this.updateTicker();
      }),
      { dispose: () => this.pending.forEach((t) => clearTimeout(t)) },
    ];
  }

  private readonly lastDrawn = new Map<string, number>();
  private readonly pending = new Map<string, NodeJS.Timeout>();

  /** Redraws a run's item now, or once REDRAW_MS have passed since its last redraw. */
  private redraw(id: string): void {
    if (this.pending.has(id)) return;
    const wait = (this.lastDrawn.get(id) ?? 0) + REDRAW_MS - Date.now();
    const fire = () => {
      this.pending.delete(id);
      this.lastDrawn.set(id, Date.now());
      this.changed.fire(this.nodes.get(id));
    };
    if (wait <= 0) fire();
    else this.pending.set(id, setTimeout(fire, wait));
  }

  /** The view tells the provider when it is shown: live runs' clocks tick only then. */
  setVisible(visible: boolean): void {
    this.visible = visible;
    this.updateTicker();
  }

  private updateTicker(): void {
    const want = this.visible && this.model.list().some((r) => isLive(r.state));
    if (want && !this.ticker) {
      this.ticker = setInterval(() => {
        for (const r of this.model.list()) if (isLive(r.state)) this.redraw(r.id);
      }, REDRAW_MS);
    } else if (!want && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  getTreeItem(node: RunNode): vscode.TreeItem {
    // Nodes are kept across refreshes of one run: draw from the run as it is now.
    const snap = this.model.get(node.id);
    return (snap ? new RunNode(snap) : node).toTreeItem();
  }

  getChildren(node?: RunNode): RunNode[] {
    if (node) return [];
    this.nodes.clear();
    return this.model
      .list()
      .map((r) => this.model.get(r.id))
      .filter((s) => s !== undefined)
      .map((s) => {
        const n = new RunNode(s);
        this.nodes.set(n.id, n);
        return n;
      });
  }

  getParent(): undefined {
    return undefined;
  }

  /** The node of a run, for reveal(). */
  nodeFor(id: string): RunNode | undefined {
    return this.nodes.get(id) ?? (this.getChildren(), this.nodes.get(id));
  }

  /** The tree as it is shown now, through the same getChildren/getTreeItem VS Code calls. */
  snapshot(): RunTreeSnapshot[] {
    return this.getChildren().map((n) => {
      const t = this.getTreeItem(n);
      const tooltip = t.tooltip instanceof vscode.MarkdownString ? t.tooltip.value : t.tooltip;
      return { id: n.id, label: typeof t.label === 'string' ? t.label : (t.label?.label ?? ''), description: typeof t.description === 'string' ? t.description : undefined, contextValue: t.contextValue, tooltip };
    });
  }

  dispose(): void {
    if (this.ticker) clearInterval(this.ticker);
    for (const s of this.subs) s.dispose();
  }
}
