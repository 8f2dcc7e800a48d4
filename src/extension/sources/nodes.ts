import * as vscode from 'vscode';
import type { Chunk, ChunkedSource } from '../../core/sources';
import { COMMANDS, CONTEXT_VALUES } from './ids';
import type { SourceItem } from './model';

const fmt = new Intl.NumberFormat('en-US');

function plural(n: number, one: string): string {
  return `${fmt.format(n)} ${one}${n === 1 ? '' : 's'}`;
}

/** "12 pages · 9,876 tokens · 21 chunks" */
export function describeSource(s: ChunkedSource): string {
  return `${plural(s.pages.length, 'page')} · ${plural(s.tokens, 'token')} · ${plural(s.chunks.length, 'chunk')}`;
}

/** The first words of a chunk, on one line. */
export function firstWords(text: string, words = 6): string {
  const all = text.trim().split(/\s+/);
  return all.slice(0, words).join(' ') + (all.length > words ? '…' : '');
}

const KIND_ICONS = { pdf: 'file-pdf', txt: 'file-text', md: 'markdown' } as const;

/** A file in sources/. */
export class SourceNode {
  readonly kind = 'source';
  constructor(readonly item: SourceItem) {}

  get path(): string {
    return this.item.entry.path;
  }

  toTreeItem(): vscode.TreeItem {
    const { entry, state } = this.item;
    // Files in subfolders of sources/ are labelled with their folder, so two "notes.md" stay apart.
    const t = new vscode.TreeItem(entry.path.replace(/^sources\//, ''), vscode.TreeItemCollapsibleState.None);
    t.id = `source:${entry.path}`;
    t.resourceUri = vscode.Uri.file(entry.absPath);
    const tip = new vscode.MarkdownString(undefined, true);
    tip.appendMarkdown(`**${escape(entry.path)}**  \n${fmt.format(Math.ceil(entry.size / 1024))} KiB\n\n`);
    switch (state.status) {
      case 'pending':
        t.description = 'not extracted';
        t.iconPath = new vscode.ThemeIcon('circle-outline');
        t.contextValue = CONTEXT_VALUES.source;
        tip.appendMarkdown('Not extracted yet: it will be shortly, or open it to extract it now.');
        break;
      case 'extracting': {
        const pct = state.total ? Math.floor((100 * state.done) / state.total) : 0;
        t.description = `extracting ${pct}%`;
        t.iconPath = new vscode.ThemeIcon('loading~spin');
        t.contextValue = CONTEXT_VALUES.source;
        tip.appendMarkdown(state.total ? `Extracting: page ${state.done} of ${state.total}.` : 'Extracting…');
        break;
      }
      case 'ready': {
        const s = state.source;
        t.description = describeSource(s);
        t.contextValue = CONTEXT_VALUES.source;
        t.collapsibleState = s.chunks.length ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None;
        const missing = s.emptyPages.length;
        if (missing) {
          t.description += ` · ${plural(missing, 'page')} without text`;
          t.iconPath = new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground'));
        } else {
          t.iconPath = new vscode.ThemeIcon(KIND_ICONS[s.kind]);
        }
        tip.appendMarkdown(`${describeSource(s)}  \nsha256 \`${s.hash.slice(0, 12)}…\``);
        if (missing) tip.appendMarkdown(`\n\n$(warning) ${plural(missing, 'page')} had no text (scanned?): ${s.emptyPages.slice(0, 20).join(', ')}${missing > 20 ? ', …' : ''}. Run OCR on the file (e.g. \`ocrmypdf\`) to include them.`);
        tip.appendMarkdown('\n\nClick to open the extracted text; expand to see the chunks.');
        break;
      }
      case 'error':
        t.description = `error: ${state.label}`;
        t.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('list.errorForeground'));
        t.contextValue = CONTEXT_VALUES.sourceError;
        tip.appendMarkdown(`$(error) ${escape(state.message)}${state.hint ? `\n\n${escape(state.hint)}` : ''}`);
        break;
      case 'unsupported':
        t.description = 'not supported';
        t.iconPath = new vscode.ThemeIcon('circle-slash');
        t.contextValue = CONTEXT_VALUES.sourceUnsupported;
        tip.appendMarkdown(escape(state.note));
        break;
    }
    t.tooltip = tip;
    if (state.status !== 'unsupported') t.command = { command: COMMANDS.openExtractedText, title: 'Open Extracted Text', arguments: [entry.path] };
    return t;
  }
}

/** One chunk of a source. */
export class ChunkNode {
  readonly kind = 'chunk';
  constructor(
    readonly parent: SourceNode,
    readonly source: ChunkedSource,
    readonly chunk: Chunk,
  ) {}

  get path(): string {
    return this.source.path;
  }

  toTreeItem(): vscode.TreeItem {
    const c = this.chunk;
    const t = new vscode.TreeItem(`Chunk ${c.n}`, vscode.TreeItemCollapsibleState.None);
    t.id = `chunk:${this.source.path}#${c.n}:${c.id}`;
    t.description = `tokens ${fmt.format(c.tokenStart)}–${fmt.format(c.tokenEnd)} · "${firstWords(c.text)}"`;
    t.iconPath = new vscode.ThemeIcon('symbol-text');
    t.contextValue = CONTEXT_VALUES.chunk;
    const tip = new vscode.MarkdownString();
    tip.appendMarkdown(`**Chunk ${c.n}** of ${this.source.chunks.length} · page ${c.page} · ${plural(c.tokenEnd - c.tokenStart, 'token')} · id \`${c.id}\`\n\n`);
    tip.appendText(c.text.trim().slice(0, 400) + (c.text.trim().length > 400 ? '…' : ''));
    t.tooltip = tip;
    t.command = { command: COMMANDS.openChunk, title: 'Open Chunk', arguments: [this.source.path, c.n] };
    return t;
  }
}

export type SourcesNode = SourceNode | ChunkNode;

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
