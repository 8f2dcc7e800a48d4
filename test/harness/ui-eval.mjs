// UI checks of evaluation: the Evaluations view with scores, and two answer sets compared in a
// diff with verdict marks, a verdict flipped from the editor's context menu. Included in the list
// of test/harness/ui.mjs.
//
// The answer sets are written as files (the format of src/core/eval/types.ts): a base model that
// gets most numbers wrong and a fine-tuned run that gets most right, on the example's eval set.
// Answering and grading themselves are tested in test/integration/suite/eval.test.ts.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { openView, runCommand, widenSidebar, workbench } from './ui.mjs';

/** The pairs of a .qa eval set: question, reference, tags (enough of the format for the example's file). */
function readEvalSet(path) {
  const out = [];
  let tags = [];
  let cur;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const t = /^@tags:\s*(.*)$/.exec(line);
    if (t) tags = t[1].split(/[,\s]+/).filter(Boolean).map((x) => x.toLowerCase()).sort();
    else if (line.startsWith('Q: ')) {
      cur = { question: line.slice(3).trim(), reference: '', tags };
      out.push(cur);
      tags = [];
    } else if (line.startsWith('A: ') && cur) cur.reference = line.slice(3).trim();
    else if (!line.trim()) cur = undefined;
    else if (cur && !line.startsWith('#')) {
      if (cur.reference) cur.reference += ` ${line.trim()}`;
      else cur.question += ` ${line.trim()}`;
    }
  }
  return out;
}

const questionId = (q) => createHash('sha256').update(q.replace(/\s+/g, ' ').trim()).digest('hex').slice(0, 12);
const withoutCitation = (s) => s.replace(/\s*\(Rules? [^)]*\)/g, '').trim();
/** A plausible wrong answer: every number one higher (what a model guessing from memory does). */
const offByOne = (s) => withoutCitation(s).replace(/\d+(\.\d+)?/g, (n) => String(Number(n) + (n.includes('.') ? 0.1 : 1)).replace(/(\.\d)\d+$/, '$1'));

function answerSet({ id, label, kind, runId, model, answers }) {
  return {
    version: 1,
    meta: { id, label, kind, ...(runId ? { runId } : {}), model, questionsPath: 'eval/questions.qa', questionsSha256: '0'.repeat(64), created: '2026-12-01T10:00:00.000Z', graded: '2026-12-01T10:05:00.000Z', grading: 'judge', judge: { model: 'gpt-4o', baseUrl: 'https://api.openai.com/v1', promptSha256: '0'.repeat(64) } },
    answers,
  };
}

function record(q, answer, correct, reason) {
  return { questionId: questionId(q.question), question: q.question, reference: q.reference, tags: q.tags, answer, verdict: { correct, by: 'judge', reason } };
}

/** Writes a base-model set (2 right) and a run's set (all right but 3) into the workspace; returns their paths. */
function writeAnswerSets(workspace) {
  const questions = readEvalSet(join(workspace, 'eval/questions.qa'));
  const baseRight = new Set([1, 12]);
  const runWrong = new Set([3, 8, 19]);
  const base = answerSet({
    id: 'base-huggingfacetb-smollm2-135m-instruct-questions',
    label: 'base SmolLM2-135M-Instruct',
    kind: 'base',
    model: 'HuggingFaceTB/SmolLM2-135M-Instruct',
    answers: questions.map((q, i) => {
      if (baseRight.has(i)) return record(q, withoutCitation(q.reference), true, 'Gives the same facts as the reference.');
      const wrong = /\d/.test(q.reference) ? offByOne(q.reference) : 'I am not sure; the rules do not say.';
      return record(q, wrong, false, /\d/.test(q.reference) ? 'The numbers differ from the reference.' : 'Does not answer the question.');
    }),
  });
  const run = answerSet({
    id: 'questions',
    label: 'run r1 (9 temperatures x 4 variants)',
    kind: 'run',
    runId: 'r1',
    model: 'HuggingFaceTB/SmolLM2-135M-Instruct',
    answers: questions.map((q, i) =>
      runWrong.has(i) ? record(q, /\d/.test(q.reference) ? offByOne(q.reference) : 'The Herald decides.', false, 'Contradicts the reference.') : record(q, withoutCitation(q.reference), true, 'Gives the same facts as the reference.'),
    ),
  });
  const basePath = join(workspace, 'eval/results', `${base.meta.id}.json`);
  const runPath = join(workspace, 'runs/r1/eval/questions.json');
  mkdirSync(join(workspace, 'eval/results'), { recursive: true });
  mkdirSync(join(workspace, 'runs/r1/eval'), { recursive: true });
  writeFileSync(basePath, JSON.stringify(base, null, 2));
  writeFileSync(runPath, JSON.stringify(run, null, 2));
  return { basePath, runPath, questions: questions.length, runRight: questions.length - runWrong.size };
}

