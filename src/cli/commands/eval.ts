import { relative, resolve } from 'node:path';
import {
  ablationMarkdown,
  ablationTable,
  checkForgetting,
  evaluate,
  formatForgetting,
  formatScore,
  judgeAgreement,
  resolveJudge,
  type ContextMode,
  type EvalProgress,
  type EvalTarget,
  type EvaluateResult,
  type ForgettingResult,
} from '../../core/eval';
import { MnemoError } from '../../core/errors';
import { isLocalUrl } from '../../core/generation';
import { Project } from '../../core/project';
import { cliHooks, sshOptions } from './train';
import type { CliCommand } from './types';

const CONTEXTS: ContextMode[] = ['none', 'document', 'chunks'];

function int(value: unknown, flag: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new MnemoError(`--${flag} ${String(value)} is not a whole number of at least ${min}.`, `Write e.g. --${flag} ${min}.`);
  return n;
}

function target(values: Record<string, unknown>): EvalTarget {
  const run = values.run as string | undefined;
  const baseUrl = values['base-url'] as string | undefined;
  const model = values.model as string | undefined;
  const chosen = [run !== undefined, !!values.base, baseUrl !== undefined].filter(Boolean).length;
  if (chosen !== 1) {
    throw new MnemoError(chosen ? 'Pick one of --run, --base and --base-url.' : 'Say what answers: --run ID, --base, or --base-url URL --model M.', 'See `npm run mnemo -- eval --help`.');
  }
  const context = values.context as string | undefined;
  if (context !== undefined && !CONTEXTS.includes(context as ContextMode)) {
    throw new MnemoError(`--context ${context} is not one of ${CONTEXTS.join(', ')}.`, 'Write --context none, document or chunks.');
  }
  if (context === 'chunks' && baseUrl === undefined) {
    throw new MnemoError('--context chunks applies to an API model (--base-url).', 'A local model (--base, --run) takes --context none or document.');
  }
  const local = context as 'none' | 'document' | undefined;
  if (run !== undefined) return { kind: 'run', runId: run, context: local };
  const host = values.target as string | undefined;
  if (host !== undefined && !values.base) throw new MnemoError('--target HOST applies to --base (a run answers on the host it lives on).', 'Write e.g. `npm run mnemo -- eval --project DIR --base --target gpu-box`.');
  if (values.base) return { kind: 'base', model, ggufFile: values['gguf-file'] as string | undefined, context: local, ...(host && host !== 'local' ? { host } : {}) };
  if (!model) throw new MnemoError('--base-url needs --model.', 'Write e.g. --base-url http://localhost:11434/v1 --model llama3.1.');
  return { kind: 'api', baseUrl: baseUrl!.replace(/\/+$/, ''), model, context: (context as ContextMode | undefined) ?? 'none', topK: int(values['top-k'], 'top-k') };
}

function progressLine(p: EvalProgress): string {
  return p.phase === 'loading' ? `${p.message ?? 'loading'}…` : `${p.phase}: ${p.done}/${p.total}${p.message && !/answered$/.test(p.message) ? ` (${p.message})` : ''}`;
}

function short(text: string, max = 70): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

function printForgetting(r: ForgettingResult, project: Project): void {
  console.log(`Forgetting check of run ${r.run.meta.runId} on Mnemo's general-knowledge set (${r.run.answers.length} questions, key-terms grade):`);
  console.log(`  base model  ${formatScore(r.before)}${r.baseReused ? '  (saved answers reused)' : ''}`);
  console.log(`  run         ${formatScore(r.after)}`);
  console.log(`  ${formatForgetting(r)}`);
  for (const q of r.regressions) console.log(`  - ${q.question} (reference: ${q.reference ?? '-'})\n      base: ${short(q.a?.answer ?? '', 100)}\n      run:  ${short(q.b?.answer ?? '', 100)}`);
  if (r.gains.length) console.log(`  (${r.gains.length} question${r.gains.length === 1 ? '' : 's'} the base model got wrong and the run right)`);
  console.log(`wrote ${relative(project.root, r.basePath)}, ${relative(project.root, r.runPath)}`);
}

