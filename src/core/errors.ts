/**
 * An error meant for the user: `message` says what happened, `hint` what to do next.
 * Anything thrown from the core that is not a MnemoError is a bug and is reported as such.
 */
/**
 * The action that fixes an error, in the user's terms; the editor shows it as a button
 * (src/extension/ctx.ts), the CLI's hint already says it in words.
 */
export type Fix = 'openFolder' | 'newProject' | 'addSource' | 'generate' | 'buildDataset' | 'setApiKey' | 'chooseEndpoint' | 'setHfToken' | 'sshHosts' | 'pythonSetting';

export class MnemoError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly file?: string,
    readonly fix?: Fix,
  ) {
    super(message);
    this.name = 'MnemoError';
  }

  /** The message and hint as one line for logs, notifications and the CLI. */
  describe(): string {
    return this.hint ? `${this.message} ${this.hint}` : this.message;
  }
}

export function describeError(err: unknown): string {
  if (err instanceof MnemoError) return err.describe();
  if (err instanceof Error) return err.message;
  return String(err);
}
