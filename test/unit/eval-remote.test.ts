/**
 * Remote evaluation (src/core/eval/remote.ts): the REAL src/python/eval.py run on the test sshd
 * (127.0.0.1) through the training bridge, on a tiny model (tiny_model.py: random weights, no
 * downloads) with a LoRA adapter trained there by the real train.py. The project's .venv Python
 * is named as the host's Python. Answers equal local eval.py's; a cut connection and a killed
 * script lose and repeat nothing; deleted outputs, an unreachable host and a failing script
 * each get one clear message.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { evaluate, loadEvalSet, type EvalProgress } from '../../src/core/eval';
import { REMOTE_STATE } from '../../src/core/eval/remote';
import { MnemoError } from '../../src/core/errors';
import { Project } from '../../src/core/project';
import { startRun } from '../../src/core/training';
import type { RunRecord } from '../../src/core/training/protocol';
import { startSshd, TEST_HOST_ALIAS, type TestSshd } from '../servers/sshd';
import { cli } from './cli-run';
import { hooks } from './training-fixtures';

const REPO = resolve(__dirname, '..', '..');
const PYTHON = join(REPO, '.venv', 'bin', 'python');
const SCRIPTS = join(REPO, 'src', 'python');
const skip = !existsSync(PYTHON) && 'no .venv at the repository root (the Python tests\' venv)';
// A stand-in for a real secret: it must reach the script's environment and no file or command line.
const TOKEN = 'hf_remoteEvalTestToken0123456789';
const ENV = { OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1', HF_HUB_OFFLINE: '1', TOKENIZERS_PARALLELISM: 'false', HF_TOKEN: TOKEN };

const PAIRS: Array<[string, string]> = [
  ['In Cairnrun, how many points is a Crown worth?', '5 points.'],
  ['In Cairnrun, how long is each watch?', '30 minutes.'],
  ['In Cairnrun, how far must opponents retreat at a Free Cast?', '9 metres.'],
  ['In Cairnrun, how many substitutions may a team make?', 'Up to eight.'],
  ['In Cairnrun, what colour is the pennant shown to officials?', 'Violet.'],
  ['In Cairnrun, what is the zone around each cairn called?', 'The Still.'],
];

let sshd: TestSshd;
let work: string;
let model: string;
let project: Project;
let run: RunRecord;

const ssh = () => ({ sshConfigPath: sshd.sshConfig, knownHostsPath: sshd.knownHosts, agent: '', python: PYTHON, remoteRoot: join(sshd.dir, 'runs'), reconnect: { initialDelayMs: 200 } });
const local = { maxNewTokens: 6, batchSize: 1, device: 'cpu', env: ENV };
const remoteDir = (r: RunRecord) => (r.target as Extract<RunRecord['target'], { kind: 'ssh' }>).remoteDir;
const texts = (answers: Array<{ questionId: string; answer: string; error?: string }>) => answers.map((a) => [a.questionId, a.answer, a.error ?? null]);

function filesUnder(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name)) : [];
}

before(async () => {
  if (skip) return;
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), 'mnemo-eval-remote-'));
  model = join(work, 'tiny model');
  execFileSync(PYTHON, [join(SCRIPTS, 'tiny_model.py'), model], { stdio: 'pipe', cwd: SCRIPTS, env: { ...process.env, OMP_NUM_THREADS: '1' } });
  const root = join(work, 'project');
  mkdirSync(join(root, 'data'), { recursive: true });
  mkdirSync(join(root, 'eval'), { recursive: true });
  writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', training: { model } }));
  writeFileSync(join(root, 'data', 'train.jsonl'), PAIRS.map(([q, a]) => JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] }) + '\n').join(''));
  writeFileSync(join(root, 'eval', 'questions.qa'), PAIRS.map(([q, a]) => `Q: ${q}\nA: ${a}\n`).join('\n'));
  project = Project.load(root);
  const handle = await startRun(project, {
    target: TEST_HOST_ALIAS,
    scriptsDir: SCRIPTS,
    hooks: hooks(),
    ssh: ssh(),
    env: { OMP_NUM_THREADS: '1' },
    config: { method: 'lora', lora_r: 4, max_steps: 4, eval_steps: 0, learning_rate: 1e-2, lr_scheduler: 'constant', max_length: 64, precision: 'fp32', gradient_checkpointing: false, save_best: false, recall_file: null },
  });
  run = await handle.finished;
  assert.equal(run.state, 'done', JSON.stringify(run.error));
  assert.ok(existsSync(join(remoteDir(run), 'output', 'adapter_config.json')));
});

after(async () => {
  await sshd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

let remoteAnswers: ReturnType<typeof texts> | undefined;
/** eval.py's own "loading MODEL + adapter FOLDER" line, come over by the follower (not Mnemo's "… on mnemo-test"). */
const scriptLoading = (p: EvalProgress) => p.phase === 'loading' && /^loading .* \+ adapter \//.test(p.message ?? '');