function printResult(r: EvaluateResult, project: Project): void {
  const { set, report } = r;
  console.log(`${set.meta.label} on ${set.meta.questionsPath} (${set.answers.length} questions, graded by ${set.meta.grading}${set.meta.judge ? ` ${set.meta.judge.model}` : ''})`);
  const tags = Object.keys(report.byTag);
  const width = Math.max(7, ...tags.map((t) => t.length));
  for (const tag of tags) console.log(`  ${tag.padEnd(width)}  ${formatScore(report.byTag[tag])}`);
  console.log(`  ${'overall'.padEnd(width)}  ${formatScore(report.overall)}`);
  if (report.withoutLeaks) {
    console.log(`  ${'without leaked'.padEnd(width)}  ${formatScore(report.withoutLeaks)}  (${report.leaked} question${report.leaked === 1 ? '' : 's'} left out: near-duplicates of training questions in ${set.meta.leakSource})`);
    for (const a of set.answers.filter((x) => x.leak)) console.log(`  - leaked (${Math.round(a.leak!.similarity * 100)}% alike): ${short(a.question)}  ~  ${short(a.leak!.trainQuestion)}`);
  }
  const flagged = set.answers.filter((a) => a.verdict.flags?.length);
  if (flagged.length) {
    console.log(`Flagged (${flagged.length}):`);
    for (const a of flagged) console.log(`  - ${a.question.slice(0, 70)}${a.question.length > 70 ? '…' : ''}: ${a.verdict.reason ?? a.verdict.flags!.join(', ')}`);
  }
  const agreement = judgeAgreement(set);
  if (agreement.compared) console.log(`Judge agreed with your verdicts on ${agreement.agreed} of ${agreement.compared}.`);
  if (r.carried) console.log(`Kept ${r.carried} of your verdicts from the previous run of this evaluation (same answers).`);
  for (const p of r.evalSet.problems) console.log(`warning: ${r.evalSet.path}:${p.line + 1}: ${p.message}`);
  console.log(`wrote ${relative(project.root, r.path)}`);
}

