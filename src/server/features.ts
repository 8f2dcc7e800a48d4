/**
 * Language features of .qa files over the parsed model: diagnostics conversion, hover, go to
 * definition, outline, folding, quick fixes, code lenses and formatting.
 */
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import {
  CodeAction,
  CodeActionKind,
  CodeLens,
  Diagnostic,
  DiagnosticSeverity,
  DiagnosticTag,
  DocumentSymbol,
  FoldingRange,
  FoldingRangeKind,
  Hover,
  Location,
  MarkupKind,
  Range,
  SymbolKind,
  TextEdit,
  type CodeActionParams,
} from 'vscode-languageserver/node';
import { deletePairEdit, formatEdits, formatQa, lineEditToTextEdit, toggleCommentEdit, withContext, type LineEdit, type QaFile, type QaPair, type QaProblem } from '../core/qa';
import { QA_COMMANDS, type ChunkRef, type QaDiagnosticData } from '../shared/lsp-protocol';
import type { QaWorkspace } from './workspace';

const SEVERITY: Record<QaProblem['severity'], DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  information: DiagnosticSeverity.Information,
  hint: DiagnosticSeverity.Hint,
};

export function toDiagnostic(p: QaProblem, ws: QaWorkspace): Diagnostic {
  const d: Diagnostic = {
    range: Range.create(p.startLine, p.startCol, p.endLine, p.endCol),
    severity: SEVERITY[p.severity],
    code: p.code,
    source: 'mnemo',
    message: p.message,
  };
  if (p.pair !== undefined) d.data = { pair: p.pair } satisfies QaDiagnosticData;
  if (p.code === 'near-duplicate-across-files') d.tags = [DiagnosticTag.Unnecessary];
  if (p.related?.length) d.relatedInformation = p.related.map((r) => ({ location: Location.create(ws.uriOf(r.path), Range.create(r.line, 0, r.line, 0)), message: r.message }));
  return d;
}

/** The pair whose lines include `line` (pairs are sorted by line). */
export function pairAt(file: QaFile, line: number): QaPair | undefined {
  let lo = 0;
  let hi = file.pairs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const p = file.pairs[mid];
    if (line < p.firstLine) hi = mid - 1;
    else if (line > p.lastLine) lo = mid + 1;
    else return p;
  }
  return undefined;
}

/** The `@chunk` line at `line`, with the source in force there. */
function chunkLineAt(file: QaFile, line: number): { source?: string; chunk: string } | undefined {
  const meta = file.metaLines.find((m) => m.line === line);
  if (!meta || meta.key !== 'chunk') return undefined;
  return { source: sourceAt(file, line), chunk: meta.value };
}

function sourceAt(file: QaFile, line: number): string | undefined {
  let source: string | undefined;
  for (const m of file.metaLines) {
    if (m.line > line) break;
    if (m.key === 'source') source = m.value;
  }
  return source;
}

export function hover(ws: QaWorkspace, uri: string, line: number): Hover | null {
  const state = ws.files.get(uri);
  if (!state) return null;
  const at = chunkLineAt(state.file, line) ?? pairRef(state.file, line);
  if (!at?.source) return null;
  const n = Number(at.chunk);
  const chunked = ws.chunks.peek(at.source);
  if (!chunked) {
    const err = ws.chunks.error(at.source);
    return { contents: { kind: MarkupKind.Markdown, value: err ? `Chunk ${at.chunk} of \`${at.source}\` is unavailable: ${err.message}` : `Loading the chunks of \`${at.source}\`…` } };
  }
  const chunk = chunked.chunks[n - 1];
  if (!chunk) return { contents: { kind: MarkupKind.Markdown, value: `\`${at.source}\` has ${chunked.chunks.length} chunks; there is no chunk ${at.chunk}.` } };
  const head = `**Chunk ${chunk.n}** of \`${at.source}\` · page ${chunk.page} · ${chunk.tokenEnd - chunk.tokenStart} tokens`;
  return { contents: { kind: MarkupKind.Markdown, value: `${head}\n\n${chunkMarkdown(chunk.text)}` } };
}

