import * as vscode from 'vscode';
import { MnemoError } from '../../core/errors';
import type { SourcesModel } from './model';
import { SOURCE_SCHEME } from './ids';

/**
 * Read-only documents for a source's extracted text and for single chunks:
 *   mnemo-source:/sources/rulebook.pdf (text)
 *   mnemo-source:/sources/rulebook.pdf (chunk 3)
 */
export function textUri(path: string): vscode.Uri {
  return vscode.Uri.from({ scheme: SOURCE_SCHEME, path: `/${path} (text)` });
}

export function chunkUri(path: string, n: number): vscode.Uri {
  return vscode.Uri.from({ scheme: SOURCE_SCHEME, path: `/${path} (chunk ${n})` });
}

export function parseSourceUri(uri: vscode.Uri): { path: string; chunk?: number } {
  const m = /^\/(.+) \((?:text|chunk (\d+))\)$/.exec(uri.path);
  if (!m) throw new MnemoError(`Not a Mnemo source document: ${uri.toString()}.`);
  return { path: m[1], chunk: m[2] ? Number(m[2]) : undefined };
}

export class SourceContentProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly open = new Set<string>();
  private readonly subs: vscode.Disposable[];

  constructor(private readonly model: SourcesModel) {
    this.subs = [
      this.changed,
      // A re-extracted or edited source refreshes its open documents.
      model.onDidChange((item) => {
        if (item?.state.status !== 'ready') return;
        for (const s of this.open) {
          const uri = vscode.Uri.parse(s);
          if (parseSourceUri(uri).path === item.entry.path) this.changed.fire(uri);
        }
      }),
      vscode.workspace.onDidCloseTextDocument((d) => this.open.delete(d.uri.toString())),
    ];
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    this.open.add(uri.toString());
    const { path, chunk } = parseSourceUri(uri);
    const source = await this.model.ensure(path, { quiet: true });
    if (chunk === undefined) return source.text;
    const c = source.chunks[chunk - 1];
    if (!c) return `${path} has ${source.chunks.length} chunks; there is no chunk ${chunk}.`;
    return c.text;
  }

  dispose(): void {
    for (const d of this.subs) d.dispose();
  }
}