export const evalCommand: CliCommand = {
  name: 'eval',
  summary: 'Evaluate: ask the eval questions of the base model, a run, or an API model; grade, score per tag, save.',
  help: [
    'npm run mnemo -- eval --project DIR [--questions FILE] [--run ID | --base [--model M] | --base-url URL --model M] [--context none|document|chunks]',
    '                 [--judge-base-url URL --judge-model M] [--grading contains|exact] [--json]',
    '                 [--top-k N] [--max-new-tokens N] [--batch-size N] [--device cpu|cuda|auto]',
    '                 [--local] [--target HOST] [--python PATH] [--ssh-config FILE] [--known-hosts FILE] [--trust-host-key SHA256:...]',
    'npm run mnemo -- eval --project DIR --forgetting (--run ID | --base [--model M]) [--json]',
    'npm run mnemo -- eval --project DIR --table [--json]',
    '',
    'Answers every question of the eval set (default mnemo.json eval.questions, eval/questions.qa; --questions takes',
    'any .qa file, inside the project or not; A lines are the reference answers, @tags: above a pair tags it):',
    '  --run ID        a run\'s fine-tuned model (runs/ID/output: its adapter on the base model, or the merged model)',
    '  --base          the base model (--model, else mnemo.json training.model); local, through src/python/eval.py',
    '                  (Python from $MNEMO_PYTHON, else Mnemo\'s venv in ~/.cache/mnemo, made once)',
    '  --base-url URL --model M   an OpenAI-compatible model, with --context none (default), document (the whole text',
    '                  of the sources) or chunks (the --top-k chunks by BM25, default mnemo.json eval.topK); a local',
    '                  model (--base, --run) takes --context document too: the ceiling, reading instead of recalling',
    'Where: a run trained on an SSH host answers ON that host (eval.py through the training bridge, in the run\'s venv;',
    '  the answers come back and are graded here); --local evaluates its downloaded outputs on this machine instead.',
    '  --base --target HOST asks the base model on HOST. --python names the host\'s Python; --ssh-config, --known-hosts',
    '  and --trust-host-key as for `mnemo train`. A dropped connection reconnects and resumes; no question is lost.',
    'Grading: the judge (--judge-model, or mnemo.json eval.judge) when one is set, else --grading (default contains:',
    'every key term of the reference in the answer). Results: runs/ID/eval/<set>.json, or eval/results/<set>.json',
    'for the base model and API models. The API key of the answering model and of the judge: OPENAI_API_KEY.',
    'Leakage: eval questions that near-duplicate a training question (the split\'s similarity; the run\'s train.jsonl,',
    'else data/train.jsonl) are flagged, and the score is also given without them.',
    '--forgetting asks Mnemo\'s general-knowledge set (55 questions the base SmolLM2-135M-Instruct answers right)',
    'instead: with --run ID, of the run\'s base model (saved answers reused) and of the run, and lists the questions',
    'the run now gets wrong (regressions); with --base, of the base model only.',
    '--table prints every evaluated run and baseline side by side (Markdown), with the forgetting check of each run.',
  ].join('\n'),
  options: {
    questions: { type: 'string' },
    run: { type: 'string' },
    base: { type: 'boolean' },
    'base-url': { type: 'string' },
    model: { type: 'string' },
    'gguf-file': { type: 'string' },
    context: { type: 'string' },
    'top-k': { type: 'string' },
    'judge-base-url': { type: 'string' },
    'judge-model': { type: 'string' },
    grading: { type: 'string' },
    'max-new-tokens': { type: 'string' },
    'batch-size': { type: 'string' },
    device: { type: 'string' },
    table: { type: 'boolean' },
    forgetting: { type: 'boolean' },
    json: { type: 'boolean' },
    local: { type: 'boolean' },
    target: { type: 'string' },
    python: { type: 'string' },
    'remote-root': { type: 'string' },
    'ssh-config': { type: 'string' },
    'known-hosts': { type: 'string' },
    'trust-host-key': { type: 'string' },
  },
  async run(values) {
    const project = Project.load(resolve(String(values.project)));
    if (values.table) {
      const table = ablationTable(project, (path, message) => console.error(`warning: skipped ${path}: ${message}`));
      if (values.json) console.log(JSON.stringify(table, null, 2));
      else console.log(table.rows.length || table.forgetting.length ? ablationMarkdown(table) : 'No evaluations yet: run `npm run mnemo -- eval --project DIR --base` (or --run ID) first.');
      return 0;
    }
    const t = target(values);
    if (values.forgetting && (t.kind === 'api' || t.context === 'document' || values.questions !== undefined)) {
      throw new MnemoError('--forgetting asks Mnemo\'s own general-knowledge set of a local model: --run ID or --base, without --questions or --context.', 'Write e.g. `npm run mnemo -- eval --project DIR --forgetting --run ID`.');
    }
    const grading = values.grading as string | undefined;
    if (grading !== undefined && grading !== 'contains' && grading !== 'exact') throw new MnemoError(`--grading ${grading} is not contains or exact.`, 'Write --grading contains (key terms) or --grading exact.');
    const apiKey = process.env.OPENAI_API_KEY;
    if (t.kind === 'api' && !apiKey && !isLocalUrl(t.baseUrl)) {
      throw new MnemoError(`${t.baseUrl} needs an API key and OPENAI_API_KEY is not set.`, 'Set it in the environment (export OPENAI_API_KEY=...).');
    }
    if (values['judge-base-url'] !== undefined && values['judge-model'] === undefined && !project.config.eval.judge.model) {
      throw new MnemoError('--judge-base-url needs --judge-model (or eval.judge.model in mnemo.json).', 'Write e.g. --judge-base-url https://api.openai.com/v1 --judge-model gpt-4o.');
    }
    const judge = resolveJudge(project, { baseUrl: values['judge-base-url'] as string | undefined, model: values['judge-model'] as string | undefined, apiKey });
    if (judge && !apiKey && !isLocalUrl(judge.baseUrl)) {
      throw new MnemoError(`The judge at ${judge.baseUrl} needs an API key and OPENAI_API_KEY is not set.`, 'Set it in the environment, or grade without a judge (leave out --judge-model).');
    }
    const ac = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      if (ac.signal.aborted) process.exit(signal === 'SIGTERM' ? 143 : 130);
      console.error(`\nCancelling (${signal}): nothing of this evaluation is saved.`);
      ac.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const tty = process.stderr.isTTY;
    let last = 0;
    const onProgress = (p: EvalProgress & { model?: 'base' | 'run' }) => {
      if (values.json) return;
      const now = Date.now();
      if (now - last < (tty ? 200 : 2000) && p.done < p.total) return;
      last = now;
      const line = `${p.model ? `${p.model}: ` : ''}${progressLine(p)}`;
      if (tty) process.stderr.write(`\r${line}      `);
      else console.error(line);
    };
    const local = { maxNewTokens: int(values['max-new-tokens'], 'max-new-tokens'), batchSize: int(values['batch-size'], 'batch-size'), device: values.device as string | undefined };
    try {
      if (values.forgetting && t.kind === 'run') {
        const f = await checkForgetting(project, t.runId, { local, signal: ac.signal, onProgress });
        if (tty && !values.json) process.stderr.write('\n');
        if (values.json) console.log(JSON.stringify({ basePath: f.basePath, runPath: f.runPath, baseReused: f.baseReused, before: f.before, after: f.after, drop: f.drop, regressions: f.regressions.map((q) => ({ questionId: q.questionId, question: q.question, reference: q.reference, base: q.a?.answer, run: q.b?.answer })), gains: f.gains.map((q) => q.questionId) }, null, 2));
        else printForgetting(f, project);
        return 0;
      }
      const r = await evaluate(project, {
        ...(values.forgetting ? { set: 'forgetting' as const } : {}),
        target: t,
        questions: values.questions as string | undefined,
        apiKey,
        judge,
        matcher: grading as 'contains' | 'exact' | undefined,
        local,
        remote: { ssh: sshOptions(values), hooks: cliHooks(values), where: values.local ? 'local' : 'host' },
        signal: ac.signal,
        onProgress,
      });
      if (tty && !values.json) process.stderr.write('\n');
      if (values.json) console.log(JSON.stringify({ path: r.path, meta: r.set.meta, report: r.report, agreement: judgeAgreement(r.set), problems: r.evalSet.problems, answers: r.set.answers }, null, 2));
      else printResult(r, project);
      return 0;
    } catch (err) {
      if (ac.signal.aborted) return 130;
      throw err;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
