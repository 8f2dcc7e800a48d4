import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { questionId } from '../../src/core/eval/questions';
import { Project } from '../../src/core/project';
import { describeRecall, formatRecall, gradeRecall, latestRecall, readRecallFile, startRun } from '../../src/core/training';
import { parseMetricLine, parseMetricLines } from '../../src/core/training/metrics';
import type { RecallEvent } from '../../src/core/training/protocol';
import { buildRecallSet, heldOutQuestions } from '../../src/core/training/recall';
import { eventsOf, fakeScripts, hooks, trainingProject } from './training-fixtures';

const EVAL_QA = ['@tags: forward', 'Q: In Cairnrun, how far must opponents retreat at a Free Cast?', 'A: Nine metres.', '', '@tags: reversed, numeric', '@keys: retreat | Free Cast', 'Q: In Cairnrun, what is nine metres?', 'A: The retreat at a Free Cast.', '', 'Q: In Cairnrun, who rings the bell?', ''].join('\n');

function withEvalSet(project: Project, text = EVAL_QA): Project {
  mkdirSync(join(project.root, 'eval'), { recursive: true });
  writeFileSync(join(project.root, 'eval', 'questions.qa'), text);
  return Project.load(project.root);
}

const recallLine = (o: Record<string, unknown>) => JSON.stringify({ event: 'recall', step: 10, epoch: 0.5, set: 'eval', correct: 1, total: 2, ...o });

void test('protocol: a recall event is parsed; bad counts, sets and shapes are bad lines with why; malformed entries are dropped and counted', () => {
  const ok = parseMetricLine(recallLine({ by_tag: { forward: { correct: 1, total: 1 }, 'my-own-tag': { correct: 0, total: 1 } }, answers: [{ id: 'a', answer: 'x', correct: true, finish_reason: 'stop' }] }));
  assert.equal(ok.event?.event, 'recall');
  const ev = ok.event as RecallEvent;
  assert.deepEqual(Object.keys(ev.by_tag ?? {}), ['forward', 'my-own-tag'], 'a tag this version does not know is kept');
  assert.equal(ev.dropped, undefined);
  assert.match(parseMetricLine(recallLine({ set: 'train' })).reason ?? '', /unknown set "train"/);
  assert.match(parseMetricLine(recallLine({ correct: 3 })).reason ?? '', /correct <= total/);
  assert.match(parseMetricLine(recallLine({ total: 1.5 })).reason ?? '', /whole counts/);
  assert.match(parseMetricLine(recallLine({ step: undefined })).reason ?? '', /recall event without a step/);
  assert.match(parseMetricLine(recallLine({ by_tag: [1] })).reason ?? '', /by_tag is not an object/);
  assert.match(parseMetricLine(recallLine({ answers: 'none' })).reason ?? '', /answers are not a list/);
  const partial = parseMetricLine(recallLine({ by_tag: { forward: { correct: 2, total: 1 }, numeric: 'x' }, answers: [{ id: 'a', answer: 'x' }, { answer: 'no id' }, null] })).event as RecallEvent;
  assert.deepEqual(partial.by_tag, {});
  assert.equal(partial.answers?.length, 1);
  assert.equal(partial.dropped, 4);
  // A corrupt line among good ones: reported with its line number, the others kept.
  const text = [recallLine({}), '{"event":"recall", "step": 10, "set": "eval", "corr', JSON.stringify({ event: 'done', output_dir: 'output', best_step: 10, best_by: 'recall', best_value: 0.5 }), ''].join('\n');
  const r = parseMetricLines(text);
  assert.deepEqual(r.events.map((e) => e.event), ['recall', 'done']);
  assert.deepEqual(r.bad.map((b) => [b.line, b.reason]), [[2, 'not JSON']]);
  const done = r.events[1];
  assert.ok(done.event === 'done' && done.best_by === 'recall' && done.best_value === 0.5 && done.best_step === 10);
});

