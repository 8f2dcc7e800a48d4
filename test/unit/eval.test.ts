/** Evaluation core: eval sets, matching, Wilson scores, the judge, API answering against a local server, overrules, comparisons. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  ablationMarkdown,
  ablationTable,
  answerSetToQa,
  bm25TopK,
  compareAnswerSets,
  evaluate,
  judgeAgreement,
  keyTerms,
  listAnswerSets,
  matchAnswer,
  normalizeTokens,
  overrule,
  clearOverrule,
  parseEvalSet,
  parseJudgeReply,
  questionId,
  readAnswerSet,
  regrade,
  saveAnswerSet,
  scoreAnswerSet,
  wilson,
  loadEvalSet,
  checkJudgeTemplate,
  loadJudgePrompt,
  type AnswerSet,
  type AnswerRecord,
} from '../../src/core/eval';
import { MnemoError } from '../../src/core/errors';
import { Project, scaffoldProject } from '../../src/core/project';
import { parseQa } from '../../src/core/qa';
import { startOpenAiServer, type FakeServer } from '../servers/openai-server';

const dirs: string[] = [];
const servers: FakeServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const close = (a: number, b: number, eps = 1e-4) => assert.ok(Math.abs(a - b) < eps, `${a} is not ${b}`);

void describe('scores', () => {
  void test('Wilson 95% intervals match hand-computed values', () => {
    // 8/11: center (8/11 + z²/22) / (1 + z²/11) = 0.668446, half-width 0.234098.
    const a = wilson(8, 11);
    close(a.low, 0.434348);
    close(a.high, 0.902544);
    // 2/11: center 0.264177, half-width 0.212811.
    const b = wilson(2, 11);
    close(b.low, 0.051366);
    close(b.high, 0.476988);
    // 0/5: the interval starts at 0 and is not empty; 5/5 mirrors it.
    const c = wilson(0, 5);
    assert.equal(c.low, 0);
    close(c.high, 0.434493);
    const d = wilson(5, 5);
    close(d.low, 1 - 0.434493);
    assert.equal(d.high, 1);
    assert.deepEqual(wilson(0, 0), { low: 0, high: 1 });
  });

  void test('ungraded answers are not counted; scores split by tag', () => {
    const rec = (tags: string[], correct: boolean | null): AnswerRecord => ({ questionId: String(Math.random()), question: 'q', tags, answer: 'a', verdict: { correct, by: correct === null ? 'none' : 'contains' } });
    const answers = [rec(['forward'], true), rec(['forward', 'numeric'], true), rec(['forward'], false), rec(['reversed'], false), rec(['reversed'], null), rec([], true)];
    const r = scoreAnswerSet({ answers });
    assert.deepEqual({ ...r.overall, low: 0, high: 0 }, { correct: 3, graded: 5, total: 6, ungraded: 1, rate: 0.6, low: 0, high: 0 });
    close(r.overall.low, wilson(3, 5).low);
    assert.deepEqual(Object.keys(r.byTag), ['forward', 'numeric', 'reversed', 'untagged']);
    assert.equal(r.byTag.forward.correct, 2);
    assert.equal(r.byTag.forward.graded, 3);
    assert.equal(r.byTag.reversed.graded, 1);
    assert.equal(r.byTag.reversed.ungraded, 1);
    assert.equal(r.byTag.untagged.correct, 1);
  });
});

void describe('matching', () => {
  void test('normalising: case, punctuation, number words, ordinals, decimals', () => {
    assert.deepEqual(normalizeTokens('Twenty-five METRES, the Sixth step; 1.2 m (1,500 g).'), ['25', 'metres', 'the', '6th', 'step', '1.2', 'm', '1500', 'g']);
    assert.deepEqual(normalizeTokens('Nine. Café!'), ['9', 'cafe']);
  });

  void test('key terms: numbers, capitalised words, yes/no; citations and words of the question left out', () => {
    assert.deepEqual(keyTerms('9 m (Rule 10.6).'), ['9']);
    assert.deepEqual(keyTerms('The Cooling Bench; a Warden is suspended for 2 minutes (Rule 13.2).', 'In Cairnrun, what is the sin bin called?'), ['cooling', 'bench', 'warden', '2', 'minutes']);
    assert.deepEqual(keyTerms('No. After a Knock there is no stoppage (Rule 9.6).'), ['no', 'knock']);
    assert.deepEqual(keyTerms('A Long Gate (Rule 9.3).', 'What is the name of the Gate that is worth 4 points?'), ['long']);
    // No number or name: content words.
    assert.deepEqual(keyTerms('the stone remains live'), ['stone', 'remains', 'live']);
  });

  void test('contains and exact', () => {
    const m = matchAnswer('Opponents retreat nine metres.', '9 m (Rule 10.6).');
    assert.equal(m.contains, true);
    assert.equal(m.exact, false);
    assert.deepEqual(matchAnswer('It is 84 metres long.', '84 m long and 52 m wide (Rule 2.1).').missing, ['52']);
    assert.equal(matchAnswer('The answer is: 5 points, as the rules say.', '5 points (Rule 9.1).').exact, true);
    assert.equal(matchAnswer('It is the Narrow.', 'The Narrows (Rule 2.10).').contains, true, 'plural s is ignored');
    assert.equal(matchAnswer('', '5 points').contains, false);
  });
});

void describe('eval sets', () => {
  void test('tags, a question without reference, duplicates and comments', () => {
    const text = [
      '# a comment',
      '@tags: Forward, numeric',
      'Q: In Cairnrun, how many points is a Crown worth?',
      'A: 5 points.',
      '',
      '@tags: reversed',
      'Q: In Cairnrun, what is the strip along the sideline called?',
      '',
      '# Q: a commented question?',
      '# A: no',
      '',
      'Q: In Cairnrun, how many points is a Crown worth?',
      'A: Five.',
      '',
      'stray text',
    ].join('\n');
    const set = parseEvalSet(text, '/x/questions.qa');
    assert.equal(set.questions.length, 2);
    assert.deepEqual(set.questions[0].tags, ['forward', 'numeric']);
    assert.equal(set.questions[0].reference, '5 points.');
    assert.equal(set.questions[0].line, 2);
    assert.equal(set.questions[1].reference, undefined);
    assert.deepEqual(set.questions[1].tags, ['reversed']);
    assert.equal(set.questions[0].id, questionId('In Cairnrun,   how many points is a Crown worth?'));
    assert.deepEqual(set.problems.map((p) => p.line), [11, 14]);
    assert.match(set.problems[0].message, /asked twice \(first on line 3\)/);
  });

  void test('the example project ships 24 tagged questions', () => {
    const set = loadEvalSet(join(__dirname, '..', '..', 'examples', 'cairnrun', 'eval', 'questions.qa'));
    assert.equal(set.questions.length, 24);
    assert.deepEqual(set.problems, []);
    const count = (tag: string) => set.questions.filter((q) => q.tags.includes(tag)).length;
    assert.deepEqual([count('forward'), count('reversed'), count('paraphrase'), count('numeric')], [12, 6, 6, 15]);
    assert.ok(set.questions.every((q) => q.reference));
    // The .qa parser knows @tags: no unknown-key warning for the language server to show.
    assert.ok(!parseQa(readFileSync(set.path, 'utf8')).problems.some((p) => p.code === 'unknown-key'));
  });

  void test('missing, binary and empty eval sets are refused with a message', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mnemo-evs-'));
    dirs.push(dir);
    assert.throws(() => loadEvalSet(join(dir, 'nope.qa')), (e: unknown) => e instanceof MnemoError && /nope\.qa does not exist\. Write your questions in eval\/questions\.qa/.test(e.describe()));
    writeFileSync(join(dir, 'bin.qa'), Buffer.from([1, 0, 2]));
    assert.throws(() => loadEvalSet(join(dir, 'bin.qa')), /looks binary/);
    writeFileSync(join(dir, 'empty.qa'), '# nothing\n');
    assert.throws(() => loadEvalSet(join(dir, 'empty.qa')), (e: unknown) => e instanceof MnemoError && /has no question/.test(e.message));
  });
});

void describe('judge replies', () => {
  void test('strict format: two lines, a verdict and a reason', () => {
    assert.deepEqual(parseJudgeReply('VERDICT: CORRECT\nREASON: Same number.'), { correct: true, reason: 'Same number.' });
    assert.deepEqual(parseJudgeReply('  verdict: incorrect\n\nreason: wrong unit\n'), { correct: false, reason: 'wrong unit' });
    assert.equal(parseJudgeReply('The answer is correct.'), undefined);
    assert.equal(parseJudgeReply('VERDICT: CORRECT'), undefined);
    assert.equal(parseJudgeReply('VERDICT: MOSTLY CORRECT\nREASON: close'), undefined);
    assert.equal(parseJudgeReply('VERDICT: CORRECT\nREASON: ok\nAlso, nice answer.'), undefined);
    assert.equal(parseJudgeReply('VERDICT: CORRECT\nREASON:'), undefined);
  });

  void test('templates: placeholders are checked; a project file replaces the built-in prompt', () => {
    assert.throws(() => checkJudgeTemplate('{{question}} {{answer}}'), /no \{\{reference\}\}/);
    assert.throws(() => checkJudgeTemplate('{{question}} {{answer}} {{reference}} {{chunk}}'), /unknown placeholder \{\{chunk\}\}/);
    const root = mkdtempSync(join(tmpdir(), 'mnemo-judge-'));
    dirs.push(root);
    scaffoldProject(root, 'Cairnrun rules');
    const builtin = loadJudgePrompt(Project.load(root));
    assert.equal(builtin.file, undefined);
    writeFileSync(join(root, 'eval', 'judge.md'), 'Q {{question}} R {{reference}} A {{answer}}\nVERDICT/REASON');
    const own = loadJudgePrompt(Project.load(root));
    assert.equal(own.file, join(root, 'eval', 'judge.md'));
    assert.notEqual(own.sha256, builtin.sha256);
  });
});

void test('BM25 picks the passage that shares the rare words', () => {
  const docs = ['The Narrows are strips along the sideline.', 'A Crown is worth five points.', 'The cairnstone weighs 620 to 650 g.'];
  assert.deepEqual(bm25TopK('How much does the cairnstone weigh?', docs, 1), [2]);
  assert.deepEqual(bm25TopK('What are the Narrows?', docs, 2)[0], 0);
});

// ---- Against a local chat-completions server playing the answering model and the judge ----

// Each paragraph is about 50 tokens, so each is a chunk of its own (chunking.tokens 50).
const RULES = [
  'A Crown is worth 5 points. A Gate is worth 3 points. A Knock on the column of the pillar is worth 1 point. Scores are announced by the Herald, who repeats them to the timekeeper, and the scoreboard is updated at once.',
  'The Narrows are 2 m wide strips along each sideline. A Carrier standing in the Narrows may not be tackled from behind. Markings of the Narrows are painted in white and are 8 cm wide, like every other line of the Moor.',
  'A field player shown an amber pennant sits 4 minutes on the Cooling Bench. A Warden shown an amber pennant sits 2 minutes. The team plays one short while the player is suspended, unless the opponents score a Crown.',
  'The cairnstone weighs 620 to 650 g. It is made of leather over a rubber bladder, with a circumference of 68 to 70 cm. The home team provides three approved stones, and the Chief Arbiter chooses the stone before the first watch.',
].join('\n\n');

const QUESTIONS = [
  '@tags: forward, numeric',
  'Q: In Cairnrun, how many points is a Crown worth?',
  'A: 5 points (Rule 9.1).',
  '',
  '@tags: reversed',
  'Q: In Cairnrun, what are the 2 m-wide strips along the sidelines called?',
  'A: The Narrows (Rule 2.10).',
  '',
  '@tags: forward, numeric',
  'Q: In Cairnrun, how long is a field player suspended after an amber pennant?',
  'A: 4 minutes on the Cooling Bench.',
  '',
  '@tags: forward, numeric',
  'Q: In Cairnrun, what is the permitted mass of the cairnstone?',
  'A: 620 to 650 g.',
  '',
  '@tags: reversed',
  'Q: In Cairnrun, which colour of pennant is shown to a team official?',
  'A: Violet.',
  '',
  '@tags: forward',
  'Q: In Cairnrun, who founded the sport?',
  '',
].join('\n');

/** What the answering model says, by a word of the question. */
const ANSWERS: Array<[RegExp, string]> = [
  [/Crown worth/, 'A Crown is worth 5 points.'],
  [/strips along/, 'They are called the Sidelines.'],
  [/amber pennant/, 'Four minutes, on the Cooling Bench.'],
  [/mass of the cairnstone/, 'HANG'],
  [/colour of pennant/, ''],
  [/founded/, 'Nobody knows.'],
];

