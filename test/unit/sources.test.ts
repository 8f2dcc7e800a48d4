import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { chunkText } from '../../src/core/chunking';
import { MnemoError } from '../../src/core/errors';
import { Project, scaffoldProject } from '../../src/core/project';
import {
  chunkSource,
  clearSourceCache,
  ExtractionCancelled,
  extractSource,
  listSources,
  pageStarts,
  peekChunkedSource,
  readChunk,
  SourceError,
  sourceStats,
  type ExtractProgress,
  type SourceProblem,
} from '../../src/core/sources';
import { getTokenizer } from '../../src/core/tokens';
import { largePdfLine, makeEncryptedPdf, makeGarbagePdf, makeLargePdf, makeScannedPdf, makeTextPdf, truncate } from '../fixtures/pdf';

const repo = join(__dirname, '..', '..');
const RULEBOOK = join(repo, 'examples/cairnrun/sources/rulebook.pdf');
const RULEBOOK_2COL = join(repo, 'test/fixtures/rulebook-2col.pdf');
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempProject(): Project {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-sources-'));
  dirs.push(dir);
  scaffoldProject(dir, 'Cairnrun rules');
  return Project.load(dir);
}

function put(project: Project, name: string, bytes: Buffer | string): string {
  writeFileSync(join(project.sourcesDir, name), bytes);
  return `sources/${name}`;
}

/** Asserts a MnemoError whose message names the file and matches, and whose hint matches. */
async function rejectsWith(p: Promise<unknown>, file: string, message: RegExp, hint?: RegExp, problem?: SourceProblem): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof MnemoError, `expected a MnemoError, got ${String(err)}`);
    if (problem) assert.equal((err as SourceError).problem, problem);
    assert.ok(err.message.includes(file), `message does not name ${file}: ${err.message}`);
    assert.match(err.message, message);
    if (hint) assert.match(err.hint ?? '', hint);
    return true;
  });
}

void test('the sample rulebook PDF: 10 pages, text page by page, chunks within 500 tokens', async () => {
  const project = tempProject();
  copyFileSync(RULEBOOK, join(project.sourcesDir, 'rulebook.pdf'));
  const progress: ExtractProgress[] = [];
  const src = await chunkSource(project, 'sources/rulebook.pdf', { onProgress: (p) => progress.push(p) });
  assert.equal(src.path, 'sources/rulebook.pdf');
  assert.equal(src.kind, 'pdf');
  assert.equal(src.hash, createHash('sha256').update(readFileSync(RULEBOOK)).digest('hex'));
  assert.equal(src.pages.length, 10);
  assert.deepEqual(src.emptyPages, []);
  assert.match(src.pages[0].text, /^Cairnrun: The Laws of the Game\n/);
  assert.match(src.pages[1].text, /^Section 2 — The Field of Play\n2\.1 The field of play is called the Moor\./);
  assert.deepEqual(progress.at(-1), { done: 10, total: 10 });
  // Counted independently: the whole text's tokens, and the chunker run on the text directly.
  const tok = await getTokenizer('o200k_base');
  assert.equal(src.tokens, tok.count(src.text));
  const direct = chunkText(src.text, tok, { tokens: 500, pageStarts: pageStarts(src) });
  assert.deepEqual(src.chunks, direct.chunks);
  assert.ok(src.chunks.length >= 12 && src.chunks.every((c) => c.tokenEnd - c.tokenStart <= 500));
  assert.equal(src.chunks[0].page, 1);
  assert.equal(src.chunks.at(-1)!.page, 10);
  const three = await readChunk(project, 'sources/rulebook.pdf', 3);
  assert.equal(three.text, src.chunks[2].text);
  assert.equal(three.n, 3);
});

void test('the two-column rulebook reads column by column', async () => {
  const project = tempProject();
  copyFileSync(RULEBOOK_2COL, join(project.sourcesDir, 'rulebook-2col.pdf'));
  const src = await chunkSource(project, 'rulebook-2col.pdf');
  assert.equal(src.pages.length, 5);
  // The left column's last rule comes before the right column's first heading.
  const p2 = src.pages[1].text;
  assert.ok(p2.indexOf('3.5 The Helm wears an orange armband') < p2.indexOf('Section 4 — Teams'));
  assert.ok(p2.indexOf('Section 4 — Teams') < p2.indexOf('4.1 A team sheet lists no more than 16 players'));
  assert.ok(src.chunks.length >= 12);
});

