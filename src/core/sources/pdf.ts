/**
 * PDF text extraction with pdf-parse (pdf.js), page by page.
 *
 * pdf-parse is loaded on first use (it is large), so nothing here costs extension activation.
 * It only needs `@napi-rs/canvas` to render pages; for text, a minimal DOMMatrix is enough, and
 * it is defined before pdf-parse loads so no native binary is needed.
 */
import { MnemoError } from '../errors';
import { SourceError } from './errors';
import { loadHeavy } from './lazy';
import type { ExtractedPage } from './types';

export interface PdfProgress {
  /** Pages extracted so far. */
  done: number;
  /** Pages in the document. */
  total: number;
}

export interface PdfOptions {
  signal?: AbortSignal;
  onProgress?: (p: PdfProgress) => void;
  /** Pages handed to pdf.js per call: progress and cancellation are checked between batches. */
  batchPages?: number;
}

/** Thrown when an AbortSignal stops an extraction. */
export class ExtractionCancelled extends SourceError {
  constructor(file: string) {
    super('cancelled', `Extraction of ${file} was cancelled.`, 'Run it again when you are ready; pages are not cached until a file is complete.', file);
    this.name = 'ExtractionCancelled';
  }
}

type PdfParseModule = typeof import('pdf-parse');
let pdfParse: Promise<PdfParseModule> | undefined;

/** Loads pdf-parse once, after providing the one DOM class its text path touches. */
export function loadPdfParse(): Promise<PdfParseModule> {
  if (!pdfParse) {
    const g = globalThis as { DOMMatrix?: unknown };
    if (typeof g.DOMMatrix === 'undefined') g.DOMMatrix = MinimalDOMMatrix;
    // dist/pdf-reader.js when bundled (see scripts/build.mjs), else the package.
    pdfParse = withoutCanvasWarnings(() => loadHeavy<PdfParseModule>('pdf-reader', 'pdf-parse'));
  }
  return pdfParse;
}

let workerLoaded = false;

/**
 * pdf.js (and its worker, loaded with the first document) looks for @napi-rs/canvas and prints
 * "Warning: Cannot ..." lines for what is missing. Only rendering needs it, so those lines are
 * dropped while the two load; any other output passes through.
 */
async function withoutCanvasWarnings<T>(load: () => Promise<T>): Promise<T> {
  const { log, warn } = console;
  const quiet =
    (write: (...args: unknown[]) => void) =>
    (...args: unknown[]): void => {
      if (typeof args[0] === 'string' && /^Warning: Cannot (access the `require` function|load "@napi-rs\/canvas"|polyfill)/.test(args[0])) return;
      write(...args);
    };
  console.log = quiet(log);
  console.warn = quiet(warn);
  try {
    return await load();
  } finally {
    console.log = log;
    console.warn = warn;
  }
}

/** Just enough of DOMMatrix for pdf.js to load and lay out text (never used for rendering). */
class MinimalDOMMatrix {
  a = 1;
  b = 0;
  c = 0;
  d = 1;
  e = 0;
  f = 0;
  constructor(init?: number[]) {
    if (Array.isArray(init) && init.length >= 6) [this.a, this.b, this.c, this.d, this.e, this.f] = init;
  }
  multiplySelf(m: MinimalDOMMatrix): this {
    const { a, b, c, d, e, f } = this;
    this.a = a * m.a + c * m.b;
    this.b = b * m.a + d * m.b;
    this.c = a * m.c + c * m.d;
    this.d = b * m.c + d * m.d;
    this.e = a * m.e + c * m.f + e;
    this.f = b * m.e + d * m.f + f;
    return this;
  }
  preMultiplySelf(m: MinimalDOMMatrix): this {
    const copy = new MinimalDOMMatrix([m.a, m.b, m.c, m.d, m.e, m.f]).multiplySelf(this);
    Object.assign(this, { a: copy.a, b: copy.b, c: copy.c, d: copy.d, e: copy.e, f: copy.f });
    return this;
  }
  translate(x = 0, y = 0): MinimalDOMMatrix {
    return new MinimalDOMMatrix([this.a, this.b, this.c, this.d, this.e, this.f]).multiplySelf(new MinimalDOMMatrix([1, 0, 0, 1, x, y]));
  }
  scale(x = 1, y = x): MinimalDOMMatrix {
    return new MinimalDOMMatrix([this.a, this.b, this.c, this.d, this.e, this.f]).multiplySelf(new MinimalDOMMatrix([x, 0, 0, y, 0, 0]));
  }
  invertSelf(): this {
    const det = this.a * this.d - this.b * this.c;
    const { a, b, c, d, e, f } = this;
    this.a = d / det;
    this.b = -b / det;
    this.c = -c / det;
    this.d = a / det;
    this.e = (c * f - d * e) / det;
    this.f = (b * e - a * f) / det;
    return this;
  }
}

