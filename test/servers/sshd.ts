/**
 * A real OpenSSH server for tests: Debian's /usr/sbin/sshd on 127.0.0.1, a free port, host and
 * user keys generated in a temporary folder, logging in as the current user (root in CI: sshd
 * must run as root). Reusable by any test that needs an SSH host:
 *
 *   const sshd = await startSshd();           // { port, user, dir, userKey, sshConfig, ... }
 *   const hosts = { sshConfigPath: sshd.sshConfig, knownHostsPath: sshd.knownHosts };
 *   // host alias "mnemo-test" in sshd.sshConfig -> 127.0.0.1:port, IdentityFile sshd.userKey
 *   sshd.sessionPids();                       // the sshd processes serving open connections
 *   sshd.killSessions();                      // drops every open connection (SIGKILL), server stays up
 *   await sshd.stop();                        // stops the server by its pid, removes the folder
 *
 * `startSshd({ passphrase })` makes the user key encrypted; `trustHost: false` leaves
 * known_hosts empty (an unknown host), else it holds the host's key.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface TestSshd {
  host: '127.0.0.1';
  port: number;
  user: string;
  /** The temporary folder holding keys, configs and the server's log. */
  dir: string;
  /** Private user key (authorized on the server). */
  userKey: string;
  /** An ssh config with `Host mnemo-test` pointing here. */
  sshConfig: string;
  /** A known_hosts file (holding the host key unless trustHost was false). */
  knownHosts: string;
  /** The host's public key line ("ssh-ed25519 AAAA...") and its SHA256 fingerprint. */
  hostKeyLine: string;
  hostFingerprint: string;
  /** `[127.0.0.1]:port` */
  knownHostName: string;
  pid: number;
  /** The server's log so far (LogLevel VERBOSE). */
  log(): string;
  sessionPids(): number[];
  killSessions(): number;
  stop(): Promise<void>;
}

export const SSHD = '/usr/sbin/sshd';
export const TEST_HOST_ALIAS = 'mnemo-test';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once the port answers with an SSH banner. */
function waitForBanner(port: number, child: ChildProcess, logFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const fail = (why: string) => {
      if (done) return;
      done = true;
      let log = '';
      try {
        log = readFileSync(logFile, 'utf8');
      } catch {
        log = '';
      }
      reject(new Error(`sshd did not start: ${why}\n${log}`));
    };
    child.once('exit', (code) => fail(`exited with ${code}`));
    const attempt = (n: number) => {
      if (done) return;
      const sock = connect(port, '127.0.0.1');
      sock.once('data', (d) => {
        sock.destroy();
        if (d.toString().startsWith('SSH-')) {
          done = true;
          resolve();
        } else fail('no SSH banner');
      });
      sock.once('error', () => {
        sock.destroy();
        if (n > 200) fail('port never opened');
        else setTimeout(() => attempt(n + 1), 50);
      });
    };
    attempt(0);
  });
}

export function keygen(file: string, passphrase = '', comment = 'mnemo-test'): { pub: string; fingerprint: string } {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', comment, '-f', file], { stdio: 'ignore' });
  const pub = readFileSync(`${file}.pub`, 'utf8').trim();
  const fingerprint = execFileSync('ssh-keygen', ['-lf', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1];
  return { pub, fingerprint };
}

export async function startSshd(opts: { passphrase?: string; trustHost?: boolean; extraConfig?: string } = {}): Promise<TestSshd> {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-sshd-'));
  const user = userInfo().username;
  const hostKey = join(dir, 'host_ed25519');
  const host = keygen(hostKey, '', 'mnemo-test-host');
  const userKey = join(dir, 'id_ed25519');
  const client = keygen(userKey, opts.passphrase ?? '');
  writeFileSync(join(dir, 'authorized_keys'), client.pub + '\n', { mode: 0o600 });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  const logFile = join(dir, 'sshd.log');
  const config = [
    `ListenAddress 127.0.0.1`,
    `Port ${port}`,
    `HostKey ${hostKey}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'LogLevel VERBOSE',
    'MaxStartups 50',
    'MaxSessions 50',
    'Subsystem sftp internal-sftp',
    opts.extraConfig ?? '',
  ].join('\n');
  const configFile = join(dir, 'sshd_config');
  writeFileSync(configFile, config + '\n');
  const child = spawn(SSHD, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => {
    log += d.toString();
    if (log.length > 1 << 20) log = log.slice(-(1 << 19));
  });
  writeFileSync(logFile, '');
  await waitForBanner(port, child, logFile);
  const [type, key] = host.pub.split(' ');
  const knownHostName = `[127.0.0.1]:${port}`;
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, opts.trustHost === false ? '' : `${knownHostName} ${type} ${key}\n`);
  const sshConfig = join(dir, 'ssh_config');
  writeFileSync(sshConfig, `Host ${TEST_HOST_ALIAS}\n  HostName 127.0.0.1\n  Port ${port}\n  User ${user}\n  IdentityFile ${userKey}\n`);
  const pid = child.pid!;
  const sessionPids = (): number[] => {
    try {
      return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  return {
    host: '127.0.0.1',
    port,
    user,
    dir,
    userKey,
    sshConfig,
    knownHosts,
    hostKeyLine: `${type} ${key}`,
    hostFingerprint: host.fingerprint,
    knownHostName,
    pid,
    log: () => log,
    sessionPids,
    killSessions: () => {
      const pids = sessionPids();
      for (const p of pids) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      return pids.length;
    },
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
