/**
 * The SSH bridge against a real OpenSSH server on 127.0.0.1 (test/servers/sshd.ts) with the fake
 * trainer. The "remote" run folder is on this machine, so the tests compare files directly.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MnemoError } from '../../src/core/errors';
import { attachRun, cancelRun, deleteRun, listHosts, listRuns, readRun, startRun, type SshOptions } from '../../src/core/training';
import { pidAlive } from '../../src/core/training/backends';
import type { RunRecord } from '../../src/core/training/protocol';
import { keygen, startSshd, TEST_HOST_ALIAS, type TestSshd } from '../servers/sshd';
import { eventsOf, fakeScripts, hooks, isStep, trainingProject, until, untilEvent } from './training-fixtures';

let sshd: TestSshd;
const scriptsDir = fakeScripts();
const SECRET = 'hf_secret_token_do_not_leak_0123456789';

before(async () => {
  sshd = await startSshd();
});
after(async () => {
  await sshd?.stop();
});

function ssh(o: Partial<SshOptions> = {}): SshOptions {
  return { sshConfigPath: sshd.sshConfig, knownHostsPath: sshd.knownHosts, agent: '', python: 'python3', remoteRoot: join(sshd.dir, 'runs'), reconnect: { initialDelayMs: 100 }, ...o };
}

function remoteDir(r: RunRecord): string {
  assert.equal(r.target.kind, 'ssh');
  return (r.target as Extract<RunRecord['target'], { kind: 'ssh' }>).remoteDir;
}

async function rejection(p: Promise<unknown>): Promise<MnemoError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof MnemoError, `not a MnemoError: ${String(err)}`);
    return err;
  }
  assert.fail('it succeeded');
}

/** Every command line of every process on this machine: a secret must be in none. */
function allCommandLines(): string {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map((n) => {
      try {
        return readFileSync(`/proc/${n}/cmdline`, 'utf8').replace(/\0/g, ' ');
      } catch {
        return '';
      }
    })
    .join('\n');
}

void test('ssh: hosts from the ssh config', () => {
  const h = listHosts(ssh()).find((x) => x.name === TEST_HOST_ALIAS);
  assert.ok(h);
  assert.equal(h.port, sshd.port);
  assert.deepEqual(h.identityFiles, [sshd.userKey]);
});

void test('ssh: a full run: uploaded, started detached, metrics copied byte for byte, outputs downloaded; the token never shows', async () => {
  const project = trainingProject();
  const h = hooks();
  const handle = await startRun(project, {
    target: TEST_HOST_ALIAS,
    scriptsDir,
    hooks: h,
    ssh: ssh(),
    env: { HF_TOKEN: SECRET, MNEMO_FAKE_STEPS: '12', MNEMO_FAKE_EXPECT_ENV: 'HF_TOKEN', MNEMO_FAKE_PAUSE_AT: '6' },
  });
  assert.equal(handle.record.state, 'running');
  const remote = remoteDir(handle.record);
  assert.ok(remote.startsWith(join(sshd.dir, 'runs') + '/'));
  await untilEvent(handle, isStep(6));
  assert.ok(!allCommandLines().includes(SECRET), 'the token is on a command line');
  writeFileSync(join(remote, 'release'), '');
  const rec = await handle.finished;
  assert.equal(rec.state, 'done', JSON.stringify(rec.error));
  const local = join(project.runsDir, rec.id);
  assert.deepEqual(readFileSync(join(local, 'metrics.jsonl')), readFileSync(join(remote, 'metrics.jsonl')));
  assert.equal(rec.metricsOffset, readFileSync(join(remote, 'metrics.jsonl')).length);
  const events = eventsOf(join(local, 'metrics.jsonl'));
  assert.ok(events.some((e) => e.event === 'status' && e.message === 'HF_TOKEN is set'));
  assert.equal(events.filter((e) => e.event === 'log').length, 12);
  assert.equal(rec.downloaded, true);
  assert.deepEqual(readFileSync(join(local, 'output', 'adapter_model.safetensors')), readFileSync(join(remote, 'output', 'adapter_model.safetensors')));
  assert.equal(readFileSync(join(local, 'output', 'nested', 'note é.txt'), 'utf8'), 'nested file\n');
  assert.ok(existsSync(join(local, 'train.log')));
  for (const f of ['run.json', 'metrics.jsonl', 'train.log', 'config.json']) assert.ok(!readFileSync(join(local, f), 'utf8').includes(SECRET), f);
  for (const f of readdirSync(remote)) if (f !== 'output') assert.ok(!readFileSync(join(remote, f), 'utf8').includes(SECRET), `remote ${f}`);
  assert.ok(!h.lines.join('\n').includes(SECRET));
  assert.equal(readRun(project, rec.id).state, 'done');
  await deleteRun(project, rec.id, { hooks: h, ssh: ssh(), remote: true });
  assert.ok(!existsSync(local) && !existsSync(remote));
});

