/**
 * Where a run's script executes: this machine (child processes) or an SSH host. Both run the same
 * wrapper in the run folder, detached in a process group of its own:
 *
 *   sh -c '"$1" train.py --config config.json; echo $? > exit_code' sh PYTHON  >train.log 2>&1
 *
 * so a run is found again by its process group id (the wrapper's pid) and its files alone.
 */
import { spawn } from 'node:child_process';
import { closeSync, createWriteStream, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import type { SFTPWrapper } from 'ssh2';
import { MnemoError } from '../errors';
import { ensureVenv, type Shell } from '../pyenv';
import type { HostEntry, SshOptions, TrainingHooks } from './index';
import { RUN_FILES } from './protocol';
import { raw, shCommand, shQuote } from './quote';
import { ConnectionLost, SshConnection, type PassphraseCache } from './ssh';

/** The wrapper's own shell text (fixed; the Python path comes in as $1, never inside it). */
const WRAPPER = `"$1" train.py --config ${RUN_FILES.config}; echo $? > exit_code`;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function checkEnv(env: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env ?? {})) {
    if (!ENV_NAME.test(k)) throw new MnemoError(`"${k}" is not an environment variable name.`, 'Use letters, digits and "_".');
    if (/[\n\0]/.test(v)) throw new MnemoError(`The value of ${k} holds a line break.`, 'Pass a single-line value.');
    out[k] = v;
  }
  return out;
}

export interface Backend {
  readonly kind: 'local' | 'ssh';
  /** The run folder on the target. */
  readonly dir: string;
  /**
   * Streams the target's metrics.jsonl from `offset` until the script's wrapper has ended and
   * the file is read to its end. Rejects with ConnectionLost when the connection drops.
   */
  follow(offset: number, pid: number, onData: (chunk: Buffer) => void): Promise<void>;
  /** Stops a follow in progress (detach); it then never settles. */
  stopFollow(): void;
  /** Whether the wrapper (pid) / the whole group still runs. */
  alive(pid: number, group: boolean): Promise<boolean>;
  signal(pgid: number, sig: 'TERM' | 'KILL'): Promise<void>;
  /** The wrapper's exit_code file (undefined when it was killed before writing it). */
  exitCode(): Promise<number | undefined>;
  /** The last bytes of train.log. */
  logTail(bytes: number): Promise<string>;
  /** Re-establishes the connection after a drop. */
  reconnect(): Promise<void>;
  close(): void;
}

// ---------------------------------------------------------------- local

