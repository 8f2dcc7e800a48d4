/**
 * One SSH connection (ssh2) to a run's host: host key checked against known_hosts, keys (with
 * passphrases asked through the hooks) and ssh-agent, commands with streamed output, sftp.
 * Failures become MnemoErrors that say what happened and what to do.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Client, utils, type ClientChannel, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { MnemoError } from '../errors';
import { registerSecret, scrub } from '../secrets';
import type { HostEntry, SshOptions, TrainingHooks } from './index';
import { checkHostKey, fingerprint, hostKeyAlgorithms, knownHostName, knownKeys, rememberHostKey } from './known-hosts';

const ALL_HOST_KEY_ALGOS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/** Passphrases given during one handle's life, so a reconnect does not ask again. Memory only. */
export type PassphraseCache = Map<string, string>;

export interface ExecResult {
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Written to the command's stdin, then stdin is closed. */
  stdin?: string;
  onStdout?(chunk: Buffer): void;
  onStderr?(chunk: Buffer): void;
  /** Keep stdout in the result (default true; false for long streams). */
  collect?: boolean;
}

/** A connection closed under a command: a drop, not a failure of the command. */
export class ConnectionLost extends MnemoError {
  constructor(host: string) {
    super(`The connection to ${host} was lost.`, 'Mnemo reconnects by itself; the run goes on on the host.');
    this.name = 'ConnectionLost';
  }
}

export function knownHostsFile(opts: SshOptions): string {
  return opts.knownHostsPath ?? join(homedir(), '.ssh', 'known_hosts');
}

export class SshConnection {
  private closed = false;
  private readonly closeListeners = new Set<() => void>();
  private sftpPromise: Promise<SFTPWrapper> | undefined;

