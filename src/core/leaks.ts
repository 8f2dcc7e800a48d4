/**
 * Old leaks: project files that hold a secret in use (whole or in a partial form a server echoed)
 * because they were written before scrubbing existed, or by hand. Found on opening a project and
 * by `mnemo generate`; scrubbed in place only when the user asks.
 *
 * Only text Mnemo writes or the user keeps in the project is read: the journal and other files of
 * .mnemo/ (not the extraction caches, which are the sources' own text), logs and records of runs,
 * .qa files, the built dataset, prompts and mnemo.json.
 */
import { readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import type { Project } from './project';
import { secretRegistry, type SecretRegistry } from './secrets';

export interface Leak {
  /** Path relative to the project root, with '/'. */
  file: string;
  /** Which secrets (their labels: "API key", "Hugging Face token"). */
  secrets: string[];
  /** Lines that hold one. */
  lines: number;
}

/** Files larger than this are not read (a dataset of gigabytes is not a log). */
const MAX_BYTES = 256 * 1024 * 1024;
const TEXT_FILE = /\.(jsonl|json|log|txt|md|qa|csv|yaml|yml|out|err)$/i;
/** Caches that hold the sources' own text, not anything a server sent. */
const SKIP_DIRS = new Set(['extract', 'chunks', 'node_modules', '.git']);

/** Every file that may hold a leaked secret: what Mnemo writes and logs in the project folder. */
export function leakCandidates(project: Project): string[] {
  const out: string[] = [];
  const add = (path: string) => {
    try {
      const st = statSync(path);
      if (st.isFile() && st.size <= MAX_BYTES) out.push(path);
    } catch {
      // Missing: nothing to scan.
    }
  };
  add(project.configPath);
  const walk = (dir: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      let st;
      try {
        st = statSync(path);
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        if (depth < 8 && !SKIP_DIRS.has(name)) walk(path, depth + 1);
      } else if (st.isFile() && st.size <= MAX_BYTES && TEXT_FILE.test(name)) out.push(path);
    }
  };
  for (const dir of [project.cacheDir, join(project.root, 'logs'), project.runsDir, project.qaDir, project.dataDir, project.evalDir, project.promptsDir]) walk(dir, 0);
  return [...new Set(out)];
}

/** The project files that hold a registered secret, each with the secrets it holds. Reads nothing when no secret is registered. */
export function findLeaks(project: Project, registry: SecretRegistry = secretRegistry): Leak[] {
  if (!registry.size) return [];
  const leaks: Leak[] = [];
  for (const path of leakCandidates(project)) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue;
    }
    const secrets = registry.found(text);
    if (!secrets.length) continue;
    const lines = text.split('\n').filter((l) => registry.contains(l)).length;
    leaks.push({ file: relative(project.root, path).replace(/\\/g, '/'), secrets, lines: Math.max(1, lines) });
  }
  return leaks;
}

/** Rewrites each file with its secrets scrubbed (atomically: a temporary file, then a rename). Returns the files changed. */
export function scrubLeaks(project: Project, files: string[], registry: SecretRegistry = secretRegistry): string[] {
  const changed: string[] = [];
  for (const file of files) {
    const path = join(project.root, file);
    const text = readFileSync(path, 'utf8');
    const clean = registry.scrub(text);
    if (clean === text) continue;
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.scrub`);
    writeFileSync(tmp, clean);
    renameSync(tmp, path);
    changed.push(file);
  }
  return changed;
}

/** One line per leak, for logs and the command line. */
export function describeLeaks(leaks: Leak[]): string[] {
  return leaks.map((l) => `${l.file}: ${l.secrets.join(' and ')} on ${l.lines} line${l.lines === 1 ? '' : 's'}`);
}
