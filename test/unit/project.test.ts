import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultKeywords, parseProjectConfig, Project, ProjectConfigError, scaffoldProject, temperatureGrid } from '../../src/core/project';
import { MnemoError } from '../../src/core/errors';

void test('temperature grid: 9 evenly spaced from 0.01 to 1.2', () => {
  const t = temperatureGrid();
  assert.equal(t.length, 9);
  assert.equal(t[0], 0.01);
  assert.equal(t[8], 1.2);
  assert.ok(Math.abs(t[4] - 0.605) < 1e-9);
});

void test('defaults are filled in', () => {
  const c = parseProjectConfig('{"context": "Cairnrun rules"}');
  assert.equal(c.chunking.tokens, 500);
  assert.deepEqual(c.keywords, ['Cairnrun']);
  assert.equal(c.generation.tokensPerQuestion, 60);
  assert.equal(c.generation.temperatures.length, 9);
  assert.equal(c.dataset.turnsPerRow, 5);
  assert.equal(c.dataset.rowTokenBudget, 512);
  assert.equal(c.hub.private, true);
});

void test('an unknown key is named, with its line', () => {
  const text = '{\n  "context": "Cairnrun rules",\n  "chunking": {\n    "tokenz": 400\n  }\n}\n';
  assert.throws(
    () => parseProjectConfig(text, '/p/mnemo.json'),
    (err: unknown) => {
      assert.ok(err instanceof ProjectConfigError);
      assert.equal(err.problems[0].pointer, '/chunking/tokenz');
      assert.equal(err.problems[0].line, 3);
      assert.match(err.message, /mnemo\.json:4:5: unknown key "chunking\.tokenz"/);
      return true;
    },
  );
});

void test('a wrong type points at the key', () => {
  const text = '{\n  "context": "x",\n  "chunking": { "tokens": "500" }\n}';
  assert.throws(
    () => parseProjectConfig(text),
    (err: unknown) => err instanceof ProjectConfigError && err.problems[0].pointer === '/chunking/tokens' && err.problems[0].line === 2 && /must be integer/.test(err.message),
  );
});

void test('invalid JSON and a missing context are clear', () => {
  assert.throws(() => parseProjectConfig('{"context": '), /not valid JSON/);
  assert.throws(() => parseProjectConfig('{}'), /missing required key "context"/);
});

void test('scaffold never overwrites, and Project.load reads it back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-proj-'));
  const first = scaffoldProject(dir, 'Cairnrun rules');
  assert.ok(first.created.includes('mnemo.json'));
  for (const f of ['sources', 'qa', 'eval', 'data', 'runs']) assert.ok(existsSync(join(dir, f)));
  writeFileSync(join(dir, 'mnemo.json'), '{"context": "Mine"}');
  const second = scaffoldProject(dir, 'Other');
  assert.ok(second.kept.includes('mnemo.json'));
  assert.equal(readFileSync(join(dir, 'mnemo.json'), 'utf8'), '{"context": "Mine"}');
  assert.equal(Project.load(dir).config.context, 'Mine');
});

void test('a folder without mnemo.json is not a project', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-none-'));
  assert.throws(() => Project.load(dir), (e: unknown) => e instanceof MnemoError && /not a Mnemo project/.test(e.message) && /New Project/.test(e.hint ?? ''));
});

void test('keywords default to the capitalised words of the context', () => {
  assert.deepEqual(defaultKeywords('Cairnrun rules'), ['Cairnrun']);
  assert.deepEqual(defaultKeywords('the ACME Widget manual'), ['ACME', 'Widget']);
});