  private constructor(
    readonly host: HostEntry,
    private readonly client: Client,
  ) {
    client.on('close', () => {
      this.closed = true;
      for (const cb of this.closeListeners) cb();
    });
    // After the handshake an error (a reset socket) is followed by 'close'; the listener keeps it from throwing.
    client.on('error', () => undefined);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  onClose(cb: () => void): { dispose(): void } {
    this.closeListeners.add(cb);
    return { dispose: () => this.closeListeners.delete(cb) };
  }

  static async open(host: HostEntry, ssh: SshOptions, hooks: TrainingHooks, passphrases: PassphraseCache = new Map()): Promise<SshConnection> {
    const knownFile = knownHostsFile(ssh);
    const label = `${host.user}@${host.hostname}:${host.port}`;
    const log = (line: string) => hooks.log?.(scrub(line));
    let refusal: MnemoError | undefined;

    const known = knownKeys(knownFile, host.hostname, host.port).filter((k) => !k.revoked);
    const preferred = [...new Set(known.flatMap((k) => hostKeyAlgorithms(k.type)))].filter((a) => ALL_HOST_KEY_ALGOS.includes(a));
    const algorithms = preferred.length ? [...preferred, ...ALL_HOST_KEY_ALGOS.filter((a) => !preferred.includes(a))] : ALL_HOST_KEY_ALGOS;

    const hostVerifier = (key: Buffer, verify: (ok: boolean) => void): void => {
      const fp = fingerprint(key);
      const verdict = checkHostKey(knownFile, host.hostname, host.port, key);
      if (verdict === 'known') return verify(true);
      if (verdict === 'changed' || verdict === 'revoked') {
        refusal = new MnemoError(
          `WARNING: the host key of ${knownHostName(host.hostname, host.port)} has ${verdict === 'changed' ? 'CHANGED' : 'been REVOKED'} (it now offers ${fp}). Someone may be intercepting the connection, or the host was reinstalled. Mnemo did not connect.`,
          `If you know why the key changed, remove the old key with \`ssh-keygen -R '${knownHostName(host.hostname, host.port)}'\` (file ${knownFile}) and connect again.`,
        );
        log(refusal.message);
        return verify(false);
      }
      hooks.acceptHostKey(knownHostName(host.hostname, host.port), fp, false).then(
        (ok) => {
          if (ok) {
            rememberHostKey(knownFile, host.hostname, host.port, key);
            log(`Added ${knownHostName(host.hostname, host.port)} (${fp}) to ${knownFile}.`);
          } else refusal = new MnemoError(`The host key of ${knownHostName(host.hostname, host.port)} (${fp}) was not accepted, so Mnemo did not connect.`, 'Check the fingerprint with the host\'s administrator (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host) and try again.');
          verify(ok);
        },
        (err: unknown) => {
          refusal = new MnemoError(`Could not confirm the host key of ${host.hostname}: ${String(err)}.`);
          verify(false);
        },
      );
    };

    const keyFiles = (host.identityFiles.length ? host.identityFiles : DEFAULT_KEYS.map((k) => join(homedir(), '.ssh', k))).filter((f) => existsSync(f));
    const agent = ssh.agent ?? process.env.SSH_AUTH_SOCK;
    const tried: string[] = [];
    const methods: Array<() => Promise<unknown>> = [];
    if (agent && existsSync(agent)) methods.push(async () => (tried.push('ssh-agent'), { type: 'agent', username: host.user, agent }));
    for (const file of keyFiles) {
      methods.push(async () => {
        let data: Buffer;
        try {
          data = readFileSync(file);
        } catch (err) {
          log(`Cannot read the key ${file}: ${(err as Error).message}`);
          return undefined;
        }
        let passphrase = passphrases.get(file);
        let parsed = utils.parseKey(data, passphrase);
        for (let i = 0; parsed instanceof Error && /passphrase|encrypted/i.test(parsed.message) && i < 3; i++) {
          passphrase = await hooks.passphrase(file);
          if (passphrase === undefined) return undefined;
          parsed = utils.parseKey(data, passphrase);
          if (parsed instanceof Error) log(`Wrong passphrase for ${file}.`);
        }
        if (parsed instanceof Error) {
          log(`Skipping the key ${file}: ${parsed.message.replace(/passphrase.*/i, 'passphrase not accepted')}`);
          return undefined;
        }
        if (passphrase !== undefined) {
          passphrases.set(file, passphrase);
          registerSecret(passphrase, 'key passphrase');
        }
        tried.push(file);
        return { type: 'publickey', username: host.user, key: data, passphrase };
      });
    }
    let next = 0;
    const authHandler = (_left: unknown, _partial: unknown, cb: (m: unknown) => void): void => {
      const step = async (): Promise<unknown> => {
        while (next < methods.length) {
          const m = await methods[next++]();
          if (m) return m;
        }
        return false;
      };
      step().then(cb, () => cb(false));
    };

    const client = new Client();
    const config: ConnectConfig = {
      host: host.hostname,
      port: host.port,
      username: host.user,
      readyTimeout: ssh.readyTimeoutMs ?? 20000,
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      algorithms: { serverHostKey: algorithms as ConnectConfig['algorithms'] extends infer A ? (A extends { serverHostKey?: infer S } ? S : never) : never },
      hostVerifier: hostVerifier as unknown as ConnectConfig['hostVerifier'],
      authHandler: authHandler as unknown as ConnectConfig['authHandler'],
    };
    log(`Connecting to ${label}…`);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error & { level?: string; code?: string }) => {
        if (err.level === 'agent') {
          log(`ssh-agent: ${err.message}`);
          return;
        }
        client.removeListener('ready', onReady);
        client.removeListener('error', onError);
        client.end();
        reject(refusal ?? explainConnectError(err, host, tried));
      };
      const onReady = () => {
        client.removeListener('error', onError);
        resolve();
      };
      client.on('error', onError);
      client.once('ready', onReady);
      client.connect(config);
    });
    log(`Connected to ${label}.`);
    return new SshConnection(host, client);
  }

  /** Runs a command (built with shCommand) and waits for it to end. */
  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new ConnectionLost(this.host.name));
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, stream: ClientChannel) => {
        if (err) return reject(this.closed ? new ConnectionLost(this.host.name) : err);
        const out: Buffer[] = [];
        const errs: Buffer[] = [];
        let code: number | null = null;
        let signal: string | undefined;
        let settled = false;
        const lost = this.onClose(() => {
          if (!settled && code === null) {
            settled = true;
            reject(new ConnectionLost(this.host.name));
          }
        });
        stream.on('data', (d: Buffer) => {
          if (opts.collect !== false) out.push(d);
          opts.onStdout?.(d);
        });
        stream.stderr.on('data', (d: Buffer) => {
          errs.push(d);
          opts.onStderr?.(d);
        });
        stream.on('exit', (c: number | null, s?: string) => {
          code = c;
          signal = s;
        });
        stream.on('close', () => {
          lost.dispose();
          if (settled) return;
          settled = true;
          if (code === null && this.closed) return reject(new ConnectionLost(this.host.name));
          resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errs).toString('utf8') });
        });
        if (opts.stdin !== undefined) stream.end(opts.stdin);
        else stream.end();
      });
    });
  }

  /** Runs a command that must succeed; its stderr is in the error. */
  async run(command: string, what: string, opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(command, opts);
    if (r.code !== 0) {
      throw new MnemoError(`${what} failed on ${this.host.name} (exit ${r.code ?? r.signal}): ${r.stderr.trim().split('\n').slice(-5).join(' | ') || 'no output'}.`);
    }
    return r.stdout;
  }

  sftp(): Promise<SFTPWrapper> {
    this.sftpPromise ??= new Promise((resolve, reject) => this.client.sftp((err, s) => (err ? reject(err) : resolve(s))));
    return this.sftpPromise;
  }

  /** Closes the connection; a destroyed socket (tests) is `drop`. */
  end(): void {
    this.client.end();
  }

  /** Drops the connection the hard way, as a network failure would (for tests). */
  destroySocket(): void {
    (this.client as unknown as { _sock?: { destroy(): void } })._sock?.destroy();
  }
}

