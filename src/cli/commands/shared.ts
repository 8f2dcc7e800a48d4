import { resolve } from 'node:path';
import { Project } from '../../core/project';
import { listSources, type ChunkedSource } from '../../core/sources';
import type { CliCommand } from './types';

/** The project named by `--project` (always set by main.ts), loaded and validated. */
export function loadProject(values: Record<string, unknown>): Project {
  return Project.load(resolve(String(values.project)));
}

/** Options of the commands that work on sources: one with `--source`, machine-readable with `--json`. */
export const SOURCE_OPTIONS: NonNullable<CliCommand['options']> = { json: { type: 'boolean' }, source: { type: 'string' } };

/** Sources to work on: one (--source) or every file in sources/. */
export async function selectSources(project: Project, source: unknown): Promise<{ path: string; note?: string; supported: boolean }[]> {
  if (typeof source === 'string' && source) return [{ path: source, supported: true }];
  return (await listSources(project)).map((e) => ({ path: e.path, note: e.note, supported: !!e.kind }));
}

const fmt = new Intl.NumberFormat('en-US');

/** "10 pages · 5,895 tokens · 13 chunks" */
export function summarize(s: Pick<ChunkedSource, 'pages' | 'tokens' | 'chunks'>): string {
  const n = (x: number, one: string) => `${fmt.format(x)} ${one}${x === 1 ? '' : 's'}`;
  return `${n(s.pages.length, 'page')} · ${n(s.tokens, 'token')} · ${n(s.chunks.length, 'chunk')}`;
}
