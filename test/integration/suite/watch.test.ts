// Every stage visible the moment it writes: folders and files made after activation (a first
// sweep into a new qa/<source>/ folder, a first dataset, a first run, a first answer set) reach the
// views and the Problems panel without a reload or a Refresh. Waits on events, never on sleeps.
import * as assert from 'node:assert';
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { RunsView } from '../../../src/extension/training';
import { activateMnemo, findNode, harness, waitFor } from './helpers';

interface Snap {
  label: string;
  description?: string;
  children?: Snap[];
}

const onDiagnostics = vscode.languages.onDidChangeDiagnostics as vscode.Event<unknown>;

function header(variant: string, temperature: number): string {
  return ['@source: sources/rulebook.pdf', `@variant: ${variant}`, `@temperature: ${temperature}`, ''].join('\n');
}

/** A pair the checks flag: it names nothing of the context (warning "does not stand alone"). */
function pair(n: number): string {
  return `\n@chunk: 1\nQ: What happens at step ${n}?\nA: The step ${n} happens.\n`;
}

function mnemoDiagnostics(uri: vscode.Uri): vscode.Diagnostic[] {
  return vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'mnemo');
}

async function qaTree(): Promise<Snap[]> {
  return (await vscode.commands.executeCommand<Snap[]>('mnemo.refreshQa', { snapshot: true })) ?? [];
}

function labels(nodes: Snap[] | undefined): string[] {
  const out: string[] = [];
  const walk = (ns: Snap[] | undefined) => {
    for (const n of ns ?? []) {
      out.push(n.label);
      walk(n.children);
    }
  };
  walk(nodes);
  return out;
}

suite('Watching: new folders and files after activation', () => {
  let runs: RunsView;

  suiteSetup(async () => {
    const api = (await activateMnemo()) as { runs?: RunsView };
    assert.ok(api.runs, 'the extension API exposes the Runs view');
    runs = api.runs;
    // The language server has read the workspace (an empty qa/) before anything is written.
    await waitFor('the Q&A view to answer', async () => (await qaTree()) && true);
  });

  test('a .qa file in a qa/ folder made after activation gets its diagnostics and its place in the Q&A view, during a sweep and after it', async () => {
    const dir = join(harness.workspace, 'qa', 'newsource', 'deeper');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'nuanced-t0.5.qa');
    const uri = vscode.Uri.file(file);
    // As a sweep writes: the file appears with its first chunk, then grows.
    writeFileSync(file, header('nuanced', 0.5) + pair(1));
    await waitFor('diagnostics of the new file in a new folder', () => mnemoDiagnostics(uri).length >= 1, { events: [onDiagnostics], timeoutMs: 30_000 });
    appendFileSync(file, pair(2) + pair(3));
    await waitFor('diagnostics of the pairs appended', () => new Set(mnemoDiagnostics(uri).map((d) => d.range.start.line)).size >= 3, { events: [onDiagnostics], timeoutMs: 30_000 }).catch((err: Error) => {
      throw new Error(`${err.message}; the file has: ${JSON.stringify(mnemoDiagnostics(uri).map((d) => `${d.range.start.line}: ${d.message}`))}`);
    });
    // A second file of the same sweep, in a folder made after the first.
    const dir2 = join(harness.workspace, 'qa', 'othersource');
    mkdirSync(dir2, { recursive: true });
    const file2 = join(dir2, 'simple-t1.qa');
    writeFileSync(file2, header('simple', 1) + pair(4));
    await waitFor('diagnostics of the second new folder', () => mnemoDiagnostics(vscode.Uri.file(file2)).length >= 1, { events: [onDiagnostics], timeoutMs: 30_000 });
    const tree = await qaTree();
    const all = labels(tree);
    assert.ok(all.some((l) => /What happens at step 3\?/.test(l)), `the Q&A view lists the appended pair: ${JSON.stringify(all)}`);
    assert.ok(all.some((l) => /What happens at step 4\?/.test(l)), `the Q&A view lists the second folder's pair: ${JSON.stringify(all)}`);
    // Deleting the folder takes its problems away.
    rmSync(dir2, { recursive: true, force: true });
    await waitFor('the deleted folder\'s diagnostics to go', () => mnemoDiagnostics(vscode.Uri.file(file2)).length === 0, { events: [onDiagnostics], timeoutMs: 30_000 });
  });

  test('a run folder made after activation is listed in the Runs view', async () => {
    const id = '20261207-000000-watch';
    const dir = join(harness.workspace, 'runs', id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'metrics.jsonl'), '');
    const record = { version: 1, id, created: new Date().toISOString(), target: { kind: 'local' }, state: 'done', config: { model: 'tiny' }, dataset: { train: { sha256: 'x', rows: 1 } }, metricsOffset: 0 };
    writeFileSync(join(dir, 'run.json'), JSON.stringify(record));
    await waitFor('the new run in the Runs view', () => runs.model.list().some((r) => r.id === id), { events: [runs.model.onDidChange as vscode.Event<unknown>] });
  });

  test('an answer set in a folder made after activation is listed in the Evaluations view', async () => {
    const evalTree = async () => (await vscode.commands.executeCommand<Snap[]>('mnemo.eval.refresh', { snapshot: true, reread: false })) ?? [];
    // The view has read the files once: from now on only a watcher tells it of new ones.
    assert.ok(!findNode(await evalTree(), (n) => /base watched/.test(n.label)));
    const id = '20261207-000001-evalwatch';
    const dir = join(harness.workspace, 'runs', id, 'eval');
    mkdirSync(dir, { recursive: true });
    const set = {
      version: 1,
      meta: { id: 'base-watch', label: 'base watched', kind: 'base', model: 'tiny', questionsPath: 'eval/questions.qa', questionsSha256: 'x', created: new Date().toISOString(), grading: 'contains' },
      answers: [{ questionId: 'q1', question: 'In Cairnrun, how many players?', reference: 'Nine.', tags: [], answer: 'Nine.', verdict: { correct: true, by: 'contains' } }],
    };
    writeFileSync(join(dir, 'base-watch.json'), JSON.stringify(set));
    const shown = await waitFor(
      'the answer set in the Evaluations view',
      async () => {
        // The view's own snapshot, without asking it to re-read (a refresh would hide a missed event).
        const t = await evalTree();
        return findNode(t, (n) => /base watched/.test(n.label) || /base watched/.test(n.description ?? ''));
      },
      { timeoutMs: 30_000, interval: 200 },
    );
    assert.ok(shown);
  });
});
