/**
 * Evaluation in the editor: the Evaluations view, "Run Evaluation", "Compare Answers" (a diff of
 * two answer sets as read-only .qa documents with verdict marks), flipping a verdict from the
 * editor, and the ablation table. The work is in src/core/eval.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as vscode from 'vscode';
import {
  ablationTable,
  checkForgetting,
  clearOverrule,
  evaluate,
  formatForgetting,
  runBaseModel,
  evalSetPath,
  formatScore,
  judgeAgreement,
  overrule,
  projectBaseModel,
  readAnswerSet,
  resolveJudge,
  scoreAnswerSet,
  type AnswerSetEntry,
  type ContextMode,
  type EvalProgress,
  type EvalTarget,
  type EvaluateResult,
  type ForgettingResult,
  type JudgeEndpoint,
  type ScoreReport,
  type Verdict,
} from '../../core/eval';
import { DEFAULT_MODEL } from '../../core/default-model';
import { MnemoError } from '../../core/errors';
import { isLocalUrl, resolveEndpoint, type Endpoint } from '../../core/generation';
import { OpenAiChatClient, type ChatClient } from '../../core/generation/client';
import type { Project } from '../../core/project';
import { JUDGE_PROMPT_FILE } from '../../core/eval/judge';
import { RUN_FILES } from '../../core/training/protocol';
import type { CommandSpec, Feature } from '../commands';
import type { Ctx } from '../ctx';
import { ensurePython, offerDefaultModel, preflightModel } from '../python';
import { consentToKeyTransport } from '../security';
import { editTrainingConfig } from '../training/start';
import { ablationReport, sortChoices } from './ablation';
import { EvalContentProvider, evalDocUri, pairAtLine } from './content';
import { VerdictDecorations } from './decorations';
import { COMMANDS, EVAL_SCHEME, RUNNING_CONTEXT_KEY, VIEW_ID } from './ids';
import { VerdictLenses } from './lens';
import { EvalModel, findEvalSets } from './model';
import { AnswerSetNode, EvalSetNode } from './nodes';
import { EvalTreeProvider } from './provider';
import { remoteEvalOptions, runHost } from './remote';

/** The evaluation feature's live objects (tests read the tree and the decorations through them). */
export interface EvalServices {
  model: EvalModel;
  tree: EvalTreeProvider;
  view: vscode.TreeView<unknown>;
  content: EvalContentProvider;
  decorations: VerdictDecorations;
}

let services: EvalServices | undefined;
let running: AbortController | undefined;

export function evalServices(): EvalServices | undefined {
  return services;
}

function need(): EvalServices {
  if (!services) throw new MnemoError('The Evaluations view is not ready yet.', 'Open a Mnemo project folder.');
  return services;
}

// ---------------------------------------------------------------------------------------------
// Run Evaluation

/**
 * Arguments of "Run Evaluation" (tests and scripts); whatever is missing is asked with a picker.
 * `target`: what answers. For `{kind: 'api'}` without baseUrl/model, the project's endpoint.
 * `judge`: 'project' (mnemo.json eval.judge, else the project's endpoint and model), 'none'
 * (matching: mnemo.json eval.grading, or `matcher`), or an endpoint.
 */
export interface RunEvalArgs {
  questions?: string;
  target?: { kind: 'base'; model?: string } | { kind: 'run'; runId: string } | { kind: 'api'; baseUrl?: string; model?: string; context?: ContextMode; topK?: number };
  judge?: 'project' | 'none' | { baseUrl: string; model: string };
  matcher?: 'contains' | 'exact';
}

function endpointOf(ctx: Ctx, project: Project): Endpoint {
  return resolveEndpoint(project, { baseUrl: ctx.settings.endpointBaseUrl, model: ctx.settings.endpointModel });
}

/** The key for an endpoint (secret storage), or an error saying how to set one. A local URL needs none. */
async function keyFor(ctx: Ctx, baseUrl: string, what: string): Promise<string | undefined> {
  const key = await ctx.secrets.get('apiKey');
  if (key || isLocalUrl(baseUrl)) return key;
  throw new MnemoError(`${what} at ${baseUrl} needs an API key, and none is set.`, 'Run "Mnemo: Set API Key" (kept in VS Code secret storage), or choose a local endpoint with "Mnemo: Choose Endpoint".');
}

