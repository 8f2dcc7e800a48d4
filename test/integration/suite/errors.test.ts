// Errors as a user meets them, collected: each failure on the way from a project to an evaluated
// model shows one message that says what happened, with the action that fixes it as a button.
// The notifications are recorded (and answered with nothing, as a user closing them) by replacing
// vscode.window's show*Message for the length of this suite: the extension and the tests share
// one API object in the extension host.
import * as assert from 'node:assert';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { activateMnemo, harness, waitFor } from './helpers';

interface Shown {
  kind: 'error' | 'warning' | 'info';
  message: string;
  buttons: string[];
}

const shown: Shown[] = [];
/** The button the next message that offers it is answered with (else none: closed). */
let answerWith: string | undefined;
const newMessage = new vscode.EventEmitter<void>();
type ShowFn = (message: string, ...rest: unknown[]) => Thenable<unknown>;
const win = vscode.window as unknown as Record<'showErrorMessage' | 'showWarningMessage' | 'showInformationMessage', ShowFn>;
const originals = { showErrorMessage: win.showErrorMessage, showWarningMessage: win.showWarningMessage, showInformationMessage: win.showInformationMessage };

function record(kind: Shown['kind']): ShowFn {
  return (message: string, ...rest: unknown[]) => {
    const buttons = rest.flatMap((r) => (typeof r === 'string' ? [r] : r && typeof r === 'object' && 'title' in r ? [String((r as { title: unknown }).title)] : []));
    shown.push({ kind, message, buttons });
    newMessage.fire();
    const answer = buttons.includes(answerWith ?? '') ? answerWith : undefined;
    answerWith = undefined;
    return Promise.resolve(answer);
  };
}

/** Runs a command and returns the one message it showed that matches `pattern`. */
async function messageOf(what: string, run: () => Thenable<unknown> | Promise<unknown>, pattern: RegExp): Promise<Shown> {
  shown.length = 0;
  await run();
  return waitFor(`${what}: a message matching ${pattern}`, () => shown.find((s) => pattern.test(s.message)), { events: [newMessage.event], timeoutMs: 30_000 }).catch((err: Error) => {
    throw new Error(`${err.message}; shown: ${JSON.stringify(shown)}`);
  });
}

const config = () => vscode.workspace.getConfiguration('mnemo');
const ws = (...p: string[]) => join(harness.workspace, ...p);
const row = JSON.stringify({ messages: [{ role: 'user', content: 'In Cairnrun rules, how many players are in a team?' }, { role: 'assistant', content: 'Nine.' }] });

