import type * as vscode from 'vscode';
import { registerSecret, scrub, scrubDeep } from '../core/secrets';

/** Secrets live only in SecretStorage and in memory: never in files, settings, logs or messages. */
export const SECRET_KEYS = {
  apiKey: 'mnemo.endpoint.apiKey',
  hfToken: 'mnemo.hub.token',
} as const;

export type SecretName = keyof typeof SECRET_KEYS;

/** How each secret is named when it is scrubbed ("[redacted API key]"). */
export const SECRET_LABELS: Record<SecretName, string> = {
  apiKey: 'API key',
  hfToken: 'Hugging Face token',
};

/**
 * Secret storage, with every value read or stored registered in the secrets registry, so that
 * anything a server echoes of it is scrubbed before it reaches a log, a message or a file.
 */
export class Secrets {
  constructor(private readonly storage: vscode.SecretStorage) {}
  async get(name: SecretName): Promise<string | undefined> {
    const value = await this.storage.get(SECRET_KEYS[name]);
    registerSecret(value, SECRET_LABELS[name]);
    return value;
  }
  async store(name: SecretName, value: string): Promise<void> {
    // A replaced secret stays registered: text a server echoed of it may still be around.
    registerSecret(value, SECRET_LABELS[name]);
    await this.storage.store(SECRET_KEYS[name], value);
  }
  delete(name: SecretName): Thenable<void> {
    return this.storage.delete(SECRET_KEYS[name]);
  }
}

const LOG_METHODS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'append', 'appendLine', 'replace']);

/** The output channel with every line scrubbed of registered secrets before VS Code writes it to the log file. */
export function scrubbingLog(channel: vscode.LogOutputChannel): vscode.LogOutputChannel {
  const clean = (arg: unknown): unknown => {
    if (typeof arg === 'string') return scrub(arg);
    if (arg instanceof Error) {
      const copy = new Error(scrub(arg.message));
      copy.name = arg.name;
      copy.stack = arg.stack && scrub(arg.stack);
      return copy;
    }
    return scrubDeep(arg);
  };
  return new Proxy(channel, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof prop === 'string' && LOG_METHODS.has(prop) && typeof value === 'function') {
        return (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(target, args.map(clean));
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
