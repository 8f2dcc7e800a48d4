/**
 * The generation journal (.mnemo/generation/journal.jsonl): one JSON line per finished request,
 * appended and fsync'd before the request counts as done. A crash, reload or cancel resumes
 * from it: a request whose key has a "done" line is never sent again.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { JournalEntry } from './types';

export function journalPath(cacheDir: string): string {
  return join(cacheDir, 'generation', 'journal.jsonl');
}

export class Journal {
  /** The last "done" entry of each key. */
  readonly done = new Map<string, JournalEntry>();
  /** Lines that could not be read (a line cut by a crash mid-write is the usual one). */
  readonly badLines: number;
  private fd: number | undefined;

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
          const e = JSON.parse(line) as JournalEntry;
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

  /** Appends one entry and waits for the disk: when this returns, the entry survives a crash. */
  append(entry: JournalEntry): void {
    this.fd ??= openSync(this.path, 'a');
    const line = (this.needsNewline ? '\n' : '') + JSON.stringify(entry) + '\n';
    this.needsNewline = false;
    const buf = Buffer.from(line, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off);
    fsyncSync(this.fd);
    if (entry.status === 'done') this.done.set(entry.key, entry);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
