import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { MnemoError } from '../errors';
import type { Project } from '../project';
import type { SourceKind } from './types';

/** File extensions Mnemo reads, and the kind each one is. */
export const SOURCE_KINDS: Readonly<Record<string, SourceKind>> = { '.pdf': 'pdf', '.txt': 'txt', '.md': 'md', '.markdown': 'md' };

export function sourceKind(path: string): SourceKind | undefined {
  return SOURCE_KINDS[extname(path).toLowerCase()];
}

/** A file in sources/, as listed (nothing extracted yet). */
export interface SourceEntry {
  /** Relative to the project root with '/' separators, e.g. "sources/rulebook.pdf". */
  path: string;
  /** Absolute path on disk. */
  absPath: string;
  /** File name, e.g. "rulebook.pdf". */
  name: string;
  /** undefined for a file type Mnemo does not read (see `note`). */
  kind: SourceKind | undefined;
  size: number;
  mtimeMs: number;
  /** Why the file is skipped, for unsupported types. */
  note?: string;
}

export function unsupportedNote(name: string): string {
  const ext = extname(name) || '(no extension)';
  return `${ext} files are not supported: Mnemo reads .pdf, .txt and .md. Convert the document to one of them to use it.`;
}

/** Every file under sources/ (hidden files and folders excluded), sorted by path. */
export async function listSources(project: Project): Promise<SourceEntry[]> {
  const out: SourceEntry[] = [];
  async function walk(dir: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const abs = join(dir, e.name);
      if (e.isDirectory()) await walk(abs);
      else if (e.isFile()) {
        let st;
        try {
          st = await stat(abs);
        } catch {
          continue; // removed while listing
        }
        const kind = sourceKind(e.name);
        out.push({ path: toRel(project, abs), absPath: abs, name: e.name, kind, size: st.size, mtimeMs: st.mtimeMs, ...(kind ? {} : { note: unsupportedNote(e.name) }) });
      }
    }
  }
  await walk(project.sourcesDir);
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

export function toRel(project: Project, abs: string): string {
  return relative(project.root, abs).split(sep).join('/');
}

/**
 * Resolves what a user or a caller gave ("sources/a.pdf", "a.pdf", an absolute path) to the
 * source's project-relative and absolute paths. Paths outside the project are refused.
 */
export function resolveSourcePath(project: Project, path: string): { rel: string; abs: string } {
  let abs = isAbsolute(path) ? path : resolve(project.root, path);
  const rel = toRel(project, abs);
  if (rel.startsWith('..') || isAbsolute(rel)) {
    throw new MnemoError(`${path} is outside the project ${project.root}.`, 'Add it to the project first ("Mnemo: Add Source…" copies it into sources/).', path);
  }
  if (!rel.startsWith('sources/') && !path.includes('/') && !path.includes('\\')) {
    // A bare file name means a file in sources/.
    abs = join(project.sourcesDir, path);
    return { rel: toRel(project, abs), abs };
  }
  return { rel, abs };
}

/** sha256 of a file's bytes, streamed. */
export function hashFile(abs: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const h = createHash('sha256');
    createReadStream(abs)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolvePromise(h.digest('hex')));
  });
}

export function hashBytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