void test('ssh: the connection dropped mid-run: reconnects and resumes from the byte offset, no line lost or doubled', async () => {
  const project = trainingProject();
  const h = hooks();
  const handle = await startRun(project, { target: TEST_HOST_ALIAS, scriptsDir, hooks: h, ssh: ssh(), env: { MNEMO_FAKE_STEPS: '30', MNEMO_FAKE_PAUSE_AT: '4' } });
  const remote = remoteDir(handle.record);
  await untilEvent(handle, isStep(4));
  assert.ok(sshd.killSessions() > 0, 'no sshd session to kill');
  await until(handle, h, () => h.lines.some((l) => l.startsWith('Connection lost')));
  // The script goes on while nobody follows it.
  writeFileSync(join(remote, 'release'), '');
  const rec = await handle.finished;
  assert.equal(rec.state, 'done', JSON.stringify(rec.error));
  assert.ok(h.lines.some((l) => l.startsWith('Reconnected')));
  const local = join(project.runsDir, rec.id, 'metrics.jsonl');
  assert.deepEqual(readFileSync(local), readFileSync(join(remote, 'metrics.jsonl')));
  const steps = eventsOf(local).flatMap((e) => (e.event === 'log' ? [e.step] : []));
  assert.deepEqual(steps, Array.from({ length: 30 }, (_, i) => i + 1));
});

void test('ssh: detach (a window reload) and attach again from run.json', async () => {
  const project = trainingProject();
  const first = await startRun(project, { target: TEST_HOST_ALIAS, scriptsDir, hooks: hooks(), ssh: ssh(), env: { MNEMO_FAKE_STEPS: '10', MNEMO_FAKE_PAUSE_AT: '3' } });
  const remote = remoteDir(first.record);
  const id = first.record.id;
  await untilEvent(first, isStep(3));
  first.detach();
  // A partial copy: run.json lags behind the metrics file (written first): attach trusts the file.
  const again = await attachRun(project, id, { hooks: hooks(), ssh: ssh() });
  writeFileSync(join(remote, 'release'), '');
  const rec = await again.finished;
  assert.equal(rec.state, 'done');
  assert.deepEqual(readFileSync(join(project.runsDir, id, 'metrics.jsonl')), readFileSync(join(remote, 'metrics.jsonl')));
  assert.equal(rec.downloaded, true);
});

void test('ssh: cancel kills the whole remote process group; cancelRun works without a handle', async () => {
  const project = trainingProject();
  const handle = await startRun(project, { target: TEST_HOST_ALIAS, scriptsDir, hooks: hooks(), ssh: ssh(), env: { MNEMO_FAKE_STEPS: '50', MNEMO_FAKE_PAUSE_AT: '2', MNEMO_FAKE_CHILD: '1' } });
  await untilEvent(handle, isStep(2));
  const pgid = handle.record.pgid!;
  assert.ok(pidAlive(-pgid));
  await handle.cancel();
  assert.equal((await handle.finished).state, 'cancelled');
  assert.equal(pidAlive(-pgid), false);

  const second = await startRun(project, { target: TEST_HOST_ALIAS, scriptsDir, hooks: hooks(), ssh: ssh(), env: { MNEMO_FAKE_STEPS: '50', MNEMO_FAKE_PAUSE_AT: '2', MNEMO_FAKE_IGNORE_TERM: '1' } });
  await untilEvent(second, isStep(2));
  second.detach();
  const rec = await cancelRun(project, second.record.id, { hooks: hooks(), ssh: ssh(), cancelGraceMs: 300 });
  assert.equal(rec.state, 'cancelled');
  assert.equal(pidAlive(-second.record.pgid!), false);
});