function questionOf(prompt: string): string {
  return /Question: (.*)/.exec(prompt)?.[1] ?? /<question>\s*([\s\S]*?)\s*<\/question>/.exec(prompt)?.[1] ?? '';
}

interface Judging {
  judgeCalls: Map<string, number>;
  prompts: string[];
}

async function startModelAndJudge(judgeReply: (question: string, answer: string, attempt: number) => string): Promise<{ server: FakeServer; seen: Judging }> {
  const seen: Judging = { judgeCalls: new Map(), prompts: [] };
  const server = await startOpenAiServer({
    models: ['answerer', 'judge'],
    behavior: ({ body }) => {
      const prompt = body.messages.map((m) => m.content).join('\n');
      return body.model === 'answerer' && ANSWERS.find(([re]) => re.test(questionOf(prompt)))?.[1] === 'HANG' ? { kind: 'hang' } : { kind: 'ok' };
    },
    reply: ({ body, prompt }) => {
      seen.prompts.push(prompt);
      const q = questionOf(prompt);
      if (body.model === 'answerer') return ANSWERS.find(([re]) => re.test(q))?.[1] ?? 'I do not know.';
      assert.equal(body.temperature, 0, 'the judge runs at temperature 0');
      const answer = /<answer>\s*([\s\S]*?)\s*<\/answer>/.exec(prompt)?.[1] ?? '';
      const n = (seen.judgeCalls.get(q) ?? 0) + 1;
      seen.judgeCalls.set(q, n);
      return judgeReply(q, answer, n);
    },
  });
  servers.push(server);
  return { server, seen };
}

