/**
 * Watching a folder tree with one non-recursive fs.watch per folder, for the project folders the
 * stages write into (qa/, runs/, eval/, data/, sources/).
 *
 * Why not the editor's watcher alone: VS Code 1.100's recursive watcher, on Linux, reports a
 * folder made after it started ("create qa/rulebook") and then nothing inside it, neither the
 * files a sweep writes there nor their later changes (seen in test/integration/suite/watch.test.ts).
 * So a first sweep into a new qa/<source>/ folder stayed invisible until a reload. Here, a folder
 * that appears is watched at once and read, so files written into it before its watch existed
 * are reported too. Events are batched (`delayMs`), paths are absolute; a path may be reported
 * although nothing changed (the caller compares), never left out while its folder is watched.
 */
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join, relative, sep } from 'node:path';

export interface TreeWatchOptions {
  /** How deep below the root folders are watched (0: the root only). Default 8. */
  depth?: number;
  /** Folder names not to enter (default: names starting with "." and node_modules). */
  skip?: (name: string) => boolean;
  /** Quiet time before a batch is delivered, ms (default 50). */
  delayMs?: number;
}

export interface TreeWatcher {
  dispose(): void;
}

const defaultSkip = (name: string) => name.startsWith('.') || name === 'node_modules';

/**
 * Calls `onChange` with the paths (files and folders, absolute) that were created, changed or
 * deleted under `root`. The root itself may not exist yet: its parent is watched until it does
 * (a new project has no runs/ before its first run).
 */
export function watchTree(root: string, onChange: (paths: string[]) => void, opts: TreeWatchOptions = {}): TreeWatcher {
  const depth = opts.depth ?? 8;
  const skip = opts.skip ?? defaultSkip;
  const delay = opts.delayMs ?? 50;
  const watchers = new Map<string, FSWatcher>();
  let pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let disposed = false;

  const emit = (path: string) => {
    if (disposed) return;
    pending.add(path);
    timer ??= setTimeout(() => {
      timer = undefined;
      const batch = [...pending];
      pending = new Set();
      if (!disposed && batch.length) onChange(batch);
    }, delay);
  };

  const levelOf = (dir: string) => (dir === root ? 0 : relative(root, dir).split(sep).length);

  /** Watches `dir` and, below the depth limit, every folder in it; reports what it holds when `report`. */
  const add = (dir: string, report: boolean) => {
    if (disposed || watchers.has(dir)) return;
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: false }, (_type, name) => {
        if (name === null) return rescan(dir);
        const path = join(dir, name.toString());
        emit(path);
        if (isDir(path)) {
          if (levelOf(path) <= depth && !skip(name.toString())) add(path, true);
        } else if (watchers.has(path)) drop(path);
      });
    } catch {
      return; // Gone already, or not a folder.
    }
    w.on('error', () => drop(dir));
    watchers.set(dir, w);
    let entries: import('node:fs').Dirent[] = [];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (report) emit(path);
      if (e.isDirectory() && levelOf(path) <= depth && !skip(e.name)) add(path, report);
    }
  };

  const rescan = (dir: string) => {
    emit(dir);
    let entries: import('node:fs').Dirent[] = [];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) emit(join(dir, e.name));
  };

  /** Stops watching `dir` and everything below it (the folder was deleted). */
  const drop = (dir: string) => {
    for (const [path, w] of watchers) {
      if (path === dir || path.startsWith(dir + sep)) {
        w.close();
        watchers.delete(path);
      }
    }
    if (dir === root && !disposed) waitForRoot();
  };

  // Until the root exists, its parent is watched for it.
  let parentWatcher: FSWatcher | undefined;
  const waitForRoot = () => {
    if (isDir(root)) return add(root, true);
    const parent = join(root, '..');
    try {
      parentWatcher = watch(parent, { persistent: false }, () => {
        if (!isDir(root)) return;
        parentWatcher?.close();
        parentWatcher = undefined;
        emit(root);
        add(root, true);
      });
      parentWatcher.on('error', () => undefined);
    } catch {
      // No parent either: nothing to watch (the project folder is gone).
    }
    // Made between the check and the watch.
    if (isDir(root) && parentWatcher) {
      parentWatcher.close();
      parentWatcher = undefined;
      add(root, true);
    }
  };
  if (isDir(root)) add(root, false);
  else waitForRoot();

  return {
    dispose() {
      disposed = true;
      clearTimeout(timer);
      parentWatcher?.close();
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