void test('ssh: a changed host key is refused without asking, and no run is created', async () => {
  const project = trainingProject();
  const other = keygen(join(mkdtempSync(join(tmpdir(), 'mnemo-k-')), 'k'));
  const kh = join(mkdtempSync(join(tmpdir(), 'mnemo-kh-')), 'known_hosts');
  writeFileSync(kh, `${sshd.knownHostName} ${other.pub.split(' ').slice(0, 2).join(' ')}\n`);
  const h = hooks({ accept: true });
  const err = await rejection(startRun(project, { target: TEST_HOST_ALIAS, scriptsDir, hooks: h, ssh: ssh({ knownHostsPath: kh }) }));
  assert.match(err.message, /host key of \[127\.0\.0\.1\]:\d+ has CHANGED/);
  assert.ok(err.message.includes(sshd.hostFingerprint));
  assert.match(err.hint ?? '', /ssh-keygen -R/);
  assert.deepEqual(h.asked, []);
  assert.deepEqual(listRuns(project), []);
});

void test('ssh: an unknown host shows its fingerprint; accepted keys are remembered (hashed known_hosts work too)', async () => {
  const project = trainingProject();
  const kh = join(mkdtempSync(join(tmpdir(), 'mnemo-kh-')), 'known_hosts');
  const no = hooks({ accept: false });
  const err = await rejection(startRun(project, { target: TEST_HOST_ALIAS, scriptsDir, hooks: no, ssh: ssh({ knownHostsPath: kh }) }));
  assert.match(err.message, /was not accepted/);
  assert.ok(!existsSync(kh) || readFileSync(kh, 'utf8') === '');
  const yes = hooks({ accept: true });
  const handle = await startRun(project, { target: TEST_HOST_ALIAS, scriptsDir, hooks: yes, ssh: ssh({ knownHostsPath: kh }), env: { MNEMO_FAKE_STEPS: '2' } });
  assert.deepEqual(yes.asked, [{ host: sshd.knownHostName, fingerprint: sshd.hostFingerprint }]);
  assert.equal((await handle.finished).state, 'done');
  assert.match(readFileSync(kh, 'utf8'), new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 `));
  execFileSync('ssh-keygen', ['-q', '-H', '-f', kh], { stdio: 'ignore' });
  const again = hooks({ accept: true });
  const second = await startRun(project, { target: TEST_HOST_ALIAS, scriptsDir, hooks: again, ssh: ssh({ knownHostsPath: kh }), env: { MNEMO_FAKE_STEPS: '2' } });
  assert.equal((await second.finished).state, 'done');
  assert.deepEqual(again.asked, []);
});

void test('ssh: authentication failure, refused port and unknown host name are explained', async () => {
  const project = trainingProject();
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-auth-'));
  const stranger = join(dir, 'stranger');
  keygen(stranger);
  const cfg = join(dir, 'config');
  writeFileSync(cfg, `Host wrongkey\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User ${sshd.user}\n  IdentityFile ${stranger}\nHost closed\n  HostName 127.0.0.1\n  Port 1\nHost nowhere\n  HostName no-such-host.invalid\n`);
  const auth = await rejection(startRun(project, { target: 'wrongkey', scriptsDir, hooks: hooks(), ssh: ssh({ sshConfigPath: cfg }) }));
  assert.match(auth.message, /refused every key Mnemo offered \(.*stranger\)/);
  assert.match(auth.hint ?? '', /authorized_keys/);
  const refused = await rejection(startRun(project, { target: 'closed', scriptsDir, hooks: hooks(), ssh: ssh({ sshConfigPath: cfg }) }));
  assert.match(refused.message, /connection refused/);
  const dns = await rejection(startRun(project, { target: 'nowhere', scriptsDir, hooks: hooks(), ssh: ssh({ sshConfigPath: cfg }) }));
  assert.match(dns.message, /could not be resolved|cannot be reached|did not answer/);
  assert.deepEqual(listRuns(project), []);
});

void test('ssh: an encrypted key: the passphrase is asked for (again after a wrong one) and never written anywhere', async () => {
  const PASS = "pass phrase 'with' $(quotes)";
  const locked = await startSshd({ passphrase: PASS });
  try {
    const project = trainingProject();
    const h = hooks({ passphrases: ['wrong', PASS] });
    const o = { sshConfigPath: locked.sshConfig, knownHostsPath: locked.knownHosts, agent: '', python: 'python3', remoteRoot: join(locked.dir, 'runs') };
    const handle = await startRun(project, { target: TEST_HOST_ALIAS, scriptsDir, hooks: h, ssh: o, env: { MNEMO_FAKE_STEPS: '2' } });
    const rec = await handle.finished;
    assert.equal(rec.state, 'done');
    assert.deepEqual(h.passphrasesAsked, [locked.userKey, locked.userKey]);
    const local = join(project.runsDir, rec.id);
    for (const f of readdirSync(local)) if (f !== 'output') assert.ok(!readFileSync(join(local, f), 'utf8').includes(PASS), f);
    assert.ok(!h.lines.join('\n').includes(PASS));
    const skip = await rejection(startRun(project, { target: TEST_HOST_ALIAS, scriptsDir, hooks: hooks(), ssh: o }));
    assert.match(skip.message, /refused every key|no key or ssh-agent/);
  } finally {
    await locked.stop();
  }
});

void test('ssh: hostile folder names, Python path and label go through the quoting function untouched', async () => {
  const hostile = `it's "q" $(touch PWNED) \`touch PWNED\` ; | & \n é 日本`;
  const project = trainingProject('mnemo train $(touch PWNED) ');
  const binDir = join(sshd.dir, `py ${hostile}`);
  mkdirSync(binDir, { recursive: true });
  const python = join(binDir, `python ${hostile}`);
  symlinkSync(execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim(), python);
  const root = join(sshd.dir, `runs ${hostile}`);
  const handle = await startRun(project, { target: TEST_HOST_ALIAS, scriptsDir, hooks: hooks(), ssh: ssh({ remoteRoot: root, python }), label: hostile, env: { MNEMO_FAKE_STEPS: '3', WEIRD: hostile.replace('\n', ' ') } });
  const rec = await handle.finished;
  assert.equal(rec.state, 'done', JSON.stringify(rec.error));
  assert.ok(remoteDir(rec).startsWith(root + '/'));
  assert.equal(rec.label, hostile);
  assert.equal(eventsOf(join(project.runsDir, rec.id, 'metrics.jsonl')).filter((e) => e.event === 'log').length, 3);
  const pwned = execFileSync('find', [sshd.dir, project.root, process.env.HOME ?? '/root', '-maxdepth', '3', '-name', 'PWNED'], { encoding: 'utf8' });
  assert.equal(pwned, '');
  assert.ok(!existsSync(join(process.cwd(), 'PWNED')));
});

void test('ssh: without a named Python, a venv per requirements.txt is made once and reused', async () => {
  const project = trainingProject();
  const venvRoot = join(sshd.dir, 'venvs');
  const o = ssh({ python: undefined, venvRoot });
  const h1 = hooks();
  const r1 = await (await startRun(project, { target: TEST_HOST_ALIAS, scriptsDir, hooks: h1, ssh: o, env: { MNEMO_FAKE_STEPS: '2' } })).finished;
  assert.equal(r1.state, 'done', JSON.stringify(r1.error));
  const venvs = readdirSync(venvRoot);
  assert.equal(venvs.length, 1);
  assert.match(venvs[0], /^venv-[0-9a-f]{16}$/);
  assert.ok(h1.lines.some((l) => l.startsWith('Setting up Python on')));
  const h2 = hooks();
  const r2 = await (await startRun(project, { target: TEST_HOST_ALIAS, scriptsDir, hooks: h2, ssh: o, env: { MNEMO_FAKE_STEPS: '2' } })).finished;
  assert.equal(r2.state, 'done');
  assert.ok(h2.lines.some((l) => l.startsWith('Using the Python environment')));
  assert.deepEqual(readdirSync(venvRoot), venvs);
});

void test('ssh: ssh-agent (SSH_AUTH_SOCK) authenticates when no key file is configured', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-agent-'));
  const sock = join(dir, 'agent.sock');
  const out = execFileSync('ssh-agent', ['-a', sock], { encoding: 'utf8' });
  const agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)![1]);
  try {
    execFileSync('ssh-add', [sshd.userKey], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
    const cfg = join(dir, 'config');
    // IdentityFile points at a key that does not exist, so only the agent can log in.
    writeFileSync(cfg, `Host via-agent\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User ${sshd.user}\n  IdentityFile ${join(dir, 'none')}\n`);
    const project = trainingProject();
    const handle = await startRun(project, { target: 'via-agent', scriptsDir, hooks: hooks(), ssh: ssh({ sshConfigPath: cfg, agent: sock }), env: { MNEMO_FAKE_STEPS: '2' } });
    assert.equal((await handle.finished).state, 'done');
    const none = await rejection(startRun(project, { target: 'via-agent', scriptsDir, hooks: hooks(), ssh: ssh({ sshConfigPath: cfg, agent: '' }) }));
    assert.match(none.message, /no key or ssh-agent was available/);
  } finally {
    process.kill(agentPid);
  }
});

