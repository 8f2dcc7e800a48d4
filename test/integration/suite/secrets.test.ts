// Secrets in a real VS Code: a server that echoes the API key and the Hub token back (whole and
// masked, in error bodies, headers and answers) is used for a sweep, Test Connection and a refused
// push; then every file of the project, the extension's log files (the whole log folder of the
// session) and the harness's logs of this session are searched for the sentinels. Also: the
// clear-text refusal and its override, and old leaks found and scrubbed.
import * as assert from 'node:assert';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import type { ConnectionReport, SweepOutcome } from '../../../src/core/generation';
import type { Leak } from '../../../src/core/leaks';
import { maskedForms, sentinelHits, startEchoServer, type EchoServer } from '../../servers/secret-echo-server';
import { activateMnemo, harness, waitFor } from './helpers';

interface Api {
  ctx: {
    project?: { config: { generation: { baseUrl?: string } } };
    onDidChangeProject: vscode.Event<unknown>;
    log: vscode.LogOutputChannel;
    extension: vscode.ExtensionContext;
    showError(err: unknown): Promise<void>;
  };
}

const KEY = `sk-mnemoSENTINEL-${randomBytes(16).toString('hex')}`;
const TOKEN = `hf_SENTINEL${randomBytes(12).toString('hex')}`;
const SENTINELS = [KEY, TOKEN];

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...filesUnder(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

function lanAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

suite('Secrets', () => {
  let server: EchoServer;
  let api: Api;
  const root = harness.workspace;
  const configPath = join(root, 'mnemo.json');
  const original = readFileSync(configPath, 'utf8');

  async function pointAt(baseUrl: string): Promise<void> {
    const config = JSON.parse(original) as Record<string, unknown>;
    config.generation = { ...(config.generation as object), baseUrl, model: 'echo-model', variants: ['nuanced'], temperatures: [0.2, 0.9], concurrency: 4 };
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    await waitFor(`the project to reload with ${baseUrl}`, () => api.ctx.project?.config.generation.baseUrl === baseUrl, { events: [api.ctx.onDidChangeProject] });
  }

  suiteSetup(async () => {
    server = await startEchoServer({ host: '0.0.0.0' });
    api = (await activateMnemo()) as unknown as Api;
    await pointAt(`http://127.0.0.1:${new URL(server.url).port}/v1`);
    assert.strictEqual(await vscode.commands.executeCommand('mnemo.setApiKey', KEY), true);
    assert.strictEqual(await vscode.commands.executeCommand('mnemo.setHfToken', TOKEN), true);
  });

  suiteTeardown(async () => {
    await server?.close();
    writeFileSync(configPath, original);
  });

  test('a sweep against a server that echoes the key in 429, 500, headers and answers completes, scrubbed', async () => {
    server.mode = 'echo';
    const outcome = (await vscode.commands.executeCommand('mnemo.generate', { yes: true })) as SweepOutcome;
    assert.ok(outcome, 'the sweep ran');
    assert.strictEqual(outcome.result.done, outcome.result.total, outcome.result.message);
    assert.ok(server.auth.includes(`Bearer ${KEY}`), 'the key was sent to the loopback server');
    assert.ok(server.requests.some((r) => r.status === 429) && server.requests.some((r) => r.status === 500), 'the echoing errors were served');
    const journal = readFileSync(join(root, '.mnemo', 'generation', 'journal.jsonl'), 'utf8');
    assert.ok(journal.includes('[redacted API key]'), 'answers quoting the key were journaled, scrubbed');
  });

  test('Test Connection against servers that echo the key: the report and its notification hold none of it', async () => {
    server.mode = 'echo';
    const ok = (await vscode.commands.executeCommand('mnemo.testConnection')) as ConnectionReport;
    assert.strictEqual(ok.ok, true, ok.message);
    assert.deepStrictEqual(sentinelHits(JSON.stringify(ok), SENTINELS), []);
    for (const mode of ['401', '403'] as const) {
      server.mode = mode;
      const report = (await vscode.commands.executeCommand('mnemo.testConnection')) as ConnectionReport;
      assert.strictEqual(report.ok, false);
      assert.match(report.message, new RegExp(`refused the API key \\(${mode}\\)`));
      assert.deepStrictEqual(sentinelHits(JSON.stringify(report), SENTINELS), []);
    }
    // A sweep refused with the key in the message stops, and says so without the key.
    server.mode = '401';
    const refused = (await vscode.commands.executeCommand('mnemo.generate', { yes: true, temperatures: [0.5] })) as SweepOutcome;
    assert.strictEqual(refused.result.stopped, 'fatal');
    assert.deepStrictEqual(sentinelHits(JSON.stringify(refused), SENTINELS), []);
    server.mode = 'echo';
  });

  test('a Hub push with a token the Hub refuses and echoes fails with a clear message, and no part of the token', async () => {
    await vscode.commands.executeCommand('mnemo.generateOffline');
    await vscode.commands.executeCommand('mnemo.buildDataset', { quiet: true });
    const before = server.auth.length;
    const result = await vscode.commands.executeCommand('mnemo.pushDataset', { repo: 'someone/cairnrun-qa', hubUrl: server.origin.replace('0.0.0.0', '127.0.0.1') });
    assert.strictEqual(result, undefined, 'the push failed');
    assert.ok(server.auth.slice(before).includes(`Bearer ${TOKEN}`), 'the token (from secret storage) was sent to the loopback Hub');
  });

  test('a key is not sent over plain http to another machine; Test Connection says why; the setting allows it for that origin', async function () {
    const lan = lanAddress();
    if (!lan) return this.skip();
    const origin = `http://${lan}:${new URL(server.url).port}`;
    await pointAt(`${origin}/v1`);
    const before = server.auth.length;
    const refused = (await vscode.commands.executeCommand('mnemo.testConnection')) as ConnectionReport;
    assert.strictEqual(refused.ok, false);
    assert.match(refused.message, /not sent to http:\/\/[\d.]+:\d+: that is plain http:\/\/ to a host other than this machine/);
    assert.match(refused.message, /mnemo\.endpoint\.allowInsecureKey/);
    assert.strictEqual(server.auth.length, before, 'nothing was sent');

    const config = vscode.workspace.getConfiguration('mnemo');
    await config.update('endpoint.allowInsecureKey', [origin], vscode.ConfigurationTarget.Global);
    try {
      const allowed = (await vscode.commands.executeCommand('mnemo.testConnection')) as ConnectionReport;
      assert.strictEqual(allowed.ok, true, allowed.message);
      assert.ok(server.auth.slice(before).includes(`Bearer ${KEY}`), 'allowed: the key was sent');
      await config.update('endpoint.allowInsecureKey', [`http://${lan}:1`], vscode.ConfigurationTarget.Global);
      const other = (await vscode.commands.executeCommand('mnemo.testConnection')) as ConnectionReport;
      assert.strictEqual(other.ok, false, 'an allowance is for its origin only');
    } finally {
      await config.update('endpoint.allowInsecureKey', undefined, vscode.ConfigurationTarget.Global);
      await pointAt(`http://127.0.0.1:${new URL(server.url).port}/v1`);
    }
  });

  test('old leaks: Find Secrets in Project Files names the files that hold the key, and scrubs them on request', async () => {
    const log = join(root, 'runs', 'old-run', 'train.log');
    mkdirSync(dirname(log), { recursive: true });
    writeFileSync(log, `step 1\nAuthorization: Bearer ${KEY}\nproxy said ${maskedForms(KEY)[0]}\nstep 2\n`);
    const found = (await vscode.commands.executeCommand('mnemo.findSecretLeaks', { quiet: true })) as Leak[];
    assert.deepStrictEqual(found.map((l) => [l.file, l.secrets, l.lines]), [['runs/old-run/train.log', ['API key'], 2]]);
    assert.ok(readFileSync(log, 'utf8').includes(KEY), 'nothing changed without asking');
    const left = (await vscode.commands.executeCommand('mnemo.findSecretLeaks', { scrub: true })) as Leak[];
    assert.deepStrictEqual(left, []);
    assert.strictEqual(readFileSync(log, 'utf8'), 'step 1\nAuthorization: Bearer [redacted API key]\nproxy said [redacted API key]\nstep 2\n');
  });

  test('no sentinel in any project file, the extension\'s log files, or this session\'s harness logs', async () => {
    // The writers scrub on their own too: a line or an error that forgot to is still clean in the file.
    api.ctx.log.info(`a careless line: ${KEY} and ${maskedForms(KEY)[0]}`);
    api.ctx.log.error(new Error(`a careless error: ${TOKEN}`));
    void api.ctx.showError(new Error(`a careless notification: ${KEY.slice(0, 12)}...`));
    const marker = `secrets-suite-end-${randomBytes(4).toString('hex')}`;
    api.ctx.log.info(marker);
    const logDir = api.ctx.extension.logUri.fsPath;
    const mnemoLog = await waitFor('the Mnemo log file to hold the last line', () => filesUnder(logDir).find((f) => readFileSync(f, 'utf8').includes(marker)));
    const logText = readFileSync(mnemoLog, 'utf8');
    assert.ok(logText.includes('[redacted API key]'), 'the log shows that echoed keys were scrubbed (retries, failures)');
    // The whole log folder of this VS Code session: the extension host, the window, the server.
    const sessionLogs = dirname(dirname(logDir));
    const resultsLogs = join(harness.repoRoot, process.env.MNEMO_TEST_RESULTS_DIR ? '' : 'test-results', 'logs');
    const harnessLogs = filesUnder(process.env.MNEMO_TEST_RESULTS_DIR ? join(process.env.MNEMO_TEST_RESULTS_DIR, 'logs') : resultsLogs).filter((f) => /(^|[\\/])secrets\.[^\\/]*$/.test(f));
    const files = [...filesUnder(root), ...filesUnder(sessionLogs), ...harnessLogs];
    assert.ok(files.includes(mnemoLog));
    const hits = files.flatMap((f) => sentinelHits(readFileSync(f, 'latin1'), SENTINELS).map((h) => `${f}: ${h}`));
    assert.deepStrictEqual(hits, [], hits.join('\n'));
    api.ctx.log.info(`Searched ${files.length} files (${mnemoLog} among them) for the sentinels: none found.`);
  });
});