void test('an unchanged file is never extracted twice; a changed one is; re-extract clears the cache', async () => {
  const project = tempProject();
  copyFileSync(RULEBOOK, join(project.sourcesDir, 'rulebook.pdf'));
  const before = sourceStats.extractions;
  const [a, b] = await Promise.all([extractSource(project, 'sources/rulebook.pdf'), extractSource(project, 'sources/rulebook.pdf')]);
  assert.equal(sourceStats.extractions, before + 1, 'two concurrent reads share one extraction');
  assert.ok(existsSync(join(project.cacheDir, 'extract', `${a.hash}.json`)));
  assert.equal(b.text, a.text);
  await extractSource(project, 'sources/rulebook.pdf');
  await chunkSource(project, 'sources/rulebook.pdf');
  const chunkings = sourceStats.chunkings;
  await chunkSource(project, 'sources/rulebook.pdf');
  assert.equal(sourceStats.extractions, before + 1, 'served from .mnemo/extract');
  assert.equal(sourceStats.chunkings, chunkings, 'served from .mnemo/chunks');
  // The cache is keyed by content: a copy under another name is not extracted again.
  copyFileSync(RULEBOOK, join(project.sourcesDir, 'copy.pdf'));
  assert.equal((await extractSource(project, 'sources/copy.pdf')).path, 'sources/copy.pdf');
  assert.equal(sourceStats.extractions, before + 1);
  // Another chunk size is chunked anew but not extracted anew.
  const small = await chunkSource(project, 'sources/rulebook.pdf', { tokens: 200 });
  assert.ok(small.chunks.every((c) => c.tokenEnd - c.tokenStart <= 200));
  assert.equal(sourceStats.chunkings, chunkings + 1);
  // A changed file is extracted again.
  const txt = put(project, 'notes.txt', 'The Moor is 84 m long.');
  await extractSource(project, txt);
  put(project, 'notes.txt', 'The Moor is 88 m long.');
  assert.equal((await extractSource(project, txt)).text, 'The Moor is 88 m long.');
  assert.equal(sourceStats.extractions, before + 3);
  // A damaged cache file is a miss, rewritten, never an error.
  writeFileSync(join(project.cacheDir, 'extract', `${a.hash}.json`), '{"version": 1, "pages": [tru');
  assert.equal((await extractSource(project, 'sources/rulebook.pdf')).text, a.text);
  assert.equal(sourceStats.extractions, before + 4);
  // Re-extract: clearing the cache makes the next read extract.
  assert.ok(await peekChunkedSource(project, 'sources/rulebook.pdf'));
  await clearSourceCache(project, 'sources/rulebook.pdf');
  assert.equal(await peekChunkedSource(project, 'sources/rulebook.pdf'), undefined);
  await extractSource(project, 'sources/rulebook.pdf');
  assert.equal(sourceStats.extractions, before + 5);
});

void test('.txt and .md are read as UTF-8: BOM dropped, CRLF to LF', async () => {
  const project = tempProject();
  const md = put(project, 'rules.md', '\ufeff# Cairnrun\r\n\r\nThe Warden guards the cairn.\r\n');
  const src = await chunkSource(project, md);
  assert.equal(src.kind, 'md');
  assert.equal(src.text, '# Cairnrun\n\nThe Warden guards the cairn.\n');
  assert.equal(src.pages.length, 1);
  assert.equal(src.chunks.length, 1);
});

