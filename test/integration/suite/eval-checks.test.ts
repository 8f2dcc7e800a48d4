// Leakage and forgetting in a real VS Code (issue 18, items 5 and 4). The example project gets a
// dataset whose training rows hold a near-duplicate of one eval question: the eval .qa file shows
// an eval-leak warning on that question, a regraded answer set lists it under "leaked questions"
// with the score without it, and the ablation table has the "without leaked" column. A run's
// forgetting check (answer sets of the base model and the run on Mnemo's general-knowledge set)
// lists the question the run now gets wrong under the run in the Evaluations view and in the table.
import * as assert from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { answerSetPath, forgettingEvalSet, FORGETTING_QUESTIONS_PATH, gradeAnswerSet, loadEvalSet, regrade, saveAnswerSet, type AnswerSet, type AnswerSetMeta } from '../../../src/core/eval';
import { Project } from '../../../src/core/project';
import type { EvalTreeSnapshot } from '../../../src/extension/eval/provider';
import { activateMnemo, findNode, harness, waitFor } from './helpers';

const tree = async () => (await vscode.commands.executeCommand('mnemo.eval.refresh', { snapshot: true })) as EvalTreeSnapshot[];

const TWIN = 'How many points is a Crown worth in Cairnrun?';

function row(question: string, answer: string): string {
  return JSON.stringify({ messages: [{ role: 'user', content: question }, { role: 'assistant', content: answer }] });
}

async function answered(project: Project, meta: Omit<AnswerSetMeta, 'id' | 'created' | 'grading' | 'questionsSha256'> & { id: string }, questions: ReturnType<typeof loadEvalSet>, answer: (q: string, ref: string) => string): Promise<string> {
  const set: AnswerSet = {
    version: 1,
    meta: { ...meta, questionsSha256: questions.sha256, created: new Date().toISOString(), grading: 'contains' },
    answers: questions.questions.map((q) => ({ questionId: q.id, question: q.question, reference: q.reference, tags: q.tags, ...(q.keys ? { keys: q.keys } : {}), answer: answer(q.question, q.reference ?? ''), verdict: { correct: null, by: 'none' } })),
  };
  await gradeAnswerSet(set, { matcher: 'contains' });
  saveAnswerSet(project, set);
  return answerSetPath(project, set.meta);
}