/** Normalizes one page's text: well-formed UTF-16, LF newlines, no NULs, no trailing spaces on lines, trimmed ends. */
export function normalizePageText(text: string): string {
  return (text as string & { toWellFormed(): string })
    .toWellFormed()
    .replace(/\r\n?/g, '\n')
    .split('\u0000').join('')
    .replace(/[ \t]+\n/g, '\n')
    .trim();
}

/**
 * Extracts the text of every page. `file` names the file in messages. Errors are MnemoErrors
 * that say what is wrong with the file and what to do.
 */
export async function extractPdfPages(bytes: Uint8Array, file: string, options: PdfOptions = {}): Promise<ExtractedPage[]> {
  const { signal, onProgress } = options;
  const batch = Math.max(1, options.batchPages ?? 20);
  if (bytes.length === 0) throw emptyFile(file);
  if (signal?.aborted) throw new ExtractionCancelled(file);
  const { PDFParse } = await loadPdfParse();
  // pdf.js takes ownership of (detaches) the buffer it is given: hand it a copy.
  const parser = new PDFParse({ data: new Uint8Array(bytes), verbosity: 0, isEvalSupported: false });
  const pages: ExtractedPage[] = [];
  try {
    let total = Infinity;
    for (let first = 1; first <= total; first += batch) {
      if (signal?.aborted) throw new ExtractionCancelled(file);
      const last = Math.min(first + batch - 1, total === Infinity ? first + batch - 1 : total);
      const result = workerLoaded ? await parser.getText({ first, last }) : await withoutCanvasWarnings(() => parser.getText({ first, last }));
      workerLoaded = true;
      total = result.total;
      for (const p of result.pages) pages.push({ num: p.num, text: normalizePageText(p.text) });
      onProgress?.({ done: Math.min(last, total), total });
    }
  } catch (err) {
    throw pdfError(err, file);
  } finally {
    await parser.destroy().catch(() => undefined);
  }
  return pages;
}

export function emptyFile(file: string): MnemoError {
  return new SourceError('empty', `${file} is empty (0 bytes).`, 'Replace it with the complete document, or remove it from sources/.', file);
}

function pdfError(err: unknown, file: string): Error {
  if (err instanceof MnemoError) return err;
  const name = err instanceof Error ? err.name : '';
  const message = (err instanceof Error ? err.message : String(err)).replace(/\.$/, '');
  if (name === 'PasswordException' || /password/i.test(message)) {
    return new SourceError('encrypted', `${file} is encrypted (password-protected), so its text cannot be read.`, 'Remove the password and add the file again, e.g. `qpdf --decrypt --password=PASSWORD in.pdf out.pdf`.', file);
  }
  if (name === 'InvalidPDFException' || name === 'FormatError' || /invalid pdf|bad xref|xref|startxref|pdf header/i.test(message)) {
    return new SourceError('damaged', `${file} is not a readable PDF (damaged or truncated: ${message}).`, 'Download or export the document again; `qpdf --check` tells what is wrong with it.', file);
  }
  if (name === 'AbortException') return new ExtractionCancelled(file);
  if (/fake worker/i.test(message)) {
    return new SourceError('unreadable', `Mnemo's PDF reader could not start (${message}).`, 'pdf.worker.mjs must sit next to the bundled extension or CLI; reinstall the extension or rebuild with `npm run build`.', file);
  }
  return new SourceError('unreadable', `Could not read ${file}: ${message}.`, 'Check that it opens in a PDF viewer; if it does, report this with the file.', file);
}
