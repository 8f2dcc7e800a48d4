/**
 * Evaluation: a hand-written question set asked of the base model, of a run's fine-tuned model
 * and of API baselines; answers graded (judge, matchers, the user's overrules), scored with
 * Wilson intervals per tag, compared question by question and run by run.
 *
 * The one API the CLI and the extension call. Storage and shapes: see types.ts.
 *
 *   loadEvalSet(path) -> EvalSet
 *   evaluate(project, { target, questions?, judge?, ... }) -> { set, path, report }   answer + grade + save
 *   regrade(project, path, { judge?, matcher? }) -> { set, report }                    grade again, overrules kept
 *   listAnswerSets(project) / readAnswerSet(path) / saveAnswerSet(project, set)
 *   overrule(path, questionId, true | false | null) / clearOverrule(path, questionId)
 *   scoreAnswerSet(set), wilson(k, n), judgeAgreement(set), formatScore(score)
 *   compareAnswerSets(a, b), answerSetToQa(set, order?), ablationTable(project), ablationMarkdown(table)
 *   answerWithApi(project, evalSet, opts), runModelEval(evalSet, spec, opts), gradeAnswerSet(set, opts)
 */
import { basename, isAbsolute, join, resolve } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { MnemoError } from '../errors';
import { OpenAiChatClient, type ChatClient } from '../generation/client';
import type { Project } from '../project';
import { answerWithApi, documentText, loadContextChunks } from './api';
import { gradeAnswerSet, gradingMode, type JudgeConfig } from './grade';
import { loadJudgePrompt } from './judge';
import { projectBaseModel, runModelEval, runModelSpec, type ModelEvalOptions } from './model';
import { forgettingEvalSet, forgettingReport, FORGETTING_MAX_NEW_TOKENS, FORGETTING_QUESTIONS_PATH, type ForgettingReport } from './forgetting';
import { projectLeaks } from './leakage';
import { openRemoteEval, type RemoteEvalOptions } from './remote';
import { loadEvalSet } from './questions';
import { scoreAnswerSet } from './score';
import { answerSetId, answerSetPath, carryOverrules, readAnswerSet, saveAnswerSet, storedPath, writeAnswerSet } from './store';
import type { AnswerRecord, AnswerSet, AnswerSetMeta, ContextMode, EvalProgress, EvalSet, ScoreReport } from './types';

export * from './types';
export { loadEvalSet, parseEvalSet, parseKeys, parseTags, questionId } from './questions';
export { formatScore, judgeAgreement, scoreAnswers, scoreAnswerSet, UNTAGGED, wilson } from './score';
export { gradeAnswer, keyFacts, keyTerms, matchAnswer, normalizeText, normalizeTokens, stripCitations } from './match';
export { checkJudgeTemplate, DEFAULT_JUDGE_PROMPT, JUDGE_PLACEHOLDERS, JUDGE_PROMPT_FILE, judgeAnswer, loadJudgePrompt, parseJudgeReply, renderJudgePrompt, type JudgeOptions, type JudgePrompt } from './judge';
export { gradeAnswerSet, gradingMode, matcherVerdict, pool, type GradeOptions, type JudgeConfig } from './grade';
export {
  answerSetId,
  answerSetPath,
  applyOverrule,
  carryOverrules,
  clearOverrule,
  listAnswerSets,
  overrule,
  readAnswerSet,
  removeOverrule,
  RESULTS_DIR,
  resultsDir,
  runEvalDir,
  saveAnswerSet,
  storedPath,
  writeAnswerSet,
} from './store';
export { ablationColumns, ablationMarkdown, ablationTable, answerSetToQa, compareAnswerSets, forgettingCell, forgettingRows } from './compare';
export { FORGETTING_MAX_NEW_TOKENS, FORGETTING_QUESTIONS_PATH, forgettingEvalSet, forgettingReport, formatForgetting, GENERAL_KNOWLEDGE_QA, type ForgettingReport } from './forgetting';
export { findLeaks, projectLeaks, readTrainingQuestions, trainingQuestions, type TrainingQuestions } from './leakage';
export { answerWithApi, apiPrompt, bm25TopK, documentText, loadContextChunks, type ApiAnswerOptions, type ContextChunk } from './api';
export { findEvalScript, projectBaseModel, runModelEval, runModelSpec, type LocalModelSpec, type ModelEvalOptions } from './model';