suite('Evaluation checks: leakage and forgetting', () => {
  const root = harness.workspace;
  let project: Project;

  suiteSetup(async () => {
    await activateMnemo();
    mkdirSync(join(root, 'data'), { recursive: true });
    writeFileSync(join(root, 'data', 'train.jsonl'), [row(TWIN, '5 points.'), row('What is a Gate?', 'A ring.')].join('\n') + '\n');
    project = Project.load(root);
  });

  test('the eval .qa file warns on the question that near-duplicates a training question', async () => {
    const uri = vscode.Uri.file(join(root, 'eval', 'questions.qa'));
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc);
    const leaks = await waitFor('the eval-leak diagnostic', () => {
      const d = vscode.languages.getDiagnostics(uri).filter((x) => x.code === 'eval-leak');
      return d.length ? d : undefined;
    }, { events: [vscode.languages.onDidChangeDiagnostics as vscode.Event<unknown>] });
    assert.strictEqual(leaks.length, 1, leaks.map((d) => d.message).join('\n'));
    assert.strictEqual(doc.lineAt(leaks[0].range.start.line).text, 'Q: In Cairnrun, how many points is a Crown worth?');
    assert.strictEqual(leaks[0].severity, vscode.DiagnosticSeverity.Warning);
    assert.match(leaks[0].message, /near-duplicates a training question \(100% alike.*How many points is a Crown worth in Cairnrun\?.*data\/train\.jsonl/);
  });

  test('an answer set lists the leaked question and its score without it; the ablation table gives both', async () => {
    const questions = loadEvalSet(join(root, 'eval', 'questions.qa'));
    const path = await answered(project, { id: 'api-mock-none-questions', label: 'mock-model', kind: 'api', model: 'mock-model', baseUrl: 'http://localhost:1/v1', context: 'none', questionsPath: 'eval/questions.qa' }, questions, (q, ref) => (/Crown worth/.test(q) ? ref : 'I do not know.'));
    await regrade(project, path);
    const nodes = await waitFor('the leaked questions in the view', async () => {
      const set = findNode(await tree(), (n) => n.label === 'mock-model' && n.contextValue === 'answer-set');
      return set?.description?.includes('1 leaked') ? set : undefined;
    });
    assert.match(nodes.description ?? '', /^1\/24 .*· 1 leaked$/);
    const leaks = findNode(nodes.children, (n) => n.contextValue === 'eval-leaks');
    assert.strictEqual(leaks?.label, '1 leaked question');
    assert.match(leaks?.description ?? '', /^without: 0\/23 /);
    assert.strictEqual(leaks?.children?.[0]?.label, 'In Cairnrun, how many points is a Crown worth?');
    assert.match(leaks?.children?.[0]?.description ?? '', /^100% alike: How many points is a Crown worth in Cairnrun\?$/);
    const md = (await vscode.commands.executeCommand('mnemo.eval.openAblation', { sortBy: 'score' })) as string;
    assert.match(md, /\| without leaked \|/);
    assert.match(md, /\| 0\/23 \([^)]*\) \(1 left out\) \|/);
  });

  test('a run\'s forgetting check: the regression is listed under the run, and in the ablation table', async () => {
    const run = join(root, 'runs', 'r-forget');
    mkdirSync(join(run, 'output'), { recursive: true });
    writeFileSync(join(run, 'output', 'adapter_config.json'), '{}');
    writeFileSync(join(run, 'run.json'), JSON.stringify({ version: 1, id: 'r-forget', created: '2026-12-08T00:00:00Z', target: { kind: 'local' }, state: 'done', config: { model: 'tiny-base' }, label: 'forgetful' }));
    const set = forgettingEvalSet();
    const common = { questionsPath: FORGETTING_QUESTIONS_PATH, purpose: 'forgetting' as const, model: 'tiny-base' };
    await answered(project, { ...common, id: 'base-tiny-base-general-knowledge', label: 'base tiny-base · general knowledge', kind: 'base' }, set, (_q, ref) => ref);
    await answered(project, { ...common, id: 'general-knowledge', label: 'run r-forget (forgetful) · general knowledge', kind: 'run', runId: 'r-forget' }, set, (q, ref) => (q === 'What is the capital of France?' ? 'The Cooling Bench.' : ref));
    const gk = await waitFor('the forgetting check in the view', async () => findNode(await tree(), (n) => n.label === 'General knowledge (forgetting check)'));
    const runSet = findNode(gk.children, (n) => n.contextValue === 'answer-set' && n.label.startsWith('run r-forget'));
    const regressions = findNode(runSet?.children, (n) => n.contextValue === 'eval-regressions');
    assert.strictEqual(regressions?.label, '1 regression', JSON.stringify(runSet));
    assert.match(regressions?.description ?? '', new RegExp(`^base ${set.questions.length}/${set.questions.length} → run ${set.questions.length - 1}/${set.questions.length} \\(-\\d+(\\.\\d)? points\\)$`));
    assert.strictEqual(regressions?.children?.[0]?.label, 'What is the capital of France?');
    assert.strictEqual(regressions?.children?.[0]?.description, 'was "Paris", now "The Cooling Bench."');
    assert.ok((await vscode.commands.getCommands(true)).includes('mnemo.eval.checkForgetting'), '"Mnemo: Check Forgetting" is registered');
    const md = (await vscode.commands.executeCommand('mnemo.eval.openAblation', { sortBy: 'score' })) as string;
    assert.match(md, /## Forgetting/);
    assert.match(md, /\*\*run r-forget \(forgetful\) · general knowledge\*\*: 1 regression/);
    assert.match(md, /What is the capital of France\? — reference: Paris; base: “Paris”; run: “The Cooling Bench\.”/);
  });
});
