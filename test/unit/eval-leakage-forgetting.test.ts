/**
 * Leakage (eval questions that near-duplicate a training question: flagged, scores with and without
 * them) and the forgetting check (Mnemo's general-knowledge set, base model vs run, regressions per
 * question), through the core's evaluate / checkForgetting with a stand-in eval.py.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  ablationMarkdown,
  ablationTable,
  checkForgetting,
  evaluate,
  findLeaks,
  forgettingEvalSet,
  formatForgetting,
  parseEvalSet,
  readAnswerSet,
  regrade,
  scoreAnswerSet,
} from '../../src/core/eval';
import { SPLIT_NEAR_DUPLICATE_THRESHOLD } from '../../src/core/dataset/groups';
import { Project, scaffoldProject } from '../../src/core/project';
import { cli } from './cli-run';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// Answers: the question's entry in $STAND_IN_ANSWERS (base) or $STAND_IN_RUN_ANSWERS (with --adapter), else "I do not know."
const STAND_IN = `
import json, os, sys
args = sys.argv[1:]
def arg(name, default=None):
    return args[args.index(name) + 1] if name in args else default
table = json.loads(os.environ.get("STAND_IN_RUN_ANSWERS" if arg("--adapter") else "STAND_IN_ANSWERS", "{}"))
qs = [json.loads(l) for l in open(arg("--questions")) if l.strip()]
with open(arg("--output"), "w") as f:
    for q in qs:
        f.write(json.dumps({"id": q["id"], "answer": table.get(q["question"], "I do not know."), "latency_ms": 1}) + "\\n")
print(json.dumps({"event": "done", "output_dir": arg("--output")}), flush=True)
`;

const EVAL_QA = [
  '@tags: forward',
  'Q: In Cairnrun, how many points is a Crown worth?',
  'A: 5 points (Rule 9.1).',
  '',
  '@tags: forward',
  'Q: In Cairnrun, how long is each watch?',
  'A: 30 minutes (Rule 6.1).',
  '',
  '@tags: reversed',
  'Q: In Cairnrun, what are the strips along the sidelines called?',
  'A: The Narrows (Rule 2.10).',
  '',
].join('\n');

function project(): { root: string; script: string } {
  const root = mkdtempSync(join(tmpdir(), 'mnemo-leak-'));
  dirs.push(root);
  scaffoldProject(root, 'Cairnrun rules');
  writeFileSync(join(root, 'eval', 'questions.qa'), EVAL_QA);
  const script = join(root, 'stand-in.py');
  writeFileSync(script, STAND_IN);
  return { root, script };
}

function row(question: string, answer: string): string {
  return JSON.stringify({ messages: [{ role: 'system', content: 'You know Cairnrun.' }, { role: 'user', content: question }, { role: 'assistant', content: answer }] });
}

void describe('leakage', () => {
  void test('findLeaks: the split\'s measure (same words, or shingle Jaccard >= the split threshold), context keywords left out', () => {
    const questions = parseEvalSet(EVAL_QA, 'q.qa').questions;
    const leaks = findLeaks(questions, [
      'How many points is a Crown worth in Cairnrun?', // same content words, reordered: 1
      'How long is each watch of play?', // (long, watch) of (long, watch, play): 2/3
      'What is a Gate worth?',
    ], { keywords: ['Cairnrun'] });
    assert.equal(leaks.get(questions[0].id)?.similarity, 1);
    assert.equal(leaks.get(questions[0].id)?.trainQuestion, 'How many points is a Crown worth in Cairnrun?');
    assert.ok((leaks.get(questions[1].id)?.similarity ?? 0) >= SPLIT_NEAR_DUPLICATE_THRESHOLD, JSON.stringify([...leaks]));
    assert.equal(leaks.has(questions[2].id), false);
    // Without the context keyword left out, "cairnrun" is a shared word that would inflate the similarity.
    assert.equal(findLeaks([{ id: 'x', question: 'Cairnrun Gate' }], ['Cairnrun Crown'], { keywords: ['Cairnrun'] }).size, 0);
    assert.equal(findLeaks([{ id: 'x', question: 'Cairnrun Gate' }], ['Cairnrun Crown']).size, 0, '1/3 is below the threshold');
  });

  void test('evaluate flags leaked answers from data/train.jsonl (a run: its own train.jsonl) and scores without them; regrade refreshes', async () => {
    const { root, script } = project();
    mkdirSync(join(root, 'data'), { recursive: true });
    writeFileSync(join(root, 'data', 'train.jsonl'), [row('How many points is a Crown worth in Cairnrun?', '5 points.'), row('What is a Gate?', 'A ring.')].join('\n') + '\n');
    process.env.STAND_IN_ANSWERS = JSON.stringify({ 'In Cairnrun, how many points is a Crown worth?': '5 points.', 'In Cairnrun, how long is each watch?': '20 minutes.', 'In Cairnrun, what are the strips along the sidelines called?': 'The Narrows.' });
    const r = await evaluate(Project.load(root), { target: { kind: 'base', model: 'tiny' }, local: { script, python: 'python3' } });
    assert.equal(r.set.meta.leakSource, 'data/train.jsonl');
    const leaked = r.set.answers.filter((a) => a.leak);
    assert.deepEqual(leaked.map((a) => a.question), ['In Cairnrun, how many points is a Crown worth?']);
    assert.equal(r.report.overall.correct, 2);
    assert.equal(r.report.leaked, 1);
    assert.deepEqual([r.report.withoutLeaks?.correct, r.report.withoutLeaks?.graded], [1, 2]);
    // The table gives both.
    const md = ablationMarkdown(ablationTable(Project.load(root)));
    assert.match(md, /without leaked/);
    assert.match(md, /1\/2 \[[^\]]+\] \(1 left out\)/);
    // The dataset rebuilt without the twin: regrade drops the flag.
    writeFileSync(join(root, 'data', 'train.jsonl'), row('What is a Gate?', 'A ring.') + '\n');
    const again = await regrade(Project.load(root), r.path);
    assert.equal(again.report.leaked, 0);
    assert.equal(again.report.withoutLeaks, undefined);
    assert.equal(readAnswerSet(r.path).answers.some((a) => a.leak), false);
  });

  void test('regrade reads the @keys: facts the eval set has now', async () => {
    const { root, script } = project();
    process.env.STAND_IN_ANSWERS = JSON.stringify({ 'In Cairnrun, how long is each watch?': 'Half an hour.' });
    const r = await evaluate(Project.load(root), { target: { kind: 'base', model: 'tiny' }, local: { script, python: 'python3' } });
    const watch = () => readAnswerSet(r.path).answers.find((a) => /watch/.test(a.question))!;
    assert.equal(watch().verdict.correct, false);
    writeFileSync(join(root, 'eval', 'questions.qa'), EVAL_QA.replace('Q: In Cairnrun, how long is each watch?', '@keys: 30 minutes / half an hour\nQ: In Cairnrun, how long is each watch?'));
    await regrade(Project.load(root), r.path);
    assert.deepEqual(watch().keys, ['30 minutes / half an hour']);
    assert.equal(watch().verdict.correct, true);
    assert.match(watch().verdict.reason ?? '', /all key facts found/);
  });

  void test('no dataset built: nothing flagged, no leak source', async () => {
    const { root, script } = project();
    process.env.STAND_IN_ANSWERS = '{}';
    const r = await evaluate(Project.load(root), { target: { kind: 'base', model: 'tiny' }, local: { script, python: 'python3' } });
    assert.equal(r.set.meta.leakSource, undefined);
    assert.equal(r.report.leaked, 0);
    assert.equal(scoreAnswerSet(r.set).withoutLeaks, undefined);
  });
});

void describe('forgetting check', () => {
  const set = forgettingEvalSet();

  void test('the shipped general-knowledge set: 40+ short questions with short references, unique, tagged', () => {
    assert.ok(set.questions.length >= 40, `${set.questions.length}`);
    assert.deepEqual(set.problems, []);
    for (const q of set.questions) {
      assert.ok(q.reference && q.reference.split(/\s+/).length <= 4, `short reference: ${q.reference}`);
      assert.ok(q.question.length <= 90, `short question: ${q.question}`);
      assert.ok(q.tags.length === 1, q.question);
    }
    assert.equal(new Set(set.questions.map((q) => q.id)).size, set.questions.length);
  });

  void test('base vs run: regressions listed per question, the base answers reused, the ablation table shows them', async () => {
    const { root, script } = project();
    const run = join(root, 'runs', 'r1');
    mkdirSync(join(run, 'output'), { recursive: true });
    writeFileSync(join(run, 'output', 'adapter_config.json'), '{}');
    writeFileSync(join(run, 'run.json'), JSON.stringify({ version: 1, id: 'r1', created: '2026-12-07T08:00:00Z', target: { kind: 'local' }, state: 'done', config: { model: 'tiny-base', lora_r: 8 }, label: 'r 8' }));
    const right = Object.fromEntries(set.questions.map((q) => [q.question, `It is ${q.reference}.`]));
    const france = 'What is the capital of France?';
    const mars = 'Which planet is known as the Red Planet?';
    process.env.STAND_IN_ANSWERS = JSON.stringify(right);
    process.env.STAND_IN_RUN_ANSWERS = JSON.stringify({ ...right, [france]: 'The capital of France is the Cooling Bench.', [mars]: 'A Crown.' });
    const r = await checkForgetting(Project.load(root), 'r1', { local: { script, python: 'python3' } });
    assert.equal(r.baseReused, false);
    assert.equal(r.before.correct, set.questions.length);
    assert.equal(r.after.correct, set.questions.length - 2);
    assert.deepEqual(r.regressions.map((x) => x.question), [france, mars]);
    assert.equal(r.base.meta.purpose, 'forgetting');
    assert.equal(r.run.meta.label, 'run r1 (r 8) · general knowledge');
    assert.equal(r.runPath, join(run, 'eval', 'general-knowledge.json'));
    assert.equal(r.basePath, join(root, 'eval', 'results', 'base-tiny-base-general-knowledge.json'));
    assert.equal(r.run.meta.settings?.max_new_tokens, 48);
    const n = set.questions.length;
    assert.equal(formatForgetting(r), `2 regressions (${n}/${n} → ${n - 2}/${n}, -${Math.round((2 / n) * 1000) / 10} points)`);
    // A second check asks only the run again.
    process.env.STAND_IN_ANSWERS = '{}';
    const again = await checkForgetting(Project.load(root), 'r1', { local: { script, python: 'python3' } });
    assert.equal(again.baseReused, true);
    assert.equal(again.regressions.length, 2);
    // Saved by an earlier version of the set (same questions, other @keys lines): regraded, not asked again.
    const saved = JSON.parse(readFileSync(r.basePath, 'utf8')) as { meta: { questionsSha256: string } };
    saved.meta.questionsSha256 = '0'.repeat(64);
    writeFileSync(r.basePath, JSON.stringify(saved));
    const third = await checkForgetting(Project.load(root), 'r1', { local: { script, python: 'python3' } });
    assert.equal(third.baseReused, true);
    assert.equal(third.before.correct, set.questions.length);
    assert.equal(readAnswerSet(r.basePath).meta.questionsSha256, set.sha256);
    // The ablation table: the forgetting sets are not rows of their own; the run's row has its forgetting cell and the regressions are listed.
    const table = ablationTable(Project.load(root));
    assert.equal(table.rows.length, 0);
    assert.equal(table.forgetting.length, 1);
    assert.deepEqual(table.forgetting[0].regressions.map((q) => q.question), [france, mars]);
    assert.equal(table.forgetting[0].regressions[0].runAnswer, 'The capital of France is the Cooling Bench.');
    const md = ablationMarkdown(table);
    assert.match(md, /### Forgetting/);
    assert.match(md, /What is the capital of France\? \(reference: Paris\) — base: "It is Paris\."; run: "The capital of France is the Cooling Bench\."/);
  });
});

void describe('mnemo eval: leakage and --forgetting', () => {
  void test('the score without leaked questions and the leaked ones listed; --forgetting --run lists the regressions; --table shows both', async () => {
    const { root, script } = project();
    mkdirSync(join(root, 'data'), { recursive: true });
    writeFileSync(join(root, 'data', 'train.jsonl'), row('How many points is a Crown worth in Cairnrun?', '5 points.') + '\n');
    const env = { MNEMO_EVAL_SCRIPT: script, MNEMO_PYTHON: 'python3', STAND_IN_ANSWERS: JSON.stringify({ 'In Cairnrun, how many points is a Crown worth?': '5 points.' }) };
    const r = await cli(['eval', '--project', root, '--base', '--model', 'tiny'], env);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /overall\s+1\/3 /);
    assert.match(r.out, /without leaked\s+0\/2 \(0%.*\(1 question left out: near-duplicates of training questions in data\/train\.jsonl\)/);
    assert.match(r.out, /leaked \(100% alike\): In Cairnrun, how many points is a Crown worth\? {2}~ {2}How many points is a Crown worth in Cairnrun\?/);

    const run = join(root, 'runs', 'r1');
    mkdirSync(join(run, 'output'), { recursive: true });
    writeFileSync(join(run, 'output', 'adapter_config.json'), '{}');
    writeFileSync(join(run, 'run.json'), JSON.stringify({ version: 1, id: 'r1', created: '2026-12-07T08:00:00Z', target: { kind: 'local' }, state: 'done', config: { model: 'tiny' } }));
    const set = forgettingEvalSet();
    const right = Object.fromEntries(set.questions.map((q) => [q.question, `${q.reference}.`]));
    const f = await cli(['eval', '--project', root, '--forgetting', '--run', 'r1'], { ...env, STAND_IN_ANSWERS: JSON.stringify(right), STAND_IN_RUN_ANSWERS: JSON.stringify({ ...right, 'What is 2 plus 2?': '5.' }) });
    assert.equal(f.code, 0, f.err);
    assert.match(f.out, /1 regression \(/);
    assert.match(f.out, /- What is 2 plus 2\? \(reference: 4\)\n\s+base: 4\.\n\s+run: {2}5\./);
    const t = await cli(['eval', '--project', root, '--table'], env);
    assert.match(t.out, /without leaked/);
    assert.match(t.out, /### Forgetting/);
    assert.match(t.out, /What is 2 plus 2\?/);
    const bad = await cli(['eval', '--project', root, '--forgetting', '--base-url', 'http://localhost:1', '--model', 'x'], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /--forgetting asks Mnemo's own general-knowledge set of a local model/);
  });
});

void describe('leakage diagnostics in the eval .qa file (language server)', () => {
  void test('a leaked eval question gets a warning on its Q line naming the training question; other files and non-leaked questions none', async () => {
    const { QaWorkspace } = await import('../../src/server/workspace');
    const { pathToFileURL } = await import('node:url');
    const { root } = project();
    mkdirSync(join(root, 'data'), { recursive: true });
    writeFileSync(join(root, 'data', 'train.jsonl'), row('How many points is a Crown worth in Cairnrun?', '5 points.') + '\n');
    const ws = new QaWorkspace(root);
    await ws.loadProject();
    const evalUri = pathToFileURL(join(root, 'eval', 'questions.qa')).toString();
    ws.update(evalUri, EVAL_QA, true);
    const leaks = ws.problems(evalUri).filter((p) => p.code === 'eval-leak');
    assert.equal(leaks.length, 1);
    assert.equal(leaks[0].startLine, 1);
    assert.equal(leaks[0].severity, 'warning');
    assert.match(leaks[0].message, /near-duplicates a training question \(100% alike.*"How many points is a Crown worth in Cairnrun\?" in data\/train\.jsonl/);
    // The same text under qa/ is training material, not an eval set: no leak warnings there.
    const qaUri = pathToFileURL(join(root, 'qa', 'x.qa')).toString();
    ws.update(qaUri, EVAL_QA, true);
    assert.equal(ws.problems(qaUri).filter((p) => p.code === 'eval-leak').length, 0);
    // The twin reworded away: the warning goes.
    ws.update(evalUri, EVAL_QA.replace('how many points is a Crown worth', 'what does a Crown score'), true);
    assert.equal(ws.problems(evalUri).filter((p) => p.code === 'eval-leak').length, 0);
  });
});
