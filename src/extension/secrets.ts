import type * as vscode from 'vscode';

/** Secrets live only in SecretStorage and in memory: never in files, settings, logs or messages. */
export const SECRET_KEYS = {
  apiKey: 'mnemo.endpoint.apiKey',
  hfToken: 'mnemo.hub.token',
} as const;

export type SecretName = keyof typeof SECRET_KEYS;

export class Secrets {
  constructor(private readonly storage: vscode.SecretStorage) {}
  get(name: SecretName): Thenable<string | undefined> {
    return this.storage.get(SECRET_KEYS[name]);
  }
  store(name: SecretName, value: string): Thenable<void> {
    return this.storage.store(SECRET_KEYS[name], value);
  }
  delete(name: SecretName): Thenable<void> {
    return this.storage.delete(SECRET_KEYS[name]);
  }
}