function evalProject(): Project {
  const root = mkdtempSync(join(tmpdir(), 'mnemo-eval-'));
  dirs.push(root);
  scaffoldProject(root, 'Cairnrun rules');
  writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', chunking: { tokens: 50 }, eval: { timeoutSeconds: 1, concurrency: 3 } }, null, 2));
  writeFileSync(join(root, 'sources', 'rules.md'), RULES + '\n');
  writeFileSync(join(root, 'eval', 'questions.qa'), QUESTIONS);
  return Project.load(root);
}

void describe('evaluation against a local server', () => {
  void test('answers (one times out, one is empty, one has no reference), judge with off-format replies, scores, saved set', async () => {
    const { server, seen } = await startModelAndJudge((q, answer, attempt) => {
      if (/Crown/.test(q)) return 'VERDICT: CORRECT\nREASON: Same number of points.';
      if (/strips/.test(q)) return attempt === 1 ? 'I think the answer is wrong because it names the wrong zone.' : 'VERDICT: INCORRECT\nREASON: Names the wrong zone.';
      if (/amber/.test(q)) return 'The verdict is: correct!'; // never in format
      return `VERDICT: CORRECT\nREASON: unexpected call for ${answer}`;
    });
    const project = evalProject();
    const r = await evaluate(project, { target: { kind: 'api', baseUrl: server.url, model: 'answerer' }, judge: { baseUrl: server.url, model: 'judge' } });
    const by = (re: RegExp) => r.set.answers.find((a) => re.test(a.question))!;

    assert.equal(r.set.answers.length, 6);
    assert.equal(by(/Crown/).verdict.correct, true);
    assert.equal(by(/Crown/).verdict.by, 'judge');
    assert.equal(by(/Crown/).verdict.judge?.attempts, 1);
    // Off-format once, then in format: retried and graded.
    assert.equal(by(/strips/).verdict.correct, false);
    assert.equal(by(/strips/).verdict.judge?.attempts, 2);
    assert.equal(by(/strips/).verdict.reason, 'Names the wrong zone.');
    // Off-format every time: three requests, then ungraded, never counted correct.
    assert.equal(seen.judgeCalls.get(by(/amber/).question), 3);
    assert.equal(by(/amber/).verdict.correct, null);
    assert.deepEqual(by(/amber/).verdict.flags, ['judge-off-format']);
    assert.equal(by(/amber/).verdict.match?.contains, true, 'the matchers still show their view');
    // The timed-out question has an error and no verdict; the others went on.
    assert.match(by(/cairnstone/).error ?? '', /timed out after 1 s/);
    assert.equal(by(/cairnstone/).verdict.correct, null);
    assert.deepEqual(by(/cairnstone/).verdict.flags, ['error']);
    // An empty answer is wrong, without asking the judge.
    assert.equal(by(/colour/).answer, '');
    assert.equal(by(/colour/).verdict.correct, false);
    assert.deepEqual(by(/colour/).verdict.flags, ['empty-answer']);
    assert.equal(seen.judgeCalls.has(by(/colour/).question), false);
    // No reference: answered, flagged, not graded, not judged.
    assert.equal(by(/founded/).answer, 'Nobody knows.');
    assert.equal(by(/founded/).verdict.correct, null);
    assert.deepEqual(by(/founded/).verdict.flags, ['no-reference']);
    assert.equal(seen.judgeCalls.has(by(/founded/).question), false);

    // 1 correct of 3 graded (Crown right, strips wrong, colour empty).
    assert.deepEqual([r.report.overall.correct, r.report.overall.graded, r.report.overall.ungraded], [1, 3, 3]);
    close(r.report.overall.low, wilson(1, 3).low);
    assert.deepEqual([r.report.byTag.forward.correct, r.report.byTag.forward.graded], [1, 1]);
    assert.deepEqual([r.report.byTag.reversed.correct, r.report.byTag.reversed.graded], [0, 2]);

    // Saved under eval/results with what answered and who judged; no key anywhere.
    assert.equal(r.path, join(project.root, 'eval', 'results', 'api-answerer-none-questions.json'));
    const saved = readAnswerSet(r.path);
    assert.equal(saved.meta.kind, 'api');
    assert.equal(saved.meta.grading, 'judge');
    assert.equal(saved.meta.judge?.model, 'judge');
    assert.equal(saved.meta.questionsPath, 'eval/questions.qa');
    assert.equal(saved.meta.judge?.promptSha256, loadJudgePrompt(project).sha256);
    // The context 'none' prompt holds the question only.
    assert.ok(!seen.prompts.some((p) => p.includes('<document>')));
  });

  void test('overrules: kept in the set, survive re-grading and re-answering, judge agreement reported', async () => {
    const { server } = await startModelAndJudge((q) => (/Crown|amber/.test(q) ? 'VERDICT: CORRECT\nREASON: matches' : 'VERDICT: INCORRECT\nREASON: does not match'));
    const project = evalProject();
    const first = await evaluate(project, { target: { kind: 'api', baseUrl: server.url, model: 'answerer' }, judge: { baseUrl: server.url, model: 'judge' } });
    assert.deepEqual([first.report.overall.correct, first.report.overall.graded], [2, 4]);
    const crown = first.set.answers.find((a) => /Crown/.test(a.question))!;
    const strips = first.set.answers.find((a) => /strips/.test(a.question))!;
    const amber = first.set.answers.find((a) => /amber/.test(a.question))!;

    // The user says the Crown answer is wrong (disagreeing) and confirms the amber one (agreeing).
    overrule(first.path, crown.questionId, false);
    let set = overrule(first.path, amber.questionId, true);
    const v = set.answers.find((a) => a.questionId === crown.questionId)!.verdict;
    assert.deepEqual([v.correct, v.by, v.overruled, v.auto?.correct, v.auto?.by], [false, 'user', true, true, 'judge']);
    assert.deepEqual([scoreAnswerSet(set).overall.correct, scoreAnswerSet(set).overall.graded], [1, 4]);
    const agreement = judgeAgreement(set);
    assert.deepEqual([agreement.compared, agreement.agreed, agreement.rate], [2, 1, 0.5]);
    assert.equal(agreement.disagreements[0].questionId, crown.questionId);

    // Re-grading (here with the matcher only) refreshes the automatic verdict under the overrule.
    const regraded = await regrade(project, first.path, { matcher: 'contains' });
    const v2 = regraded.set.answers.find((a) => a.questionId === crown.questionId)!.verdict;
    assert.deepEqual([v2.correct, v2.by, v2.auto?.by, v2.auto?.correct], [false, 'user', 'contains', true]);
    assert.equal(regraded.set.meta.grading, 'contains');
    assert.equal(regraded.set.answers.find((a) => a.questionId === strips.questionId)!.verdict.by, 'contains');

    // Answering again with the same answers keeps the overrules.
    const again = await evaluate(project, { target: { kind: 'api', baseUrl: server.url, model: 'answerer' }, judge: { baseUrl: server.url, model: 'judge' } });
    assert.equal(again.carried, 2);
    assert.equal(again.set.answers.find((a) => a.questionId === crown.questionId)!.verdict.correct, false);

    // Clearing an overrule brings the automatic verdict back.
    set = clearOverrule(again.path, crown.questionId);
    const v3 = set.answers.find((a) => a.questionId === crown.questionId)!.verdict;
    assert.deepEqual([v3.correct, v3.by, v3.overruled], [true, 'judge', undefined]);
    assert.throws(() => overrule(again.path, 'nope', true), /no question with id nope/);
  });

  void test('context: the whole document, or the top chunks by BM25', async () => {
    const { server, seen } = await startModelAndJudge(() => 'VERDICT: CORRECT\nREASON: ok');
    const project = evalProject();
    const doc = await evaluate(project, { target: { kind: 'api', baseUrl: server.url, model: 'answerer', context: 'document' } });
    assert.equal(doc.set.meta.context, 'document');
    assert.equal(doc.set.meta.grading, 'contains');
    assert.match(doc.path, /api-answerer-document-questions\.json$/);
    const crownPrompt = seen.prompts.find((p) => /Crown worth\?/.test(p) && p.includes('<document>'))!;
    for (const para of RULES.split('\n\n')) assert.ok(crownPrompt.includes(para), `the document prompt holds "${para}"`);

    seen.prompts.length = 0;
    const top = await evaluate(project, { target: { kind: 'api', baseUrl: server.url, model: 'answerer', context: 'chunks', topK: 1 } });
    assert.match(top.path, /api-answerer-chunks1-questions\.json$/);
    const p = seen.prompts.find((x) => /amber pennant\?/.test(x))!;
    assert.equal((p.match(/<chunk /g) ?? []).length, 1);
    assert.ok(p.includes('sits 4 minutes on the Cooling Bench'), 'the chunk about suspensions is picked');
    assert.ok(!p.includes('620 to 650 g'));
    // Without a judge, contains-matching grades: the Crown answer has the key term 5.
    assert.equal(top.set.answers.find((a) => /Crown/.test(a.question))!.verdict.by, 'contains');
    assert.equal(top.set.answers.find((a) => /Crown/.test(a.question))!.verdict.correct, true);
  });

  void test('a refused key stops at once with a message; the key is not in it', async () => {
    const server = await startOpenAiServer({ apiKey: 'sk-right-key-1234' });
    servers.push(server);
    const project = evalProject();
    await assert.rejects(
      evaluate(project, { target: { kind: 'api', baseUrl: server.url, model: 'answerer' }, apiKey: 'sk-wrong-key-5678' }),
      (e: unknown) => e instanceof MnemoError && /refused the API key \(401\)/.test(e.message) && !e.describe().includes('sk-wrong'),
    );
    assert.ok(server.stats.requests <= 3, `stopped early (${server.stats.requests} requests)`);
    assert.ok(!existsSync(join(project.root, 'eval', 'results')), 'nothing saved');
  });
});

