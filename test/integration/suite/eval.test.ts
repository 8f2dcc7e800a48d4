// Evaluation in a real VS Code: a local chat-completions server started inside the test plays
// both the answering model (it knows the rules only when the document is in the prompt) and the
// judge; two API evaluations of the example project's eval set run through "Mnemo: Run
// Evaluation", their scores show in the Evaluations view, "Compare Answers" opens them as a diff
// with verdict marks, and flipping a verdict from the editor changes the score in the view, the
// documents and the saved JSON.
import * as assert from 'node:assert';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { parseEvalSet, type AnswerSet, type EvaluateResult } from '../../../src/core/eval';
import type { EvalTreeSnapshot } from '../../../src/extension/eval/provider';
import { activateMnemo, findNode, harness, waitFor } from './helpers';

interface Api {
  ctx: { project?: { config: { generation: { baseUrl?: string } } }; onDidChangeProject: vscode.Event<unknown> };
}
interface VerdictResult {
  path: string;
  questionId: string;
  verdict: { correct: boolean | null; by: string; overruled?: boolean; auto?: { correct: boolean | null; by: string } };
  score: { overall: { correct: number; graded: number } };
}
interface DecorationSnapshot {
  correct: number[];
  wrong: number[];
  ungraded: number[];
  changed: { line: number; text: string }[];
  overruled: number[];
}

const KEY = 'eval-key-7';
/** Questions (by index in the eval set) the model knows without the document, and the one it gets wrong with it. */
const KNOWN_WITHOUT_DOCUMENT = [0, 2];
const WRONG_WITH_DOCUMENT = 2;

interface ChatServer {
  url: string;
  requests: { answer: number; judge: number; unauthorized: number };
  latencyMs: number;
  close(): Promise<void>;
}

/** The answering model and the judge in one local server (the key is required: it must be sent, and never saved). */
async function startEvalServer(references: Map<string, { reference: string; index: number }>): Promise<ChatServer> {
  const requests = { answer: 0, judge: 0, unauthorized: 0 };
  const state = { latencyMs: 0 };
  const norm = (s: string) => s.replace(/\(Rules? [^)]*\)/g, '').toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
  const reply = (prompt: string): string => {
    const tag = (name: string) => new RegExp(`<${name}>\\n?([\\s\\S]*?)\\n?</${name}>`).exec(prompt)?.[1]?.trim() ?? '';
    if (prompt.includes('<reference>')) {
      requests.judge++;
      const ok = norm(tag('answer')).includes(norm(tag('reference')));
      return ok ? 'VERDICT: CORRECT\nREASON: The answer gives the facts of the reference.' : 'VERDICT: INCORRECT\nREASON: The answer does not give the reference\'s facts.';
    }
    requests.answer++;
    const question = /Question: ([\s\S]*)$/.exec(prompt)?.[1]?.trim() ?? '';
    const known = references.get(question);
    if (!known) return 'I cannot find that question.';
    const withDocument = prompt.includes('<document>');
    if (withDocument && known.index === WRONG_WITH_DOCUMENT) return 'Six steps at most.';
    if (withDocument || KNOWN_WITHOUT_DOCUMENT.includes(known.index)) return known.reference;
    return 'I do not know that rule.';
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== `Bearer ${KEY}`) {
        requests.unauthorized++;
        return send(401, { error: { message: 'Incorrect API key provided.', code: 'invalid_api_key' } });
      }
      if (req.method === 'GET' && req.url?.endsWith('/models')) return send(200, { object: 'list', data: [{ id: 'mock-model', object: 'model' }] });
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { model: string; messages: { content: string }[] };
      const text = reply(body.messages.map((m) => m.content).join('\n'));
      setTimeout(
        () => send(200, { id: 'x', object: 'chat.completion', created: 0, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } }),
        state.latencyMs,
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    get latencyMs() {
      return state.latencyMs;
    },
    set latencyMs(v: number) {
      state.latencyMs = v;
    },
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

const tree = async () => (await vscode.commands.executeCommand('mnemo.eval.refresh', { snapshot: true })) as EvalTreeSnapshot[];

