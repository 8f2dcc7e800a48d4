// The dataset's low-quality count: a pair a person wrote into the offline generator's file is not
// counted "from the offline generator"; the generator's own pairs (old and new wording) are.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cli } from './cli-run';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

void test('mnemo build: hand-written pairs in an offline file are not counted as the offline generator\'s', async () => {
  const root = mkdtempSync(join(tmpdir(), 'mnemo-offline-count-'));
  dirs.push(root);
  mkdirSync(join(root, 'qa', 'rulebook'), { recursive: true });
  writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules' }));
  const generated = Array.from({ length: 6 }, (_, i) => `Q: In Cairnrun rules, fill in the blank: "The Moor is _____ m long (part ${i})."\nA: 84\n\nQ: In Cairnrun rules, how does the statement that ends "…${i} m wide." begin?\nA: The Moor is 84 m long and\n\nQ: In Cairnrun rules, which statement ends with "…gate ${i}."? Give the whole statement.\nA: A Crown is scored through gate ${i}.\n`).join('\n');
  const hand = Array.from({ length: 5 }, (_, i) => `@reviewed\nQ: In Cairnrun rules, how many points is Crown ${i} worth?\nA: Five points.\n`).join('\n');
  writeFileSync(join(root, 'qa', 'rulebook', 'offline.qa'), `@source: sources/rulebook.md\n@variant: offline\n@generator: offline (low-quality fallback)\n\n@chunk: 1\n${generated}\n${hand}`);
  const r = await cli(['build', '--project', root]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^warning: 18 of 23 pairs come from the offline generator \(1 file\)/m);
});
