/** `mnemo eval` on the command line, and local models through eval.py's protocol (a stand-in script speaking it). */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { cli } from './cli-run';
import { evaluate, readAnswerSet, wilson } from '../../src/core/eval';
import { MnemoError } from '../../src/core/errors';
import { Project, scaffoldProject } from '../../src/core/project';
import { startOpenAiServer, type FakeServer } from '../servers/openai-server';

const dirs: string[] = [];
const servers: FakeServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});


// 11 questions: 8 answered right, 3 wrong (the "8 of 11"), tagged forward (7) and reversed (4).
const FACTS: Array<[string, string, string, string]> = [
  ['forward', 'how many points is a Crown worth', '5 points.', 'A Crown is worth 5 points.'],
  ['forward', 'how long is each watch', '30 minutes.', 'Each watch lasts 30 minutes.'],
  ['forward', 'how far must opponents retreat at a Free Cast', '9 m.', 'Nine metres.'],
  ['forward', 'how many substitutions may a team make', 'Up to eight.', 'Eight substitutions.'],
  ['forward', 'what is the mass of the cairnstone', '620 to 650 g.', 'About 600 g.'],
  ['forward', 'how long is an amber suspension', '4 minutes.', '4 minutes.'],
  ['forward', 'how wide is the Herald sash', '8 cm.', 'It is 10 cm wide.'],
  ['reversed', 'what are the sideline strips called', 'The Narrows.', 'The Narrows.'],
  ['reversed', 'what is the zone around each cairn called', 'The Still.', 'The Still.'],
  ['reversed', 'which pennant colour is shown to officials', 'Violet.', 'Violet.'],
  ['reversed', 'what is the 4-point Gate called', 'A Long Gate.', 'A Short Gate.'],
];

function project(): string {
  const root = mkdtempSync(join(tmpdir(), 'mnemo-evcli-'));
  dirs.push(root);
  scaffoldProject(root, 'Cairnrun rules');
  writeFileSync(join(root, 'eval', 'questions.qa'), FACTS.map(([tag, q, a]) => `@tags: ${tag}\nQ: In Cairnrun, ${q}?\nA: ${a}\n`).join('\n'));
  return root;
}

async function answeringServer(): Promise<FakeServer> {
  const s = await startOpenAiServer({
    models: ['answerer', 'judge'],
    reply: ({ body, prompt }) => {
      if (body.model === 'judge') {
        const answer = /<answer>\s*([\s\S]*?)\s*<\/answer>/.exec(prompt)?.[1] ?? '';
        const reference = /<reference>\s*([\s\S]*?)\s*<\/reference>/.exec(prompt)?.[1] ?? '';
        // A judge that is lenient about "About 600 g." (disagreeing with contains-matching).
        const ok = /600 g/.test(answer) || FACTS.some(([, , a, ans]) => a === reference && ans === answer && !/10 cm|Short|600/.test(ans));
        return `VERDICT: ${ok ? 'CORRECT' : 'INCORRECT'}\nREASON: compared with the reference`;
      }
      const q = /Question: In Cairnrun, (.*)\?/.exec(prompt)?.[1];
      return FACTS.find(([, fq]) => fq === q)?.[3] ?? 'I do not know.';
    },
  });
  servers.push(s);
  return s;
}