/**
 * A client for an endpoint, after the user's consent when the key would go over plain http:// to
 * another machine (the generation stage's rule); undefined when they declined.
 */
async function clientFor(ctx: Ctx, baseUrl: string, apiKey: string | undefined): Promise<ChatClient | undefined> {
  const allowInsecureKey = await consentToKeyTransport(ctx, baseUrl, apiKey);
  if (!allowInsecureKey) return undefined;
  return new OpenAiChatClient({ baseUrl, apiKey, allowInsecureKey });
}

interface DoneRun {
  id: string;
  label?: string;
}

/** Runs of the project that finished (their run.json says "done"). */
function doneRuns(project: Project): DoneRun[] {
  if (!existsSync(project.runsDir)) return [];
  const out: DoneRun[] = [];
  for (const d of readdirSync(project.runsDir, { withFileTypes: true })) {
    if (!d.isDirectory()) continue;
    try {
      const r = JSON.parse(readFileSync(join(project.runsDir, d.name, RUN_FILES.record), 'utf8')) as { state?: string; label?: string };
      if (r.state === 'done') out.push({ id: d.name, label: r.label });
    } catch {
      // Not a run, or one being written.
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

async function pickQuestions(project: Project, given: string | undefined): Promise<string | undefined> {
  if (given) return given;
  const sets = findEvalSets(project);
  const main = evalSetPath(project);
  if (sets.length <= 1) return sets[0] ?? main;
  const pick = await vscode.window.showQuickPick(
    sets.map((p) => ({ label: p.slice(project.root.length + 1), description: p === main ? 'the project\'s eval set' : undefined, path: p })),
    { title: 'Mnemo: Run Evaluation (1/3): which questions?' },
  );
  return pick?.path;
}

async function pickTarget(ctx: Ctx, project: Project, given: RunEvalArgs['target']): Promise<EvalTarget | undefined> {
  const endpoint = endpointOf(ctx, project);
  let t = given;
  if (!t) {
    const base = (project.config as unknown as { training?: { model?: string } }).training?.model;
    type Item = vscode.QuickPickItem & { target?: NonNullable<RunEvalArgs['target']> };
    const items: Item[] = [
      { label: '$(package) Base model', description: base ?? 'set training.model in mnemo.json', detail: 'The model before fine-tuning, answering on this machine (src/python/eval.py).', target: { kind: 'base' } },
      ...doneRuns(project).map((r): Item => ({ label: `$(beaker) Run ${r.id}`, description: r.label, detail: runHost(project, r.id) ? `The run's fine-tuned model, answering on ${runHost(project, r.id)}, where it was trained (nothing is downloaded).` : 'The run\'s fine-tuned model, answering on this machine.', target: { kind: 'run', runId: r.id } })),
      { label: 'API baselines', kind: vscode.QuickPickItemKind.Separator },
      { label: '$(cloud) API model, no context', description: endpoint.baseUrl, detail: 'What the model knows on its own.', target: { kind: 'api', context: 'none' } },
      { label: '$(book) API model with the whole document', description: endpoint.baseUrl, detail: 'The ceiling: the document is in the prompt.', target: { kind: 'api', context: 'document' } },
      { label: '$(list-ordered) API model with the top chunks', description: `${project.config.eval.topK} chunks`, detail: 'Retrieval: the chunks that best match each question (BM25).', target: { kind: 'api', context: 'chunks' } },
    ];
    const pick = await vscode.window.showQuickPick(items, { title: 'Mnemo: Run Evaluation (2/3): what answers?' });
    if (!pick?.target) return undefined;
    t = pick.target;
  }
  if (t.kind !== 'api') return t;
  let model = t.model;
  if (!model) {
    model = given ? endpoint.model : await vscode.window.showInputBox({ title: 'Mnemo: Run Evaluation: the API model', prompt: `The model at ${t.baseUrl ?? endpoint.baseUrl} that answers.`, value: endpoint.model, ignoreFocusOut: true });
    if (!model) return undefined;
  }
  return { kind: 'api', baseUrl: (t.baseUrl ?? endpoint.baseUrl).replace(/\/+$/, ''), model, context: t.context ?? 'none', topK: t.topK };
}

type JudgeChoice = { judge?: Omit<JudgeEndpoint, 'apiKey'>; matcher?: 'contains' | 'exact' };

function projectJudge(ctx: Ctx, project: Project): Omit<JudgeEndpoint, 'apiKey'> {
  const configured = resolveJudge(project);
  if (configured) return configured;
  const e = endpointOf(ctx, project);
  return { baseUrl: e.baseUrl, model: e.model };
}

async function pickJudge(ctx: Ctx, project: Project, args: RunEvalArgs): Promise<JudgeChoice | undefined> {
  const matcher = args.matcher ?? project.config.eval.grading;
  const given = args.judge;
  if (given === 'none') return { matcher };
  if (given === 'project') return { judge: projectJudge(ctx, project), matcher };
  if (given) return { judge: { baseUrl: given.baseUrl.replace(/\/+$/, ''), model: given.model }, matcher };
  const j = projectJudge(ctx, project);
  // The prompt named is the one used: the project's file when it exists, else the built-in one.
  const promptFile = project.config.eval.judgePrompt ?? JUDGE_PROMPT_FILE;
  const prompt = existsSync(join(project.root, promptFile)) ? promptFile.split('\\').join('/') : 'the built-in prompt';
  const pick = await vscode.window.showQuickPick(
    [
      { label: `$(law) Judge: ${j.model}`, description: j.baseUrl, detail: `An LLM compares each answer with the reference (temperature 0; prompt: ${prompt}).`, choice: { judge: j, matcher } as JudgeChoice },
      { label: '$(symbol-key) No judge: key terms', description: 'contains', detail: 'Correct when every number and name of the reference is in the answer.', choice: { matcher: 'contains' } as JudgeChoice },
      { label: '$(whole-word) No judge: exact', description: 'exact', detail: 'Correct when the answer contains the reference word for word.', choice: { matcher: 'exact' } as JudgeChoice },
    ],
    { title: 'Mnemo: Run Evaluation (3/3): how are answers graded?' },
  );
  return pick?.choice;
}

function describeTarget(t: EvalTarget): string {
  if (t.kind === 'run') return `run ${t.runId}`;
  if (t.kind === 'base') return `the base model${t.model ? ` ${t.model}` : ''}`;
  return `${t.model}${t.context === 'document' ? ' with the document' : t.context === 'chunks' ? ' with the top chunks' : ''}`;
}

function tagSummary(report: ScoreReport): string {
  const tags = Object.entries(report.byTag);
  if (tags.length <= 1) return '';
  return ` By tag: ${tags.map(([t, s]) => `${t} ${s.correct}/${s.graded}`).join(', ')}.`;
}

/** "Mnemo: Run Evaluation": what answers, how it is graded, then answers + grades with progress and cancel; shows the score. */
async function runEvaluation(ctx: Ctx, arg?: RunEvalArgs | EvalSetNode): Promise<EvaluateResult | undefined> {
  const project = ctx.requireProject();
  if (running) {
    const c = await vscode.window.showWarningMessage('Mnemo: an evaluation is already running.', 'Cancel It');
    if (c) running.abort();
    return undefined;
  }
  const args: RunEvalArgs = arg instanceof EvalSetNode ? { questions: arg.info.path } : (arg ?? {});
  const questions = await pickQuestions(project, args.questions);
  if (!questions) return undefined;
  let target = await pickTarget(ctx, project, args.target);
  if (!target) return undefined;
  const grading = await pickJudge(ctx, project, args);
  if (!grading) return undefined;
  // Base and run models answer on this machine: the same Python as training, and a model it can load offline.
  let local: { python: string } | undefined;
  // A run trained on an SSH host answers there (src/core/eval/remote.ts): no Python or model on this machine.
  const onHost = target.kind === 'run' && runHost(project, target.runId) !== undefined;
  if (target.kind !== 'api' && !onHost) {
    const python = await ensurePython(ctx, 'evaluation');
    if (!python) return undefined;
    if (target.kind === 'base') {
      let model = target.model ?? projectBaseModel(project).model;
      if (!model) {
        if (!(await offerDefaultModel(ctx, project, 'No base model to evaluate (mnemo.json "training.model").', () => editTrainingConfig(project)))) return undefined;
        model = DEFAULT_MODEL.id;
      }
      const usable = await preflightModel(ctx, project, model, python, () => editTrainingConfig(project));
      if (!usable) return undefined;
      target = { ...target, model: usable };
    }
    local = { python };
  }
  const apiKey = target.kind === 'api' ? await keyFor(ctx, target.baseUrl, `The model ${target.model}`) : undefined;
  const answerClient = target.kind === 'api' ? await clientFor(ctx, target.baseUrl, apiKey) : undefined;
  if (target.kind === 'api' && !answerClient) return undefined;
  let judge: JudgeEndpoint | undefined;
  if (grading.judge) {
    const judgeKey = await keyFor(ctx, grading.judge.baseUrl, `The judge ${grading.judge.model}`);
    const client = await clientFor(ctx, grading.judge.baseUrl, judgeKey);
    if (!client) return undefined;
    judge = { ...grading.judge, apiKey: judgeKey, client };
  }

  const controller = new AbortController();
  running = controller;
  await vscode.commands.executeCommand('setContext', RUNNING_CONTEXT_KEY, true);
  const what = describeTarget(target);
  ctx.log.info(`Evaluation: ${what} on ${questions}, graded by ${judge ? `the judge ${judge.model} at ${judge.baseUrl}` : grading.matcher}`);
  let result: EvaluateResult;
  try {
    result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Mnemo: evaluating ${what}`, cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => controller.abort());
        let last = 0;
        const onProgress = (p: EvalProgress) => {
          // Answering is the first half of the bar, grading the second.
          const pct = p.total ? ((p.phase === 'grading' ? 50 : 0) + (50 * p.done) / p.total) : 0;
          progress.report({ message: `${p.phase} ${p.done}/${p.total}${p.message ? ` · ${p.message}` : ''}`, increment: Math.max(0, pct - last) });
          last = Math.max(last, pct);
        };
        return evaluate(project, { target: target!, local, remote: remoteEvalOptions(ctx), questions, apiKey, answerClient, judge, matcher: grading.matcher, signal: controller.signal, onProgress, onLog: (line) => ctx.log.info(`eval.py: ${line}`) });
      },
    );
  } catch (err) {
    if (controller.signal.aborted) {
      ctx.log.info('Evaluation cancelled; nothing was saved.');
      void vscode.window.showInformationMessage('Mnemo: evaluation cancelled; nothing was saved. Run it again to start over.');
      return undefined;
    }
    throw err;
  } finally {
    running = undefined;
    void vscode.commands.executeCommand('setContext', RUNNING_CONTEXT_KEY, false);
  }
  need().model.refresh();
  need().content.refresh(result.path);
  const { view, tree } = need();
  const node = tree.findAnswerSet(result.path);
  if (node && view.visible) void view.reveal(node, { select: true, focus: false, expand: true });
  const score = formatScore(result.report.overall);
  const flagged = result.set.answers.filter((a) => a.verdict.correct === null).length;
  const agreement = judgeAgreement(result.set);
  const agreed = agreement.rate !== null ? ` The judge agreed with ${agreement.agreed} of your ${agreement.compared} verdict(s) on its gradings.` : '';
  const summary = `${result.set.meta.label} on ${basename(questions)}: ${score}.${tagSummary(result.report)}${result.carried ? ` ${result.carried} of your verdicts carried over.` : ''}${agreed}`;
  ctx.log.info(`Evaluation done: ${summary} Saved to ${result.path}.`);
  const errors = result.set.answers.filter((a) => a.error).length;
  const note = errors ? ` ${errors} question(s) got no answer (see the results).` : flagged ? ` ${flagged} answer(s) are ungraded (see the results).` : '';
  const leaks = result.report.withoutLeaks ? ` Without the ${result.report.leaked} question(s) that near-duplicate training questions: ${formatScore(result.report.withoutLeaks)}.` : '';
  // A run's evaluation offers the forgetting check (general knowledge, base model vs the run) when the run has none yet.
  const offerForgetting = result.set.meta.kind === 'run' && result.set.meta.purpose !== 'forgetting' && !need().model.snapshot().forgetting.some((f) => f.runId === result.set.meta.runId);
  const actions = ['Compare with…', 'Open Results', ...(offerForgetting ? ['Check Forgetting'] : [])];
  void vscode.window.showInformationMessage(`Mnemo: ${summary}${leaks}${note}`, ...actions).then((c) => {
    if (c === 'Compare with…') void vscode.commands.executeCommand(COMMANDS.compareWith, result.path);
    if (c === 'Open Results') void vscode.commands.executeCommand(COMMANDS.openResults, result.path);
    if (c === 'Check Forgetting') void vscode.commands.executeCommand(COMMANDS.checkForgetting, { runId: result.set.meta.runId });
  });
  return result;
}

/**
 * "Mnemo: Check Forgetting": Mnemo's general-knowledge set asked of a run's base model (its saved
 * answers reused) and of the run; the questions the run now gets wrong are listed under the run's
 * answer set in the view and in the ablation table. `{runId, reuseBase}` skips the picker.
 */
async function checkForgettingCommand(ctx: Ctx, arg?: { runId?: string; reuseBase?: boolean }): Promise<ForgettingResult | undefined> {
  const project = ctx.requireProject();
  if (running) {
    const c = await vscode.window.showWarningMessage('Mnemo: an evaluation is already running.', 'Cancel It');
    if (c) running.abort();
    return undefined;
  }
  let runId = typeof arg?.runId === 'string' ? arg.runId : undefined;
  if (!runId) {
    const runs = doneRuns(project);
    if (!runs.length) throw new MnemoError('There is no finished run to check.', 'Train a run first (Mnemo: Start Training); the check compares its model with the base model on general-knowledge questions.');
    const pick = await vscode.window.showQuickPick(
      runs.map((r) => ({ label: `$(beaker) Run ${r.id}`, description: r.label, id: r.id })),
      { title: 'Mnemo: Check Forgetting: which run? (its base model answers too, once)' },
    );
    if (!pick) return undefined;
    runId = pick.id;
  }
  const python = await ensurePython(ctx, 'evaluation');
  if (!python) return undefined;
  const base = runBaseModel(project, runId);
  const controller = new AbortController();
  running = controller;
  await vscode.commands.executeCommand('setContext', RUNNING_CONTEXT_KEY, true);
  ctx.log.info(`Forgetting check: run ${runId} and its base model ${base.model} on Mnemo's general-knowledge set`);
  let result: ForgettingResult;
  try {
    result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Mnemo: checking forgetting of run ${runId}`, cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => controller.abort());
        return checkForgetting(project, runId, {
          reuseBase: arg?.reuseBase,
          local: { python },
          signal: controller.signal,
          onProgress: (p) => progress.report({ message: `${p.model === 'base' ? 'base model' : 'run'}: ${p.phase} ${p.done}/${p.total}` }),
          onLog: (line) => ctx.log.info(`eval.py: ${line}`),
        });
      },
    );
  } catch (err) {
    if (controller.signal.aborted) {
      void vscode.window.showInformationMessage('Mnemo: forgetting check cancelled; nothing was saved.');
      return undefined;
    }
    throw err;
  } finally {
    running = undefined;
    void vscode.commands.executeCommand('setContext', RUNNING_CONTEXT_KEY, false);
  }
  need().model.refresh();
  const summary = `run ${runId} on general knowledge: ${formatForgetting(result)}${result.baseReused ? ' (the base model\'s saved answers reused)' : ''}.`;
  ctx.log.info(`Forgetting check done: ${summary} ${result.regressions.map((q) => `\n  - ${q.question} (base: ${q.a?.answer ?? ''} | run: ${q.b?.answer ?? ''})`).join('')}`);
  const node = need().tree.findAnswerSet(result.runPath);
  if (node && need().view.visible) void need().view.reveal(node, { select: true, focus: false, expand: 2 });
  void vscode.window.showInformationMessage(`Mnemo: ${summary}`, 'Open Ablation Table').then((c) => {
    if (c) void vscode.commands.executeCommand(COMMANDS.openAblation, { sortBy: 'score' });
  });
  return result;
}

// ---------------------------------------------------------------------------------------------
// Results, comparisons, ablations

/** An answer set from whatever a caller passed: a view node, a path, `{path}`, or an answer set document. */
function setPathOf(arg: unknown): string | undefined {
  if (arg instanceof AnswerSetNode) return arg.path;
  if (typeof arg === 'string') return arg;
  if (arg instanceof vscode.Uri) return arg.scheme === 'file' ? arg.fsPath : undefined;
  if (arg && typeof arg === 'object' && typeof (arg as { path?: unknown }).path === 'string') return (arg as { path: string }).path;
  return undefined;
}

function entries(): AnswerSetEntry[] {
  return need().model.snapshot().answerSets;
}

async function pickSet(title: string, exclude?: string, prefer?: string): Promise<string | undefined> {
  const all = entries().filter((e) => e.path !== exclude);
  if (!all.length) throw new MnemoError(exclude ? 'There is no other answer set to compare with.' : 'There are no answer sets yet.', 'Run "Mnemo: Run Evaluation" (for example the base model, or an API model with and without the document).');
  // Sets on the same questions first.
  all.sort((a, b) => Number(b.meta.questionsPath === prefer) - Number(a.meta.questionsPath === prefer));
  const pick = await vscode.window.showQuickPick(
    all.map((e) => ({ label: e.meta.label, description: formatScore(e.score.overall), detail: `${e.meta.questionsPath} · ${e.path}`, path: e.path })),
    { title, matchOnDescription: true, matchOnDetail: true },
  );
  return pick?.path;
}

async function openResults(ctx: Ctx, arg?: unknown): Promise<string | undefined> {
  const project = ctx.requireProject();
  const path = setPathOf(arg) ?? (await pickSet('Mnemo: Open Results'));
  if (!path) return undefined;
  readAnswerSet(path);
  const uri = evalDocUri(project.root, { path });
  await vscode.window.showTextDocument(uri, { preview: true });
  return uri.toString();
}

/** "Compare Answers": two answer sets side by side in a diff, the first on the left. */
async function compareAnswers(ctx: Ctx, first?: unknown, second?: unknown): Promise<{ left: string; right: string } | undefined> {
  const project = ctx.requireProject();
  const a = setPathOf(first) ?? (await pickSet('Mnemo: Compare Answers (1/2): the set on the left (before)'));
  if (!a) return undefined;
  const setA = readAnswerSet(a);
  const b = setPathOf(second) ?? (await pickSet(`Mnemo: Compare Answers (2/2): compare ${setA.meta.label} with…`, a, setA.meta.questionsPath));
  if (!b) return undefined;
  if (a === b) throw new MnemoError('Both sides are the same answer set.', 'Pick two different answer sets.');
  const setB = readAnswerSet(b);
  const left = evalDocUri(project.root, { path: a, vs: b });
  const right = evalDocUri(project.root, { path: b, vs: a });
  const s = (r: ScoreReport) => `${r.overall.correct}/${r.overall.graded}`;
  const title = `${setA.meta.label} (${s(scoreAnswerSet(setA))}) ↔ ${setB.meta.label} (${s(scoreAnswerSet(setB))})`;
  await vscode.commands.executeCommand('vscode.diff', left, right, title, { preview: false } satisfies vscode.TextDocumentShowOptions);
  return { left: left.toString(), right: right.toString() };
}

async function compareWith(ctx: Ctx, arg?: unknown, other?: unknown): Promise<{ left: string; right: string } | undefined> {
  const a = setPathOf(arg) ?? (await pickSet('Mnemo: Compare with… (the set on the left)'));
  if (!a) return undefined;
  return compareAnswers(ctx, a, other);
}

async function deleteResults(ctx: Ctx, arg?: unknown, opts?: { yes?: boolean }): Promise<boolean> {
  ctx.requireProject();
  const path = setPathOf(arg) ?? (await pickSet('Mnemo: Delete Results'));
  if (!path) return false;
  const set = readAnswerSet(path);
  const overruled = set.answers.filter((a) => a.verdict.overruled).length;
  if (!opts?.yes) {
    const ok = await vscode.window.showWarningMessage(
      `Delete the answers of ${set.meta.label} (${formatScore(scoreAnswerSet(set).overall)})?`,
      { modal: true, detail: `${path}${overruled ? `\n${overruled} verdict(s) you set are in it and will be lost.` : ''}\nRunning the evaluation again makes a new set.` },
      'Delete',
    );
    if (ok !== 'Delete') return false;
  }
  rmSync(path, { force: true });
  ctx.log.info(`Evaluation: deleted ${path}`);
  need().model.refresh();
  need().content.refresh(path);
  return true;
}

const ABLATION_URI = vscode.Uri.from({ scheme: 'mnemo-eval-ablation', path: '/Ablation table.md' });

/** The ablation report's read-only document. */
class AblationReportDoc implements vscode.TextDocumentContentProvider {
  private text = '';
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  set(text: string): void {
    this.text = text;
    this.changed.fire(ABLATION_URI);
  }
  provideTextDocumentContent(): string {
    return this.text;
  }
}
const ablationDoc = new AblationReportDoc();

/** "Open Ablation Table": every evaluated run and baseline side by side, sorted by the column picked (or `{sortBy}`). */
async function openAblation(ctx: Ctx, arg?: { sortBy?: string }): Promise<string | undefined> {
  const project = ctx.requireProject();
  const table = ablationTable(project, (path, message) => ctx.log.warn(`Ablation table: skipped ${path}: ${message}`));
  // Nothing to sort: say what to do instead of asking how to sort an empty table.
  if (!table.rows.length) throw new MnemoError('There are no answer sets to compare yet.', 'Run an evaluation first: "Mnemo: Run Evaluation" (the base model, a run, or an API model).');
  let key = arg?.sortBy;
  if (!key) {
    const pick = await vscode.window.showQuickPick(
      sortChoices(table).map((c) => ({ label: c.label, description: c.description, key: c.key })),
      { title: `Mnemo: Ablation table of ${table.rows.length} answer set(s): sort by…` },
    );
    if (!pick) return undefined;
    key = pick.key;
  }
  const markdown = ablationReport(table, key);
  ablationDoc.set(markdown);
  await vscode.commands.executeCommand('markdown.showPreview', ABLATION_URI);
  return markdown;
}

// ---------------------------------------------------------------------------------------------
// Verdicts from the editor

/** Which answer a verdict command is about: `{path, questionId}` (lenses, tests), else the cursor's pair in an answer set document. */
function verdictTarget(ctx: Ctx, arg: unknown, line?: unknown): { path: string; questionId: string } {
  if (arg && typeof arg === 'object' && !(arg instanceof vscode.Uri)) {
    const o = arg as { path?: unknown; questionId?: unknown };
    if (typeof o.path === 'string' && typeof o.questionId === 'string') return { path: o.path, questionId: o.questionId };
  }
  ctx.requireProject();
  const uri = arg instanceof vscode.Uri && arg.scheme === EVAL_SCHEME ? arg : undefined;
  const active = vscode.window.activeTextEditor;
  // The focused editor first (a right-click focuses the side clicked), then the one the menu named.
  const editor =
    active?.document.uri.scheme === EVAL_SCHEME && (!uri || active.document.uri.toString() === uri.toString() || !vscode.window.visibleTextEditors.some((e) => e.document.uri.toString() === uri.toString()))
      ? active
      : vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === uri?.toString());
  const docUri = editor?.document.uri ?? uri;
  if (!docUri) throw new MnemoError('This command works on an answer set.', 'Open one from the Evaluations view (or "Mnemo: Compare Answers") and put the cursor on a question.');
  const doc = need().content.rendered(docUri) ?? (need().content.provideTextDocumentContent(docUri), need().content.rendered(docUri));
  if (!doc) throw new MnemoError('This answer set could not be read.', 'Refresh the Evaluations view and open it again.');
  const at = typeof line === 'number' ? line : (editor?.selection.active.line ?? -1);
  const pair = pairAtLine(doc, at);
  if (!pair) throw new MnemoError(`Line ${at + 1} is not on an answer.`, 'Put the cursor on a question, its answer or its verdict, then run the command again.');
  return { path: doc.ref.path, questionId: pair.questionId };
}

export interface VerdictResult {
  path: string;
  questionId: string;
  verdict: Verdict;
  score: ScoreReport;
}

function setVerdict(correct: boolean | 'clear') {
  return (ctx: Ctx, arg?: unknown, line?: unknown): VerdictResult => {
    const { path, questionId } = verdictTarget(ctx, arg, line);
    const set = correct === 'clear' ? clearOverrule(path, questionId) : overrule(path, questionId, correct);
    const answer = set.answers.find((a) => a.questionId === questionId)!;
    const score = scoreAnswerSet(set);
    ctx.log.info(`Evaluation: ${correct === 'clear' ? 'cleared your verdict on' : `marked ${correct ? 'correct' : 'wrong'}:`} "${answer.question.slice(0, 80)}" in ${basename(path)}; now ${formatScore(score.overall)}`);
    need().content.refresh(path);
    need().model.refresh();
    vscode.window.setStatusBarMessage(`Mnemo: ${set.meta.label} now ${formatScore(score.overall)}`, 5000);
    return { path, questionId, verdict: answer.verdict, score };
  };
}

const commands: CommandSpec[] = [
  { id: COMMANDS.runEvaluation, run: runEvaluation },
  { id: COMMANDS.compareAnswers, run: compareAnswers },
  { id: COMMANDS.compareWith, run: compareWith },
  { id: COMMANDS.openResults, run: openResults },
  { id: COMMANDS.deleteResults, run: deleteResults },
  { id: COMMANDS.openAblation, run: openAblation },
  { id: COMMANDS.checkForgetting, run: checkForgettingCommand },
  { id: COMMANDS.markCorrect, run: setVerdict(true) },
  { id: COMMANDS.markWrong, run: setVerdict(false) },
  { id: COMMANDS.clearVerdict, run: setVerdict('clear') },
  { id: COMMANDS.cancelEvaluation, run: () => (running ? (running.abort(), true) : false) },
  {
    // For tests and scripts: `{ snapshot: true }` returns what the view then shows, expanded;
    // `{ decorationsOf: uri }` the verdict marks on the editor of that answer set document.
    id: COMMANDS.refresh,
    // `{ snapshot: true, reread: false }`: what the view shows now, without reading the files again.
    run: (_ctx, arg?: { snapshot?: boolean; reread?: boolean; decorationsOf?: string }) => {
      if (arg?.decorationsOf) return need().decorations.snapshot(vscode.Uri.parse(arg.decorationsOf));
      if (arg?.reread !== false) need().model.refresh();
      return arg?.snapshot ? need().tree.snapshot() : undefined;
    },
  },
];

export const evalFeature: Feature = {
  name: 'eval',
  commands,
  activate(ctx) {
    const model = ctx.own(new EvalModel(ctx));
    const tree = ctx.own(new EvalTreeProvider(model));
    const view = ctx.own(vscode.window.createTreeView(VIEW_ID, { treeDataProvider: tree, showCollapseAll: true }));
    const content = ctx.own(new EvalContentProvider(() => ctx.project?.root));
    ctx.own(vscode.workspace.registerTextDocumentContentProvider(EVAL_SCHEME, content));
    ctx.own(vscode.workspace.registerTextDocumentContentProvider(ABLATION_URI.scheme, ablationDoc));
    const decorations = ctx.own(new VerdictDecorations(ctx, content));
    const lenses = ctx.own(new VerdictLenses(content));
    ctx.own(vscode.languages.registerCodeLensProvider({ scheme: EVAL_SCHEME }, lenses));
    services = { model, tree, view: view as vscode.TreeView<unknown>, content, decorations };
    ctx.own({ dispose: () => (services = undefined) });
    void vscode.commands.executeCommand('setContext', RUNNING_CONTEXT_KEY, false);
  },
};
