/**
 * runs/<id>/run.json: reading, listing and writing run records. Writes go to a temporary file
 * renamed over run.json, so a watcher (the Runs view) never reads half a record.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MnemoError } from '../errors';
import type { Project } from '../project';
import { RUN_FILES, type RunRecord } from './protocol';

/** Run ids are made here only: a time stamp and a random suffix, safe as a file and folder name anywhere. */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/\.\d+Z$/, '').replace(/[-:]/g, '').replace('T', '-');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function runDir(project: Project, id: string): string {
  if (!ID.test(id)) throw new MnemoError(`"${id}" is not a run id.`, 'Run ids are folder names under runs/ (letters, digits, ".", "_", "-").');
  return join(project.runsDir, id);
}

export function writeRecord(project: Project, record: RunRecord): void {
  const dir = runDir(project, record.id);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, RUN_FILES.record);
  const tmp = `${file}.${process.pid}.${randomBytes(3).toString('hex')}.tmp`;
  writeFileSync(tmp, JSON.stringify(record, null, 2) + '\n');
  renameSync(tmp, file);
}

function parseRecord(text: string, id: string): RunRecord {
  const value = JSON.parse(text) as RunRecord;
  if (!value || typeof value !== 'object' || value.version !== 1 || typeof value.state !== 'string' || !value.target) {
    throw new Error('not a run record (version 1)');
  }
  if (value.id !== id) throw new Error(`its id is "${String(value.id)}", not the folder's name`);
  return value;
}

export function readRunRecord(project: Project, id: string): RunRecord {
  const file = join(runDir(project, id), RUN_FILES.record);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new MnemoError(`There is no run "${id}" (no ${file}).`, 'List the runs with `mnemo runs` or in the Runs view.', file);
  }
  try {
    return parseRecord(text, id);
  } catch (err) {
    throw new MnemoError(`The record of run "${id}" cannot be read: ${(err as Error).message}.`, 'Fix or delete the file; the run\'s other files are untouched.', file);
  }
}

export function listRunRecords(project: Project): { records: RunRecord[]; broken: Array<{ id: string; error: string }> } {
  const records: RunRecord[] = [];
  const broken: Array<{ id: string; error: string }> = [];
  let names: string[] = [];
  try {
    names = readdirSync(project.runsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return { records, broken };
  }
  for (const id of names) {
    if (!ID.test(id)) continue;
    const file = join(project.runsDir, id, RUN_FILES.record);
    if (!existsSync(file)) {
      broken.push({ id, error: `no ${RUN_FILES.record}` });
      continue;
    }
    try {
      records.push(parseRecord(readFileSync(file, 'utf8'), id));
    } catch (err) {
      broken.push({ id, error: (err as Error).message });
    }
  }
  records.sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : a.id < b.id ? 1 : -1));
  return { records, broken };
}

export function isLive(record: RunRecord): boolean {
  return record.state === 'setting_up' || record.state === 'running';
}
