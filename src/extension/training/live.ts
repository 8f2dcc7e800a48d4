import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { describeError, MnemoError } from '../../core/errors';
import type { Project } from '../../core/project';
import { attachRun, type ConnectOptions, type RunHandle, type RunRecord, type SshOptions } from '../../core/training';
import type { Ctx } from '../ctx';
import type { VscodeTrainingHooks } from './hooks';
import { isLive, type RunsModel } from './model';
import { describeState } from './nodes';
import { COMMANDS } from './ids';

/** How to reach SSH hosts, from the settings (read at each use, so a changed setting applies at once). */
export function sshOptions(ctx: Ctx): SshOptions {
  const s = ctx.settings;
  return { sshConfigPath: s.sshConfigFile, knownHostsPath: s.sshKnownHostsFile, settingsHosts: s.trainingHosts, python: s.trainingPython };
}

/**
 * runs/<id>/.follower.json: the process (an extension host on this machine) that follows the run
 * and appends its metrics. A second follower would append the same bytes again, so a window does
 * not attach to a run another live window follows.
 */
const FOLLOWER_FILE = '.follower.json';

/** Whether a process runs (a zombie does not count: this machine's init may never reap one). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

interface Followed {
  handle: RunHandle;
  subs: { dispose(): void }[];
}

/**
 * The runs this window follows: one handle (an SSH session, or a local file tail) per live run,
 * owned here and detached when the window goes (the runs themselves go on, and the next window
 * reattaches from run.json). News from a handle makes the model look at the run's files at once.
 */