void describe('comparing', () => {
  const set = (id: string, kind: 'base' | 'run' | 'api', verdicts: Array<boolean | null>, runId?: string): AnswerSet => ({
    version: 1,
    meta: { id, label: id, kind, runId, model: 'm', questionsPath: 'eval/questions.qa', questionsSha256: 'x', created: '2026-01-01T00:00:00Z', grading: 'contains' },
    answers: verdicts.map((c, i) => ({ questionId: `q${i}`, question: `Question ${i}?`, reference: `R${i}`, tags: [i % 2 ? 'reversed' : 'forward'], answer: c ? `R${i}` : `wrong ${i}`, verdict: { correct: c, by: c === null ? 'none' : 'contains' } })),
  });

  void test('question by question: fixed, broken, both, ungraded', () => {
    const c = compareAnswerSets(set('base', 'base', [false, true, false, true, null]), set('run', 'run', [true, false, false, true, true], 'r1'));
    assert.deepEqual(c.rows.map((r) => r.change), ['fixed', 'broken', 'both-wrong', 'both-correct', 'ungraded']);
    assert.equal(c.counts.fixed, 1);
    assert.equal(c.rows[2].answerChanged, false);
    assert.equal(c.rows[0].answerChanged, true);
  });

  void test('an answer set as .qa text: same question order for both sides, parses back without errors', () => {
    const a = set('base', 'base', [false, true]);
    const b = set('run', 'run', [true], 'r1');
    b.answers[0].answer = 'Line one\nQ: looks like a question\n\nafter a blank line';
    const order = a.answers.map((x) => x.questionId);
    const ta = answerSetToQa(a, order);
    const tb = answerSetToQa(b, order);
    assert.match(ta, /# reference: R0\n# verdict: wrong \(contains\)\nQ: Question 0\?\nA: wrong 0/);
    assert.match(tb, /# \(question q1 is not in this set\)/);
    const parsed = parseQa(tb);
    assert.deepEqual(parsed.problems.filter((p) => p.severity === 'error'), []);
    assert.equal(parsed.pairs.length, 1);
    assert.equal(parsed.pairs[0].answer.split('\n').length, 3, 'the blank line is dropped, the marker-like line indented');
  });

  void test('the ablation table: runs with their differing settings, baselines, sorted Markdown', () => {
    const root = mkdtempSync(join(tmpdir(), 'mnemo-abl-'));
    dirs.push(root);
    scaffoldProject(root, 'Cairnrun rules');
    const project = Project.load(root);
    for (const [id, r, epochs] of [['r1', 16, 1], ['r2', 32, 1]] as const) {
      mkdirSync(join(root, 'runs', id), { recursive: true });
      writeFileSync(join(root, 'runs', id, 'run.json'), JSON.stringify({ version: 1, id, state: 'done', config: { model: 'smol', lora_r: r, epochs, train_file: 'train.jsonl' }, dataset: { train: { sha256: 'abc', rows: 75 } } }));
    }
    saveAnswerSet(project, set('questions', 'run', [true, true, false, false], 'r1'));
    saveAnswerSet(project, set('questions', 'run', [true, true, true, false], 'r2'));
    saveAnswerSet(project, set('base-m-questions', 'base', [false, false, false, false]));
    writeFileSync(join(root, 'eval', 'results', 'broken.json'), '{"version": 2}');
    const problems: string[] = [];
    const t = ablationTable(project, (p) => problems.push(p));
    assert.equal(t.rows.length, 3);
    assert.deepEqual(problems.map((p) => p.endsWith('broken.json')), [true]);
    assert.ok(t.differing.includes('lora_r'));
    assert.ok(!t.differing.includes('epochs'), 'equal settings are not listed');
    assert.ok(!t.differing.includes('train_file') && !t.differing.some((k) => k.endsWith('sha256')));
    assert.deepEqual(t.tags, ['forward', 'reversed']);
    const md = ablationMarkdown(t).split('\n');
    assert.match(md[0], /\| answer set \| kind \| score \| forward \| reversed \|.*lora_r/);
    assert.match(md[2], /^\| questions \| run \| 3\/4 /);
    assert.match(md[4], /^\| base-m-questions \| base \| 0\/4 /);
    assert.equal(listAnswerSets(project).length, 3);
  });
});