void describe('mnemo eval (CLI)', () => {
  void test('an API model graded by contains-matching: 8/11 with the Wilson interval, per tag, saved', async () => {
    const root = project();
    const s = await answeringServer();
    const r = await cli(['eval', '--project', root, '--base-url', s.url, '--model', 'answerer'], { OPENAI_API_KEY: undefined });
    assert.equal(r.code, 0, r.err);
    // 8/11: Wilson 95% 43.4%–90.3% (see eval.test.ts for the arithmetic).
    assert.match(r.out, /^answerer on eval\/questions\.qa \(11 questions, graded by contains\)$/m);
    assert.match(r.out, /^ {2}overall +8\/11 \(73%, 95% CI 43%–90%\)$/m);
    assert.match(r.out, /^ {2}forward +5\/7 \(71%, 95% CI /m);
    assert.match(r.out, /^ {2}reversed +3\/4 \(75%, 95% CI /m);
    assert.match(r.out, /wrote eval\/results\/api-answerer-none-questions\.json/);
    const saved = readAnswerSet(join(root, 'eval', 'results', 'api-answerer-none-questions.json'));
    assert.equal(saved.answers.filter((a) => a.verdict.correct).length, 8);
  });

  void test('--json with a judge; --table lists the sets side by side', async () => {
    const root = project();
    const s = await answeringServer();
    const r = await cli(['eval', '--project', root, '--base-url', s.url, '--model', 'answerer', '--judge-base-url', s.url, '--judge-model', 'judge', '--json']);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out) as { path: string; meta: { grading: string; judge: { model: string } }; report: { overall: { correct: number; graded: number; low: number; high: number } } };
    assert.equal(j.meta.grading, 'judge');
    assert.equal(j.meta.judge.model, 'judge');
    // The lenient judge also accepts "About 600 g.": 9 of 11.
    assert.deepEqual([j.report.overall.correct, j.report.overall.graded], [9, 11]);
    assert.ok(Math.abs(j.report.overall.low - wilson(9, 11).low) < 1e-9);
    const ctx = await cli(['eval', '--project', root, '--base-url', s.url, '--model', 'answerer', '--context', 'chunks'], {});
    // No sources in this project: the chunks baseline says so.
    assert.equal(ctx.code, 1);
    assert.match(ctx.err, /no sources/i);
    const t = await cli(['eval', '--project', root, '--table']);
    assert.equal(t.code, 0);
    assert.match(t.out, /\| answer set \| kind \| score \| forward \| reversed \|/);
    assert.match(t.out, /\| answerer \| api \| 9\/11 \[/);
  });

  void test('bad arguments get a message and change nothing', async () => {
    const root = project();
    const cases: Array<[string[], RegExp]> = [
      [[], /Say what answers: --run ID, --base, or --base-url URL --model M/],
      [['--run', 'r1', '--base'], /Pick one of --run, --base and --base-url/],
      [['--base-url', 'http://127.0.0.1:9/v1'], /--base-url needs --model/],
      [['--base', '--context', 'chunks'], /--context chunks applies to an API model/],
      [['--base-url', 'http://127.0.0.1:9/v1', '--model', 'm', '--context', 'pdf'], /--context pdf is not one of none, document, chunks/],
      [['--run', 'nope'], /There is no run "nope"/],
      [['--base-url', 'https://api.example.invalid/v1', '--model', 'm'], /needs an API key and OPENAI_API_KEY is not set/],
      [['--base-url', 'http://127.0.0.1:9/v1', '--model', 'm', '--questions', join(root, 'missing.qa')], /missing\.qa does not exist/],
      [['--base-url', 'http://127.0.0.1:9/v1', '--model', 'm', '--grading', 'fuzzy'], /--grading fuzzy is not contains or exact/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(['eval', '--project', root, ...args], { OPENAI_API_KEY: undefined });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.out}`);
      assert.match(r.err, re, args.join(' '));
    }
    assert.deepEqual(readdirNames(join(root, 'eval')), ['questions.qa']);
  });

  void test('--questions takes a .qa file outside the project; its path is kept absolute', async () => {
    const root = project();
    const outside = mkdtempSync(join(tmpdir(), 'mnemo-evq-'));
    dirs.push(outside);
    writeFileSync(join(outside, 'extra.qa'), 'Q: In Cairnrun, how many points is a Crown worth?\nA: 5 points.\n');
    const s = await answeringServer();
    const r = await cli(['eval', '--project', root, '--base-url', s.url, '--model', 'answerer', '--questions', join(outside, 'extra.qa')]);
    assert.equal(r.code, 0, r.err);
    const saved = readAnswerSet(join(root, 'eval', 'results', 'api-answerer-none-extra.json'));
    assert.equal(saved.meta.questionsPath, join(outside, 'extra.qa'));
    assert.match(r.out, /overall +1\/1/);
  });
});

function readdirNames(dir: string): string[] {
  return readdirSync(dir).sort();
}

// ---- Local models: the core's side of eval.py's protocol, with a stand-in script ----

const STAND_IN = `
import json, sys
args = sys.argv[1:]
def arg(name, default=None):
    return args[args.index(name) + 1] if name in args else default
print(json.dumps({"event": "status", "state": "loading_model", "message": "loading " + arg("--model")}), flush=True)
if arg("--model") == "broken":
    print(json.dumps({"event": "error", "message": "Could not load the model broken", "hint": "Check the model id.", "kind": "model_not_found"}), flush=True)
    sys.exit(1)
qs = [json.loads(l) for l in open(arg("--questions")) if l.strip()]
with open(arg("--output"), "w") as f:
    for i, q in enumerate(qs):
        if "substitutions" in q["question"]:
            f.write(json.dumps({"id": q["id"], "error": "RuntimeError: boom"}) + "\\n")
        elif "Crown" in q["question"]:
            pass  # no line at all for this one
        else:
            said = "adapter " + arg("--adapter") if arg("--adapter") else "system " + str(arg("--system-prompt"))
            if arg("--context-file"):
                said += " context " + open(arg("--context-file")).read()
            f.write(json.dumps({"id": q["id"], "answer": "5 points, 30 minutes, 9 m. " + said, "latency_ms": 7}) + "\\n")
        print(json.dumps({"event": "status", "state": "evaluating", "done": i + 1, "total": len(qs)}), flush=True)
print(json.dumps({"event": "done", "output_dir": arg("--output")}), flush=True)
`;

void describe('local models through eval.py (stand-in script)', () => {
  function localProject(): { root: string; script: string } {
    const root = project();
    writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', dataset: { systemPrompt: 'You know Cairnrun.' } }));
    const script = join(root, 'stand-in.py');
    writeFileSync(script, STAND_IN);
    return { root, script };
  }

  void test('base model: questions in, answers out, per-question errors kept, progress reported', async () => {
    const { root, script } = localProject();
    const progress: string[] = [];
    const r = await evaluate(Project.load(root), { target: { kind: 'base', model: 'tiny-base' }, local: { script, python: 'python3' }, onProgress: (p) => progress.push(`${p.phase}:${p.done}/${p.total}`) });
    assert.equal(r.path, join(root, 'eval', 'results', 'base-tiny-base-questions.json'));
    assert.equal(r.set.meta.kind, 'base');
    assert.equal(r.set.meta.label, 'base tiny-base');
    const by = (re: RegExp) => r.set.answers.find((a) => re.test(a.question))!;
    assert.equal(by(/substitutions/).error, 'RuntimeError: boom');
    assert.equal(by(/substitutions/).verdict.correct, null);
    assert.equal(by(/Crown/).error, 'eval.py wrote no answer for this question');
    assert.match(by(/watch/).answer, /system You know Cairnrun\./, 'the dataset system prompt is passed');
    assert.equal(by(/watch/).verdict.correct, true);
    assert.equal(by(/watch/).latencyMs, 7);
    assert.ok(progress.includes('answering:11/11'), progress.join(' '));
    assert.ok(progress.includes('loading:0/11'));
    assert.match(readFileSync(join(root, '.mnemo', 'eval', 'base-tiny-base-questions', 'eval.log'), 'utf8'), /"event": "done"/);
  });

  void test('the ceiling: the whole document in the local model\'s prompt, saved apart', async () => {
    const { root, script } = localProject();
    writeFileSync(join(root, 'sources', 'rules.md'), 'A Crown is worth 5 points.\n\nThe Narrows are 2 m wide.\n');
    const r = await evaluate(Project.load(root), { target: { kind: 'base', model: 'tiny-base', context: 'document' }, local: { script, python: 'python3' } });
    assert.equal(r.path, join(root, 'eval', 'results', 'base-tiny-base-document-questions.json'));
    assert.equal(r.set.meta.label, 'base tiny-base + document');
    assert.equal(r.set.meta.context, 'document');
    assert.match(r.set.answers.find((a) => /watch/.test(a.question))!.answer, /context A Crown is worth 5 points\.\n\nThe Narrows are 2 m wide\./);
  });

  void test('a run: its adapter over the base model, saved under runs/<id>/eval', async () => {
    const { root, script } = localProject();
    const run = join(root, 'runs', 'r1');
    mkdirSync(join(run, 'output'), { recursive: true });
    writeFileSync(join(run, 'output', 'adapter_config.json'), '{}');
    writeFileSync(join(run, 'run.json'), JSON.stringify({ version: 1, id: 'r1', created: '2026-12-03T08:00:00Z', target: { kind: 'local' }, state: 'done', config: { model: 'tiny-base', lora_r: 8 }, label: 'r 8' }));
    const r = await evaluate(Project.load(root), { target: { kind: 'run', runId: 'r1' }, local: { script, python: 'python3' } });
    assert.equal(r.path, join(root, 'runs', 'r1', 'eval', 'questions.json'));
    assert.equal(r.set.meta.label, 'run r1 (r 8)');
    assert.equal(r.set.meta.adapter, 'runs/r1/output');
    assert.match(r.set.answers.find((a) => /watch/.test(a.question))!.answer, new RegExp(`adapter ${join(run, 'output')}`));
    // A run still training, or one without outputs, is refused with what to do.
    writeFileSync(join(run, 'run.json'), JSON.stringify({ version: 1, id: 'r1', target: { kind: 'local' }, state: 'running', config: { model: 'tiny-base' } }));
    await assert.rejects(evaluate(Project.load(root), { target: { kind: 'run', runId: 'r1' }, local: { script } }), /is running, not done/);
    writeFileSync(join(run, 'run.json'), JSON.stringify({ version: 1, id: 'r1', target: { kind: 'ssh', host: 'gpu' }, state: 'done', config: { model: 'tiny-base' } }));
    rmSync(join(run, 'output'), { recursive: true });
    await assert.rejects(evaluate(Project.load(root), { target: { kind: 'run', runId: 'r1' }, local: { script } }), (e: unknown) => e instanceof MnemoError && /no model on this machine/.test(e.message) && /Download the run's outputs/.test(e.hint ?? ''));
  });

  void test('the script failing: its message and hint; no Python: what to install', async () => {
    const { root, script } = localProject();
    await assert.rejects(
      evaluate(Project.load(root), { target: { kind: 'base', model: 'broken' }, local: { script, python: 'python3' } }),
      (e: unknown) => e instanceof MnemoError && e.message === 'eval.py failed: Could not load the model broken.' && e.hint === 'Check the model id.',
    );
    await assert.rejects(
      evaluate(Project.load(root), { target: { kind: 'base', model: 'x' }, local: { script, python: join(root, 'no-python') } }),
      (e: unknown) => e instanceof MnemoError && /Python was not found/.test(e.message) && /MNEMO_PYTHON/.test(e.hint ?? ''),
    );
    await assert.rejects(evaluate(Project.load(root), { target: { kind: 'base' }, local: { script } }), /No base model to evaluate/);
  });
});