/** A line that starts a new item of a rule book or a Markdown list: kept on its own line. */
const ITEM_START = /^(?:\d+(?:\.\d+)+[.)]?\s|\d+[.)]\s|[-*+•]\s|#{1,6}\s|\||\(?[a-z]\)\s|(?:Section|Chapter|Rule|Part)\s+\d)/i;

/**
 * A chunk's text as Markdown prose for a hover: the words wrap between words (a code block broke
 * them anywhere), runs of spaces are one space, a paragraph's wrapped lines (as a PDF's text has
 * them) flow together, and items keep their own lines. Markdown syntax in the text is escaped.
 */
export function chunkMarkdown(text: string): string {
  const escape = (l: string) =>
    l
      .replace(/[\\`*_[\]<>|~]/g, '\\$&')
      .replace(/^(#|[-+]\s)/, '\\$1')
      .replace(/^(\d+)([.)]\s)/, '$1\\$2');
  return text
    .replace(/\r\n?/g, '\n')
    .split(/\n[ \t\u00a0]*\n/)
    .map((para) => {
      const lines = para.split('\n').map((l) => l.replace(/[ \t\u00a0]+/g, ' ').trim()).filter(Boolean);
      return lines.map((l, i) => (i === 0 ? '' : ITEM_START.test(l) ? '  \n' : ' ') + escape(l)).join('');
    })
    .filter(Boolean)
    .join('\n\n');
}

function pairRef(file: QaFile, line: number): { source?: string; chunk: string } | undefined {
  const p = pairAt(file, line);
  return p?.chunk ? { source: p.meta.source, chunk: p.chunk } : undefined;
}

/** Where a chunk is: the .md/.txt source itself, or the extracted text shown read-only. */
export function chunkLocation(ws: QaWorkspace, source: string, n: number): Location | undefined {
  const chunked = ws.chunks.peek(source);
  const chunk = chunked?.chunks[n - 1];
  if (!chunked || !chunk || !ws.root) return undefined;
  if (chunked.kind !== 'pdf') {
    // The text of a .md/.txt source is the file itself (decoded), so offsets map onto its lines.
    const start = lineCol(chunked.text, chunk.charStart);
    const end = lineCol(chunked.text, chunk.charEnd);
    return Location.create(pathToFileURL(join(ws.root, chunked.path)).toString(), Range.create(start.line, start.col, end.line, end.col));
  }
  return Location.create(chunkDocumentUri(source, n), Range.create(0, 0, 0, 0));
}

/**
 * The read-only document of one chunk, served by the Sources feature's content provider
 * (src/extension/sources/content.ts): `mnemo-source:/<path> (chunk <n>)`.
 */
export function chunkDocumentUri(source: string, n: number): string {
  return `mnemo-source:/${source.split('/').map(encodeURIComponent).join('/')}${encodeURIComponent(` (chunk ${n})`)}`;
}

function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 0;
  let last = -1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    last = i;
  }
  return { line, col: offset - last - 1 };
}

export function definition(ws: QaWorkspace, uri: string, line: number): Location | null {
  const state = ws.files.get(uri);
  const at = state && chunkLineAt(state.file, line);
  if (!at?.source) return null;
  return chunkLocation(ws, at.source, Number(at.chunk)) ?? null;
}

function firstLine(text: string): string {
  const l = text.split('\n')[0];
  return l.length > 80 ? l.slice(0, 79) + '…' : l || '(empty)';
}

/** Outline: one symbol per `@chunk` block with its pairs as children; pairs before any chunk at the top. */
export function symbols(ws: QaWorkspace, uri: string): DocumentSymbol[] {
  const state = ws.files.get(uri);
  if (!state) return [];
  const { file } = state;
  const out: DocumentSymbol[] = [];
  const chunkLines = file.metaLines.filter((m) => m.key === 'chunk');
  let ci = 0;
  let block: DocumentSymbol | undefined;
  const lastLine = Math.max(0, file.lines.length - 1);
  for (const p of file.pairs) {
    while (ci < chunkLines.length && chunkLines[ci].line < p.firstLine) {
      const m = chunkLines[ci++];
      const end = ci < chunkLines.length ? chunkLines[ci].line - 1 : lastLine;
      const range = Range.create(m.line, 0, end, file.lines[end]?.length ?? 0);
      block = DocumentSymbol.create(`chunk ${m.value}`, undefined, SymbolKind.Namespace, range, Range.create(m.line, 0, m.line, file.lines[m.line].length), []);
      out.push(block);
    }
    const range = Range.create(p.firstLine, 0, p.lastLine, file.lines[p.lastLine].length);
    const sym = DocumentSymbol.create(firstLine(p.question), p.commented ? 'commented out' : firstLine(p.answer), p.commented ? SymbolKind.Null : SymbolKind.String, range, Range.create(p.questionLine, 0, p.questionLine, file.lines[p.questionLine].length));
    (block ? block.children! : out).push(sym);
  }
  while (ci < chunkLines.length) {
    const m = chunkLines[ci++];
    out.push(DocumentSymbol.create(`chunk ${m.value}`, 'no pairs', SymbolKind.Namespace, Range.create(m.line, 0, m.line, file.lines[m.line].length), Range.create(m.line, 0, m.line, file.lines[m.line].length), []));
  }
  return out;
}

/** Folding per pair of more than one line, per `@chunk` block, and per run of comment lines. */
export function folding(ws: QaWorkspace, uri: string): FoldingRange[] {
  const state = ws.files.get(uri);
  if (!state) return [];
  const { file } = state;
  const out: FoldingRange[] = [];
  const chunkLines = file.metaLines.filter((m) => m.key === 'chunk').map((m) => m.line);
  for (let i = 0; i < chunkLines.length; i++) {
    let end = i + 1 < chunkLines.length ? chunkLines[i + 1] - 1 : file.lines.length - 1;
    while (end > chunkLines[i] && file.lines[end].trim() === '') end--;
    if (end > chunkLines[i]) out.push(FoldingRange.create(chunkLines[i], end));
  }
  const pairLines = new Set<number>();
  for (const p of file.pairs) {
    if (p.lastLine > p.firstLine) out.push(FoldingRange.create(p.firstLine, p.lastLine));
    for (let l = p.firstLine; l <= p.lastLine; l++) if (p.commented) pairLines.add(l);
  }
  let start = -1;
  for (let i = 0; i <= file.lines.length; i++) {
    const isComment = i < file.lines.length && file.lines[i].startsWith('#') && !pairLines.has(i);
    if (isComment && start < 0) start = i;
    if (!isComment && start >= 0) {
      if (i - 1 > start) out.push(FoldingRange.create(start, i - 1, undefined, undefined, FoldingRangeKind.Comment));
      start = -1;
    }
  }
  return out;
}

/** A line edit as an LSP text edit on the same document. */
export function toTextEdit(file: QaFile, e: LineEdit): TextEdit {
  const t = lineEditToTextEdit(file, e);
  return { range: { start: t.start, end: t.end }, newText: t.newText };
}

export function format(ws: QaWorkspace, uri: string): TextEdit[] {
  const state = ws.files.get(uri);
  if (!state) return [];
  const { file } = state;
  const { edits, addFinalEol } = formatEdits(file);
  const last = file.lines.length - 1;
  // Deleting trailing lines of a file without a final line end reaches back into the previous line:
  // rather than risk overlapping edits, such rare files are replaced whole.
  if (!file.finalEol && edits.some((e) => e.lines.length === 0 && e.endLine === last)) {
    return [TextEdit.replace(Range.create(0, 0, last, file.lines[last].length), formatQa(file))];
  }
  const merged: LineEdit[] = [];
  for (const e of edits) {
    const prev = merged[merged.length - 1];
    if (prev && prev.lines.length === 0 && e.lines.length === 0 && e.startLine === prev.endLine + 1) prev.endLine = e.endLine;
    else merged.push({ ...e });
  }
  const out = merged.map((e) => toTextEdit(file, e));
  if (addFinalEol) out.push(TextEdit.insert({ line: last, character: file.lines[last].length }, file.eol));
  return out;
}

/** Quick fixes for the problems in the request's context. */
export function codeActions(ws: QaWorkspace, params: CodeActionParams): CodeAction[] {
  const uri = params.textDocument.uri;
  const state = ws.files.get(uri);
  if (!state) return [];
  const { file } = state;
  const out: CodeAction[] = [];
  const seen = new Set<string>();
  const context = ws.project?.config.context;
  for (const d of params.context.diagnostics) {
    if (d.source !== 'mnemo') continue;
    const pairIndex = (d.data as QaDiagnosticData | undefined)?.pair;
    const pair = pairIndex !== undefined ? file.pairs[pairIndex] : pairAt(file, d.range.start.line);
    if (!pair) continue;
    const edit = (title: string, e: TextEdit, preferred = false) => {
      const key = title + pair.index;
      if (seen.has(key)) return;
      seen.add(key);
      out.push({ title, kind: CodeActionKind.QuickFix, diagnostics: [d], isPreferred: preferred, edit: { changes: { [uri]: [e] } } });
    };
    if (d.code === 'duplicate' || d.code === 'near-duplicate' || d.code === 'duplicate-across-files' || d.code === 'near-duplicate-across-files') {
      edit('Remove this duplicate pair', toTextEdit(file, deletePairEdit(file, pair)), d.code === 'duplicate');
    }
    if (d.code === 'not-standalone' && context) {
      const line = pair.questionLine;
      const { startCol } = pair.questionSpan;
      const text = file.lines[line].slice(startCol);
      edit(`Add the context: "In ${context}, …"`, TextEdit.replace(Range.create(line, startCol, line, file.lines[line].length), withContext(text, context)), true);
    }
    // A pair the generation filters would have dropped is best commented out: it stays visible, and out of the dataset.
    const filtered = params.context.diagnostics.some((x) => (x.code === 'example-echo' || x.code === 'vacuous' || x.code === 'ungrounded') && ((x.data as QaDiagnosticData | undefined)?.pair ?? pairAt(file, x.range.start.line)?.index) === pair.index);
    if (!pair.commented) edit('Comment out this pair', toTextEdit(file, toggleCommentEdit(file, pair)), filtered);
  }
  return out;
}

/** "Regenerate this chunk" and "Open source" above every `@chunk` line. */
export function codeLenses(ws: QaWorkspace, uri: string): CodeLens[] {
  const state = ws.files.get(uri);
  if (!state) return [];
  const { file } = state;
  const out: CodeLens[] = [];
  const counts = new Map<number, number>();
  const chunkLines = file.metaLines.filter((x) => x.key === 'chunk');
  let ci = -1;
  for (const p of file.pairs) {
    while (ci + 1 < chunkLines.length && chunkLines[ci + 1].line < p.firstLine) ci++;
    if (!p.commented && ci >= 0) counts.set(chunkLines[ci].line, (counts.get(chunkLines[ci].line) ?? 0) + 1);
  }
  let source: string | undefined;
  let variant: string | undefined;
  let temperature: number | undefined;
  for (const m of file.metaLines) {
    if (m.key === 'source') source = m.value;
    if (m.key === 'variant') variant = m.value || undefined;
    if (m.key === 'temperature') temperature = m.value.trim() && Number.isFinite(Number(m.value)) ? Number(m.value) : undefined;
    if (m.key !== 'chunk') continue;
    const chunk = Number(m.value);
    if (!source || !Number.isInteger(chunk)) continue;
    const range = Range.create(m.line, 0, m.line, file.lines[m.line].length);
    const args: ChunkRef = { uri, source, chunk };
    const lens = (title: string, command: string, a: ChunkRef) => {
      const l = CodeLens.create(range);
      l.command = { title, command, arguments: [a] };
      out.push(l);
    };
    // The file's own variant and temperature: one request. Sweeping every variant x temperature is the second choice.
    if (variant && temperature !== undefined) {
      lens('Regenerate this chunk', QA_COMMANDS.regenerateChunk, { ...args, variant, temperature, scope: 'file' });
      lens('All variants × temperatures', QA_COMMANDS.regenerateChunk, { ...args, scope: 'all' });
    } else {
      lens('Regenerate this chunk', QA_COMMANDS.regenerateChunk, args);
    }
    lens(`Open source (${counts.get(m.line) ?? 0} pairs)`, QA_COMMANDS.openSourceChunk, args);
  }
  return out;
}