void test('ssh: a host that stays unreachable: the handle gives up after its tries, the run goes on and can be cancelled later', async () => {
  const lone = await startSshd();
  try {
    const project = trainingProject();
    const o = { sshConfigPath: lone.sshConfig, knownHostsPath: lone.knownHosts, agent: '', python: 'python3', remoteRoot: join(lone.dir, 'runs'), reconnect: { attempts: 2, initialDelayMs: 50 } };
    const h = hooks();
    const handle = await startRun(project, { target: TEST_HOST_ALIAS, scriptsDir, hooks: h, ssh: o, env: { MNEMO_FAKE_STEPS: '20', MNEMO_FAKE_PAUSE_AT: '2' } });
    const pgid = handle.record.pgid!;
    try {
      await untilEvent(handle, isStep(2));
      // The sessions first (children of the listener), then the listener: no new connections.
      assert.ok(lone.killSessions() > 0);
      process.kill(lone.pid, 'SIGTERM');
      const err = await rejection(handle.finished);
      assert.match(err.message, /could not reconnect after 2 tries/);
      assert.match(err.hint ?? '', /reattach/);
      assert.equal(readRun(project, handle.record.id).state, 'running');
      assert.ok(pidAlive(-pgid), 'the run survived the lost connection');
    } finally {
      process.kill(-pgid, 'SIGKILL');
    }
  } finally {
    await lone.stop();
  }
});

