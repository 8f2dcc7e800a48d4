/**
 * What the pair filters (src/core/generation/filters.ts) do to pairs that should pass and to real
 * small-model answers, on the example project (examples/cairnrun):
 *   npm run bench:filters [-- --groundedness 0.5]
 *
 * 1. The offline generator's pairs (what `generate --offline` writes), each against its own chunk.
 * 2. The hand-written eval answers (eval/questions.qa), each against the chunk it overlaps most
 *    (they carry no @chunk), with the question and the "(Rule n.n)" references as written.
 * 3. The recorded SmolLM2-135M-Instruct answers (test/fixtures/smollm2-answers.json), parsed and
 *    filtered as the sweep does, against their chunks and the built-in templates' examples.
 * Also the groundedness of the pairs that should pass, at a few thresholds, for tuning.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BUILTIN_PROMPTS, filterPairs, loadSourceChunks, offlinePairs, PairJudge, parseModelPairs, templateExamples, type GeneratedPair } from '../src/core/generation';
import { DEFAULT_FILTERS, Project } from '../src/core/project';
import { parseQa } from '../src/core/qa';
import { words } from '../src/core/qa/similarity';

const ROOT = resolve(import.meta.dirname, '..');

interface Recording {
  answers: { variant: string; temperature: number; chunk: number; raw: string; finishReason?: string }[];
}

function count(reasons: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of reasons) out[r] = (out[r] ?? 0) + 1;
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { groundedness: { type: 'string' } } });
  const filters = { ...DEFAULT_FILTERS, ...(values.groundedness ? { groundedness: Number(values.groundedness) } : {}) };
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-bench-filters-'));
  cpSync(join(ROOT, 'examples', 'cairnrun'), dir, { recursive: true });
  try {
    const project = Project.load(dir);
    const { context, keywords } = project.config;
    const [src] = await loadSourceChunks(project);
    const examples = Object.values(BUILTIN_PROMPTS).flatMap((t) => templateExamples(t, context));
    const judgeFor = (chunk: string, variant?: string) => new PairJudge({ chunk, context, keywords, examples: variant && BUILTIN_PROMPTS[variant] ? templateExamples(BUILTIN_PROMPTS[variant], context) : examples });
    const scores: number[] = [];

    // 1. Offline pairs.
    const offline: string[] = [];
    let offlineTotal = 0;
    for (const c of src.chunks) {
      const pairs = offlinePairs(c, context, keywords);
      offlineTotal += pairs.length;
      const judge = judgeFor(c.text);
      for (const p of pairs) {
        const g = judge.groundedness(p);
        if (g) scores.push(g.score);
      }
      offline.push(...filterPairs(pairs, judge, filters).dropped.map((d) => d.reason));
    }

    // 2. Hand-written eval answers against the chunk they overlap most.
    const evalFile = parseQa(readFileSync(join(dir, 'eval', 'questions.qa'), 'utf8'));
    const chunkWords = src.chunks.map((c) => new Set(words(c.text)));
    const evalDropped: { reason: string; detail?: string; question: string; chunk: number }[] = [];
    const evalScores: number[] = [];
    for (const p of evalFile.pairs.filter((x) => !x.commented && x.answer)) {
      const w = words(`${p.question} ${p.answer}`);
      let best = 0;
      let bestHits = -1;
      chunkWords.forEach((set, i) => {
        const hits = w.filter((x) => set.has(x)).length;
        if (hits > bestHits) [best, bestHits] = [i, hits];
      });
      const judge = judgeFor(src.chunks[best].text);
      const pair: GeneratedPair = { question: p.question, answer: p.answer };
      const g = judge.groundedness(pair);
      if (g) evalScores.push(g.score);
      for (const d of filterPairs([pair], judge, filters).dropped) evalDropped.push({ reason: d.reason, detail: d.detail, question: p.question, chunk: src.chunks[best].n });
    }
    const evalTotal = evalFile.pairs.filter((x) => !x.commented && x.answer).length;

    // 3. Recorded SmolLM2 answers.
    const rec = JSON.parse(readFileSync(process.env.MNEMO_SMOLLM2_FIXTURE ?? join(ROOT, 'test', 'fixtures', 'smollm2-answers.json'), 'utf8')) as Recording;
    const smol: string[] = [];
    let smolParsed = 0;
    let smolKept = 0;
    const perVariant: Record<string, Record<string, number>> = {};
    for (const a of rec.answers) {
      const parsed = parseModelPairs(a.raw, { truncated: a.finishReason === 'length' });
      smolParsed += parsed.pairs.length;
      const chunk = src.chunks.find((c) => c.n === a.chunk)!;
      const r = filterPairs(parsed.pairs, judgeFor(chunk.text, a.variant), filters);
      smolKept += r.pairs.length;
      smol.push(...r.dropped.map((d) => d.reason));
      const v = (perVariant[`${a.variant} t=${a.temperature}`] ??= {});
      for (const d of r.dropped) v[d.reason] = (v[d.reason] ?? 0) + 1;
    }

    const below = (xs: number[], t: number) => xs.filter((x) => x < t).length;
    const thresholds = [0.3, 0.4, 0.5, 0.6, 0.65, 0.7];
    const lowest = (xs: number[]) => Math.round(Math.min(...xs) * 1000) / 1000;
    console.log(`groundedness threshold ${filters.groundedness}`);
    console.log(`offline pairs: ${offlineTotal}, dropped ${offline.length}: ${JSON.stringify(count(offline))}`);
    console.log(`  groundedness below each threshold: ${thresholds.map((t) => `${t}: ${below(scores, t)}`).join(', ')}; lowest ${lowest(scores)}`);
    console.log(`eval answers: ${evalTotal}, dropped ${evalDropped.length}: ${JSON.stringify(count(evalDropped.map((d) => d.reason)))}`);
    for (const d of evalDropped) console.log(`  ${d.reason} (chunk ${d.chunk}): ${d.question} — ${d.detail ?? ''}`);
    console.log(`  groundedness below each threshold: ${thresholds.map((t) => `${t}: ${below(evalScores, t)}`).join(', ')}; lowest ${lowest(evalScores)}`);
    console.log(`SmolLM2 answers: ${rec.answers.length}, pairs parsed ${smolParsed}, kept ${smolKept}, dropped ${smol.length}: ${JSON.stringify(count(smol))}`);
    for (const [k, v] of Object.entries(perVariant)) console.log(`  ${k}: ${JSON.stringify(v)}`);
    console.log(
      JSON.stringify({
        groundedness: filters.groundedness,
        offline_pairs: offlineTotal,
        offline_dropped: offline.length,
        offline_dropped_by_reason: count(offline),
        offline_lowest_groundedness: lowest(scores),
        eval_lowest_groundedness: lowest(evalScores),
        eval_answers: evalTotal,
        eval_dropped: evalDropped.length,
        eval_dropped_by_reason: count(evalDropped.map((d) => d.reason)),
        smollm2_answers: rec.answers.length,
        smollm2_pairs: smolParsed,
        smollm2_kept: smolKept,
        smollm2_dropped_by_reason: count(smol),
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