export function explainConnectError(err: Error & { level?: string; code?: string }, host: HostEntry, tried: string[]): MnemoError {
  const where = `${host.hostname}:${host.port}`;
  const msg = err.message ?? String(err);
  if (err.level === 'client-authentication' || /authentication methods failed/i.test(msg)) {
    return new MnemoError(
      `${host.user}@${where} refused every key Mnemo offered (${tried.length ? tried.join(', ') : 'no key or ssh-agent was available'}).`,
      `Check that "${host.user}" is the right user and that the public key is in ~/.ssh/authorized_keys on the host (ssh-copy-id), or set IdentityFile for "${host.name}" in ~/.ssh/config.`,
    );
  }
  if (err.code === 'ECONNREFUSED') return new MnemoError(`Nothing accepts SSH connections at ${where} (connection refused).`, 'Check the host name and port, and that sshd runs on the host.', undefined, 'sshHosts');
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return new MnemoError(`The host name "${host.hostname}" could not be resolved (${err.code}).`, `Check the spelling, or the HostName of "${host.name}" in ~/.ssh/config.`, undefined, 'sshHosts');
  if (err.code === 'ETIMEDOUT' || err.level === 'client-timeout' || /timed out/i.test(msg)) return new MnemoError(`${where} did not answer in time (timeout).`, 'Check that the host is up and reachable from here (VPN, firewall).', undefined, 'sshHosts');
  if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') return new MnemoError(`${where} cannot be reached from here (${err.code}).`, 'Check the network connection, VPN or firewall.', undefined, 'sshHosts');
  if (err.code === 'ECONNRESET') return new MnemoError(`${where} closed the connection during the handshake.`, 'Check that the port is an SSH server\'s and that the host allows you (sshd logs, fail2ban).');
  return new MnemoError(`Could not connect to ${where}: ${msg}.`, 'Check that `ssh ' + host.name + '` works from a terminal.');
}