suite('Errors as a user meets them', () => {
  suiteSetup(async () => {
    await activateMnemo();
    win.showErrorMessage = record('error');
    win.showWarningMessage = record('warning');
    win.showInformationMessage = record('info');
  });

  suiteTeardown(async () => {
    Object.assign(win, originals);
    for (const key of ['endpoint.baseUrl', 'python', 'hub.url', 'training.hosts']) await config().update(key, undefined, vscode.ConfigurationTarget.Global);
  });

  test('each failure on the path: what happened, and the fix as a button', async () => {
    const table: Array<{ failure: string; message: string; button: string }> = [];
    const expect = (failure: string, s: Shown, button: string, mustSay?: RegExp) => {
      assert.ok(s.buttons.includes(button), `${failure}: the button "${button}" is offered: ${JSON.stringify(s)}`);
      if (mustSay) assert.match(s.message, mustSay, failure);
      assert.doesNotMatch(s.message, /\n\s+at /, `${failure}: no stack trace`);
      table.push({ failure, message: s.message, button });
    };

    // No sources: the example's PDF moved away for the length of this case.
    await config().update('endpoint.baseUrl', 'http://127.0.0.1:9/v1', vscode.ConfigurationTarget.Global);
    const pdf = ws('sources', 'rulebook.pdf');
    renameSync(pdf, ws('rulebook.pdf.away'));
    try {
      expect('no sources', await messageOf('generate without sources', () => vscode.commands.executeCommand('mnemo.generate', { yes: true }), /no sources/i), 'Add Source…');
    } finally {
      renameSync(ws('rulebook.pdf.away'), pdf);
    }

    // A wrong endpoint: nothing listens there.
    expect('wrong endpoint', await messageOf('test connection', () => vscode.commands.executeCommand('mnemo.testConnection'), /127\.0\.0\.1:9/), 'Choose Endpoint');

    // No key for a hosted endpoint.
    await config().update('endpoint.baseUrl', 'https://api.example.invalid/v1', vscode.ConfigurationTarget.Global);
    expect('no key', await messageOf('generate without a key', () => vscode.commands.executeCommand('mnemo.generate', { yes: true }), /needs an API key/), 'Set API Key');

    // An empty dataset: qa/ holds no pair.
    expect('empty dataset', await messageOf('build with no pairs', () => vscode.commands.executeCommand('mnemo.buildDataset'), /No Q&A pairs/), 'Generate Q&A');

    // From here on there is a dataset to train on.
    mkdirSync(ws('data'), { recursive: true });
    writeFileSync(ws('data', 'train.jsonl'), row + '\n');

    // No model set: the embedded default model is offered.
    expect('no model', await messageOf('train without a model', () => vscode.commands.executeCommand('mnemo.startTraining'), /No model is set/), 'Use SmolLM2-135M-Instruct (small CPU model)', /small CPU model for trying the workflow/);

    // "Edit Config" from there writes a model the schema accepts (not "model": ""), selected to type over.
    answerWith = 'Edit Config';
    await messageOf('train without a model, then Edit Config', () => vscode.commands.executeCommand('mnemo.startTraining'), /No model is set/);
    const editor = await waitFor('mnemo.json in the editor', () => vscode.window.activeTextEditor?.document.uri.fsPath === ws('mnemo.json') && vscode.window.activeTextEditor, { events: [vscode.window.onDidChangeActiveTextEditor as vscode.Event<unknown>] });
    const edited = await waitFor('the training section', () => /"training"/.test(editor.document.getText()) && editor.document.getText(), { events: [vscode.workspace.onDidChangeTextDocument as vscode.Event<unknown>] });
    const model = (JSON.parse(edited) as { training?: { model?: string } }).training?.model;
    assert.strictEqual(model, 'HuggingFaceTB/SmolLM2-135M-Instruct', edited);
    assert.strictEqual(editor.document.getText(editor.selection), model, 'the model is selected, to type over');
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');

    // No Python where the setting points.
    await config().update('python', ws('no-such-python'), vscode.ConfigurationTarget.Global);
    expect('no Python', await messageOf('train with a missing Python', () => vscode.commands.executeCommand('mnemo.startTraining', { target: 'local', config: { model: 'HuggingFaceTB/SmolLM2-135M-Instruct' } }), /was not found/), 'Use My Own Python', /mnemo\.python/);

    // A Python without the packages: every missing one named, not the first an import trips on.
    await config().update('python', 'python3', vscode.ConfigurationTarget.Global);
    const missing = await messageOf('train with a bare Python', () => vscode.commands.executeCommand('mnemo.startTraining', { target: 'local', config: { model: 'HuggingFaceTB/SmolLM2-135M-Instruct' } }), /does not have/);
    expect('missing packages', missing, 'Install Them', /torch.*transformers.*peft/);
    await config().update('python', undefined, vscode.ConfigurationTarget.Global);

    // A Hub id with no network (the Hub's URL points where nothing answers).
    await config().update('hub.url', 'http://127.0.0.1:9', vscode.ConfigurationTarget.Global);
    expect('no network for a Hub id', await messageOf('train a Hub model offline', () => vscode.commands.executeCommand('mnemo.startTraining', { target: 'local', config: { model: 'someone/not-on-this-machine' } }), /cannot be reached/), 'Use SmolLM2-135M-Instruct (small CPU model)');

    // An SSH host that cannot be reached.
    await config().update('training.hosts', [{ name: 'unreachable', host: '127.0.0.1', port: 9, user: 'nobody' }], vscode.ConfigurationTarget.Global);
    expect('unreachable host', await messageOf('train on a dead host', () => vscode.commands.executeCommand('mnemo.startTraining', { target: 'unreachable', config: { model: 'someone/model' } }), /connection refused|cannot be reached|did not answer/), 'Edit SSH Hosts');

    // A bad token for the Hub.
    writeFileSync(ws('data', 'test.jsonl'), row + '\n');
    if (!existsSync(ws('data', 'README.md'))) writeFileSync(ws('data', 'README.md'), '# dataset\n');
    expect('bad token', await messageOf('push with a bad token', () => vscode.commands.executeCommand('mnemo.pushDataset', { repo: 'someone/cairnrun-qa', hubUrl: 'http://127.0.0.1:9', token: 'not-a-token' }), /token/i), 'Set Hugging Face Token');

    // No project: mnemo.json gone (the folder is an ordinary folder now).
    const cfg = ws('mnemo.json');
    const text = readFileSync(cfg, 'utf8');
    renameSync(cfg, ws('mnemo.json.away'));
    try {
      const api = (await activateMnemo()) as { ctx: { project?: unknown } };
      await waitFor('the project to be gone', () => api.ctx.project === undefined, { timeoutMs: 30_000, interval: 100 });
      expect('no project', await messageOf('build without a project', () => vscode.commands.executeCommand('mnemo.buildDataset'), /not a Mnemo project/), 'New Project');
    } finally {
      writeFileSync(cfg, text);
    }
    console.log(`errors: ${table.length} failures, each with its fix:\n${table.map((t) => `  ${t.failure}: [${t.button}] ${t.message.slice(0, 160)}`).join('\n')}`);
  });
});
