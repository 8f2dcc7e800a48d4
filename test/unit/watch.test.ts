import * as assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { watchTree } from '../../src/core/watch';

/** Collects batches; `until(pred)` resolves once the paths seen so far satisfy it (on events, not sleeps). */
function collector() {
  const seen = new Set<string>();
  let waiting: { pred: (s: Set<string>) => boolean; resolve: () => void } | undefined;
  return {
    seen,
    onChange(paths: string[]) {
      for (const p of paths) seen.add(p);
      if (waiting?.pred(seen)) waiting.resolve();
    },
    until(pred: (s: Set<string>) => boolean): Promise<void> {
      if (pred(seen)) return Promise.resolve();
      // The watches do not hold the process open (persistent: false): this guard does, and fails a test that hangs.
      return new Promise((resolve, reject) => {
        const guard = setTimeout(() => reject(new Error(`no event after 20 s; seen: ${[...seen].join(', ')}`)), 20_000);
        waiting = { pred, resolve: () => (clearTimeout(guard), resolve()) };
      });
    },
  };
}

void test('files in folders made after the watch started are reported, and so are their later changes', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'mnemo-watch-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const c = collector();
  const w = watchTree(root, (p) => c.onChange(p), { delayMs: 10 });
  t.after(() => w.dispose());
  const file = join(root, 'rulebook', 'deeper', 'offline.qa');
  mkdirSync(join(root, 'rulebook', 'deeper'), { recursive: true });
  writeFileSync(file, 'Q: a?\nA: b.\n');
  await c.until((s) => s.has(file));
  c.seen.clear();
  appendFileSync(file, '\nQ: c?\nA: d.\n');
  await c.until((s) => s.has(file));
  c.seen.clear();
  const second = join(root, 'rulebook', 'deeper', 'simple-t1.qa');
  writeFileSync(second, 'Q: e?\nA: f.\n');
  await c.until((s) => s.has(second));
  c.seen.clear();
  rmSync(join(root, 'rulebook'), { recursive: true });
  await c.until((s) => s.has(join(root, 'rulebook')));
  // The deleted folder is watched again once made again.
  c.seen.clear();
  mkdirSync(join(root, 'rulebook'));
  writeFileSync(join(root, 'rulebook', 'x.qa'), 'Q: g?\nA: h.\n');
  await c.until((s) => s.has(join(root, 'rulebook', 'x.qa')));
});

void test('a root that does not exist yet is watched from the moment it is made', async (t) => {
  const parent = mkdtempSync(join(tmpdir(), 'mnemo-watch-'));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const root = join(parent, 'runs');
  const c = collector();
  const w = watchTree(root, (p) => c.onChange(p), { delayMs: 10 });
  t.after(() => w.dispose());
  mkdirSync(join(root, 'run-1'), { recursive: true });
  writeFileSync(join(root, 'run-1', 'run.json'), '{}');
  await c.until((s) => s.has(join(root, 'run-1', 'run.json')));
  c.seen.clear();
  appendFileSync(join(root, 'run-1', 'run.json'), '\n');
  await c.until((s) => s.has(join(root, 'run-1', 'run.json')));
});

void test('folders below the depth limit are not entered', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'mnemo-watch-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const c = collector();
  const w = watchTree(root, (p) => c.onChange(p), { delayMs: 10, depth: 1 });
  t.after(() => w.dispose());
  mkdirSync(join(root, 'a', 'b', 'c'), { recursive: true });
  writeFileSync(join(root, 'a', 'b', 'c', 'deep.txt'), 'x');
  writeFileSync(join(root, 'a', 'shallow.txt'), 'x');
  await c.until((s) => s.has(join(root, 'a', 'shallow.txt')));
  assert.ok(!c.seen.has(join(root, 'a', 'b', 'c', 'deep.txt')));
});
