import { MnemoError } from '../errors';
import type { Project } from '../project';
import type { ConnectOptions, RunHandle, StartOptions } from './index';
import type { RunRecord } from './protocol';

const todo = () => new MnemoError('Training runs are not implemented yet.');

export function start(_project: Project, _opts: StartOptions): Promise<RunHandle> {
  return Promise.reject(todo());
}
export function attach(_project: Project, _id: string, _opts: ConnectOptions): Promise<RunHandle> {
  return Promise.reject(todo());
}
export function cancelById(_project: Project, _id: string, _opts: ConnectOptions): Promise<RunRecord> {
  return Promise.reject(todo());
}
export function downloadById(_project: Project, _id: string, _opts: ConnectOptions): Promise<RunRecord> {
  return Promise.reject(todo());
}
export function removeRemoteRun(_record: RunRecord, _opts: ConnectOptions): Promise<void> {
  return Promise.reject(todo());
}
