// Generation in a real VS Code: a local chat-completions server started inside the test (the
// extension host is Node), mnemo.json pointed at it, the key set through the command, and a sweep
// of 9 temperatures x 3 variants over the example project run through "Mnemo: Generate Q&A".
import * as assert from 'node:assert';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { ConnectionReport, PreviewResult, SweepOutcome, WrittenFile } from '../../../src/core/generation';
import { startOpenAiServer, type FakeServer } from '../../servers/openai-server';
import { activateMnemo, harness, waitFor } from './helpers';

interface Api {
  ctx: { project?: { config: { generation: { baseUrl?: string } } }; onDidChangeProject: vscode.Event<unknown> };
}

suite('Generation', () => {
  let server: FakeServer;
  const root = harness.workspace;
  const configPath = join(root, 'mnemo.json');
  const original = readFileSync(configPath, 'utf8');

  suiteSetup(async () => {
    server = await startOpenAiServer({ apiKey: 'test-key-123', models: ['mock-model'] });
    const api = (await activateMnemo()) as unknown as Api;
    const config = JSON.parse(original) as Record<string, unknown>;
    config.generation = { baseUrl: server.url, model: 'mock-model', concurrency: 8 };
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    await waitFor('the project to reload with the local endpoint', () => api.ctx.project?.config.generation.baseUrl === server.url, { events: [api.ctx.onDidChangeProject], timeoutMs: 20_000 });
    assert.strictEqual(await vscode.commands.executeCommand('mnemo.setApiKey', 'test-key-123'), true);
  });

  suiteTeardown(async () => {
    await server?.close();
    writeFileSync(configPath, original);
  });

  test('Test Connection lists the models', async () => {
    const report = (await vscode.commands.executeCommand('mnemo.testConnection')) as ConnectionReport;
    assert.strictEqual(report.ok, true, report.message);
    assert.deepStrictEqual(report.models, ['mock-model']);
  });

  test('Preview First Chunk sends one request, shows the prompt and the raw answer read-only, and writes nothing', async () => {
    const before = server.stats.requests;
    const result = (await vscode.commands.executeCommand('mnemo.previewFirstChunk')) as PreviewResult;
    assert.ok(result, 'the command returned the preview');
    assert.strictEqual(server.stats.requests - before, 1);
    assert.strictEqual(result.request.chunk, 1);
    assert.ok(result.parsed.pairs.length > 0);
    const doc = await waitFor('the preview tab', () => (vscode.window.activeTextEditor?.document.uri.scheme === 'mnemo-preview' ? vscode.window.activeTextEditor.document : undefined));
    const text = doc.getText();
    assert.ok(text.includes('## Prompt') && text.includes('<chunk>') && text.includes(result.text), 'prompt and raw answer shown');
    assert.ok(!existsSync(join(root, '.mnemo', 'generation', 'journal.jsonl')), 'no journal written');
    assert.ok(!existsSync(join(root, 'qa', 'rulebook')), 'no .qa written');
  });

  test('Generate Q&A sweeps 9 temperatures x 3 variants over every chunk and writes .qa files', async () => {
    // Test Connection and the preview sent requests of their own.
    const earlier = new Map(server.stats.completed);
    const usage = { ...server.stats.usage };
    const outcome = (await vscode.commands.executeCommand('mnemo.generate', { yes: true, variants: ['nuanced', 'simple', 'reversed'] })) as SweepOutcome | undefined;
    assert.ok(outcome, 'the command returned its outcome (see the Mnemo log if not)');
    const r = outcome.result;
    assert.strictEqual(r.stopped, 'completed', r.message);
    assert.strictEqual(r.failed, 0);
    assert.ok(r.total >= 27, `${r.total} requests`);
    assert.strictEqual(r.total % 27, 0);
    const deltas = [...server.stats.completed].map(([k, n]) => n - (earlier.get(k) ?? 0)).filter((d) => d > 0);
    assert.strictEqual(deltas.length, r.total);
    assert.ok(deltas.every((d) => d === 1), 'each request answered once');
    assert.strictEqual(r.inputTokens, server.stats.usage.promptTokens - usage.promptTokens);
    assert.strictEqual(r.outputTokens, server.stats.usage.completionTokens - usage.completionTokens);
    const dir = join(root, 'qa', 'rulebook');
    const files = readdirSync(dir).filter((f) => /^(nuanced|simple|reversed)-t\d\.\d{3}\.qa$/.test(f));
    assert.strictEqual(files.length, 27, files.join(', '));
    assert.ok(files.includes('nuanced-t0.010.qa') && files.includes('reversed-t1.200.qa'));
    const text = readFileSync(join(dir, 'simple-t0.605.qa'), 'utf8');
    assert.match(text, /^@source: sources\/rulebook\.pdf$/m);
    assert.match(text, /^@variant: simple$/m);
    assert.match(text, /^@temperature: 0\.605$/m);
    assert.match(text, /^@model: mock-model$/m);
    assert.match(text, /^@digest: [0-9a-f]{16}$/m);
    assert.match(text, /^@chunk: 1$/m);
    assert.match(text, /^Q: In Cairnrun rules, /m);
    // The key never reaches a file.
    assert.ok(!readFileSync(join(root, '.mnemo', 'generation', 'journal.jsonl'), 'utf8').includes('test-key-123'));
  });

  test('running it again sends nothing and leaves edited files as they are', async () => {
    const path = join(root, 'qa', 'rulebook', 'nuanced-t0.010.qa');
    const edited = readFileSync(path, 'utf8').replace(/^A: .*$/m, 'A: My own better answer.');
    writeFileSync(path, edited);
    const before = server.stats.requests;
    const outcome = (await vscode.commands.executeCommand('mnemo.generate', { yes: true, variants: ['nuanced', 'simple', 'reversed'] })) as SweepOutcome;
    assert.strictEqual(server.stats.requests, before);
    assert.strictEqual(outcome.result.resumed, outcome.result.total);
    assert.strictEqual(readFileSync(path, 'utf8'), edited);
  });

  test('Generate Q&A on one chunk, as the Sources view calls it (a node, or a path and a chunk number)', async () => {
    const before = server.stats.requests;
    const byPath = (await vscode.commands.executeCommand('mnemo.generate', 'sources/rulebook.pdf', 2, { yes: true, variants: ['simple'], temperatures: [0.77] })) as SweepOutcome;
    assert.strictEqual(byPath.result.total, 1);
    assert.strictEqual(byPath.result.done, 1);
    const node = { kind: 'chunk', path: 'sources/rulebook.pdf', source: { path: 'sources/rulebook.pdf' }, chunk: { n: 3 } };
    const byNode = (await vscode.commands.executeCommand('mnemo.generate', node, { yes: true, variants: ['simple'], temperatures: [0.77] })) as SweepOutcome;
    assert.strictEqual(byNode.result.total, 1);
    assert.strictEqual(server.stats.requests - before, 2);
    const text = readFileSync(join(root, 'qa', 'rulebook', 'simple-t0.770.qa'), 'utf8');
    assert.match(text, /^@chunk: 2$/m);
    assert.match(text, /^@chunk: 3$/m);
    assert.doesNotMatch(text, /^@chunk: 1$/m);
  });

  test('Cancel Generation stops a running sweep within a second and keeps what finished', async () => {
    server.options.latencyMs = 1500;
    try {
      const before = server.stats.requests;
      const running = vscode.commands.executeCommand('mnemo.generate', { yes: true, variants: ['atomic'], temperatures: [0.3] }) as Thenable<SweepOutcome>;
      await waitFor('requests of the new sweep to reach the server', () => server.stats.requests > before, { timeoutMs: 30_000 });
      const t0 = Date.now();
      assert.strictEqual(await vscode.commands.executeCommand('mnemo.cancelGeneration'), true);
      const outcome = await running;
      assert.ok(Date.now() - t0 < 1000, `stopped ${Date.now() - t0} ms after cancel`);
      assert.strictEqual(outcome.result.stopped, 'cancelled');
      assert.ok(outcome.result.done < outcome.result.total);
    } finally {
      server.options.latencyMs = 0;
    }
  });

  test('Generate Offline writes qa/rulebook/offline.qa, labelled as the low-quality fallback', async () => {
    const files = (await vscode.commands.executeCommand('mnemo.generateOffline')) as WrittenFile[];
    assert.deepStrictEqual(files.map((f) => f.path), ['qa/rulebook/offline.qa']);
    const text = readFileSync(join(root, 'qa', 'rulebook', 'offline.qa'), 'utf8');
    assert.match(text, /^@generator: offline \(low-quality fallback\)$/m);
    assert.match(text, /^Q: In Cairnrun rules, fill in the blank: /m);
  });

  test('Edit Prompt Variants writes the built-ins into prompts/ and never overwrites one', async () => {
    const mine = join(root, 'prompts', 'simple.md');
    writeFileSync(mine, 'My own prompt about {{context}}.\n<chunk>\n{{chunk}}\n</chunk>\n');
    const written = (await vscode.commands.executeCommand('mnemo.editPrompts')) as string[];
    assert.ok(written.some((f) => f.endsWith('nuanced.md')));
    assert.ok(!written.some((f) => f.endsWith('simple.md')));
    assert.ok(existsSync(join(root, 'prompts', 'atomic.md')));
    assert.strictEqual(readFileSync(mine, 'utf8').startsWith('My own prompt'), true);
    await waitFor('prompts/nuanced.md to open', () => vscode.window.activeTextEditor?.document.uri.fsPath.endsWith('nuanced.md'));
  });

  test('Choose Endpoint with a preset stores the settings, and says that mnemo.json overrides them', async () => {
    const config = vscode.workspace.getConfiguration('mnemo');
    try {
      const chosen = (await vscode.commands.executeCommand('mnemo.chooseEndpoint', { baseUrl: 'http://localhost:11434/v1/', model: 'llama3.2' })) as { baseUrl: string; model: string };
      assert.deepStrictEqual(chosen, { baseUrl: 'http://localhost:11434/v1', model: 'llama3.2' });
      assert.strictEqual(vscode.workspace.getConfiguration('mnemo').get('endpoint.baseUrl'), 'http://localhost:11434/v1');
      assert.strictEqual(vscode.workspace.getConfiguration('mnemo').get('endpoint.model'), 'llama3.2');
      // mnemo.json still points at the local test server, and Test Connection uses it.
      const report = (await vscode.commands.executeCommand('mnemo.testConnection')) as ConnectionReport;
      assert.ok(report.message.includes(server.url), report.message);
      await assert.rejects(Promise.resolve(vscode.commands.executeCommand('mnemo.chooseEndpoint', { baseUrl: 'ftp://nope' })).then((r) => (r === undefined ? Promise.reject(new Error('refused')) : r)), /refused/);
    } finally {
      await config.update('endpoint.baseUrl', undefined, vscode.ConfigurationTarget.Global);
      await config.update('endpoint.model', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  test('a wrong key is reported as a bad key, without the key', async () => {
    await vscode.commands.executeCommand('mnemo.setApiKey', 'sk-wrong-secret');
    try {
      const report = (await vscode.commands.executeCommand('mnemo.testConnection')) as ConnectionReport;
      assert.strictEqual(report.ok, false);
      assert.match(report.message, /refused the API key \(401\)/);
      assert.ok(!report.message.includes('sk-wrong-secret'));
    } finally {
      await vscode.commands.executeCommand('mnemo.setApiKey', 'test-key-123');
    }
  });
});
