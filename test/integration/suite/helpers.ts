// Helpers for integration suites (bundled into each suite; not a suite itself).
import * as assert from 'node:assert';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import * as vscode from 'vscode';

/** What the launcher (test/harness/run.mjs) tells the tests about their session. */
export const harness = {
  /** The open workspace folder: a throwaway copy of examples/cairnrun (or an empty folder for *.empty.test.ts). */
  workspace: process.env.MNEMO_TEST_WORKSPACE ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '',
  /** A scratch folder for this session. */
  tmp: process.env.MNEMO_TEST_TMP ?? mkdtempSync(join(tmpdir(), 'mnemo-test-')),
  /** The pristine example project: copy it (copyExample), never modify it. */
  exampleProject: process.env.MNEMO_EXAMPLE_PROJECT ?? '',
  repoRoot: process.env.MNEMO_REPO_ROOT ?? '',
};

/** A fresh copy of examples/cairnrun in the scratch folder (without its cache). */
export function copyExample(name = 'cairnrun'): string {
  assert.ok(harness.exampleProject, 'MNEMO_EXAMPLE_PROJECT is not set: run through `npm run test:integration`.');
  const dest = mkdtempSync(join(harness.tmp, `${name}-`));
  cpSync(harness.exampleProject, dest, { recursive: true, filter: (src) => basename(src) !== '.mnemo' || src === harness.exampleProject });
  return dest;
}

/**
 * Waits until `probe` returns a value other than undefined/false, checking on every tick of
 * `interval` ms and whenever `events` fire; fails with `what` after `timeoutMs`. Never a fixed sleep.
 */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, { timeoutMs = 20_000, interval = 50, events = [] as vscode.Event<unknown>[] } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})` : ''}`);
    }
    await new Promise<void>((resolve) => {
      const subs: vscode.Disposable[] = [];
      const done = () => {
        clearTimeout(timer);
        for (const s of subs) s.dispose();
        resolve();
      };
      const timer = setTimeout(done, interval);
      for (const e of events) subs.push(e(done));
    });
  }
}

/** The Mnemo extension, activated; its exports (MnemoApi). */
export async function activateMnemo(): Promise<{ activationMs: number; ctx: unknown } & Record<string, unknown>> {
  const ext = vscode.extensions.getExtension('mnemo.mnemo');
  assert.ok(ext, 'extension mnemo.mnemo is not loaded');
  const api = (await ext.activate()) as { activationMs: number; ctx: unknown } | undefined;
  assert.ok(api, 'activate() returned nothing: activation failed (see the Mnemo log)');
  return api as { activationMs: number; ctx: unknown } & Record<string, unknown>;
}

/** The first node of a tree snapshot (depth first) that `pred` accepts. */
export function findNode<T extends { children?: T[] }>(nodes: T[] | undefined, pred: (n: T) => boolean): T | undefined {
  for (const n of nodes ?? []) {
    if (pred(n)) return n;
    const hit = findNode(n.children, pred);
    if (hit) return hit;
  }
  return undefined;
}