export class LiveRuns implements vscode.Disposable {
  private readonly followed = new Map<string, Followed>();
  private readonly attaching = new Map<string, Promise<RunHandle>>();
  /** Live runs another window followed when this one started: taken over once that window is gone. */
  private readonly waiting = new Map<string, Project>();
  private takeover: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: Ctx,
    private readonly model: RunsModel,
    readonly hooks: VscodeTrainingHooks,
  ) {}

  private watchForTakeover(): void {
    if (this.takeover || !this.waiting.size) return;
    this.takeover = setInterval(() => {
      for (const [id, project] of [...this.waiting]) {
        const r = this.model.get(id)?.record;
        if (!r || !isLive(r.state) || this.followed.has(id)) this.waiting.delete(id);
        else if (this.otherFollower(id) === undefined) {
          this.waiting.delete(id);
          this.attach(project, id, this.hooks.forPurpose(`to follow run ${id}`)).then(
            () => this.ctx.log.info(`Run ${id}: the window that followed it is gone; followed here now.`),
            (err: unknown) => this.ctx.log.warn(`Could not take over run ${id}: ${describeError(err)}`),
          );
        }
      }
      if (!this.waiting.size) {
        clearInterval(this.takeover);
        this.takeover = undefined;
      }
    }, 2000);
  }

  connectOptions(hooks = this.hooks as ConnectOptions['hooks']): ConnectOptions {
    return { ssh: sshOptions(this.ctx), hooks };
  }

  handle(id: string): RunHandle | undefined {
    return this.followed.get(id)?.handle;
  }

  /** Follows a handle: its events and record changes refresh the model; its end is announced. */
  follow(handle: RunHandle): RunHandle {
    const id = handle.record.id;
    this.drop(id);
    const subs = [handle.onEvent(() => this.model.poke(id)), handle.onRecord(() => this.model.poke(id))];
    this.followed.set(id, { handle, subs });
    this.markFollower(id);
    this.model.poke(id);
    handle.finished.then(
      (record) => {
        if (this.followed.get(id)?.handle !== handle) return;
        this.drop(id);
        this.model.poke(id);
        void this.announce(record);
      },
      (err: unknown) => {
        if (this.followed.get(id)?.handle !== handle) return;
        this.drop(id);
        this.model.poke(id);
        // The run goes on on its target: say so, and how to pick it up again.
        this.ctx.log.warn(`Lost run ${id}: ${describeError(err)}`);
        void vscode.window.showWarningMessage(`Mnemo: lost the connection to run ${id}: ${describeError(err)} The run itself goes on; reattach when the machine can be reached.`, 'Reattach', 'Show Logs').then((c) => {
          if (c === 'Reattach') void vscode.commands.executeCommand(COMMANDS.reattachRun, id);
          if (c === 'Show Logs') this.ctx.log.show();
        });
      },
    );
    return handle;
  }

  /** The process id of another live window that follows the run, if one does. */
  otherFollower(id: string): number | undefined {
    const dir = this.model.runDir(id);
    if (!dir) return undefined;
    try {
      const pid = (JSON.parse(readFileSync(join(dir, FOLLOWER_FILE), 'utf8')) as { pid?: unknown }).pid;
      return typeof pid === 'number' && pid !== process.pid && processAlive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  private markFollower(id: string): void {
    const dir = this.model.runDir(id);
    if (!dir) return;
    try {
      writeFileSync(join(dir, FOLLOWER_FILE), JSON.stringify({ pid: process.pid, since: new Date().toISOString() }) + '\n');
    } catch (err) {
      this.ctx.log.debug(`Could not mark run ${id} as followed here: ${describeError(err)}`);
    }
  }

  private unmarkFollower(id: string): void {
    const dir = this.model.runDir(id);
    if (!dir) return;
    const file = join(dir, FOLLOWER_FILE);
    try {
      if ((JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown }).pid === process.pid) unlinkSync(file);
    } catch {
      // Not marked, or the run folder is gone.
    }
  }

  /** Attaches to a run from its record (after a reload, or when asked); one attach at a time per run. */
  attach(project: Project, id: string, hooks?: ConnectOptions['hooks']): Promise<RunHandle> {
    const pending = this.attaching.get(id);
    if (pending) return pending;
    const other = this.otherFollower(id);
    if (other !== undefined) {
      return Promise.reject(
        new MnemoError(`Run ${id} is followed by another VS Code window (process ${other}).`, 'Its metrics reach runs/ from there and show here too; reattach here once that window is closed.'),
      );
    }
    this.drop(id);
    const job = attachRun(project, id, this.connectOptions(hooks))
      .then((h) => this.follow(h))
      .finally(() => this.attaching.delete(id));
    this.attaching.set(id, job);
    return job;
  }

  /** At activation: every run whose record says it is setting up or running is followed again. */
  async reattachAll(project: Project): Promise<void> {
    const live = this.model.list().filter((r) => isLive(r.state) && !this.followed.has(r.id));
    for (const r of live) {
      const other = this.otherFollower(r.id);
      if (other !== undefined) {
        // A reload can start this window before the old one is quite gone: wait for it, then follow.
        this.ctx.log.info(`Run ${r.id} is followed by another VS Code window (process ${other}); its metrics show here from the files, and this window follows it once that one is gone.`);
        this.waiting.set(r.id, project);
        this.watchForTakeover();
        continue;
      }
      try {
        await this.attach(project, r.id, this.hooks.forPurpose(`to follow run ${r.id} again`));
        this.ctx.log.info(`Reattached run ${r.id} (${describeTarget(r)}).`);
      } catch (err) {
        this.ctx.log.warn(`Could not reattach run ${r.id} (${describeTarget(r)}): ${describeError(err)} It is shown as it was last seen; use Reattach Run when its machine can be reached.`);
      }
    }
  }

  /** Stops following a run (what closing the window does); the run goes on. */
  detach(id: string): void {
    this.drop(id);
  }

  private drop(id: string): void {
    const f = this.followed.get(id);
    if (!f) return;
    this.followed.delete(id);
    for (const s of f.subs) s.dispose();
    f.handle.detach();
    this.unmarkFollower(id);
  }

  private async announce(record: RunRecord): Promise<void> {
    const snap = this.model.get(record.id);
    const what = snap ? describeState(snap) : record.state;
    if (record.advice) {
      // A Find Epochs probe: its advice, and the run it advises one click away.
      const a = record.advice;
      const c = await vscode.window.showInformationMessage(`Mnemo: Find Epochs advises ${a.epochs} epoch${a.epochs > 1 ? 's' : ''} (cosine schedule). ${a.reason}`, 'Train With These Settings', 'Open Chart');
      if (c === 'Train With These Settings') void vscode.commands.executeCommand(COMMANDS.trainWithAdvice, record.id);
      if (c === 'Open Chart') void vscode.commands.executeCommand(COMMANDS.openChart, record.id);
    } else if (record.state === 'done') {
      const c = await vscode.window.showInformationMessage(`Mnemo: run ${record.id} is done (${what}).${record.downloaded ? ` Its outputs are in runs/${record.id}/output.` : ''}`, 'Open Chart', 'Open Log');
      if (c === 'Open Chart') void vscode.commands.executeCommand(COMMANDS.openChart, record.id);
      if (c === 'Open Log') void vscode.commands.executeCommand(COMMANDS.openLog, record.id);
    } else if (record.state === 'failed') {
      const e = record.error;
      const c = await vscode.window.showErrorMessage(`Mnemo: run ${record.id} failed: ${e?.message ?? 'the script stopped.'}${e?.hint ? ` ${e.hint}` : ''}`, 'Open Log', 'Show Logs');
      if (c === 'Open Log') void vscode.commands.executeCommand(COMMANDS.openLog, record.id);
      if (c === 'Show Logs') this.ctx.log.show();
    } else if (record.state === 'cancelled') {
      this.ctx.log.info(`Run ${record.id} was cancelled (${what}).`);
    }
  }

  dispose(): void {
    if (this.takeover) clearInterval(this.takeover);
    this.waiting.clear();
    // The window goes, the runs stay: stop following, never stop a run.
    for (const id of [...this.followed.keys()]) this.drop(id);
    this.hooks.clear();
  }
}

function describeTarget(r: RunRecord): string {
  return r.target.kind === 'local' ? 'on this machine' : `on ${r.target.host}`;
}
