// Evaluation of local models in a real VS Code, the way a user proves fine-tuning worked: a tiny
// chat model built on the spot (src/python/tiny_model.py, random weights), a run that fully
// fine-tunes it on six memorization pairs with the real train.py on the CPU, then "Run
// Evaluation" on the base model and on the run through the real eval.py, and "Compare Answers"
// between them. Needs the project's Python environment (.venv, as .ci/run makes it).
import * as assert from 'node:assert';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { EvaluateResult } from '../../../src/core/eval';
import type { EvalTreeSnapshot } from '../../../src/extension/eval/provider';
import { activateMnemo, findNode, harness, waitFor } from './helpers';

/** Runs Python and resolves with its stdout; rejects with the end of its output. */
function python(exe: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(exe, args, { cwd, timeout: 600_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, HF_HUB_OFFLINE: '1', OMP_NUM_THREADS: '1', TOKENIZERS_PARALLELISM: 'false' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${exe} ${args.join(' ')} failed: ${err.message}\n${stdout.slice(-1500)}\n${stderr.slice(-3000)}`));
      else resolve(stdout);
    });
  });
}

suite('Evaluation of local models (tiny model, real train.py and eval.py)', () => {
  const root = harness.workspace;
  const scripts = join(harness.repoRoot, 'src', 'python');
  const exe = join(harness.repoRoot, '.venv', 'bin', 'python');
  const base = join(harness.tmp, 'tiny-base');
  const runId = 'r-memo';
  const runDir = join(root, 'runs', runId);
  const questions = join(root, 'eval', 'memo.qa');
  const configPath = join(root, 'mnemo.json');
  const original = readFileSync(configPath, 'utf8');
  let pairs: [string, string][] = [];
  let before: EvaluateResult;
  let after: EvaluateResult;

  suiteSetup(async function () {
    this.timeout(600_000);
    assert.ok(existsSync(exe), `${exe} is missing: create the project's Python environment (.ci/run does: python3 -m venv .venv && .venv/bin/pip install -r src/python/requirements-ci.txt)`);
    await activateMnemo();
    // The model, the memorization pairs and the system prompt training uses, from tiny_model.py.
    await python(exe, ['tiny_model.py', base], scripts);
    mkdirSync(runDir, { recursive: true });
    const info = JSON.parse(
      await python(exe, ['-c', `import json, tiny_model; tiny_model.write_jsonl(${JSON.stringify(join(runDir, 'train.jsonl'))}, tiny_model.memo_rows()); print(json.dumps({"pairs": tiny_model.MEMO_PAIRS, "system": tiny_model.SYSTEM_PROMPT}))`], scripts),
    ) as { pairs: [string, string][]; system: string };
    pairs = info.pairs;
    // The run: a full fine-tune that memorizes the six pairs (as src/python/tests/test_eval.py trains it).
    const config = { model: base, method: 'full', learning_rate: 3e-3, lr_scheduler: 'constant', epochs: 40, max_length: 128, gradient_checkpointing: false, eval_file: null, logging_steps: 50, save_best: false, precision: 'fp32' };
    writeFileSync(join(runDir, 'config.json'), JSON.stringify(config, null, 2));
    await python(exe, [join(scripts, 'train.py'), '--config', 'config.json'], runDir);
    assert.ok(existsSync(join(runDir, 'output', 'config.json')), 'train.py saved the model');
    const now = new Date().toISOString();
    writeFileSync(join(runDir, 'run.json'), JSON.stringify({ version: 1, id: runId, created: now, target: { kind: 'local' }, state: 'done', config, startedAt: now, endedAt: now, label: 'full, 40 epochs' }, null, 2));
    // The eval set: the same six questions, their answers as references.
    writeFileSync(questions, pairs.map(([q, a]) => `@tags: forward\nQ: ${q}\nA: ${a}\n`).join('\n'));
    const project = JSON.parse(original) as Record<string, unknown>;
    project.dataset = { ...(project.dataset as object), systemPrompt: info.system };
    writeFileSync(configPath, JSON.stringify(project, null, 2));
    // eval.py runs with this Python (the core reads MNEMO_PYTHON), offline.
    process.env.MNEMO_PYTHON = exe;
    process.env.HF_HUB_OFFLINE = '1';
    process.env.OMP_NUM_THREADS = '1';
  });

  suiteTeardown(() => {
    writeFileSync(configPath, original);
  });

  test('Run Evaluation on the base model: random weights recall nothing', async function () {
    this.timeout(300_000);
    before = (await vscode.commands.executeCommand('mnemo.runEvaluation', { questions, target: { kind: 'base', model: base }, judge: 'none' })) as EvaluateResult;
    assert.ok(before, 'the command returned its result (see the Mnemo log if not)');
    assert.strictEqual(before.set.meta.kind, 'base');
    assert.strictEqual(before.set.answers.length, pairs.length);
    assert.ok(before.set.answers.every((a) => !a.error), JSON.stringify(before.set.answers.map((a) => a.error)));
    assert.ok(before.report.overall.correct <= 1, `the base model got ${before.report.overall.correct}/${pairs.length}: ${before.set.answers.map((a) => a.answer).join(' | ')}`);
    assert.ok(before.path.startsWith(join(root, 'eval', 'results')));
  });

  test('Run Evaluation on the fine-tuned run: it recalls the answers', async function () {
    this.timeout(300_000);
    after = (await vscode.commands.executeCommand('mnemo.runEvaluation', { questions, target: { kind: 'run', runId }, judge: 'none' })) as EvaluateResult;
    assert.ok(after, 'the command returned its result (see the Mnemo log if not)');
    assert.strictEqual(after.path, join(runDir, 'eval', 'memo.json'));
    const right = after.report.overall.correct;
    assert.ok(right >= 5, `the run recalled ${right}/${pairs.length}: ${after.set.answers.map((a) => a.answer).join(' | ')}`);
    assert.ok(right > before.report.overall.correct);
    // Shown in test-results/logs/<session>.browser.log (the extension host's console).
    console.log(`eval-models: base ${before.report.overall.correct}/${pairs.length}, run ${right}/${pairs.length}`);
  });

  test('the view shows both under the eval set, and the diff marks what fine-tuning fixed', async () => {
    const snap = (await vscode.commands.executeCommand('mnemo.eval.refresh', { snapshot: true })) as EvalTreeSnapshot[];
    const set = findNode(snap, (n) => n.label === 'memo.qa');
    assert.ok(set, JSON.stringify(snap));
    assert.ok(findNode(set.children, (n) => n.label === 'base model'));
    const run = findNode(set.children, (n) => n.label === `run ${runId}`);
    assert.ok(run?.children?.[0]?.description?.startsWith(`${after.report.overall.correct}/${pairs.length} (`), JSON.stringify(run));
    const opened = (await vscode.commands.executeCommand('mnemo.compareAnswers', before.path, after.path)) as { left: string; right: string };
    const fixed = after.set.answers.filter((a) => a.verdict.correct && !before.set.answers.find((b) => b.questionId === a.questionId)?.verdict.correct).length;
    const marks = await waitFor('the verdict marks on the run side', async () => {
      const s = (await vscode.commands.executeCommand('mnemo.eval.refresh', { decorationsOf: opened.right })) as { correct: number[]; changed: { text: string }[] } | undefined;
      return s && s.correct.length === after.report.overall.correct ? s : undefined;
    });
    assert.strictEqual(marks.changed.filter((c) => c.text.startsWith('✓ here, ✗ in base')).length, fixed);
  });
});
