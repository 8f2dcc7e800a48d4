// The coverage report's table headers: no "t=?" for pairs whose file names no temperature.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coverage, coverageMarkdown, parseQa } from '../../src/core/qa';

void test('coverage of offline or hand-written pairs (no @temperature): one column "pairs", no "t=?"', () => {
  const offline = parseQa('@source: sources/r.md\n@variant: offline\n\n@chunk: 1\nQ: a?\nA: b.\n\nQ: c?\nA: d.\n\n@chunk: 3\nQ: e?\nA: f.\n');
  const md = coverageMarkdown(coverage([{ path: 'qa/r/offline.qa', file: offline }], new Map([['sources/r.md', 3]])));
  assert.doesNotMatch(md, /t=\?/);
  assert.match(md, /^\| chunk \| pairs \|$/m);
  assert.match(md, /^\| 1 \| 2 \|$/m);
  assert.match(md, /^\| 2 \| \*\*0\*\* \|$/m);
});

void test('coverage with and without temperatures: the column of pairs without one says so', () => {
  const swept = parseQa('@source: sources/r.md\n@temperature: 0.6\n\n@chunk: 1\nQ: a?\nA: b.\n');
  const hand = parseQa('@source: sources/r.md\n\n@chunk: 2\nQ: c?\nA: d.\n');
  const md = coverageMarkdown(coverage([{ path: 'qa/a.qa', file: swept }, { path: 'qa/b.qa', file: hand }]));
  assert.doesNotMatch(md, /t=\?/);
  assert.match(md, /^\| chunk \| t=0\.6 \| no @temperature \| total \|$/m);
  assert.match(md, /^\| 2 \| \*\*0\*\* \| 1 \| 1 \|$/m);
});
