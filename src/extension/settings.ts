import { homedir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';

/** A host of the `mnemo.training.hosts` setting. */
export interface TrainingHostSetting {
  name?: string;
  host: string;
  port?: number;
  user?: string;
  identityFile?: string;
}

/** A path setting: empty is unset, a leading ~/ is the home folder. */
function path(value: string | undefined): string | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  return v === '~' ? homedir() : v.startsWith('~/') ? join(homedir(), v.slice(2)) : v;
}

/**
 * The one typed accessor for `mnemo.*` user settings: nobody else calls getConfiguration().
 * Per-project settings live in mnemo.json (src/core/project.ts), which wins where both exist.
 */
export class Settings {
  private get c(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration('mnemo');
  }
  get endpointBaseUrl(): string {
    return this.c.get<string>('endpoint.baseUrl', 'https://api.openai.com/v1');
  }
  get endpointModel(): string {
    return this.c.get<string>('endpoint.model', 'gpt-4o-mini');
  }
  /** Origins allowed to receive the API key over plain http:// (a host other than this machine). */
  get endpointAllowInsecureKey(): string[] {
    const v = this.c.get<unknown>('endpoint.allowInsecureKey', []);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  }
  get generationConcurrency(): number {
    return this.c.get<number>('generation.concurrency', 8);
  }
  get requestTimeoutSeconds(): number {
    return this.c.get<number>('generation.requestTimeoutSeconds', 120);
  }
  get hubUrl(): string {
    return this.c.get<string>('hub.url', 'https://huggingface.co');
  }
  /** SSH hosts for training besides the Host entries of the ssh config (mnemo.training.hosts). */
  get trainingHosts(): TrainingHostSetting[] {
    const v = this.c.get<unknown>('training.hosts', []);
    return Array.isArray(v) ? v.filter((h): h is TrainingHostSetting => !!h && typeof h === 'object' && typeof (h as TrainingHostSetting).host === 'string' && (h as TrainingHostSetting).host.trim() !== '') : [];
  }
  /** The OpenSSH client config to read hosts from; undefined: ~/.ssh/config. */
  get sshConfigFile(): string | undefined {
    return path(this.c.get<string>('ssh.configFile', ''));
  }
  /** The known_hosts file host keys are checked against; undefined: ~/.ssh/known_hosts. */
  get sshKnownHostsFile(): string | undefined {
    return path(this.c.get<string>('ssh.knownHostsFile', ''));
  }
  /** The Python for training and evaluation on this machine (mnemo.python); undefined: MNEMO_PYTHON, else Mnemo's venv. */
  get python(): string | undefined {
    return path(this.c.get<string>('python', ''));
  }
  /** A Python on the training machine to use as is instead of the venv Mnemo sets up. */
  get trainingPython(): string | undefined {
    return this.c.get<string>('training.python', '').trim() || undefined;
  }
  /** A folder with a train.py of one's own (speaking the metrics protocol) instead of Mnemo's. */
  get trainingScriptsDir(): string | undefined {
    return path(this.c.get<string>('training.scriptsDir', ''));
  }
  async update(key: 'endpoint.baseUrl' | 'endpoint.model' | 'endpoint.allowInsecureKey' | 'generation.concurrency' | 'hub.url', value: unknown, target = vscode.ConfigurationTarget.Global): Promise<void> {
    await this.c.update(key, value, target);
  }
  static affects(e: vscode.ConfigurationChangeEvent): boolean {
    return e.affectsConfiguration('mnemo');
  }
}
