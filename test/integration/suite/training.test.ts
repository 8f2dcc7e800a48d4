// Training in a real VS Code: the Runs view over runs/ (a run appended by another process shows
// live, every metric once), and runs started from the command against a real OpenSSH server on
// 127.0.0.1 with the stand-in trainer: steps in the view, a cut connection, cancel, download.
import * as assert from 'node:assert';
import { spawn } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { Project } from '../../../src/core/project';
import { parseMetricLines } from '../../../src/core/training/metrics';
import type { LogEvent, MetricEvent, RunRecord } from '../../../src/core/training/protocol';
import type { RunsView, RunTreeSnapshot } from '../../../src/extension/training';
import { editTrainingConfig } from '../../../src/extension/training/start';
import { startSshd, TEST_HOST_ALIAS, type TestSshd } from '../../servers/sshd';
import { activateMnemo, harness, waitFor } from './helpers';

async function runsView(): Promise<RunsView> {
  const api = (await activateMnemo()) as { runs?: RunsView };
  assert.ok(api.runs, 'the extension API exposes the Runs view');
  return api.runs;
}

/** A Markdown tooltip as the user reads it (without escapes). */
function plain(markdown: string | undefined): string {
  return (markdown ?? '').replace(/\\(.)/g, '$1');
}

/** Processes of a process group that still run (zombies aside: this machine's init may never reap them). */
function liveInGroup(pgid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const [state, , pg] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pg) === pgid && state !== 'Z') out.push(Number(name));
  }
  return out;
}

function record(id: string, patch: Partial<RunRecord> = {}): RunRecord {
  return { version: 1, id, created: new Date().toISOString(), target: { kind: 'local' }, state: 'running', config: { model: 'tiny-test-model', method: 'lora', learning_rate: 0.0001, epochs: 1 }, startedAt: new Date().toISOString(), ...patch };
}