suite('Evaluation', () => {
  const root = harness.workspace;
  const configPath = join(root, 'mnemo.json');
  const questionsPath = join(root, 'eval', 'questions.qa');
  const original = readFileSync(configPath, 'utf8');
  let server: ChatServer;
  let none: EvaluateResult;
  let document: EvaluateResult;
  const noneFile = join(root, 'eval', 'results', 'api-mock-model-none-questions.json');
  const documentFile = join(root, 'eval', 'results', 'api-mock-model-document-questions.json');

  suiteSetup(async () => {
    // Tags by section of the example's set (when it has none of its own), so scores split by tag.
    let text = readFileSync(questionsPath, 'utf8');
    if (!/^@tags:/m.test(text)) {
      let tag = 'forward';
      text = text
        .split('\n')
        .flatMap((line) => {
          if (/^# ---- Reversed/.test(line)) tag = 'reversed';
          if (/^# ---- Para/.test(line)) tag = 'paraphrase';
          return line.startsWith('Q: ') ? [`@tags: ${tag}`, line] : [line];
        })
        .join('\n');
      writeFileSync(questionsPath, text);
    }
    const set = parseEvalSet(text, questionsPath);
    assert.ok(set.questions.length >= 10, `${set.questions.length} questions in the example's eval set`);
    server = await startEvalServer(new Map(set.questions.map((q, index) => [q.question.replace(/\s+/g, ' ').trim(), { reference: q.reference ?? '', index }])));
    const api = (await activateMnemo()) as unknown as Api;
    const config = JSON.parse(original) as Record<string, unknown>;
    config.generation = { baseUrl: server.url, model: 'mock-model' };
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    await waitFor('the project to reload with the local endpoint', () => api.ctx.project?.config.generation.baseUrl === server.url, { events: [api.ctx.onDidChangeProject], timeoutMs: 20_000 });
    assert.strictEqual(await vscode.commands.executeCommand('mnemo.setApiKey', KEY), true);
  });

  suiteTeardown(async () => {
    await server?.close();
    writeFileSync(configPath, original);
  });

  test('the Evaluations view lists the eval set with its questions and tags', async () => {
    const snap = await waitFor('the eval set in the view', async () => findNode(await tree(), (n) => n.label === 'questions.qa'));
    assert.strictEqual(snap.contextValue, 'eval-set');
    // The example's tags (or the ones this suite added by section), sorted.
    assert.match(snap.description ?? '', /^24 questions · ([a-z]+, )+[a-z]+$/);
    assert.match(snap.description ?? '', /\bforward\b.*\breversed\b/);
  });

  test('Run Evaluation: an API model with no context, graded by the project endpoint as judge', async () => {
    const before = { ...server.requests };
    none = (await vscode.commands.executeCommand('mnemo.runEvaluation', { target: { kind: 'api', context: 'none' }, judge: 'project' })) as EvaluateResult;
    assert.ok(none, 'the command returned its result (see the Mnemo log if not)');
    assert.strictEqual(none.path, noneFile);
    assert.strictEqual(server.requests.answer - before.answer, 24, 'one answer request per question');
    // Every answer has a reference and text, so each one was judged.
    assert.strictEqual(server.requests.judge - before.judge, 24);
    assert.strictEqual(server.requests.unauthorized, 0, 'the key from secret storage was sent');
    const o = none.report.overall;
    assert.deepStrictEqual([o.correct, o.graded, o.total], [KNOWN_WITHOUT_DOCUMENT.length, 24, 24]);
    const saved = JSON.parse(readFileSync(noneFile, 'utf8')) as AnswerSet;
    assert.strictEqual(saved.meta.kind, 'api');
    assert.strictEqual(saved.meta.context, 'none');
    assert.strictEqual(saved.meta.grading, 'judge');
    assert.strictEqual(saved.answers.filter((a) => a.verdict.correct === true && a.verdict.by === 'judge').length, 2);
    assert.ok(!readFileSync(noneFile, 'utf8').includes(KEY), 'the key is not in the results');
  });

  test('Run Evaluation: the same model with the whole document in the prompt', async () => {
    document = (await vscode.commands.executeCommand('mnemo.runEvaluation', { target: { kind: 'api', context: 'document' }, judge: 'project' })) as EvaluateResult;
    assert.strictEqual(document.path, documentFile);
    assert.deepStrictEqual([document.report.overall.correct, document.report.overall.graded], [23, 24]);
  });

  test('the view shows both answer sets under the model, with scores, intervals and tags', async () => {
    const snap = await tree();
    const group = findNode(snap, (n) => n.label === 'mock-model (API)');
    assert.ok(group, JSON.stringify(snap, null, 1));
    assert.strictEqual(group.description, `${server.url} · 2 answer sets`);
    const noneNode = findNode(group.children, (n) => n.label === 'mock-model');
    const docNode = findNode(group.children, (n) => n.label === 'mock-model + document');
    // Hand-computed Wilson intervals: 2/24 -> 2.3%..25.8%; 23/24 -> 79.8%..99.3%.
    assert.strictEqual(noneNode?.description, '2/24 (8%, 95% CI 2%–26%)');
    assert.strictEqual(docNode?.description, '23/24 (96%, 95% CI 80%–99%)');
    assert.strictEqual(docNode?.contextValue, 'answer-set');
    const tags = docNode?.children?.map((c) => c.label).sort();
    assert.ok(tags && tags.length >= 2, `tags: ${tags?.join(', ')}`);
    const forward = docNode?.children?.find((c) => c.label === 'forward');
    if (forward) assert.match(forward.description ?? '', /^\d+\/\d+ \(\d+%, 95% CI \d+%–\d+%\)$/);
  });

  let left: vscode.Uri;
  let right: vscode.Uri;

  test('Compare Answers opens a diff of the two sets as .qa documents with verdict marks', async () => {
    const opened = (await vscode.commands.executeCommand('mnemo.compareAnswers', noneFile, documentFile)) as { left: string; right: string };
    left = vscode.Uri.parse(opened.left);
    right = vscode.Uri.parse(opened.right);
    const tab = await waitFor('the diff tab', () => {
      const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
      return input instanceof vscode.TabInputTextDiff ? input : undefined;
    });
    assert.strictEqual(tab.original.toString(), left.toString());
    assert.strictEqual(tab.modified.toString(), right.toString());
    const rightDoc = await vscode.workspace.openTextDocument(right);
    assert.strictEqual(rightDoc.languageId, 'mnemo-qa');
    const text = rightDoc.getText();
    assert.match(text, /^# mock-model \+ document$/m);
    assert.match(text, /^Q: In Cairnrun, how many points is a Crown worth\?$/m);
    assert.match(text, /^A: 5 points \(Rule 9\.1\)\.$/m);
    assert.match(text, /^# reference: 5 points \(Rule 9\.1\)\.$/m);
    assert.match(text, /^# verdict: correct \(judge: /m);
    // Both sides list the questions in the same order, so the diff lines them up.
    const leftDoc = await vscode.workspace.openTextDocument(left);
    const questions = (t: string) => t.split('\n').filter((l) => l.startsWith('Q: '));
    assert.deepStrictEqual(questions(leftDoc.getText()), questions(text));

    const marks = async (uri: vscode.Uri) =>
      waitFor(`verdict decorations on ${uri.path}`, async () => {
        const s = await decorationsOf(uri);
        return s && s.correct.length + s.wrong.length === 24 ? s : undefined;
      });
    const r = await marks(right);
    const l = await marks(left);
    assert.strictEqual(r.correct.length, 23);
    assert.strictEqual(r.wrong.length, 1);
    assert.strictEqual(l.correct.length, 2);
    // Verdicts that differ from the other side: 22 fixed by the document, 1 broken by it (the first question is right on both).
    assert.strictEqual(r.changed.length, 23, JSON.stringify(r.changed.slice(0, 3)));
    assert.strictEqual(l.changed.length, 23);
    assert.ok(r.changed.some((c) => c.text === '✓ here, ✗ in mock-model'), JSON.stringify(r.changed[0]));
    assert.ok(r.changed.some((c) => c.text === '✗ here, ✓ in mock-model'));
  });

  test('Mark Answer Wrong from the editor (the cursor on a pair) changes the score in the view, the document and the JSON', async () => {
    const editor = await waitFor('the right side of the diff', () => vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === right.toString()));
    // The pair "how many points is a Crown worth?": the document set answered it correctly.
    const qLine = editor.document.getText().split('\n').findIndex((l) => l === 'Q: In Cairnrun, how many points is a Crown worth?');
    assert.ok(qLine > 0);
    editor.selection = new vscode.Selection(qLine + 1, 3, qLine + 1, 3);
    const result = (await vscode.commands.executeCommand('mnemo.eval.markWrong', right)) as VerdictResult;
    assert.ok(result, 'the command returned its result (see the Mnemo log if not)');
    assert.strictEqual(result.path, documentFile);
    assert.deepStrictEqual([result.score.overall.correct, result.score.overall.graded], [22, 24]);
    assert.strictEqual(result.verdict.correct, false);
    assert.strictEqual(result.verdict.by, 'user');
    // Saved at once, with the judge's verdict kept under the user's.
    const saved = JSON.parse(readFileSync(documentFile, 'utf8')) as AnswerSet;
    const a = saved.answers.find((x) => x.questionId === result.questionId)!;
    assert.strictEqual(a.question, 'In Cairnrun, how many points is a Crown worth?');
    assert.deepStrictEqual([a.verdict.correct, a.verdict.by, a.verdict.overruled, a.verdict.auto?.correct, a.verdict.auto?.by], [false, 'user', true, true, 'judge']);
    // The view and the document follow.
    const node = await waitFor('the new score in the view', async () => findNode(await tree(), (n) => n.label === 'mock-model + document' && n.description === '22/24 (92%, 95% CI 74%–98%)'));
    assert.ok(node);
    await waitFor('the document to show the user verdict', () => /^# verdict: wrong \(user; the judge said correct\)$/m.test(editor.document.getText()));
    const r = await waitFor('the decorations to follow', async () => {
      const s = await decorationsOf(right);
      return s && s.wrong.length === 2 ? s : undefined;
    });
    assert.strictEqual(r.overruled.length, 1);
    assert.strictEqual(r.changed.length, 22);
  });

  test('Mark Answer Correct by question id (as the lenses call it), then Clear My Verdict restores the judge\'s', async () => {
    const set = JSON.parse(readFileSync(noneFile, 'utf8')) as AnswerSet;
    const wrong = set.answers.find((a) => a.verdict.correct === false)!;
    const marked = (await vscode.commands.executeCommand('mnemo.eval.markCorrect', { path: noneFile, questionId: wrong.questionId })) as VerdictResult;
    assert.deepStrictEqual([marked.score.overall.correct, marked.verdict.by], [3, 'user']);
    await waitFor('the left side to show it', async () => (await decorationsOf(left))?.correct.length === 3);
    const cleared = (await vscode.commands.executeCommand('mnemo.eval.clearVerdict', { path: noneFile, questionId: wrong.questionId })) as VerdictResult;
    assert.deepStrictEqual([cleared.score.overall.correct, cleared.verdict.by, cleared.verdict.overruled], [2, 'judge', undefined]);
    const saved = JSON.parse(readFileSync(noneFile, 'utf8')) as AnswerSet;
    assert.strictEqual(saved.answers.find((a) => a.questionId === wrong.questionId)?.verdict.by, 'judge');
    await waitFor('the view to show 2/24 again', async () => findNode(await tree(), (n) => n.label === 'mock-model' && !!n.description?.startsWith('2/24 ')));
  });

  test('a verdict command on a line that is not an answer says so and changes nothing', async () => {
    const editor = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === right.toString())!;
    const before = readFileSync(documentFile, 'utf8');
    editor.selection = new vscode.Selection(0, 0, 0, 0);
    const result = await vscode.commands.executeCommand('mnemo.eval.markCorrect', right);
    assert.strictEqual(result, undefined, 'the command reported an error instead');
    assert.strictEqual(readFileSync(documentFile, 'utf8'), before);
  });

  test('running an evaluation again keeps the user\'s verdicts on unchanged answers', async () => {
    const again = (await vscode.commands.executeCommand('mnemo.runEvaluation', { target: { kind: 'api', context: 'document' }, judge: 'project' })) as EvaluateResult;
    assert.strictEqual(again.carried, 1);
    assert.strictEqual(again.report.overall.correct, 22);
  });

  test('the ablation table lists both sets, sorted by the column asked for', async () => {
    const byScore = (await vscode.commands.executeCommand('mnemo.eval.openAblation', { sortBy: 'score' })) as string;
    const rows = (md: string) => md.split('\n').filter((l) => l.startsWith('| mock-model'));
    assert.deepStrictEqual(rows(byScore).map((r) => r.split(' | ')[0]), ['| mock-model + document', '| mock-model']);
    assert.match(byScore, /\| 22\/24 \(92%, 74%–98%\) \|/);
    const byContext = (await vscode.commands.executeCommand('mnemo.eval.openAblation', { sortBy: 'setting:context' })) as string;
    // "document" < "none".
    assert.deepStrictEqual(rows(byContext).map((r) => r.split(' | ')[0]), ['| mock-model + document', '| mock-model']);
    assert.match(byContext, /Sorted by \*\*context\*\*/);
  });

  test('Cancel Evaluation stops a running evaluation and saves nothing', async () => {
    server.latencyMs = 400;
    try {
      const chunksFile = join(root, 'eval', 'results', 'api-mock-model-chunks2-questions.json');
      const before = server.requests.answer;
      const pending = vscode.commands.executeCommand('mnemo.runEvaluation', { target: { kind: 'api', context: 'chunks', topK: 2 }, judge: 'none' }) as Thenable<EvaluateResult | undefined>;
      await waitFor('answer requests to arrive', () => server.requests.answer > before, { timeoutMs: 30_000 });
      assert.strictEqual(await vscode.commands.executeCommand('mnemo.eval.cancel'), true);
      assert.strictEqual(await pending, undefined);
      assert.ok(!existsSync(chunksFile));
    } finally {
      server.latencyMs = 0;
    }
  });

  test('Open Results shows one set with lenses to mark each answer; Compare with… pairs it with another', async () => {
    const uri = vscode.Uri.parse((await vscode.commands.executeCommand('mnemo.eval.openResults', documentFile)) as string);
    await waitFor('the results editor', () => vscode.window.activeTextEditor?.document.uri.toString() === uri.toString());
    const lenses = await waitFor('the lenses', async () => {
      const l = (await vscode.commands.executeCommand('vscode.executeCodeLensProvider', uri)) as vscode.CodeLens[];
      return l.length ? l : undefined;
    });
    const titles = lenses.map((l) => l.command?.title ?? '');
    // Two per answer (correct / wrong), and a way back for the one verdict the user set (carried over).
    assert.strictEqual(lenses.length, 24 * 2 + 1, titles.join(' | '));
    assert.strictEqual(titles.filter((t) => t.includes('Back to judge verdict')).length, 1);
    assert.strictEqual(titles.filter((t) => t.endsWith('Mark wrong')).length, 22);
    const lens = lenses.find((l) => l.command?.title.endsWith('Mark wrong'))!;
    const result = (await vscode.commands.executeCommand(lens.command!.command, ...(lens.command!.arguments ?? []))) as VerdictResult;
    assert.strictEqual(result.score.overall.correct, 21);
    await vscode.commands.executeCommand('mnemo.eval.clearVerdict', { path: result.path, questionId: result.questionId });
    const pair = (await vscode.commands.executeCommand('mnemo.eval.compareWith', documentFile, noneFile)) as { left: string; right: string };
    assert.ok(pair.left.includes('document-questions.qa') && pair.right.includes('none-questions.qa'), JSON.stringify(pair));
  });

  test('a run that does not exist is refused with a message, and nothing is written', async () => {
    const before = server.requests.answer;
    const result = await vscode.commands.executeCommand('mnemo.runEvaluation', { target: { kind: 'run', runId: 'no-such-run' }, judge: 'none' });
    assert.strictEqual(result, undefined, 'the command reported an error instead');
    assert.strictEqual(server.requests.answer, before);
    assert.ok(!existsSync(join(root, 'runs', 'no-such-run')));
  });

  test('Delete Results removes the file and the view follows', async () => {
    assert.strictEqual(await vscode.commands.executeCommand('mnemo.eval.deleteResults', noneFile, { yes: true }), true);
    assert.ok(!existsSync(noneFile));
    await waitFor('the view to drop the set', async () => !findNode(await tree(), (n) => n.label === 'mock-model') && !!findNode(await tree(), (n) => n.label === 'mock-model + document'));
  });
});

/** The decorations Mnemo put on the editor of `uri` (its own record of what it set). */
async function decorationsOf(uri: vscode.Uri): Promise<DecorationSnapshot | undefined> {
  return (await vscode.commands.executeCommand('mnemo.eval.refresh', { decorationsOf: uri.toString() })) as DecorationSnapshot | undefined;
}
