/**
 * The generation journal (.mnemo/generation/journal.jsonl): one JSON line per finished request,
 * appended and fsync'd before the request counts as done. A crash, reload or cancel resumes
 * from it: a request whose key has a "done" line is never sent again.
 *
 * Appends are group-committed: lines that arrive while a write + fsync is under way go out
 * together in the next one, off the event loop, so a slow disk neither blocks the requests in
 * flight nor caps the sweep at one fsync per request.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { scrubDeep } from '../secrets';
import type { JournalEntry } from './types';

export function journalPath(cacheDir: string): string {
  return join(cacheDir, 'generation', 'journal.jsonl');
}

export class Journal {
  /** The last "done" entry of each key. */
  readonly done = new Map<string, JournalEntry>();
  /** Lines that could not be read (a line cut by a crash mid-write is the usual one). */
  readonly badLines: number;
  private handle: FileHandle | undefined;
  private pending: { entry: JournalEntry; bytes: Buffer; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private flushing: Promise<void> | undefined;

  private constructor(
    readonly path: string,
    badLines: number,
    private needsNewline: boolean,
  ) {
    this.badLines = badLines;
  }

  static open(path: string): Journal {
    mkdirSync(dirname(path), { recursive: true });
    let bad = 0;
    let needsNewline = false;
    const entries: JournalEntry[] = [];
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      needsNewline = text.length > 0 && !text.endsWith('\n');
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        try {
          // An old line may hold a key a server echoed before scrubbing existed: it goes no further than this file.
          const e = scrubDeep(JSON.parse(line) as JournalEntry);
          if (typeof e.key === 'string' && (e.status === 'done' || e.status === 'failed')) entries.push(e);
          else bad++;
        } catch {
          bad++;
        }
      }
    }
    const j = new Journal(path, bad, needsNewline);
    for (const e of entries) if (e.status === 'done') j.done.set(e.key, e);
    return j;
  }

  has(key: string): boolean {
    return this.done.has(key);
  }

  /** Appends one entry; resolves once it is on disk (fsync'd): from then on it survives a crash. */
  append(entry: JournalEntry): Promise<void> {
    // The last line of defence: whatever a client forgot to scrub never reaches the disk.
    entry = scrubDeep(entry);
    const line = (this.needsNewline ? '\n' : '') + JSON.stringify(entry) + '\n';
    this.needsNewline = false;
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ entry, bytes: Buffer.from(line, 'utf8'), resolve, reject });
      this.flushing ??= this.flush().finally(() => (this.flushing = undefined));
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending.splice(0);
      try {
        this.handle ??= await open(this.path, 'a');
        const buf = Buffer.concat(batch.map((b) => b.bytes));
        let off = 0;
        while (off < buf.length) off += (await this.handle.write(buf, off)).bytesWritten;
        await this.handle.datasync();
      } catch (err) {
        for (const b of batch) b.reject(err);
        continue;
      }
      for (const b of batch) {
        if (b.entry.status === 'done') this.done.set(b.entry.key, b.entry);
        b.resolve();
      }
    }
  }

  /** Waits for pending appends, then closes the file. */
  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    await this.handle?.close();
    this.handle = undefined;
  }
}