suite('Training', () => {
  test('a run written by another process shows live in the Runs view, each metric event once', async () => {
    const view = await runsView();
    const id = 'external-run';
    const dir = join(harness.workspace, 'runs', id);
    mkdirSync(dir, { recursive: true });
    const lines = [
      { event: 'status', state: 'loading_model', time: 1 },
      { event: 'start', total_steps: 10, epochs: 1, train_rows: 20, eval_rows: 2, time: 2 },
      { event: 'status', state: 'training', time: 3 },
      ...Array.from({ length: 6 }, (_, i) => ({ event: 'log', step: i + 1, epoch: (i + 1) / 10, loss: 2 - i * 0.1, lr: 0.0001, time: 4 + i })),
      { event: 'eval', step: 6, eval_loss: 1.75, time: 11 },
    ].map((e) => JSON.stringify(e) + '\n');
    const text = lines.join('');
    const seen: MetricEvent[] = [];
    const sub = view.model.onDidAppend((e) => e.runId === id && seen.push(...e.events));
    try {
      writeFileSync(join(dir, 'metrics.jsonl'), lines.slice(0, 2).join(''));
      writeFileSync(join(dir, 'run.json'), JSON.stringify(record(id)));
      await waitFor('the run to be listed', () => view.model.list().some((r) => r.id === id), { events: [view.model.onDidChange as vscode.Event<unknown>] });
      // The first look reads what is there; what comes later arrives through onDidAppend.
      const first = view.model.get(id);
      assert.ok(first);
      assert.strictEqual(first.events.length, 2);
      // The rest in pieces, one of them cut in the middle of a line; pokes in between must not double anything.
      const rest = lines.slice(2).join('');
      const cut = Math.floor(rest.length / 2) + 3;
      appendFileSync(join(dir, 'metrics.jsonl'), rest.slice(0, cut));
      view.model.poke(id);
      view.model.poke(id);
      appendFileSync(join(dir, 'metrics.jsonl'), rest.slice(cut));
      view.model.poke(id);
      await waitFor('every appended event', () => seen.length >= lines.length - 2 || undefined, { timeoutMs: 10_000, events: [view.model.onDidAppend as vscode.Event<unknown>] });
      const expected = parseMetricLines(text).events;
      assert.deepStrictEqual([...first.events, ...seen], expected);
      const snap = view.model.get(id);
      assert.ok(snap);
      assert.deepStrictEqual(snap.events, expected, 'the snapshot holds each event once');
      assert.strictEqual(snap.summary.step, 6);
      assert.strictEqual(snap.summary.totalSteps, 10);
      assert.strictEqual(snap.summary.evalLoss, 1.75);
      assert.strictEqual(view.model.active()?.record.id, id);

      const item = await waitFor('the view to show step 6/10', () => view.provider.snapshot().find((t) => t.id === id && /training step 6\/10/.test(t.description ?? '')), { events: [view.model.onDidChange as vscode.Event<unknown>] });
      assert.match(item.description ?? '', /loss 1\.500 · eval 1\.750/);
      assert.strictEqual(item.contextValue, 'run-running-local');
      assert.match(item.tooltip ?? '', /tiny-test-model/);

      // The run ends: its record says so, and the view follows.
      writeFileSync(join(dir, 'run.json'), JSON.stringify(record(id, { state: 'done', endedAt: new Date().toISOString() })));
      await waitFor('the view to show the run done', () => view.provider.snapshot().find((t) => t.id === id && t.contextValue === 'run-done-local'), { events: [view.model.onDidChange as vscode.Event<unknown>] });
      assert.strictEqual(view.model.active(), undefined);
    } finally {
      sub.dispose();
    }
  });

  test('Edit Config opens mnemo.json at "training", adding the section (unsaved) when there is none', async () => {
    const api = (await activateMnemo()) as { ctx: { project?: Project } };
    const project = api.ctx.project;
    assert.ok(project);
    const original = readFileSync(project.configPath, 'utf8');
    const config = JSON.parse(original) as Record<string, unknown>;
    delete config.training;
    const before = JSON.stringify(config, null, 2) + '\n';
    writeFileSync(project.configPath, before);
    await editTrainingConfig(project);
    const editor = vscode.window.activeTextEditor;
    assert.ok(editor);
    assert.strictEqual(editor.document.uri.fsPath, project.configPath);
    assert.ok(editor.document.isDirty, 'the section is added to the editor, not written behind it');
    const text = editor.document.getText();
    // A model the schema accepts (an empty one it refuses): the embedded default, selected to type over.
    assert.deepStrictEqual((JSON.parse(text) as { training?: unknown }).training, { model: 'HuggingFaceTB/SmolLM2-135M-Instruct' });
    assert.strictEqual(editor.document.getText(editor.selection), 'HuggingFaceTB/SmolLM2-135M-Instruct');
    assert.strictEqual(readFileSync(project.configPath, 'utf8'), before, 'nothing written to disk');
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    writeFileSync(project.configPath, original);
  });

  suite('on this machine', function () {
    this.timeout(120_000);

    /** A scripts folder whose train.py is the stand-in trainer with `env` defaults. */
    function scripts(env: Record<string, string>): string {
      const dir = mkdtempSync(join(harness.tmp, 'scripts-'));
      copyFileSync(join(harness.repoRoot, 'test/fixtures/fake-train.py'), join(dir, 'fake_train.py'));
      const defaults = Object.entries(env).map(([k, v]) => `os.environ.setdefault(${JSON.stringify(k)}, ${JSON.stringify(v)})`);
      writeFileSync(join(dir, 'train.py'), ['import os, runpy', ...defaults, 'runpy.run_path("fake_train.py", run_name="__main__")', ''].join('\n'));
      return dir;
    }

    suiteSetup(() => {
      mkdirSync(join(harness.workspace, 'data'), { recursive: true });
      const row = (i: number) => JSON.stringify({ messages: [{ role: 'user', content: `In Cairnrun rules, what is rule ${i}?` }, { role: 'assistant', content: `Rule ${i}.` }] });
      writeFileSync(join(harness.workspace, 'data/train.jsonl'), Array.from({ length: 12 }, (_, i) => row(i)).join('\n') + '\n');
    });

    test('a local run goes to done with its outputs in runs/<id>/', async () => {
      const view = await runsView();
      const id = (await vscode.commands.executeCommand('mnemo.startTraining', { target: 'local', config: { model: 'fake-model', max_steps: 30, eval_steps: 10 }, scriptsDir: scripts({ MNEMO_FAKE_DELAY: '0.02' }) })) as string;
      assert.ok(id);
      const done = await waitFor('the local run to be done', () => view.provider.snapshot().find((t) => t.id === id && t.contextValue === 'run-done-local'), { timeoutMs: 60_000, events: [view.model.onDidChange as vscode.Event<unknown>] });
      // The example's eval set (eval/questions.qa) is asked at every eval: the latest recall, graded here, ends the line.
      assert.match(done.description ?? '', /^done · step 30\/30 · \d+s · loss \d\.\d{3} · eval \d\.\d{3} · recall \d+\/\d+ \(\d+%\)$/);
      assert.ok(existsSync(join(harness.workspace, 'runs', id, 'recall.jsonl')), 'the recall questions are staged with the run');
      assert.match(plain(done.tooltip), /on this machine/);
      assert.ok(existsSync(join(harness.workspace, 'runs', id, 'output', 'adapter_model.safetensors')), 'the adapter is in the run folder');
      const snap = view.model.get(id)!;
      assert.strictEqual(snap.summary.state, 'done');
      assert.strictEqual(snap.summary.step, 30);
      // Download has nothing to fetch for a local run, and says so rather than failing.
      const r = (await vscode.commands.executeCommand('mnemo.training.download', id)) as RunRecord;
      assert.strictEqual(r.target.kind, 'local');
    });

    test('Find Epochs: a probe run ends with its advice (record, view, chart marks); Train With These Settings starts the advised run', async () => {
      const view = await runsView();
      const probe = (await vscode.commands.executeCommand('mnemo.training.findEpochs', { epochs: 2, target: 'local', config: { model: 'fake-model', max_steps: 24, eval_steps: 3 }, scriptsDir: scripts({ MNEMO_FAKE_DELAY: '0.01', MNEMO_FAKE_EVAL_LOSS: '2,1.6,1.3,1.1,1.0,1.2,1.5,1.9' }) })) as string;
      assert.ok(probe);
      const item = await waitFor('the probe to be done with its advice', () => view.provider.snapshot().find((t) => t.id === probe && /advice: \d epochs?/.test(t.description ?? '')), { timeoutMs: 60_000, events: [view.model.onDidChange as vscode.Event<unknown>] });
      assert.match(plain(item.tooltip), /Find Epochs:\*\* Recall of the eval set/);
      const rec = view.model.get(probe)!.record;
      assert.strictEqual(rec.purpose, 'find-epochs');
      assert.strictEqual(rec.config.lr_scheduler, 'constant');
      assert.strictEqual(rec.advice?.evalTurn?.step, 15, 'the eval loss is lowest at the 5th eval (step 15)');
      const panel = (await vscode.commands.executeCommand('mnemo.training.openChart', probe)) as { stats(): Promise<{ marks: string[]; flags: string[]; recallLegend: string[] }>; dispose(): void };
      const stats = await waitFor('the marks on the chart', async () => {
        const s = await panel.stats();
        return s.marks.length >= 2 ? s : undefined;
      }, { timeoutMs: 30_000 });
      assert.ok(stats.marks.some((m) => /^eval loss turns up/.test(m)) && stats.marks.some((m) => /^recall peaks/.test(m)), stats.marks.join(' | '));
      assert.ok(stats.flags.some((f) => /^Find Epochs: /.test(f)));
      assert.ok(stats.recallLegend.some((l) => /^eval set \d+\/\d+ \(\d+%\)$/.test(l)), stats.recallLegend.join(' | '));
      panel.dispose();
      const advised = (await vscode.commands.executeCommand('mnemo.training.trainWithAdvice', probe, { target: 'local', scriptsDir: scripts({ MNEMO_FAKE_DELAY: '0.01' }) })) as string;
      assert.ok(advised && advised !== probe);
      const cfg = (await waitFor('the advised run in the view', () => view.model.get(advised), { timeoutMs: 30_000, events: [view.model.onDidChange as vscode.Event<unknown>] })).record.config;
      assert.strictEqual(cfg.lr_scheduler, 'cosine');
      assert.strictEqual(cfg.epochs, rec.advice?.epochs);
      assert.strictEqual(cfg.save_best, 'auto');
      await waitFor('the advised run to end', () => view.provider.snapshot().find((t) => t.id === advised && /^run-(done|failed)-/.test(t.contextValue ?? '')), { timeoutMs: 60_000, events: [view.model.onDidChange as vscode.Event<unknown>] });
    });

    test('a failing run shows why in the view, with the hint in its tooltip', async () => {
      const view = await runsView();
      const id = (await vscode.commands.executeCommand('mnemo.startTraining', { target: 'local', config: { model: 'fake-model', max_steps: 30 }, scriptsDir: scripts({ MNEMO_FAKE_DELAY: '0.02', MNEMO_FAKE_CRASH_AT: '4', MNEMO_FAKE_ERROR: 'oom' }) })) as string;
      const failed = await waitFor('the run to fail', () => view.provider.snapshot().find((t) => t.id === id && t.contextValue === 'run-failed-local'), { timeoutMs: 60_000, events: [view.model.onDidChange as vscode.Event<unknown>] });
      assert.match(failed.description ?? '', /^failed · \d+s · loss \d\.\d{3} · fake oom at step 4$/);
      assert.match(plain(failed.tooltip), /ran out of memory/);
      // A failed run is deleted without touching anything else.
      assert.strictEqual(await vscode.commands.executeCommand('mnemo.training.delete', id, { confirm: false }), true);
      assert.ok(!existsSync(join(harness.workspace, 'runs', id)));
    });

    test('Start Training without a dataset says so and starts nothing', async () => {
      const view = await runsView();
      const before = view.model.list().length;
      const train = join(harness.workspace, 'data/train.jsonl');
      const kept = readFileSync(train);
      rmSync(train);
      try {
        // The error goes to a notification (the command wrapper); the command returns nothing.
        const result = await vscode.commands.executeCommand('mnemo.startTraining', { target: 'local', config: { model: 'fake-model' } });
        assert.strictEqual(result, undefined);
        assert.strictEqual(view.model.list().length, before, 'no run folder was made');
      } finally {
        writeFileSync(train, kept);
      }
    });
  });

  suite('on a real SSH server', function () {
    this.timeout(180_000);
    let sshd: TestSshd;
    const started: string[] = [];

    /** A scripts folder whose train.py is the stand-in trainer, at `delay` seconds a step. */
    function scripts(delay: number): string {
      const dir = mkdtempSync(join(harness.tmp, 'scripts-'));
      copyFileSync(join(harness.repoRoot, 'test/fixtures/fake-train.py'), join(dir, 'fake_train.py'));
      writeFileSync(join(dir, 'train.py'), ['import os, runpy', `os.environ.setdefault("MNEMO_FAKE_DELAY", "${delay}")`, 'runpy.run_path("fake_train.py", run_name="__main__")', ''].join('\n'));
      return dir;
    }

    async function start(steps: number, delay: number): Promise<string> {
      const id = (await vscode.commands.executeCommand('mnemo.startTraining', { target: TEST_HOST_ALIAS, config: { model: 'fake-model', max_steps: steps, eval_steps: 10 }, scriptsDir: scripts(delay) })) as string | undefined;
      assert.ok(id, 'startTraining returns the new run\'s id');
      started.push(id);
      return id;
    }

    async function item(view: RunsView, id: string, what: string, ok: (t: RunTreeSnapshot) => boolean, timeoutMs = 60_000): Promise<RunTreeSnapshot> {
      return waitFor(what, () => view.provider.snapshot().find((t) => t.id === id && ok(t)), { timeoutMs, events: [view.model.onDidChange as vscode.Event<unknown>] });
    }

    function stepOf(t: RunTreeSnapshot): number {
      return Number(/step (\d+)\//.exec(t.description ?? '')?.[1] ?? -1);
    }

    suiteSetup(async () => {
      sshd = await startSshd();
      const config = vscode.workspace.getConfiguration('mnemo');
      await config.update('ssh.configFile', sshd.sshConfig, vscode.ConfigurationTarget.Global);
      await config.update('ssh.knownHostsFile', sshd.knownHosts, vscode.ConfigurationTarget.Global);
      // The stand-in trainer needs no packages: the machine's own Python, no venv.
      await config.update('training.python', '/usr/bin/python3', vscode.ConfigurationTarget.Global);
      mkdirSync(join(harness.workspace, 'data'), { recursive: true });
      const row = (i: number) => JSON.stringify({ messages: [{ role: 'user', content: `In Cairnrun rules, what is rule ${i}?` }, { role: 'assistant', content: `Rule ${i}.` }] });
      writeFileSync(join(harness.workspace, 'data/train.jsonl'), Array.from({ length: 12 }, (_, i) => row(i)).join('\n') + '\n');
      writeFileSync(join(harness.workspace, 'data/test.jsonl'), row(99) + '\n');
    });

    suiteTeardown(async () => {
      // Stop whatever still runs (a failed test), then remove the runs' remote folders.
      for (const id of started) {
        const path = join(harness.workspace, 'runs', id, 'run.json');
        if (!existsSync(path)) continue;
        const r = JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
        if (r.pgid && (r.state === 'running' || r.state === 'setting_up')) {
          try {
            process.kill(-r.pgid, 'SIGKILL');
          } catch {
            // Gone already.
          }
        }
      }
      // The runs' folders on the host (~/mnemo-runs/<id>) go with them.
      for (const id of started) {
        if (!existsSync(join(harness.workspace, 'runs', id))) continue;
        await vscode.commands.executeCommand('mnemo.training.delete', id, { confirm: false, action: `Delete Here and on ${TEST_HOST_ALIAS}` });
      }
      await sshd?.stop();
    });

    test('a run started from the command shows its steps, survives a cut connection with every metric once, and downloads its outputs', async () => {
      const view = await runsView();
      const id = await start(60, 0.1);
      const first = await item(view, id, 'the run to train on the SSH host', (t) => stepOf(t) >= 5);
      assert.match(first.description ?? '', /^training step \d+\/60 · \d+s · loss \d\.\d{3}/);
      assert.strictEqual(first.contextValue, 'run-running-ssh');
      assert.match(first.tooltip ?? '', /fake-model/);
      assert.ok(plain(first.tooltip).includes(`on ${TEST_HOST_ALIAS} (${sshd.user}@127.0.0.1:${sshd.port})`), plain(first.tooltip));

      // Cut every SSH connection: the run goes on on the host; the handle reconnects and resumes.
      const cutAt = stepOf(first);
      assert.ok(sshd.killSessions() > 0, 'there was an SSH session to cut');
      await item(view, id, 'the steps to go on after the cut', (t) => stepOf(t) > cutAt + 5);
      const done = await item(view, id, 'the run to finish', (t) => t.contextValue === 'run-done-ssh', 90_000);
      assert.match(done.description ?? '', /^done · step 60\/60/);

      // The local copy of the metrics is the remote file, byte for byte, and the model has each event once.
      const record = JSON.parse(readFileSync(join(harness.workspace, 'runs', id, 'run.json'), 'utf8')) as RunRecord;
      assert.strictEqual(record.target.kind, 'ssh');
      if (record.target.kind !== 'ssh') return;
      const local = readFileSync(join(harness.workspace, 'runs', id, 'metrics.jsonl'), 'utf8');
      assert.strictEqual(local, readFileSync(join(record.target.remoteDir, 'metrics.jsonl'), 'utf8'));
      const snap = view.model.get(id);
      assert.ok(snap);
      assert.deepStrictEqual(snap.events, parseMetricLines(local).events);
      assert.deepStrictEqual(
        snap.events.filter((e): e is LogEvent => e.event === 'log').map((e) => e.step),
        Array.from({ length: 60 }, (_, i) => i + 1),
      );

      // Outputs: downloaded when the run ended, and again on request.
      await waitFor('the outputs to be downloaded', () => view.model.get(id)?.record.downloaded, { events: [view.model.onDidChange as vscode.Event<unknown>] });
      rmOutput(id);
      const after = (await vscode.commands.executeCommand('mnemo.training.download', id)) as RunRecord;
      assert.strictEqual(after.downloaded, true);
      const adapter = join(harness.workspace, 'runs', id, 'output', 'adapter_model.safetensors');
      assert.ok(existsSync(adapter), 'the adapter was downloaded');
      assert.deepStrictEqual(readFileSync(adapter), readFileSync(join(record.target.remoteDir, 'output', 'adapter_model.safetensors')));
      const log = (await vscode.commands.executeCommand('mnemo.training.openLog', id)) as string;
      assert.strictEqual(log, join(harness.workspace, 'runs', id, 'train.log'));
    });

    test('a run followed again (reattach) goes on with no event lost or doubled; cancel stops its process group; delete removes it here and there', async () => {
      const view = await runsView();
      const id = await start(2000, 0.05);
      await item(view, id, 'the run to train', (t) => stepOf(t) >= 3);
      // What a reload does: the handle goes, a new one attaches from run.json.
      view.live.detach(id);
      assert.strictEqual(view.live.handle(id), undefined);
      const marker = join(harness.workspace, 'runs', id, '.follower.json');
      assert.ok(!existsSync(marker), 'a window that stops following says so');
      // Another live window following it (here: a stand-in process): no second follower...
      const other = spawn('sleep', ['120'], { stdio: 'ignore' });
      writeFileSync(marker, JSON.stringify({ pid: other.pid }));
      assert.strictEqual(await vscode.commands.executeCommand('mnemo.training.reattach', id), undefined);
      assert.strictEqual(view.live.handle(id), undefined);
      // ...until that window is gone: then this one takes the run over (what a reload that overlaps the old window needs).
      const api = (await activateMnemo()) as { ctx: { project?: Project } };
      assert.ok(api.ctx.project);
      await view.live.reattachAll(api.ctx.project);
      assert.strictEqual(view.live.handle(id), undefined);
      other.kill('SIGKILL');
      await waitFor('this window to take the run over', () => view.live.handle(id), { timeoutMs: 15_000 });
      assert.strictEqual((JSON.parse(readFileSync(marker, 'utf8')) as { pid: number }).pid, process.pid);
      view.live.detach(id);
      const reattached = (await vscode.commands.executeCommand('mnemo.training.reattach', id)) as RunRecord;
      assert.strictEqual(reattached.state, 'running');
      assert.strictEqual((JSON.parse(readFileSync(marker, 'utf8')) as { pid: number }).pid, process.pid, 'the following window marks the run');
      const before = stepOf(await item(view, id, 'the run to step on', (t) => stepOf(t) >= 3));
      await item(view, id, 'the steps to go on after reattaching', (t) => stepOf(t) > before + 5);

      const record = JSON.parse(readFileSync(join(harness.workspace, 'runs', id, 'run.json'), 'utf8')) as RunRecord;
      assert.ok(record.pgid, 'the record has the process group');
      await vscode.commands.executeCommand('mnemo.training.cancel', id, { confirm: false });
      await item(view, id, 'the run to be cancelled', (t) => t.contextValue === 'run-cancelled-ssh', 30_000);
      assert.deepStrictEqual(liveInGroup(record.pgid), [], 'no process of the run\'s group is left');
      const snap = view.model.get(id)!;
      const steps = snap.events.filter((e): e is LogEvent => e.event === 'log').map((e) => e.step);
      assert.deepStrictEqual(steps, Array.from({ length: steps.length }, (_, i) => i + 1), 'every step once, in order');
      if (record.target.kind !== 'ssh') return;
      assert.strictEqual(readFileSync(join(harness.workspace, 'runs', id, 'metrics.jsonl'), 'utf8'), readFileSync(join(record.target.remoteDir, 'metrics.jsonl'), 'utf8'));

      const deleted = await vscode.commands.executeCommand('mnemo.training.delete', id, { confirm: false, action: `Delete Here and on ${TEST_HOST_ALIAS}` });
      assert.strictEqual(deleted, true);
      assert.ok(!existsSync(join(harness.workspace, 'runs', id)), 'the local folder is gone');
      assert.ok(!existsSync(record.target.remoteDir), 'the remote folder is gone');
      await waitFor('the view to drop the run', () => !view.provider.snapshot().some((t) => t.id === id), { events: [view.model.onDidChange as vscode.Event<unknown>] });
    });

    function rmOutput(id: string): void {
      const out = join(harness.workspace, 'runs', id, 'output');
      rmSync(out, { recursive: true, force: true });
      assert.ok(!existsSync(out));
    }
  });
});