/** What answers: the base model, a run's fine-tuned model, or an API model (with some context). */
export type EvalTarget =
  | { kind: 'base'; model?: string; ggufFile?: string; context?: 'none' | 'document'; /** An SSH host to answer on (remote.ts); default this machine. */ host?: string }
  | { kind: 'run'; runId: string; context?: 'none' | 'document' }
  | { kind: 'api'; baseUrl: string; model: string; context?: ContextMode; topK?: number };

export interface JudgeEndpoint {
  baseUrl: string;
  model: string;
  /** From OPENAI_API_KEY or secret storage; never logged or saved. */
  apiKey?: string;
  /** A client to use instead of one made from baseUrl/apiKey. */
  client?: ChatClient;
}

export interface EvaluateOptions {
  target: EvalTarget;
  /** The eval set (a .qa file, inside the project or not); default mnemo.json eval.questions. */
  questions?: string;
  /** 'forgetting': Mnemo's general-knowledge set (forgetting.ts) instead of an eval set file. */
  set?: 'forgetting';
  /** Key of the answering API model. */
  apiKey?: string;
  /** A client for the answering API model instead of one made from the target's baseUrl. */
  answerClient?: ChatClient;
  /** The judge; without one, answers are graded by `matcher` (default mnemo.json eval.grading). */
  judge?: JudgeEndpoint;
  matcher?: 'contains' | 'exact';
  /** Options for eval.py (base and run targets). */
  local?: Omit<ModelEvalOptions, 'signal' | 'onProgress' | 'onLog'>;
  /** How to reach SSH hosts: with it, a run on an SSH host (and a base model with `host`) answers there (remote.ts). */
  remote?: RemoteEvalOptions;
  signal?: AbortSignal;
  onProgress?: (p: EvalProgress) => void;
  onLog?: (line: string) => void;
}

export interface EvaluateResult {
  evalSet: EvalSet;
  set: AnswerSet;
  /** Where the set was saved. */
  path: string;
  report: ScoreReport;
  /** Overrules carried over from the set's previous file (same question and answer text). */
  carried: number;
}

/** The eval set path of a project: an explicit path (relative to the cwd), else mnemo.json eval.questions. */
export function evalSetPath(project: Project, questions?: string): string {
  if (questions) return resolve(questions);
  return isAbsolute(project.config.eval.questions) ? project.config.eval.questions : join(project.root, project.config.eval.questions);
}

/** The judge the project is configured with (mnemo.json eval.judge), with explicit values first. */
export function resolveJudge(project: Project, override: Partial<JudgeEndpoint> = {}): JudgeEndpoint | undefined {
  const baseUrl = override.baseUrl ?? project.config.eval.judge.baseUrl ?? project.config.generation.baseUrl;
  const model = override.model ?? project.config.eval.judge.model;
  if (!model) return undefined;
  if (!baseUrl) throw new MnemoError(`The judge model "${model}" has no endpoint.`, 'Set eval.judge.baseUrl in mnemo.json (or pass --judge-base-url).');
  return { baseUrl: baseUrl.replace(/\/+$/, ''), model, apiKey: override.apiKey, client: override.client };
}

function judgeConfig(project: Project, judge: JudgeEndpoint): JudgeConfig {
  return {
    client: judge.client ?? new OpenAiChatClient({ baseUrl: judge.baseUrl, apiKey: judge.apiKey }),
    baseUrl: judge.baseUrl,
    model: judge.model,
    prompt: loadJudgePrompt(project),
    context: project.config.context,
    timeoutMs: project.config.eval.timeoutSeconds * 1000,
  };
}

function shortModel(model: string): string {
  return existsSync(model) || isAbsolute(model) ? basename(model.replace(/[\\/]+$/, '')) : model;
}

