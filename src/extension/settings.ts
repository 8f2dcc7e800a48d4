import * as vscode from 'vscode';

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
  async update(key: 'endpoint.baseUrl' | 'endpoint.model' | 'endpoint.allowInsecureKey' | 'generation.concurrency' | 'hub.url', value: unknown, target = vscode.ConfigurationTarget.Global): Promise<void> {
    await this.c.update(key, value, target);
  }
  static affects(e: vscode.ConfigurationChangeEvent): boolean {
    return e.affectsConfiguration('mnemo');
  }
}
