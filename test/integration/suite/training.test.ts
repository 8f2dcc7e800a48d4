// Training in a real VS Code: the Runs view over runs/ (a run appended by another process shows
// live, every metric once), and runs started from the command against a real OpenSSH server on
// 127.0.0.1 with the stand-in trainer: steps in the view, a cut connection, cancel, download.
import * as assert from 'node:assert';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { parseMetricLines } from '../../../src/core/training/metrics';
import type { MetricEvent, RunRecord } from '../../../src/core/training/protocol';
import type { RunsView } from '../../../src/extension/training';
import { activateMnemo, harness, waitFor } from './helpers';

async function runsView(): Promise<RunsView> {
  const api = (await activateMnemo()) as { runs?: RunsView };
  assert.ok(api.runs, 'the extension API exposes the Runs view');
  return api.runs;
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
});