/** The run's label from its run.json ("bs 1, 9x"), when it has one. */
function runLabel(project: Project, runId: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(project.runsDir, runId, 'run.json'), 'utf8')) as { label?: string }).label;
  } catch {
    return undefined;
  }
}

/**
 * Answers the eval set with the target, grades the answers, and saves the set (replacing the
 * previous file of the same evaluation, whose overrules are carried over where the answer is the
 * same). Throws a MnemoError when nothing could be answered at all.
 */
export async function evaluate(project: Project, opts: EvaluateOptions): Promise<EvaluateResult> {
  const forgetting = opts.set === 'forgetting';
  const evalSet = forgetting ? forgettingEvalSet() : loadEvalSet(evalSetPath(project, opts.questions));
  const t = opts.target;
  const judge = opts.judge ? judgeConfig(project, opts.judge) : undefined;
  const matcher = opts.matcher ?? project.config.eval.grading;
  const base: Omit<AnswerSetMeta, 'id' | 'label' | 'kind' | 'model'> = {
    questionsPath: forgetting ? FORGETTING_QUESTIONS_PATH : storedPath(project, evalSet.path),
    questionsSha256: evalSet.sha256,
    created: new Date().toISOString(),
    grading: gradingMode({ judge, matcher }),
    ...(forgetting ? { purpose: 'forgetting' as const } : {}),
  };
  const local = forgetting ? { ...opts.local, maxNewTokens: opts.local?.maxNewTokens ?? FORGETTING_MAX_NEW_TOKENS } : opts.local;
  let meta: AnswerSetMeta;
  let answers: AnswerRecord[];
  if (t.kind === 'api') {
    const context = t.context ?? 'none';
    const topK = context === 'chunks' ? (t.topK ?? project.config.eval.topK) : undefined;
    meta = { ...base, id: '', label: `${t.model}${context === 'none' ? '' : context === 'document' ? ' + document' : ` + top ${topK} chunks`}`, kind: 'api', model: t.model, baseUrl: t.baseUrl, context, ...(topK ? { topK } : {}) };
    answers = await answerWithApi(project, evalSet, { baseUrl: t.baseUrl, model: t.model, apiKey: opts.apiKey, client: opts.answerClient, context, topK, signal: opts.signal, onProgress: opts.onProgress });
  } else {
    const remote = opts.remote ? await openRemoteEval(project, t, opts.remote) : undefined;
    const spec =
      t.kind === 'run'
        ? (remote?.spec ?? runModelSpec(project, t.runId))
        : (() => {
            const fromProject = projectBaseModel(project);
            const model = t.model ?? fromProject.model;
            if (!model) throw new MnemoError('No base model to evaluate.', 'Pass the model (--model HF-ID-or-folder), or set training.model in mnemo.json.');
            return { model, ggufFile: t.ggufFile ?? (t.model ? undefined : fromProject.ggufFile) };
          })();
    const systemPrompt = project.config.dataset.systemPrompt;
    const context = t.context ?? 'none';
    const runName = t.kind === 'run' ? runLabel(project, t.runId) : undefined;
    const label = (t.kind === 'run' ? `run ${t.runId}${runName ? ` (${runName})` : ''}` : `base ${shortModel(spec.model)}`) + (context === 'document' ? ' + document' : '') + (forgetting ? ' · general knowledge' : '');
    opts.onProgress?.({ phase: 'loading', done: 0, total: evalSet.questions.length, message: context === 'document' ? 'reading the sources' : undefined });
    const contextText = context === 'document' ? documentText(await loadContextChunks(project, opts.signal)) : undefined;
    meta = {
      ...base,
      id: '',
      label,
      kind: t.kind,
      ...(t.kind === 'run' ? { runId: t.runId, adapter: 'outputDir' in spec ? storedPath(project, (spec as { outputDir: string }).outputDir) : undefined } : {}),
      model: spec.model,
      ...(context === 'document' ? { context } : {}),
      settings: { max_new_tokens: local?.maxNewTokens ?? project.config.eval.maxNewTokens, batch_size: local?.batchSize ?? 8, device: local?.device ?? 'auto', decoding: 'greedy' },
    };
    meta.id = answerSetId(meta);
    const workDir = local?.workDir ?? join(project.cacheDir, 'eval', t.kind === 'run' ? `run-${t.runId}-${meta.id}` : meta.id);
    answers = await (remote ? remote.answer : runModelEval)(evalSet, { ...spec, systemPrompt, contextText }, {
      ...local,
      maxNewTokens: local?.maxNewTokens ?? project.config.eval.maxNewTokens,
      workDir,
      signal: opts.signal,
      onProgress: opts.onProgress,
      onLog: opts.onLog,
    });
  }
  meta.id = answerSetId(meta);
  if (!meta.adapter) delete meta.adapter;
  if (answers.length && answers.every((a) => a.error)) {
    const where = t.kind === 'api' ? ` by ${t.model} at ${t.baseUrl}` : '';
    throw new MnemoError(`No question was answered${where}: ${answers[0].error!.replace(/\.+$/, '')}.`, t.kind === 'api' ? 'Check that the server is up and serves the model (e.g. "Mnemo: Test Connection"), then run the evaluation again.' : 'See .mnemo/eval/ for eval.py\'s log, then run the evaluation again.');
  }
  const set: AnswerSet = { version: 1, meta, answers };
  if (!forgetting) markLeaks(project, set);
  await gradeAnswerSet(set, { judge, matcher, concurrency: project.config.eval.concurrency, signal: opts.signal, onProgress: opts.onProgress });
  const path = answerSetPath(project, meta);
  let previous: AnswerSet | undefined;
  if (existsSync(path)) {
    try {
      previous = readAnswerSet(path);
    } catch {
      // A damaged earlier file is replaced; it had nothing we can carry.
    }
  }
  const carried = carryOverrules(previous, set);
  saveAnswerSet(project, set);
  return { evalSet, set, path, report: scoreAnswerSet(set), carried };
}

