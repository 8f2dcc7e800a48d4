// "Run Evaluation" of a run trained on an SSH host answers ON that host (src/core/eval/remote.ts),
// in a real VS Code: the test sshd on 127.0.0.1, a tiny model (src/python/tiny_model.py) with a
// LoRA adapter trained by the real train.py in the run's folder on the host, the real eval.py run
// there with the project's .venv Python (mnemo.training.python). Nothing is downloaded.
import * as assert from 'node:assert';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { EvaluateResult } from '../../../src/core/eval';
import { startSshd, TEST_HOST_ALIAS, type TestSshd } from '../../servers/sshd';
import { activateMnemo, harness } from './helpers';

function python(exe: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(exe, args, { cwd, timeout: 600_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, HF_HUB_OFFLINE: '1', OMP_NUM_THREADS: '1', TOKENIZERS_PARALLELISM: 'false' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${exe} ${args.join(' ')} failed: ${err.message}\n${stdout.slice(-1500)}\n${stderr.slice(-3000)}`));
      else resolve(stdout);
    });
  });
}

suite('Remote evaluation: a run on the SSH host answers there', () => {
  const root = harness.workspace;
  const scripts = join(harness.repoRoot, 'src', 'python');
  const exe = join(harness.repoRoot, '.venv', 'bin', 'python');
  const base = join(harness.tmp, 'tiny-base-remote');
  const runId = 'r-on-host';
  const questions = join(root, 'eval', 'remote.qa');
  let sshd: TestSshd;
  let remoteDir = '';

  suiteSetup(async function () {
    this.timeout(600_000);
    assert.ok(existsSync(exe), `${exe} is missing: create the project's Python environment`);
    await activateMnemo();
    sshd = await startSshd();
    const config = vscode.workspace.getConfiguration('mnemo');
    await config.update('ssh.configFile', sshd.sshConfig, vscode.ConfigurationTarget.Global);
    await config.update('ssh.knownHostsFile', sshd.knownHosts, vscode.ConfigurationTarget.Global);
    await config.update('training.python', exe, vscode.ConfigurationTarget.Global);
    await python(exe, ['tiny_model.py', base], scripts);
    // The run's folder on the host, trained there by the real train.py (as the bridge would have).
    remoteDir = join(sshd.dir, 'mnemo-runs', runId);
    mkdirSync(remoteDir, { recursive: true });
    await python(exe, ['-c', `import tiny_model; tiny_model.write_jsonl(${JSON.stringify(join(remoteDir, 'train.jsonl'))}, tiny_model.memo_rows())`], scripts);
    const cfg = { model: base, method: 'lora', lora_r: 4, max_steps: 2, learning_rate: 1e-2, max_length: 64, gradient_checkpointing: false, eval_file: null, save_best: false, precision: 'fp32', recall_file: null };
    writeFileSync(join(remoteDir, 'config.json'), JSON.stringify(cfg, null, 2));
    await python(exe, [join(scripts, 'train.py'), '--config', 'config.json'], remoteDir);
    assert.ok(existsSync(join(remoteDir, 'output', 'adapter_config.json')), 'train.py saved the adapter on the host');
    const now = new Date().toISOString();
    mkdirSync(join(root, 'runs', runId), { recursive: true });
    const target = { kind: 'ssh', host: TEST_HOST_ALIAS, hostname: '127.0.0.1', port: sshd.port, user: sshd.user, remoteDir };
    writeFileSync(join(root, 'runs', runId, 'run.json'), JSON.stringify({ version: 1, id: runId, created: now, target, state: 'done', config: cfg, startedAt: now, endedAt: now, label: 'on the host' }, null, 2));
    writeFileSync(questions, ['Q: In Cairnrun, how many points is a Crown worth?\nA: 5 points.\n', 'Q: In Cairnrun, how long is each watch?\nA: 30 minutes.\n'].join('\n'));
  });

  suiteTeardown(async () => {
    const config = vscode.workspace.getConfiguration('mnemo');
    for (const k of ['ssh.configFile', 'ssh.knownHostsFile', 'training.python']) await config.update(k, undefined, vscode.ConfigurationTarget.Global);
    await sshd?.stop();
  });

  test('Run Evaluation on the run: eval.py answers on the host, the answers come back graded, nothing is downloaded', async function () {
    this.timeout(300_000);
    const r = (await vscode.commands.executeCommand('mnemo.runEvaluation', { questions, target: { kind: 'run', runId }, judge: 'none' })) as EvaluateResult | undefined;
    assert.ok(r, 'the command returned its result (see the Mnemo log if not)');
    assert.strictEqual(r.path, join(root, 'runs', runId, 'eval', 'remote.json'));
    assert.strictEqual(r.set.answers.length, 2);
    assert.ok(r.set.answers.every((a) => !a.error), JSON.stringify(r.set.answers.map((a) => a.error)));
    const evalDirs = readdirSync(join(remoteDir, 'eval'));
    assert.ok(evalDirs.some((d) => existsSync(join(remoteDir, 'eval', d, 'answers.jsonl'))), `eval.py did not run on the host: ${evalDirs.join(', ')}`);
    assert.ok(!existsSync(join(root, 'runs', runId, 'output')), 'the run\'s outputs were downloaded');
  });
});