void test('staging: recall.jsonl holds the eval questions (ids, tags, keys) and the held-out turns; the system prompt is the dataset\'s', async () => {
  const base = trainingProject();
  const cfg = JSON.parse(readFileSync(join(base.root, 'mnemo.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(base.root, 'mnemo.json'), JSON.stringify({ ...cfg, dataset: { systemPrompt: 'You know the Cairnrun rules.' } }));
  // A test row of two turns (two held-out questions) and a system message.
  writeFileSync(
    join(base.root, 'data', 'test.jsonl'),
    JSON.stringify({ messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: 'In Cairnrun, how long?' }, { role: 'assistant', content: 'Ten minutes.' }, { role: 'user', content: 'And the break?' }, { role: 'assistant', content: 'Two minutes.' }] }) + '\n',
  );
  const project = withEvalSet(base);
  const scripts = fakeScripts();
  // recall.py and grading.py travel with train.py (every *.py of the scripts folder).
  writeFileSync(join(scripts, 'recall.py'), '# recall\n');
  writeFileSync(join(scripts, 'grading.py'), '# grading\n');
  const h = hooks();
  const handle = await startRun(project, { target: 'local', scriptsDir: scripts, hooks: h, localPython: 'python3', env: { MNEMO_FAKE_STEPS: '10' } });
  const rec = await handle.finished;
  assert.equal(rec.state, 'done');
  const dir = join(project.runsDir, rec.id);
  const lines = readFileSync(join(dir, 'recall.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const q1 = 'In Cairnrun, how far must opponents retreat at a Free Cast?';
  assert.deepEqual(lines[0], { id: questionId(q1), set: 'eval', question: q1, reference: 'Nine metres.', tags: ['forward'], keys: null });
  assert.deepEqual(lines[1].tags, ['numeric', 'reversed']);
  assert.deepEqual(lines[1].keys, ['retreat', 'Free Cast'], 'the @keys: facts travel with the question');
  assert.deepEqual(lines.slice(2), [
    { id: 't-0', set: 'test', question: 'In Cairnrun, how long?', reference: 'Ten minutes.', tags: ['held-out'], keys: null },
    { id: 't-1', set: 'test', question: 'And the break?', reference: 'Two minutes.', tags: ['held-out'], keys: null },
  ]);
  assert.deepEqual(rec.recall, { eval: 2, test: 2, notes: ['1 question of eval/questions.qa without a reference answer is not asked while training.'] });
  assert.ok(h.lines.some((l) => /without a reference answer/.test(l)));
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.recall_system_prompt, 'You know the Cairnrun rules.');
  assert.equal(config.recall_file, 'recall.jsonl');
  assert.equal(config.save_best, 'auto');
  for (const f of ['recall.py', 'grading.py', 'train.py']) assert.ok(existsSync(join(dir, f)), `${f} is staged`);
  // The fake trainer answered from recall.jsonl: the stream has recall events of both sets.
  const recalls = eventsOf(join(dir, 'metrics.jsonl')).filter((e): e is RecallEvent => e.event === 'recall');
  assert.deepEqual(recalls.map((e) => `${e.set}@${e.step}`), ['eval@5', 'test@5', 'eval@10', 'test@10']);
  const latest = latestRecall(recalls, readRecallFile(join(dir, 'recall.jsonl'))?.questions);
  assert.equal(describeRecall(latest), 'recall 2/2 (100%) · held-out 2/2 (100%)');
});

void test('staging: no eval set -> only the held-out pairs; neither -> no recall.jsonl, and the record says why; recall_file null -> none', async () => {
  const scripts = fakeScripts();
  const onlyTest = trainingProject();
  const r1 = await (await startRun(onlyTest, { target: 'local', scriptsDir: scripts, hooks: hooks(), localPython: 'python3', env: { MNEMO_FAKE_STEPS: '5' } })).finished;
  assert.deepEqual(r1.recall, { eval: 0, test: 1, notes: ['No eval set (eval/questions.qa): recall is measured on the held-out pairs only.'] });
  assert.equal(readFileSync(join(onlyTest.runsDir, r1.id, 'recall.jsonl'), 'utf8').trim().split('\n').length, 1);

  const neither = trainingProject();
  rmSync(join(neither.dataDir, 'test.jsonl'));
  const r2 = await (await startRun(neither, { target: 'local', scriptsDir: scripts, hooks: hooks(), localPython: 'python3', env: { MNEMO_FAKE_STEPS: '5' } })).finished;
  assert.equal(r2.recall?.eval, 0);
  assert.equal(r2.recall?.test, 0);
  assert.match(r2.recall?.notes?.join(' ') ?? '', /No recall is measured/);
  assert.ok(!existsSync(join(neither.runsDir, r2.id, 'recall.jsonl')));
  assert.equal(eventsOf(join(neither.runsDir, r2.id, 'metrics.jsonl')).filter((e) => e.event === 'recall').length, 0);

  const off = withEvalSet(trainingProject());
  const r3 = await (await startRun(off, { target: 'local', scriptsDir: scripts, hooks: hooks(), localPython: 'python3', config: { recall_file: null }, env: { MNEMO_FAKE_STEPS: '5' } })).finished;
  assert.deepEqual(r3.recall, { eval: 0, test: 0 });
  assert.ok(!existsSync(join(off.runsDir, r3.id, 'recall.jsonl')));
  await assert.rejects(startRun(off, { target: 'local', scriptsDir: scripts, hooks: hooks(), localPython: 'python3', config: { recall_file: '../x.jsonl' } }), /"recall_file" must be a file name in the run folder/);
});

void test('staging: an eval set that cannot be used is a note, not a failure; bad test lines are counted', () => {
  const p = withEvalSet(trainingProject(), '# nothing but a comment\n');
  writeFileSync(join(p.dataDir, 'test.jsonl'), '{"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]}\nnot json\n{"messages": 3}\n');
  const set = buildRecallSet(p);
  assert.deepEqual(set.counts, { eval: 0, test: 1 });
  assert.match(set.notes[0], /The eval set could not be used for recall: .*has no question/);
  assert.match(set.notes[1], /2 lines of the test split could not be read/);
  assert.equal(heldOutQuestions('').questions.length, 0);
});

void test('grading: answers are graded again with the core\'s rule; unknown ids are not counted; without answers the script\'s counts stand', () => {
  const questions = new Map([
    ['q1', { id: 'q1', set: 'eval' as const, question: 'In Cairnrun, how far must opponents retreat?', reference: 'Nine metres.', tags: ['forward'], keys: null }],
    ['q2', { id: 'q2', set: 'eval' as const, question: 'In Cairnrun, what is nine metres?', reference: 'The retreat at a Free Cast.', tags: ['reversed', 'numeric'], keys: null }],
  ]);
  const ev: RecallEvent = {
    event: 'recall',
    step: 20,
    set: 'eval',
    correct: 2,
    total: 3,
    answers: [
      { id: 'q1', answer: 'They must retreat 9 meters... nine metres.', correct: true },
      // The script called it right; the key terms (Free Cast) are missing: the core says wrong.
      { id: 'q2', answer: 'It is the retreat.', correct: true },
      { id: 'q-gone', answer: 'whatever', correct: false },
    ],
  };
  const p = gradeRecall(ev, questions);
  assert.equal(p.regraded, true);
  assert.deepEqual({ correct: p.correct, total: p.total, unknown: p.unknown, disagreements: p.disagreements }, { correct: 1, total: 2, unknown: 1, disagreements: 1 });
  assert.deepEqual(p.byTag, { forward: { correct: 1, total: 1 }, reversed: { correct: 0, total: 1 }, numeric: { correct: 0, total: 1 } });
  const noAnswers = gradeRecall({ ...ev, answers: undefined, by_tag: { forward: { correct: 2, total: 3 } } }, questions);
  assert.deepEqual({ correct: noAnswers.correct, total: noAnswers.total, regraded: noAnswers.regraded, byTag: noAnswers.byTag }, { correct: 2, total: 3, regraded: false, byTag: { forward: { correct: 2, total: 3 } } });
  // A question with explicit key facts is graded by them (the eval stage's rule): here "retreat" is one.
  const keyed = new Map([['q2', { ...questions.get('q2')!, keys: ['retreat', 'Free Cast'] }]]);
  assert.equal(gradeRecall({ ...ev, answers: [{ id: 'q2', answer: 'At a Free Cast.' }] }, questions).correct, 1, 'the guessed key terms are Free and Cast');
  assert.equal(gradeRecall({ ...ev, answers: [{ id: 'q2', answer: 'At a Free Cast.' }] }, keyed).correct, 0, 'with the keys, "retreat" is needed too');
  assert.equal(gradeRecall({ ...ev, answers: [{ id: 'q2', answer: 'The retreat at a Free Cast.' }] }, keyed).correct, 1);
  const noFile = gradeRecall(ev, undefined);
  assert.equal(noFile.regraded, false);
  assert.equal(formatRecall(p), '1/2 (50%)');
  assert.equal(formatRecall({ correct: 0, total: 0 }), undefined);
  assert.equal(describeRecall({}), undefined);
  assert.equal(describeRecall({ test: { correct: 1, total: 4 } }), 'held-out recall 1/4 (25%)');
});

void test('recall.jsonl read back: unreadable lines are counted, not thrown; a missing file is undefined', () => {
  const p = trainingProject();
  const f = join(p.root, 'recall.jsonl');
  writeFileSync(f, '{"id":"a","set":"eval","question":"Q","reference":"R","tags":["x",3],"keys":null}\n{broken\n{"id":"b"}\n');
  const r = readRecallFile(f);
  assert.equal(r?.questions.size, 1);
  assert.deepEqual(r?.questions.get('a')?.tags, ['x']);
  assert.equal(r?.bad, 2);
  assert.equal(readRecallFile(join(p.root, 'missing.jsonl')), undefined);
});