/**
 * Flags the answers whose question near-duplicates a training question (leakage.ts): against the
 * run's own train.jsonl for a run, else the project's data/train.jsonl; nothing when neither exists.
 */
export function markLeaks(project: Project, set: AnswerSet): void {
  const { source, leaks } = projectLeaks(project, set.answers.map((a) => ({ id: a.questionId, question: a.question })), set.meta.kind === 'run' ? set.meta.runId : undefined);
  for (const a of set.answers) {
    const leak = leaks.get(a.questionId);
    if (leak) a.leak = leak;
    else delete a.leak;
  }
  if (source) set.meta.leakSource = source;
  else delete set.meta.leakSource;
}

/**
 * The `@keys:` facts of the set's questions as the eval set file says them now (edited after the
 * answers were made: regrading uses the new facts). Nothing changes when the file is gone or unreadable.
 */
function refreshKeys(project: Project, set: AnswerSet): void {
  const file = isAbsolute(set.meta.questionsPath) ? set.meta.questionsPath : join(project.root, set.meta.questionsPath);
  let keys: Map<string, string[] | undefined>;
  try {
    keys = new Map((set.meta.purpose === 'forgetting' ? forgettingEvalSet() : loadEvalSet(file)).questions.map((q) => [q.id, q.keys]));
  } catch {
    return;
  }
  for (const a of set.answers) {
    if (!keys.has(a.questionId)) continue;
    const k = keys.get(a.questionId);
    if (k) a.keys = k;
    else delete a.keys;
  }
}

/** The base model a run was trained from (its run.json config.model, a relative folder resolved against the project). */
export function runBaseModel(project: Project, runId: string): { model: string; ggufFile?: string } {
  let cfg: { model?: string; gguf_file?: string } | undefined;
  try {
    cfg = (JSON.parse(readFileSync(join(project.runsDir, runId, 'run.json'), 'utf8')) as { config?: { model?: string; gguf_file?: string } }).config;
  } catch (err) {
    throw new MnemoError(`The run record of "${runId}" cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`, 'Pick a run listed in the Runs view (its folder name under runs/).', join(project.runsDir, runId, 'run.json'));
  }
  if (!cfg?.model) throw new MnemoError(`The run "${runId}" names no base model (config.model in its run.json).`, 'Re-create the run: every run.json names its base model.');
  return { model: cfg.model.startsWith('.') ? resolve(project.root, cfg.model) : cfg.model, ...(cfg.gguf_file ? { ggufFile: cfg.gguf_file } : {}) };
}