export class LocalBackend implements Backend {
  readonly kind = 'local';
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly dir: string,
    private readonly pollMs = 200,
  ) {}

  /** Starts the wrapper detached (its own session and process group); returns its pid = pgid. */
  launch(python: string, env: Record<string, string>): number {
    const log = openSync(join(this.dir, RUN_FILES.log), 'a');
    try {
      const child = spawn('/bin/sh', ['-c', WRAPPER, 'sh', python], {
        cwd: this.dir,
        detached: true,
        stdio: ['ignore', log, log],
        env: { ...process.env, ...env, PYTHONUNBUFFERED: '1' },
      });
      if (child.pid === undefined) throw new MnemoError('Could not start /bin/sh for the training script.');
      child.on('error', () => undefined);
      child.unref();
      return child.pid;
    } finally {
      closeSync(log);
    }
  }

  follow(offset: number, pid: number, onData: (chunk: Buffer) => void): Promise<void> {
    this.stopped = false;
    const file = join(this.dir, RUN_FILES.metrics);
    let pos = offset;
    const readMore = () => {
      if (!existsSync(file)) return;
      const fd = openSync(file, 'r');
      try {
        const size = fstatSync(fd).size;
        while (pos < size) {
          const buf = Buffer.alloc(Math.min(1 << 20, size - pos));
          const n = readSync(fd, buf, 0, buf.length, pos);
          if (n <= 0) break;
          pos += n;
          onData(buf.subarray(0, n));
        }
      } finally {
        closeSync(fd);
      }
    };
    return new Promise((resolve, reject) => {
      const tick = () => {
        if (this.stopped) return;
        try {
          const running = pidAlive(pid);
          readMore();
          if (!running) return resolve();
        } catch (err) {
          return reject(err instanceof Error ? err : new Error(String(err)));
        }
        this.timer = setTimeout(tick, this.pollMs);
      };
      tick();
    });
  }

  stopFollow(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  alive(pid: number, group: boolean): Promise<boolean> {
    return Promise.resolve(pidAlive(group ? -pid : pid));
  }

  signal(pgid: number, sig: 'TERM' | 'KILL'): Promise<void> {
    try {
      process.kill(-pgid, `SIG${sig}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
    return Promise.resolve();
  }

  exitCode(): Promise<number | undefined> {
    try {
      const n = Number(readFileSync(join(this.dir, 'exit_code'), 'utf8').trim());
      return Promise.resolve(Number.isInteger(n) ? n : undefined);
    } catch {
      return Promise.resolve(undefined);
    }
  }

  logTail(bytes: number): Promise<string> {
    return Promise.resolve(readTail(join(this.dir, RUN_FILES.log), bytes));
  }

  reconnect(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    this.stopFollow();
  }
}

/**
 * Whether a process (pid > 0) or any process of a group (pid < 0) runs. Zombies do not count:
 * a finished process whose parent has not reaped it yet (or an init that never reaps, as in some
 * containers) still answers kill(0). Linux's /proc tells them apart; elsewhere kill(0) is used.
 */
export function pidAlive(pid: number): boolean {
  if (existsSync('/proc/self/stat')) {
    if (pid > 0) return procState(`/proc/${pid}/stat`)?.state.match(/^[^Z]/) != null;
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const st = procState(`/proc/${name}/stat`);
      if (st && st.pgrp === -pid && st.state !== 'Z') return true;
    }
    return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function procState(file: string): { state: string; pgrp: number } | undefined {
  try {
    const text = readFileSync(file, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/**
 * The same test in POSIX sh for a remote host: `alive PID` or `alive -PGID`, exit 0 when running.
 * Field 3 of /proc/PID/stat after the command name is the state, field 5 the process group.
 */
const SH_ALIVE = [
  'alive() {',
  '  if [ -r /proc/self/stat ]; then',
  '    case "$1" in',
  '      -*) cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="${1#-}" \'{ sub(/^.*\\) /, ""); if ($3 == g && $1 != "Z") f = 1 } END { exit !f }\' ;;',
  '      *) s=$(sed -n \'s/^.*) \\(.\\).*$/\\1/p\' "/proc/$1/stat" 2>/dev/null); [ -n "$s" ] && [ "$s" != Z ] ;;',
  '    esac',
  '  else kill -s 0 -- "$1" 2>/dev/null; fi',
  '}',
].join('\n');

export function readTail(file: string, bytes: number): string {
  try {
    const size = statSync(file).size;
    const fd = openSync(file, 'r');
    try {
      const len = Math.min(bytes, size);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      return buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------- ssh

export class SshBackend implements Backend {
  readonly kind = 'ssh';
  private following: { dispose(): void } | undefined;
  private stopped = false;

  private constructor(
    readonly host: HostEntry,
    readonly dir: string,
    private conn: SshConnection,
    private readonly ssh: SshOptions,
    private readonly hooks: TrainingHooks,
    private readonly passphrases: PassphraseCache,
  ) {}

  static async connect(host: HostEntry, dir: string, ssh: SshOptions, hooks: TrainingHooks, passphrases: PassphraseCache = new Map()): Promise<SshBackend> {
    const conn = await SshConnection.open(host, ssh, hooks, passphrases);
    return new SshBackend(host, dir, conn, ssh, hooks, passphrases);
  }

  /** The same connection, for another folder (the run's, once its id is known). */
  withDir(dir: string): SshBackend {
    return new SshBackend(this.host, dir, this.conn, this.ssh, this.hooks, this.passphrases);
  }

  get connection(): SshConnection {
    return this.conn;
  }

  /** The remote home folder (sftp realpath of "."). */
  static async home(conn: SshConnection): Promise<string> {
    const sftp = await conn.sftp();
    return new Promise((resolve, reject) => sftp.realpath('.', (err, p) => (err ? reject(err) : resolve(p))));
  }

  /** `~/x` and relative paths under the remote home; absolute paths as they are. */
  static absolute(path: string, home: string): string {
    if (path === '~') return home;
    if (path.startsWith('~/')) return posix.join(home, path.slice(2));
    return path.startsWith('/') ? path : posix.join(home, path);
  }

  async upload(files: Array<{ local: string; name: string }>): Promise<void> {
    await this.conn.run(shCommand('mkdir', '-p', '--', this.dir), 'Creating the run folder');
    const sftp = await this.conn.sftp();
    for (const f of files) {
      this.hooks.log?.(`Uploading ${f.name}…`);
      await new Promise<void>((resolve, reject) =>
        sftp.fastPut(f.local, posix.join(this.dir, f.name), (err) => (err ? reject(new MnemoError(`Uploading ${f.name} to ${this.host.name} failed: ${err.message}.`, 'Check the free space and permissions of the run folder on the host.')) : resolve())),
      );
    }
  }

  /** A venv for these requirements, made once under venvRoot and reused while they are unchanged (src/core/pyenv.ts, shared with this machine). */
  async ensureVenv(venvDir: string, requirements: string): Promise<string> {
    const shell: Shell = async (script, onLine) => {
      let partial = '';
      const r = await this.conn.exec(script, {
        collect: true,
        onStdout: (d: Buffer) => {
          const lines = (partial + d.toString('utf8')).split('\n');
          partial = lines.pop() ?? '';
          for (const l of lines) onLine(l);
        },
      });
      return { code: r.code, output: r.stdout };
    };
    const exists = async (python: string) => (await this.conn.exec(shCommand('test', '-x', python))).code === 0;
    return ensureVenv(shell, exists, { venvDir, requirementsFile: requirements, where: this.host.name, pythonSetting: 'mnemo.training.python', log: this.hooks.log });
  }

  /**
   * Starts the wrapper detached with setsid + nohup; `env` goes over stdin. Returns its pid = pgid.
   * `script`: another fixed wrapper text (eval.py's, src/core/eval/remote.ts), its words after the
   * Python as `args` (each quoted), its output into `log` instead of train.log.
   */
  async launch(python: string, env: Record<string, string>, script?: { wrapper: string; args: string[]; log: string; what: string }): Promise<number> {
    const lines = [
      shCommand('cd', '--', this.dir) + ' || exit 1',
      // The environment arrives on stdin as NAME=value lines ended by an empty line, so no secret
      // is ever part of a command line (visible in ps) or a file.
      'while IFS= read -r l; do [ -z "$l" ] && break; export "$l"; done',
      'export PYTHONUNBUFFERED=1',
      shCommand('setsid', 'nohup', 'sh', '-c', script?.wrapper ?? WRAPPER, 'sh', python, ...(script?.args ?? []), raw(`>${shQuote(script?.log ?? RUN_FILES.log)} 2>&1 </dev/null &`)),
      'echo "$!"',
    ].join('\n');
    const stdin = Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join('') + '\n';
    const what = script?.what ?? 'the training script';
    const out = await this.conn.run(lines, `Starting ${what}`, { stdin });
    const pid = Number(out.trim().split('\n').pop());
    if (!Number.isInteger(pid) || pid <= 1) throw new MnemoError(`Starting ${what} on ${this.host.name} gave no process id ("${out.trim()}").`);
    return pid;
  }

  async follow(offset: number, pid: number, onData: (chunk: Buffer) => void): Promise<void> {
    this.stopped = false;
    // Polls the file's size and sends exactly the new bytes (tail | head -c), so the byte count
    // is known on both sides; liveness is looked at before the size, so the last pass after the
    // script ended reads everything it wrote. The file may not exist yet.
    const loop = [
      SH_ALIVE,
      shCommand('cd', '--', this.dir) + ' || exit 3',
      `off=${Math.trunc(offset)}`,
      'while :; do',
      `  if alive ${Math.trunc(pid)}; then run=1; else run=0; fi`,
      `  size=$(wc -c < ${RUN_FILES.metrics} 2>/dev/null || echo 0); size=$((size + 0))`,
      `  if [ "$size" -gt "$off" ]; then tail -c +$((off + 1)) ${RUN_FILES.metrics} | head -c $((size - off)); off=$size; fi`,
      '  [ "$run" = 0 ] && exit 0',
      // A dropped connection takes the session's sshd (this shell's parent) with it: stop too.
      '  kill -s 0 "$PPID" 2>/dev/null || exit 0',
      '  sleep 0.3',
      'done',
    ].join('\n');
    const conn = this.conn;
    const run = conn.exec(loop, { onStdout: (d) => !this.stopped && onData(d), collect: false });
    this.following = { dispose: () => conn.end() };
    let result;
    try {
      result = await run;
    } finally {
      this.following = undefined;
    }
    if (this.stopped) return new Promise(() => undefined);
    if (result.code !== 0) {
      throw new MnemoError(`Following ${RUN_FILES.metrics} on ${this.host.name} failed (exit ${result.code ?? result.signal}): ${result.stderr.trim().slice(-300) || 'no output'}.`, 'Check that the run folder still exists on the host, then reattach the run.');
    }
  }

  stopFollow(): void {
    this.stopped = true;
    this.following?.dispose();
  }

  async alive(pid: number, group: boolean): Promise<boolean> {
    const r = await this.conn.exec(`${SH_ALIVE}\nalive ${group ? '-' : ''}${Math.trunc(pid)}`);
    return r.code === 0;
  }

  async signal(pgid: number, sig: 'TERM' | 'KILL'): Promise<void> {
    await this.conn.exec(shCommand('kill', '-s', sig, '--', `-${pgid}`) + ' 2>/dev/null');
  }

  async exitCode(): Promise<number | undefined> {
    const r = await this.conn.exec(shCommand('cat', '--', posix.join(this.dir, 'exit_code')) + ' 2>/dev/null');
    const n = Number(r.stdout.trim());
    return r.code === 0 && r.stdout.trim() !== '' && Number.isInteger(n) ? n : undefined;
  }

  async logTail(bytes: number): Promise<string> {
    const r = await this.conn.exec(shCommand('tail', '-c', String(bytes), '--', posix.join(this.dir, RUN_FILES.log)) + ' 2>/dev/null');
    return r.stdout;
  }

  async reconnect(): Promise<void> {
    this.conn.end();
    this.conn = await SshConnection.open(this.host, this.ssh, this.hooks, this.passphrases);
  }

  /** Copies output/ (recursively) and train.log into `localDir`. */
  async download(localDir: string): Promise<{ files: number; bytes: number }> {
    const sftp = await this.conn.sftp();
    const stats = { files: 0, bytes: 0 };
    const log = posix.join(this.dir, RUN_FILES.log);
    if (await exists(sftp, log)) await get(sftp, log, join(localDir, RUN_FILES.log), stats);
    const out = posix.join(this.dir, RUN_FILES.output);
    if (await exists(sftp, out)) await getTree(sftp, out, join(localDir, RUN_FILES.output), stats);
    return stats;
  }

  async removeDir(): Promise<void> {
    await this.conn.run(shCommand('rm', '-rf', '--', this.dir), 'Removing the remote run folder');
  }

  close(): void {
    this.stopFollow();
    this.conn.end();
  }
}

function exists(sftp: SFTPWrapper, path: string): Promise<boolean> {
  return new Promise((resolve) => sftp.stat(path, (err) => resolve(!err)));
}

function get(sftp: SFTPWrapper, remote: string, local: string, stats: { files: number; bytes: number }): Promise<void> {
  mkdirSync(dirname(local), { recursive: true });
  return new Promise((resolve, reject) => {
    // A stream rather than fastGet: files of several GB (merged models) in order, constant memory.
    const src = sftp.createReadStream(remote);
    const dst = createWriteStream(local);
    src.on('data', (d: Buffer) => (stats.bytes += d.length));
    src.on('error', reject);
    dst.on('error', reject);
    dst.on('finish', () => {
      stats.files++;
      resolve();
    });
    src.pipe(dst);
  });
}

async function getTree(sftp: SFTPWrapper, remote: string, local: string, stats: { files: number; bytes: number }): Promise<void> {
  mkdirSync(local, { recursive: true });
  const entries = await new Promise<Array<{ filename: string; attrs: { isDirectory(): boolean; isFile(): boolean } }>>((resolve, reject) =>
    sftp.readdir(remote, (err, list) => (err ? reject(err) : resolve(list as never))),
  );
  for (const e of entries) {
    if (e.filename === '.' || e.filename === '..' || e.filename.includes('/')) continue;
    const r = posix.join(remote, e.filename);
    const l = join(local, e.filename);
    if (e.attrs.isDirectory()) await getTree(sftp, r, l, stats);
    else if (e.attrs.isFile()) await get(sftp, r, l, stats);
  }
}

export { ConnectionLost, shQuote };