void test('a non-UTF-8 .txt is refused with the likely encoding and how to convert it', async () => {
  const project = tempProject();
  const rel = put(project, 'latin1.txt', Buffer.from('Règles du Cairnrun: la pierre pèse 1,2 kg.', 'latin1'));
  await rejectsWith(extractSource(project, rel), rel, /is not UTF-8 text \(invalid byte 0xe8 at offset 1\); it looks like Latin-1/, /iconv -f LATIN1 -t UTF-8 "latin1\.txt"/, 'encoding');
  const rel16 = put(project, 'utf16.txt', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Cairnrun rules', 'utf16le')]));
  await rejectsWith(extractSource(project, rel16), rel16, /looks like UTF-16/);
});

void test('an empty file, a whitespace-only file and a missing file get clear messages', async () => {
  const project = tempProject();
  await rejectsWith(extractSource(project, put(project, 'empty.pdf', '')), 'sources/empty.pdf', /is empty \(0 bytes\)/, /Replace it/, 'empty');
  await rejectsWith(extractSource(project, put(project, 'empty.txt', '')), 'sources/empty.txt', /is empty \(0 bytes\)/);
  await rejectsWith(extractSource(project, put(project, 'blank.md', ' \n\n ')), 'sources/blank.md', /has no text/);
  await rejectsWith(extractSource(project, 'sources/gone.pdf'), 'sources/gone.pdf', /does not exist/);
});

void test('an encrypted PDF says so and how to remove the password', async () => {
  const project = tempProject();
  const rel = put(project, 'locked.pdf', makeEncryptedPdf(['The Warden may not cross the halfway line.']));
  await rejectsWith(extractSource(project, rel), rel, /is encrypted \(password-protected\)/, /qpdf --decrypt/, 'encrypted');
});

void test('a scanned PDF with no text layer says how many pages lack text and suggests OCR', async () => {
  const project = tempProject();
  const rel = put(project, 'scan.pdf', makeScannedPdf(3));
  await rejectsWith(extractSource(project, rel), rel, /has no text layer: none of its 3 pages has text/, /ocrmypdf/, 'no-text');
  // Partly scanned: extracted, with the pages that need OCR listed.
  const part = await extractSource(project, put(project, 'part.pdf', makeScannedPdf(3, [2])));
  assert.deepEqual(part.emptyPages, [1, 3]);
  assert.equal(part.pages[1].text, 'Page 2 has a text layer.');
});

void test('corrupt and truncated PDFs are reported as damaged', async () => {
  const project = tempProject();
  const cut = put(project, 'cut.pdf', truncate(readFileSync(RULEBOOK)));
  await rejectsWith(extractSource(project, cut), cut, /is not a readable PDF \(damaged or truncated/, /qpdf --check/, 'damaged');
  const junk = put(project, 'junk.pdf', makeGarbagePdf());
  await rejectsWith(extractSource(project, junk), junk, /is not a readable PDF/);
  // Nothing else broke: a good file in the same project still extracts.
  copyFileSync(RULEBOOK, join(project.sourcesDir, 'rulebook.pdf'));
  assert.equal((await extractSource(project, 'sources/rulebook.pdf')).pages.length, 10);
});

void test('a 1,000-page PDF streams by page range with progress, and can be cancelled', async () => {
  const project = tempProject();
  const rel = put(project, 'big.pdf', makeLargePdf(1000));
  const controller = new AbortController();
  const seen: ExtractProgress[] = [];
  await assert.rejects(
    extractSource(project, rel, {
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p);
        if (p.done >= 100) controller.abort();
      },
    }),
    (err: unknown) => err instanceof ExtractionCancelled && err.message.includes(rel),
  );
  assert.ok(seen.at(-1)!.done < 1000, 'stopped before the end');
  assert.equal(await peekChunkedSource(project, rel), undefined, 'nothing cached for a cancelled extraction');

  const progress: ExtractProgress[] = [];
  const src = await chunkSource(project, rel, { onProgress: (p) => progress.push(p) });
  assert.equal(src.pages.length, 1000);
  assert.ok(progress.length >= 10, `${progress.length} progress reports`);
  assert.ok(progress.every((p, i) => p.total === 1000 && (i === 0 || p.done > progress[i - 1].done)));
  assert.deepEqual(progress.at(-1), { done: 1000, total: 1000 });
  assert.match(src.pages[536].text, new RegExp(`^${largePdfLine(537).replace(/\./g, '\\.')}`));
  // A chunk that starts at the top of a page knows which page that is.
  const starting = src.chunks.filter((c) => /^Page \d+\./.test(c.text.trimStart()));
  assert.ok(starting.length > 10);
  for (const c of starting) assert.equal(c.page, Number(/^Page (\d+)\./.exec(c.text.trimStart())![1]));
  assert.ok(src.chunks.at(-1)!.page > 990);
});

void test('a file removed while it is being extracted gets a clear message', async () => {
  const project = tempProject();
  const rel = put(project, 'vanishing.pdf', makeLargePdf(200));
  let removed = false;
  await rejectsWith(
    extractSource(project, rel, {
      onProgress: () => {
        if (!removed) unlinkSync(join(project.root, rel));
        removed = true;
      },
    }),
    rel,
    /was removed while it was being extracted/,
    undefined,
    'missing',
  );
});

void test('unsupported files are listed with a note and refused by extraction', async () => {
  const project = tempProject();
  put(project, 'slides.pptx', 'not really');
  put(project, 'a.txt', 'Text.');
  put(project, '.DS_Store', 'hidden');
  const list = await listSources(project);
  assert.deepEqual(list.map((e) => [e.path, e.kind]), [['sources/a.txt', 'txt'], ['sources/slides.pptx', undefined]]);
  assert.match(list[1].note ?? '', /\.pptx files are not supported/);
  await rejectsWith(extractSource(project, 'sources/slides.pptx'), 'sources/slides.pptx', /is not a source Mnemo can read/);
  await rejectsWith(extractSource(project, '../outside.txt'), '../outside.txt', /outside the project/);
});

void test('readChunk out of range names the source and its chunk count', async () => {
  const project = tempProject();
  const rel = put(project, 'short.txt', 'One short chunk.');
  await rejectsWith(readChunk(project, rel, 2), rel, /has 1 chunk; there is no chunk 2/);
});

void test('a hand-made text PDF round-trips its lines', async () => {
  const project = tempProject();
  const rel = put(project, 'two.pdf', makeTextPdf([['First page (one).', 'Second line.'], ['Second page.']]));
  const src = await extractSource(project, rel);
  assert.deepEqual(src.pages, [
    { num: 1, text: 'First page (one).\nSecond line.' },
    { num: 2, text: 'Second page.' },
  ]);
  assert.equal(src.text, 'First page (one).\nSecond line.\n\nSecond page.');
});