export interface ForgettingOptions {
  /** Use the base model's saved answers to the set when they are for the same questions (default true). */
  reuseBase?: boolean;
  local?: EvaluateOptions['local'];
  signal?: AbortSignal;
  onProgress?: (p: EvalProgress & { model?: 'base' | 'run' }) => void;
  onLog?: (line: string) => void;
}

export interface ForgettingResult extends ForgettingReport {
  basePath: string;
  runPath: string;
  /** The base model's answers were read from an earlier check, not asked again. */
  baseReused: boolean;
}

/**
 * The forgetting check of a run: Mnemo's general-knowledge set asked of the run's base model
 * (saved answers reused when the questions are the same) and of the run; regressions per question.
 * Both answer sets are saved (eval/results/base-…-general-knowledge.json, runs/<id>/eval/general-knowledge.json).
 */
export async function checkForgetting(project: Project, runId: string, opts: ForgettingOptions = {}): Promise<ForgettingResult> {
  const base = runBaseModel(project, runId);
  const questions = forgettingEvalSet();
  const baseMeta = { kind: 'base' as const, model: base.model, questionsPath: FORGETTING_QUESTIONS_PATH, id: '' };
  baseMeta.id = answerSetId(baseMeta);
  const basePath = answerSetPath(project, baseMeta);
  let baseSet: AnswerSet | undefined;
  if (opts.reuseBase !== false && existsSync(basePath)) {
    try {
      const saved = readAnswerSet(basePath);
      // The same questions (an edited @keys: line aside): regraded, not asked again.
      const same = saved.answers.length === questions.questions.length && questions.questions.every((q) => saved.answers.some((a) => a.questionId === q.id));
      if (same && saved.answers.some((a) => !a.error)) {
        if (saved.meta.questionsSha256 !== questions.sha256) {
          refreshKeys(project, saved);
          await gradeAnswerSet(saved, { matcher: 'contains' });
          saved.meta.questionsSha256 = questions.sha256;
          writeAnswerSet(basePath, saved);
        }
        baseSet = saved;
      }
    } catch {
      // A damaged file is answered again.
    }
  }
  const baseReused = !!baseSet;
  if (!baseSet) {
    const r = await evaluate(project, { target: { kind: 'base', model: base.model, ggufFile: base.ggufFile }, set: 'forgetting', local: opts.local, signal: opts.signal, onLog: opts.onLog, onProgress: (p) => opts.onProgress?.({ ...p, model: 'base' }), matcher: 'contains' });
    baseSet = r.set;
  }
  const run = await evaluate(project, { target: { kind: 'run', runId }, set: 'forgetting', local: opts.local, signal: opts.signal, onLog: opts.onLog, onProgress: (p) => opts.onProgress?.({ ...p, model: 'run' }), matcher: 'contains' });
  return { ...forgettingReport(baseSet, run.set), basePath, runPath: run.path, baseReused };
}

/** Grades a saved set again (e.g. with a judge, or after editing the judge prompt); overrules stay. */
export async function regrade(
  project: Project,
  path: string,
  opts: { judge?: JudgeEndpoint; matcher?: 'contains' | 'exact'; signal?: AbortSignal; onProgress?: (p: EvalProgress) => void } = {},
): Promise<{ set: AnswerSet; report: ScoreReport }> {
  const set = readAnswerSet(path);
  if (set.meta.purpose !== 'forgetting') markLeaks(project, set);
  refreshKeys(project, set);
  const judge = opts.judge ? judgeConfig(project, opts.judge) : undefined;
  await gradeAnswerSet(set, { judge, matcher: opts.matcher ?? project.config.eval.grading, concurrency: project.config.eval.concurrency, signal: opts.signal, onProgress: opts.onProgress });
  writeAnswerSet(path, set);
  return { set, report: scoreAnswerSet(set) };
}