void describe('remote evaluation through the SSH bridge', { skip }, () => {
  void test('a run on the SSH host answers there (its adapter, the real eval.py); the answers equal local eval.py on the downloaded outputs', async () => {
    const h = hooks();
    const progress: EvalProgress[] = [];
    // While eval.py runs on the host (this machine), no process's command line holds the token.
    let sawScript = false;
    const scan = () => {
      for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
        let cmd: Buffer;
        try {
          cmd = readFileSync(`/proc/${pid}/cmdline`);
        } catch {
          continue;
        }
        assert.ok(!cmd.includes(TOKEN), `the token is on the command line of ${pid}: ${cmd.toString().replace(/\0/g, ' ')}`);
        if (cmd.includes('eval.py') && cmd.includes('--questions')) sawScript = true;
      }
    };
    const r = await evaluate(project, { target: { kind: 'run', runId: run.id }, local, remote: { ssh: ssh(), hooks: h }, onProgress: (p) => (progress.push(p), scan()) });
    assert.ok(sawScript, 'eval.py was never seen running');
    const hostDir = join(remoteDir(run), 'eval', `run-${run.id}-${r.set.meta.id}`);
    // eval.py ran in the run's folder on the host, with the adapter there.
    assert.ok(existsSync(join(hostDir, 'answers.jsonl')), h.lines.join('\n'));
    assert.match(readFileSync(join(hostDir, 'eval.log'), 'utf8') + h.lines.join('\n'), /Starting eval\.py on mnemo-test/);
    const state = JSON.parse(readFileSync(join(project.cacheDir, 'eval', `run-${run.id}-${r.set.meta.id}`, REMOTE_STATE), 'utf8')) as { host: string; dir: string; pgid: number };
    assert.equal(state.host, TEST_HOST_ALIAS);
    assert.equal(state.dir, hostDir);
    // Progress came over by byte offset: the local copy is the host's file, byte for byte.
    assert.deepEqual(readFileSync(join(project.cacheDir, 'eval', `run-${run.id}-${r.set.meta.id}`, 'metrics.jsonl')), readFileSync(join(hostDir, 'metrics.jsonl')));
    assert.ok(progress.some((p) => p.phase === 'answering' && p.done === PAIRS.length));
    assert.equal(r.set.answers.length, PAIRS.length);
    assert.ok(r.set.answers.every((a) => !a.error && a.answer.length > 0), JSON.stringify(r.set.answers));
    assert.equal(r.set.meta.adapter, `runs/${run.id}/output`);
    assert.equal(r.path, join(project.runsDir, run.id, 'eval', 'questions.json'));
    remoteAnswers = texts(r.set.answers);

    // The same evaluation on this machine, from the downloaded outputs: the same greedy answers, the same AnswerSet file.
    const l = await evaluate(project, { target: { kind: 'run', runId: run.id }, local: { ...local, python: PYTHON } });
    assert.equal(l.path, r.path);
    assert.deepEqual(texts(l.set.answers), remoteAnswers);
    assert.deepEqual({ ...l.set.meta, created: '', graded: '' }, { ...r.set.meta, created: '', graded: '' });
    // The token reached eval.py's environment over stdin, never a file here or on the host.
    for (const f of [...filesUnder(hostDir), ...filesUnder(join(project.cacheDir, 'eval')), ...filesUnder(join(project.runsDir, run.id))]) {
      assert.ok(!readFileSync(f).includes(TOKEN), `the token is in ${f}`);
    }
    assert.ok(!h.lines.join('\n').includes(TOKEN));
  });

  void test('the connection cut mid-evaluation reconnects and follows on: every question answered once, the same answers', async () => {
    const h = hooks();
    let cuts = 0;
    const r = await evaluate(project, {
      target: { kind: 'run', runId: run.id },
      local,
      remote: { ssh: ssh(), hooks: h },
      onProgress: (p) => {
        // Once while the model loads (certainly mid-run), once more after the first answer if it comes in time.
        if ((cuts === 0 && scriptLoading(p)) || (cuts === 1 && p.phase === 'answering' && p.done >= 1 && p.done < p.total)) {
          if (sshd.killSessions() > 0) cuts++;
        }
      },
    });
    assert.ok(cuts >= 1, 'the connection was never cut');
    assert.ok(h.lines.some((l) => /Reconnected; following eval\.py's progress from byte \d+/.test(l)), h.lines.join('\n'));
    const hostDir = join(remoteDir(run), 'eval', `run-${run.id}-${r.set.meta.id}`);
    const hostAnswers = readFileSync(join(hostDir, 'answers.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
    assert.deepEqual(hostAnswers, r.set.answers.map((a) => a.questionId));
    assert.equal(new Set(hostAnswers).size, PAIRS.length);
    // eval.py ran once (not started again), and the local copy of its progress has every byte once.
    const metrics = readFileSync(join(hostDir, 'metrics.jsonl'), 'utf8');
    assert.equal(metrics.match(/"loading_model"/g)?.length, 1);
    assert.equal(readFileSync(join(project.cacheDir, 'eval', `run-${run.id}-${r.set.meta.id}`, 'metrics.jsonl'), 'utf8'), metrics);
    if (remoteAnswers) assert.deepEqual(texts(r.set.answers), remoteAnswers);
  });

  void test('eval.py killed on the host is started again with --resume: the answers it wrote are kept, the rest answered once', async () => {
    const h = hooks();
    let killed = false;
    const workDir = join(project.cacheDir, 'eval', `run-${run.id}-questions`);
    const ids = loadEvalSet(join(project.root, 'eval', 'questions.qa')).questions.map((q) => q.id);
    const r = await evaluate(project, {
      target: { kind: 'run', runId: run.id },
      local,
      remote: { ssh: ssh(), hooks: h },
      onProgress: (p) => {
        if (killed || !scriptLoading(p)) return;
        const state = JSON.parse(readFileSync(join(workDir, REMOTE_STATE), 'utf8')) as { dir: string; pgid: number };
        // The host's process group dies (as on a host restart) after two answers were written; synchronously,
        // so the follower sees it only afterwards.
        process.kill(-state.pgid, 'SIGKILL');
        for (let i = 0; i < 50 && existsSync(`/proc/${state.pgid}`); i++) execFileSync('sleep', ['0.1']);
        writeFileSync(join(state.dir, 'answers.jsonl'), [1, 3].map((n) => JSON.stringify({ id: ids[n], answer: `KEPT ${n}`, latency_ms: 1 }) + '\n').join('') + '{"id": "torn');
        killed = true;
      },
    });
    assert.ok(killed);
    assert.ok(h.lines.some((l) => /stopped without finishing; starting it again with --resume 1/.test(l)), h.lines.join('\n'));
    assert.equal((JSON.parse(readFileSync(join(workDir, REMOTE_STATE), 'utf8')) as { resumed: boolean }).resumed, true);
    const hostDir = join(remoteDir(run), 'eval', `run-${run.id}-${r.set.meta.id}`);
    assert.match(readFileSync(join(hostDir, 'metrics.jsonl'), 'utf8'), /resuming: 2 of 6 already answered/);
    assert.deepEqual(readFileSync(join(hostDir, 'answers.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id), ids);
    assert.deepEqual(r.set.answers.filter((a) => a.answer.startsWith('KEPT')).map((a) => a.answer), ['KEPT 1', 'KEPT 3']);
    if (remoteAnswers) assert.deepEqual(texts(r.set.answers).filter((_, i) => i !== 1 && i !== 3), remoteAnswers.filter((_, i) => i !== 1 && i !== 3));
  });

  void test('outputs deleted on the host, and an unreachable host: one message each, with what to do', async () => {
    const copy = (id: string, patch: Partial<RunRecord>) => {
      mkdirSync(join(project.runsDir, id), { recursive: true });
      writeFileSync(join(project.runsDir, id, 'run.json'), JSON.stringify({ ...run, id, ...patch }));
    };
    const gone = join(sshd.dir, 'runs', 'gone-run');
    mkdirSync(join(gone, 'output'), { recursive: true });
    copy('gone-output', { target: { ...(run.target as Extract<RunRecord['target'], { kind: 'ssh' }>), remoteDir: gone }, downloaded: false });
    await assert.rejects(
      evaluate(project, { target: { kind: 'run', runId: 'gone-output' }, local, remote: { ssh: ssh(), hooks: hooks() } }),
      (e: unknown) => e instanceof MnemoError && /^Run gone-output's outputs are gone from mnemo-test: .*gone-run\/output holds neither an adapter/.test(e.message) && /train the run again/.test(e.hint ?? ''),
    );
    copy('gone-folder', { target: { ...(run.target as Extract<RunRecord['target'], { kind: 'ssh' }>), remoteDir: join(sshd.dir, 'runs', 'never-there') } });
    mkdirSync(join(project.runsDir, 'gone-folder', 'output'), { recursive: true });
    await assert.rejects(
      evaluate(project, { target: { kind: 'run', runId: 'gone-folder' }, local, remote: { ssh: ssh(), hooks: hooks() } }),
      (e: unknown) => e instanceof MnemoError && /its folder .*never-there was deleted on the host/.test(e.message) && /downloaded: evaluate them on this machine \(`mnemo eval --run ID --local`/.test(e.hint ?? ''),
    );
    // --local (where: 'local') evaluates the downloaded outputs instead: here there are none, said as before.
    await assert.rejects(evaluate(project, { target: { kind: 'run', runId: 'gone-folder' }, local, remote: { ssh: ssh(), hooks: hooks(), where: 'local' } }), /no model on this machine/);
    copy('far-away', { target: { ...(run.target as Extract<RunRecord['target'], { kind: 'ssh' }>), host: 'nowhere', port: 1 } });
    await assert.rejects(
      evaluate(project, { target: { kind: 'run', runId: 'far-away' }, local, remote: { ssh: ssh(), hooks: hooks() } }),
      (e: unknown) => e instanceof MnemoError && /^Run far-away runs on nowhere, which cannot be reached: Nothing accepts SSH connections at 127\.0\.0\.1:1/.test(e.message) && /--local/.test(e.hint ?? ''),
    );
  });

  void test('mnemo eval --base --target HOST: the base model answers on the host as it does here; eval.py failing there shows its log tail', async () => {
    const flags = ['--ssh-config', sshd.sshConfig, '--known-hosts', sshd.knownHosts, '--python', PYTHON, '--remote-root', join(sshd.dir, 'runs'), '--max-new-tokens', '5', '--batch-size', '2', '--device', 'cpu', '--json'];
    const env = { MNEMO_PYTHON: PYTHON, SSH_AUTH_SOCK: undefined, OMP_NUM_THREADS: '1', HF_HUB_OFFLINE: '1' };
    const there = await cli(['eval', '--project', project.root, '--base', '--model', model, '--target', TEST_HOST_ALIAS, ...flags], env);
    assert.equal(there.code, 0, there.err);
    const remote = JSON.parse(there.out) as { path: string; answers: Array<{ questionId: string; answer: string }> };
    assert.ok(existsSync(join(sshd.dir, 'runs', 'eval')), 'nothing ran on the host');
    const here = await cli(['eval', '--project', project.root, '--base', '--model', model, ...flags.slice(8)], env);
    assert.equal(here.code, 0, here.err);
    const localSet = JSON.parse(here.out) as typeof remote;
    assert.equal(localSet.path, remote.path);
    assert.deepEqual(localSet.answers.map((a) => [a.questionId, a.answer]), remote.answers.map((a) => [a.questionId, a.answer]));

    const broken = await cli(['eval', '--project', project.root, '--base', '--model', join(work, 'no such model'), '--target', TEST_HOST_ALIAS, ...flags.slice(0, -1)], env);
    assert.notEqual(broken.code, 0);
    assert.match(broken.err, /eval\.py failed on mnemo-test: /);
    assert.match(broken.err, /Last lines of .*eval\.log/);
  });
});
