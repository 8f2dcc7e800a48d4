// The walkthrough to the end, the empty views' hints, and the stages they follow (src/core/stages.ts).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Project, scaffoldProject } from '../../src/core/project';
import { stageState } from '../../src/core/stages';

const root = join(import.meta.dirname, '../..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const c = manifest.contributes;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Every TypeScript file under src/extension, as one text (to find where a context key is set). */
function extensionSource(dir = join(root, 'src/extension')): string {
  return readdirSync(dir, { withFileTypes: true })
    .map((e) => (e.isDirectory() ? extensionSource(join(dir, e.name)) : e.name.endsWith('.ts') ? readFileSync(join(dir, e.name), 'utf8') : ''))
    .join('\n');
}

void test('the walkthrough goes on to training, evaluation and comparing runs, and every step checks itself off from what the project holds', () => {
  const steps: { id: string; title: string; description: string; completionEvents?: string[] }[] = c.walkthroughs[0].steps;
  assert.deepEqual(steps.map((s) => s.id), ['newProject', 'addSource', 'chunks', 'generate', 'curate', 'dataset', 'train', 'evaluate', 'compare']);
  const byId = Object.fromEntries(steps.map((s) => [s.id, s]));
  assert.ok(byId.newProject.completionEvents?.includes('onContext:mnemo.projectOpen'), '"Create a project" is checked when a project is open');
  assert.deepEqual(byId.generate.completionEvents, ['onContext:mnemo.hasPairs'], 'checked when pairs exist, not when the command was merely started');
  assert.deepEqual(byId.dataset.completionEvents, ['onContext:mnemo.hasDataset']);
  assert.deepEqual(byId.train.completionEvents, ['onContext:mnemo.hasTrainedRun']);
  assert.deepEqual(byId.evaluate.completionEvents, ['onContext:mnemo.hasEvaluation']);
  assert.ok(byId.compare.completionEvents?.includes('onCommand:mnemo.training.compareRuns'));
  // Every context key a step or an empty view waits on is set by the extension.
  const source = extensionSource();
  const keys = new Set<string>();
  for (const s of steps) for (const ev of s.completionEvents ?? []) if (ev.startsWith('onContext:')) for (const m of ev.matchAll(/mnemo\.[\w.]+/g)) keys.add(m[0]);
  for (const w of c.viewsWelcome as { when?: string }[]) for (const m of (w.when ?? '').matchAll(/mnemo\.[\w.]+/g)) keys.add(m[0]);
  for (const key of keys) assert.ok(source.includes(`'${key}'`), `context key ${key} is set somewhere in src/extension`);
  // The subtitle fits on the welcome page's card (it was cut off at 73 characters).
  assert.ok(c.walkthroughs[0].description.length <= 60, c.walkthroughs[0].description);
});

void test('every view says what to do next with a button, whatever the state; the Runs view\'s hint follows the dataset', () => {
  const welcome: { view: string; contents: string; when?: string }[] = c.viewsWelcome;
  for (const w of welcome) assert.match(w.contents, /\n\[[^\]]+\]\(command:[\w.-]+\)/, `${w.view} (${w.when}) ends with a button`);
  const runs = welcome.filter((w) => w.view === 'mnemo.runs');
  const noDataset = runs.find((w) => w.when === 'mnemo.projectOpen && !mnemo.hasDataset');
  const withDataset = runs.find((w) => w.when === 'mnemo.projectOpen && mnemo.hasDataset');
  assert.ok(noDataset?.contents.includes('(command:mnemo.buildDataset)') && !noDataset.contents.includes('mnemo.startTraining'), 'no dataset: Build Dataset only');
  assert.ok(withDataset?.contents.includes('(command:mnemo.startTraining)') && !withDataset.contents.includes('Build Dataset'), 'a dataset: Start Training, no "No dataset yet?"');
  for (const view of ['mnemo.sources', 'mnemo.qa', 'mnemo.runs', 'mnemo.evaluations']) {
    assert.ok(welcome.some((w) => w.view === view && w.when?.includes('!mnemo.projectOpen')), `${view} says what to do without a project`);
  }
});

void test('no command title holds a single "&": menus read it as a mnemonic and drop it ("Generate QA")', () => {
  for (const cmd of c.commands as { command: string; title: string }[]) assert.doesNotMatch(cmd.title, /&/, `${cmd.command}: "${cmd.title}"`);
});

void test('stageState: pairs, a dataset, a finished run and an answer set, each from its files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-stages-'));
  dirs.push(dir);
  scaffoldProject(dir, 'Cairnrun rules');
  const project = Project.load(dir);
  assert.deepEqual(stageState(project), { hasPairs: false, hasDataset: false, hasTrainedRun: false, hasEvaluation: false });
  // An empty .qa file is not pairs; one in a new folder under qa/ is.
  mkdirSync(join(dir, 'qa', 'rulebook'), { recursive: true });
  writeFileSync(join(dir, 'qa', 'rulebook', 'empty.qa'), '');
  assert.equal(stageState(project).hasPairs, false);
  writeFileSync(join(dir, 'qa', 'rulebook', 'offline.qa'), 'Q: In Cairnrun, what is a Tap?\nA: A bounce.\n');
  assert.equal(stageState(project).hasPairs, true);
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(join(dir, 'data', 'train.jsonl'), '{"messages":[]}\n');
  assert.equal(stageState(project).hasDataset, true);
  // A run still running is not a trained model; a done one is.
  const run = (id: string, state: string) => {
    mkdirSync(join(dir, 'runs', id), { recursive: true });
    writeFileSync(join(dir, 'runs', id, 'run.json'), JSON.stringify({ version: 1, id, state, target: { kind: 'local' }, created: new Date().toISOString() }));
  };
  run('r1', 'running');
  assert.equal(stageState(project).hasTrainedRun, false);
  run('r2', 'done');
  assert.equal(stageState(project).hasTrainedRun, true);
  assert.equal(stageState(project).hasEvaluation, false);
  mkdirSync(join(dir, 'runs', 'r2', 'eval'), { recursive: true });
  writeFileSync(join(dir, 'runs', 'r2', 'eval', 'questions.json'), '{}');
  assert.equal(stageState(project).hasEvaluation, true);
  rmSync(join(dir, 'runs', 'r2', 'eval'), { recursive: true });
  mkdirSync(join(dir, 'eval', 'results'), { recursive: true });
  writeFileSync(join(dir, 'eval', 'results', 'base.json'), '{}');
  assert.deepEqual(stageState(project), { hasPairs: true, hasDataset: true, hasTrainedRun: true, hasEvaluation: true });
});

void test('.qa documents (and the answer sets\' diffs, which are .qa documents) wrap long answers instead of cutting them', () => {
  assert.equal(c.configurationDefaults?.['[mnemo-qa]']?.['editor.wordWrap'], 'on');
});