/**
 * A local chat-completions server for the palette check: it answers from the reference when the
 * document is in the prompt (except for one question), and judges by the reference's words.
 */
async function startEvalServer(questions) {
  const byQuestion = new Map(questions.map((q, i) => [q.question, { ...q, i }]));
  const norm = (s) => s.replace(/\(Rules? [^)]*\)/g, '').toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
  const tag = (prompt, name) => new RegExp(`<${name}>\\n?([\\s\\S]*?)\\n?</${name}>`).exec(prompt)?.[1]?.trim() ?? '';
  const requests = { answer: 0, judge: 0 };
  const reply = (prompt) => {
    if (prompt.includes('<reference>')) {
      requests.judge++;
      return norm(tag(prompt, 'answer')).includes(norm(tag(prompt, 'reference'))) ? 'VERDICT: CORRECT\nREASON: Same facts as the reference.' : 'VERDICT: INCORRECT\nREASON: The facts differ from the reference.';
    }
    requests.answer++;
    const q = byQuestion.get(/Question: ([\s\S]*)$/.exec(prompt)?.[1]?.trim() ?? '');
    if (!q) return 'I cannot find that question.';
    return prompt.includes('<document>') && q.i !== 3 ? q.reference : 'I do not know.';
  };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.method === 'GET') return res.end(JSON.stringify({ object: 'list', data: [{ id: 'mock-model', object: 'model' }] }));
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const content = reply(body.messages.map((m) => m.content).join('\n'));
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/v1`, requests, close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))) };
}

/** Picks an item of the open quick pick by typing its label. */
async function pick(page, text) {
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(text);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: text }).first().waitFor({ state: 'visible' });
  await input.press('Enter');
}

/**
 * Leakage and forgetting, written as files: data/train.jsonl holds a near-duplicate of the first
 * eval question; an API model's set has that answer flagged; a run's forgetting check (base model
 * and run on Mnemo's general-knowledge set, three of its questions here) has one regression.
 */
function writeLeakAndForgetting(workspace) {
  const questions = readEvalSet(join(workspace, 'eval/questions.qa'));
  const twin = `${questions[0].question.replace(/^In Cairnrun, /, '').replace(/\?$/, '')} in Cairnrun?`;
  mkdirSync(join(workspace, 'data'), { recursive: true });
  writeFileSync(join(workspace, 'data/train.jsonl'), JSON.stringify({ messages: [{ role: 'user', content: twin.charAt(0).toUpperCase() + twin.slice(1) }, { role: 'assistant', content: withoutCitation(questions[0].reference) }] }) + '\n');
  const leaked = answerSet({ id: 'api-mock-model-none-questions', label: 'mock-model', kind: 'api', model: 'mock-model', answers: questions.map((q, i) => record(q, i < 3 ? withoutCitation(q.reference) : 'I do not know.', i < 3, i < 3 ? 'Same facts.' : 'Does not answer.')) });
  leaked.answers[0].leak = { similarity: 1, trainQuestion: twin.charAt(0).toUpperCase() + twin.slice(1) };
  leaked.meta.leakSource = 'data/train.jsonl';
  const gk = [
    { question: 'What is the capital of France?', reference: 'Paris', tags: ['geography'] },
    { question: 'What is 2 plus 2?', reference: '4', tags: ['math'] },
    { question: 'What color is the sky on a clear day?', reference: 'Blue', tags: ['everyday'] },
  ];
  const forgetting = (id, label, kind, runId, answer) => {
    const set = answerSet({ id, label, kind, runId, model: 'HuggingFaceTB/SmolLM2-135M-Instruct', answers: gk.map((q) => { const a = answer(q); return record(q, a, a.includes(q.reference), a.includes(q.reference) ? 'all key terms found' : `missing key terms: ${q.reference.toLowerCase()}`); }) });
    set.meta.questionsPath = 'mnemo/general-knowledge.qa';
    set.meta.purpose = 'forgetting';
    set.meta.grading = 'contains';
    delete set.meta.judge;
    return set;
  };
  const base = forgetting('base-huggingfacetb-smollm2-135m-instruct-general-knowledge', 'base SmolLM2-135M-Instruct · general knowledge', 'base', undefined, (q) => `It is ${q.reference}.`);
  const run = forgetting('general-knowledge', 'run r2 (lr 1e-3) · general knowledge', 'run', 'r2', (q) => (q.reference === 'Paris' ? 'The capital of France is the Cooling Bench.' : `It is ${q.reference}.`));
  mkdirSync(join(workspace, 'eval/results'), { recursive: true });
  mkdirSync(join(workspace, 'runs/r2/eval'), { recursive: true });
  writeFileSync(join(workspace, 'runs/r2/run.json'), JSON.stringify({ version: 1, id: 'r2', created: '2026-12-08T00:00:00Z', target: { kind: 'local' }, state: 'done', config: { model: 'HuggingFaceTB/SmolLM2-135M-Instruct' }, label: 'lr 1e-3' }));
  writeFileSync(join(workspace, 'eval/results', `${leaked.meta.id}.json`), JSON.stringify(leaked, null, 2));
  writeFileSync(join(workspace, 'eval/results', `${base.meta.id}.json`), JSON.stringify(base, null, 2));
  writeFileSync(join(workspace, 'runs/r2/eval/general-knowledge.json'), JSON.stringify(run, null, 2));
  return { questions: questions.length };
}

export const evalChecks = [
  {
    name: 'eval leakage and forgetting',
    timeoutMs: 180_000,
    prepare: ({ workspace }) => writeLeakAndForgetting(workspace),
    async run({ page, screenshot }) {
      await workbench(page);
      const sidebar = await openView(page, 'Mnemo');
      await widenSidebar(page, 640);
      for (const name of ['Sources', 'Q&A', 'Runs']) {
        const header = sidebar.locator('.pane-header[aria-expanded="true"]', { hasText: name }).first();
        if (await header.count()) await header.click();
      }
      const evalHeader = sidebar.locator('.pane-header', { hasText: 'Evaluations' }).first();
      if ((await evalHeader.getAttribute('aria-expanded')) !== 'true') await evalHeader.click();
      // The forgetting check: the run's general-knowledge set, its regression listed.
      await sidebar.locator('.monaco-list-row', { hasText: 'General knowledge (forgetting check)' }).first().waitFor({ state: 'visible', timeout: 60_000 });
      const runRow = sidebar.locator('.monaco-list-row', { hasText: 'run r2 (lr 1e-3) · general knowledge' }).first();
      await runRow.waitFor({ state: 'visible' });
      await runRow.locator('.monaco-tl-twistie').click();
      const regressions = sidebar.locator('.monaco-list-row', { hasText: '1 regression' }).first();
      await regressions.waitFor({ state: 'visible', timeout: 20_000 });
      const desc = (await regressions.locator('.label-description').textContent())?.trim() ?? '';
      if (!/^base 3\/3 → run 2\/3 \(-33\.3 points\)$/.test(desc)) throw new Error(`the regressions row says "${desc}"`);
      await sidebar.locator('.monaco-list-row', { hasText: 'What is the capital of France?' }).first().waitFor({ state: 'visible', timeout: 20_000 });
      // The leaked question under the API model's set, with the score without it.
      const leakedSet = sidebar.locator('.monaco-list-row', { hasText: 'mock-model' }).filter({ hasText: '1 leaked' }).first();
      await leakedSet.waitFor({ state: 'visible', timeout: 20_000 });
      await leakedSet.locator('.monaco-tl-twistie').click();
      const leaks = sidebar.locator('.monaco-list-row', { hasText: '1 leaked question' }).first();
      await leaks.waitFor({ state: 'visible', timeout: 20_000 });
      const without = (await leaks.locator('.label-description').textContent())?.trim() ?? '';
      if (!without.startsWith('without: 2/23 (')) throw new Error(`the leaked row says "${without}"`);
      await leaks.locator('.monaco-tl-twistie').click();
      await sidebar.locator('.monaco-list-row', { hasText: '100% alike' }).first().waitFor({ state: 'visible', timeout: 20_000 });
      await page.mouse.move(1000, 700);
      await screenshot('eval-leakage-forgetting');
      // The eval .qa file, opened: the leaked question has a warning (in Problems, and squiggled).
      await page.keyboard.press('Control+P');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible' });
      await input.fill('eval/questions.qa');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'questions.qa' }).first().waitFor({ state: 'visible', timeout: 20_000 });
      await input.press('Enter');
      await page.locator('.editor-instance .view-line', { hasText: /Q:\sIn\sCairnrun/ }).first().waitFor({ state: 'visible', timeout: 30_000 });
      await runCommand(page, 'View: Focus Problems (Errors, Warnings, Infos)');
      await page.locator('.markers-panel .monaco-list-row', { hasText: 'near-duplicates a training question' }).first().waitFor({ state: 'visible', timeout: 60_000 });
      await page.locator('.editor-instance .squiggly-warning').first().waitFor({ state: 'attached', timeout: 30_000 });
      await screenshot('eval-leak-diagnostic');
      return `${desc}; ${without}`;
    },
  },
  {
    name: 'eval view and diff',
    timeoutMs: 180_000,
    // The answer sets are there when the window opens.
    prepare: ({ workspace }) => writeAnswerSets(workspace),
    async run({ page, screenshot, prepared }) {
      const { runPath, questions, runRight } = prepared;
      await workbench(page);
      const sidebar = await openView(page, 'Mnemo');
      await widenSidebar(page, 600);
      // The other views of the container are collapsed so that the Evaluations view has room.
      for (const name of ['Sources', 'Q&A', 'Runs']) {
        const header = sidebar.locator('.pane-header[aria-expanded="true"]', { hasText: name }).first();
        if (await header.count()) await header.click();
      }
      const evalHeader = sidebar.locator('.pane-header', { hasText: 'Evaluations' }).first();
      if ((await evalHeader.getAttribute('aria-expanded')) !== 'true') await evalHeader.click();
      const runRow = sidebar.locator('.monaco-list-row', { hasText: 'run r1 (9 temperatures x 4 variants)' }).first();
      await runRow.waitFor({ state: 'visible', timeout: 60_000 });
      const runScore = `${runRight}/${questions} (`;
      const description = (await runRow.locator('.label-description').textContent())?.trim() ?? '';
      if (!description.startsWith(runScore) || !/95% CI \d+%–\d+%/.test(description)) throw new Error(`the run's description is "${description}", expected "${runScore}…, 95% CI a%–b%)"`);
      await sidebar.locator('.monaco-list-row', { hasText: 'base SmolLM2-135M-Instruct' }).first().waitFor({ state: 'visible' });
      // Its tags, expanded.
      await runRow.locator('.monaco-tl-twistie').click();
      await sidebar.locator('.monaco-list-row[aria-level="4"]', { hasText: 'reversed' }).first().waitFor({ state: 'visible' });
      await page.mouse.move(1000, 700);
      await screenshot('eval-view');

      // Compare Answers from the palette: base on the left, the run on the right. The side bar
      // closed first, so that the diff has room to show both sides.
      await page.keyboard.press('Control+B');
      await sidebar.waitFor({ state: 'hidden' });
      await runCommand(page, 'Mnemo: Compare Answers');
      await pick(page, 'base SmolLM2-135M-Instruct');
      await pick(page, 'run r1');
      const diff = page.locator('.monaco-diff-editor').first();
      await diff.waitFor({ state: 'visible', timeout: 60_000 });
      await diff.locator('.editor.modified .view-line', { hasText: /Q:\sIn\sCairnrun/ }).first().waitFor({ state: 'visible', timeout: 30_000 });
      // Verdict marks: gutter icons on both sides, and the tinted verdict lines.
      await diff.locator('.editor.original .cgmr').first().waitFor({ state: 'attached', timeout: 30_000 });
      await diff.locator('.editor.modified .cgmr').first().waitFor({ state: 'attached', timeout: 30_000 });
      await page.mouse.move(700, 880);
      await screenshot('eval-diff');

      // Mark Answer Wrong from the context menu, on the first answer of the run's side.
      const answerLine = diff.locator('.editor.modified .view-line', { hasText: /^A:\s/ }).first();
      const answerText = (await answerLine.textContent())?.replace(/\u00a0/g, ' ').trim();
      await answerLine.click({ button: 'right' });
      const item = page.getByRole('menuitem', { name: 'Mark Answer Wrong' });
      await item.waitFor({ state: 'visible', timeout: 15_000 });
      // Hovered, then Enter: a click on a menu that has just opened can be taken for the end of
      // the right click that opened it, and be dropped (seen on a loaded machine).
      await item.hover();
      await page.keyboard.press('Enter');
      // The JSON records the user's verdict, the view's score drops by one.
      const deadline = Date.now() + 20_000;
      let user;
      while (!user && Date.now() < deadline) {
        const set = JSON.parse(readFileSync(runPath, 'utf8'));
        user = set.answers.find((a) => a.verdict.by === 'user');
        if (!user) await page.waitForTimeout(100);
      }
      if (!user) throw new Error('no verdict of the user in the run\'s JSON after "Mark Answer Wrong"');
      if (user.verdict.correct !== false || user.verdict.auto?.correct !== true) throw new Error(`the user's verdict is ${JSON.stringify(user.verdict)}`);
      if (answerText && !answerText.includes(user.answer.slice(0, 20))) throw new Error(`marked "${user.answer}", but the line clicked was "${answerText}"`);
      await diff.locator('.editor.modified .view-line', { hasText: /#\sverdict:\swrong\s\(user/ }).first().waitFor({ state: 'visible', timeout: 20_000 });
      await page.keyboard.press('Control+B');
      await sidebar.locator('.monaco-list-row', { hasText: 'run r1' }).locator('.label-description', { hasText: `${runRight - 1}/${questions} (` }).first().waitFor({ state: 'visible', timeout: 20_000 });
      await screenshot('eval-diff-flipped');
      return `${description}; after a flip ${runRight - 1}/${questions}`;
    },
  },
  {
    name: 'eval run from the palette',
    timeoutMs: 180_000,
    async run({ page, workspace, screenshot }) {
      const questions = readEvalSet(join(workspace, 'eval/questions.qa'));
      const server = await startEvalServer(questions);
      try {
        const configPath = join(workspace, 'mnemo.json');
        writeFileSync(configPath, JSON.stringify({ ...JSON.parse(readFileSync(configPath, 'utf8')), generation: { baseUrl: server.url, model: 'mock-model' } }, null, 2));
        await workbench(page);
        await openView(page, 'Mnemo');
        await page.locator('.pane-header', { hasText: 'Evaluations' }).first().waitFor({ state: 'visible' });
        // What answers, the model (prefilled with the project's), how answers are graded.
        await runCommand(page, 'Mnemo: Run Evaluation');
        await pick(page, 'API model with the whole document');
        const input = page.locator('.quick-input-widget input');
        await page.locator('.quick-input-widget', { hasText: 'the API model' }).waitFor({ state: 'visible' });
        if ((await input.inputValue()) !== 'mock-model') throw new Error(`the model input says "${await input.inputValue()}", expected the project's model "mock-model"`);
        await input.press('Enter');
        await pick(page, 'Judge: mock-model');
        // The score, with the way on to the results.
        const toast = page.locator('.notification-toast', { hasText: 'mock-model + document on questions.qa' }).first();
        await toast.waitFor({ state: 'visible', timeout: 60_000 });
        const message = (await toast.locator('.notification-list-item-message').textContent())?.trim() ?? '';
        const right = questions.length - 1;
        if (!message.includes(`${right}/${questions.length} (`)) throw new Error(`the notification says "${message}", expected a score of ${right}/${questions.length}`);
        if (server.requests.answer !== questions.length || server.requests.judge !== questions.length) throw new Error(`the server answered ${server.requests.answer} and judged ${server.requests.judge} times, expected ${questions.length} each`);
        // The view shows the new set with its score, revealed.
        await page.locator('#workbench\\.parts\\.sidebar .monaco-list-row', { hasText: 'mock-model + document' }).locator('.label-description', { hasText: `${right}/${questions.length} (` }).first().waitFor({ state: 'visible', timeout: 30_000 });
        await screenshot('eval-run-done');
        await toast.locator('.monaco-button', { hasText: 'Open Results' }).click();
        const editor = page.locator('.editor-instance .monaco-editor').first();
        await editor.locator('.view-line', { hasText: /#\smock-model\s\+\sdocument/ }).first().waitFor({ state: 'visible', timeout: 30_000 });
        await editor.locator('.cgmr').first().waitFor({ state: 'attached', timeout: 30_000 });
        await editor.locator('.codelens-decoration', { hasText: 'Mark wrong' }).first().waitFor({ state: 'visible', timeout: 30_000 });
        await page.mouse.move(1000, 880);
        await screenshot('eval-results');
        const saved = join(workspace, 'eval/results/api-mock-model-document-questions.json');
        if (!existsSync(saved)) throw new Error(`${saved} was not written`);

        // The ablation table, sorted by the column picked.
        await runCommand(page, 'Mnemo: Open Ablation Table');
        await pick(page, 'reversed');
        const preview = page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
        await preview.locator('h1', { hasText: 'Ablation table' }).waitFor({ state: 'visible', timeout: 60_000 });
        await preview.locator('td', { hasText: 'mock-model + document' }).first().waitFor({ state: 'visible' });
        await screenshot('eval-ablation');
        return message;
      } finally {
        await server.close();
      }
    },
  },
];
