import { basename } from 'node:path';
import * as vscode from 'vscode';
import type { TrainingHooks } from '../../core/training';

/** A cached passphrase asked for again this soon was refused by the key: ask the person instead. */
const REFUSED_WITHIN_MS = 5000;

/**
 * The core's questions answered with VS Code's UI: an unknown host key in a modal that shows its
 * SHA256 fingerprint, a key's passphrase in a password box. Passphrases stay in this object's
 * memory for the window's session (so reconnects don't ask again), never in a file, setting,
 * secret storage or log.
 */
export class VscodeTrainingHooks implements TrainingHooks {
  private readonly passphrases = new Map<string, string>();
  private readonly handedOut = new Map<string, number>();

  constructor(private readonly logChannel: vscode.LogOutputChannel) {}

  async acceptHostKey(host: string, fingerprint: string): Promise<boolean> {
    this.logChannel.info(`${host} is not in known_hosts; its key fingerprint is ${fingerprint}.`);
    const trust = 'Trust and Connect';
    const choice = await vscode.window.showWarningMessage(
      `Mnemo has not connected to ${host} before. Trust its host key?`,
      {
        modal: true,
        detail: `Key fingerprint: ${fingerprint}\n\nCompare it with the one the machine's owner gives you (on that machine: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub). If you trust it, it is added to your known_hosts file and not asked again; a key that later changes is refused.`,
      },
      trust,
    );
    const ok = choice === trust;
    this.logChannel.info(ok ? `Host key of ${host} trusted (${fingerprint}).` : `Host key of ${host} not trusted: not connecting.`);
    return ok;
  }

  async passphrase(keyPath: string, purpose?: string): Promise<string | undefined> {
    const cached = this.passphrases.get(keyPath);
    const last = this.handedOut.get(keyPath);
    if (cached !== undefined && !(last !== undefined && Date.now() - last < REFUSED_WITHIN_MS)) {
      this.handedOut.set(keyPath, Date.now());
      return cached;
    }
    const refused = cached !== undefined;
    this.passphrases.delete(keyPath);
    this.handedOut.delete(keyPath);
    const value = await vscode.window.showInputBox({
      title: `Passphrase for ${basename(keyPath)}${purpose ? ` (${purpose})` : ''}`,
      prompt: `${refused ? 'That passphrase was not accepted. ' : ''}The SSH key ${keyPath} is encrypted. Its passphrase is kept in memory for this window only. Leave empty or press Escape to skip the key (ssh-agent is tried too).`,
      password: true,
      ignoreFocusOut: true,
    });
    if (!value) return undefined;
    this.passphrases.set(keyPath, value);
    this.handedOut.set(keyPath, Date.now());
    return value;
  }

  log(line: string): void {
    this.logChannel.info(line);
  }

  /** The same answers, with progress lines also shown where `report` puts them (a notification). */
  withProgress(report: (line: string) => void): TrainingHooks {
    return {
      acceptHostKey: (host, fingerprint) => this.acceptHostKey(host, fingerprint),
      passphrase: (keyPath) => this.passphrase(keyPath),
      log: (line) => {
        this.log(line);
        report(line);
      },
    };
  }

  /** The same answers, with a word on why they are asked (a reattach nobody clicked for). */
  forPurpose(purpose: string): TrainingHooks {
    return {
      acceptHostKey: (host, fingerprint) => this.acceptHostKey(host, fingerprint),
      passphrase: (keyPath) => this.passphrase(keyPath, purpose),
      log: (line) => this.log(line),
    };
  }

  /** Forgets every passphrase (the feature is disposed). */
  clear(): void {
    this.passphrases.clear();
    this.handedOut.clear();
  }
}
