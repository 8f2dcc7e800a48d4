/**
 * The small project the generation tests sweep: three paragraphs of Cairnrun rules in
 * sources/rules.md, chunked at 50 tokens (one chunk per paragraph), and the local servers the
 * tests start, all removed or closed once the test file is done.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { scaffoldProject } from '../../src/core/project';
import type { FakeServer } from '../servers/openai-server';

export const PARAGRAPHS = [
  'Opponents must retreat nine metres at a Free Cast. The captain of the defending side places the stone on the mark. Play restarts when the referee raises the blue flag.',
  'A cairn is built from exactly seven stones. Each half lasts thirty minutes of running time. The Chief Arbiter may stop play for injury at any time.',
  'A player who handles the stone inside the ring concedes a Free Cast. A team that scores twice in a row must change ends. The match ball weighs four hundred grams.',
];

/**
 * `project(generation)` makes a project folder (variants nuanced and simple, and the given
 * `generation` settings over them); `servers` collects servers to close after the file's tests.
 */
export function generationFixture(prefix: string): { project: (generation?: Record<string, unknown>) => string; servers: FakeServer[] } {
  const dirs: string[] = [];
  const servers: FakeServer[] = [];
  after(async () => {
    for (const s of servers) await s.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const project = (generation: Record<string, unknown> = {}): string => {
    const root = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(root);
    scaffoldProject(root, 'Cairnrun rules');
    writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', chunking: { tokens: 50 }, generation: { variants: ['nuanced', 'simple'], ...generation } }, null, 2));
    writeFileSync(join(root, 'sources', 'rules.md'), PARAGRAPHS.join('\n\n') + '\n');
    return root;
  };
  return { project, servers };
}
