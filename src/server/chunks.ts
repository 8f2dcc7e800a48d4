/**
 * The chunks of the project's sources, as the language server sees them: loaded through the
 * sources API (from the .mnemo cache when the source is unchanged), kept in memory, and
 * forgotten when a source or the chunking settings change.
 */
import { describeError } from '../core/errors';
import type { Project } from '../core/project';
import { chunkSource, type ChunkedSource } from '../core/sources';

export class ChunkStore {
  private readonly loaded = new Map<string, ChunkedSource | Error>();
  private readonly loading = new Map<string, Promise<ChunkedSource | Error>>();

  constructor(
    private project: Project | undefined,
    /** Called when a source's chunks arrive (or fail to), so the pairs that use them are re-checked. */
    private readonly onLoaded: (source: string) => void,
    private readonly log: (message: string) => void = () => {},
  ) {}

  setProject(project: Project | undefined): void {
    this.project = project;
    this.clear();
  }

  clear(): void {
    this.loaded.clear();
    this.loading.clear();
  }

  /** Forgets one source (its file changed). */
  forget(source: string): void {
    this.loaded.delete(source);
    this.loading.delete(source);
  }

  /** The chunked source if loaded; otherwise starts loading it and returns undefined. */
  peek(source: string): ChunkedSource | undefined {
    const s = this.loaded.get(source);
    if (s === undefined) {
      void this.load(source);
      return undefined;
    }
    return s instanceof Error ? undefined : s;
  }

  /** Why a source's chunks are unavailable, once known. */
  error(source: string): Error | undefined {
    const s = this.loaded.get(source);
    return s instanceof Error ? s : undefined;
  }

  text(source: string, chunk: string): string | undefined {
    const n = Number(chunk);
    if (!Number.isInteger(n)) return undefined;
    return this.peek(source)?.chunks[n - 1]?.text;
  }

  load(source: string): Promise<ChunkedSource | Error> {
    const done = this.loaded.get(source);
    if (done) return Promise.resolve(done);
    let p = this.loading.get(source);
    if (!p) {
      const project = this.project;
      p = (project ? chunkSource(project, source) : Promise.reject(new Error('no Mnemo project (mnemo.json) is open')))
        .catch((err: unknown) => new Error(describeError(err)))
        .then((result) => {
          // A clear() or forget() while loading makes this result stale.
          if (this.loading.get(source) !== p) return result;
          this.loading.delete(source);
          this.loaded.set(source, result);
          if (result instanceof Error) this.log(`Chunks of ${source} unavailable: ${result.message}`);
          this.onLoaded(source);
          return result;
        });
      this.loading.set(source, p);
    }
    return p;
  }
}