void test('ssh: a host key that changes between reconnects stops the handle with the warning, the run untouched', async () => {
  const project = trainingProject();
  const kh = join(mkdtempSync(join(tmpdir(), 'mnemo-kh-')), 'known_hosts');
  writeFileSync(kh, readFileSync(sshd.knownHosts));
  const h = hooks({ accept: true });
  const handle = await startRun(project, { target: TEST_HOST_ALIAS, scriptsDir, hooks: h, ssh: ssh({ knownHostsPath: kh }), env: { MNEMO_FAKE_STEPS: '20', MNEMO_FAKE_PAUSE_AT: '2' } });
  const pgid = handle.record.pgid!;
  try {
    await untilEvent(handle, isStep(2));
    const other = keygen(join(mkdtempSync(join(tmpdir(), 'mnemo-k-')), 'k'));
    writeFileSync(kh, `${sshd.knownHostName} ${other.pub.split(' ').slice(0, 2).join(' ')}\n`);
    sshd.killSessions();
    const err = await rejection(handle.finished);
    assert.match(err.message, /has CHANGED/);
    assert.equal(h.lines.filter((l) => l.startsWith('Connection lost')).length, 1, 'tried once, not again and again');
    assert.deepEqual(h.asked, []);
    assert.ok(pidAlive(-pgid));
  } finally {
    process.kill(-pgid, 'SIGKILL');
  }
});
