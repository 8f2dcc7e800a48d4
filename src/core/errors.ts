/**
 * An error meant for the user: `message` says what happened, `hint` what to do next.
 * Anything thrown from the core that is not a MnemoError is a bug and is reported as such.
 */
export class MnemoError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly file?: string,
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
