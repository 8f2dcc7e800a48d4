/**
 * SSH hosts a run can go to: the Host aliases of ~/.ssh/config (parsed with ssh-config, which
 * applies OpenSSH's first-value-wins rule across Host blocks and `Host *`), then the hosts from
 * settings.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import SSHConfig from 'ssh-config';
import { MnemoError } from '../errors';
import type { HostEntry, SshOptions } from './index';

export function expandHome(path: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return join(homedir(), path.slice(2));
  return path;
}

function defaultUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'root';
  }
}

function readConfig(opts: SshOptions): SSHConfig | undefined {
  const path = opts.sshConfigPath ?? join(homedir(), '.ssh', 'config');
  if (!existsSync(path)) return undefined;
  try {
    return SSHConfig.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new MnemoError(`Could not read the SSH config ${path}: ${(err as Error).message}.`, 'Fix the file (ssh -G HOST shows what OpenSSH makes of it).', path);
  }
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function fromConfig(config: SSHConfig, alias: string): HostEntry {
  // matchExec: false, so a `Match exec` line never runs a command just to list hosts.
  const c = config.compute(alias, { ignoreCase: true, matchExec: false });
  const files = c.identityfile ?? c.IdentityFile;
  const port = Number(one(c.port ?? c.Port) ?? 22);
  return {
    name: alias,
    hostname: one(c.hostname ?? c.HostName) ?? alias,
    port: Number.isInteger(port) && port > 0 ? port : 22,
    user: one(c.user ?? c.User) ?? defaultUser(),
    identityFiles: (Array.isArray(files) ? files : files ? [files] : []).map(expandHome),
    from: 'ssh-config',
  };
}

export function listHosts(opts: SshOptions): HostEntry[] {
  const out: HostEntry[] = [];
  const seen = new Set<string>();
  const config = readConfig(opts);
  if (config) {
    for (const line of config) {
      if (line.type !== SSHConfig.DIRECTIVE || line.param.toLowerCase() !== 'host') continue;
      const values = Array.isArray(line.value) ? line.value.map((v) => v.val) : line.value.split(/\s+/);
      for (const alias of values) {
        if (!alias || /[*?!]/.test(alias) || seen.has(alias)) continue;
        seen.add(alias);
        out.push(fromConfig(config, alias));
      }
    }
  }
  for (const h of opts.settingsHosts ?? []) {
    const name = h.name ?? h.host;
    if (seen.has(name)) continue;
    seen.add(name);
    out.push({
      name,
      hostname: h.host,
      port: h.port ?? 22,
      user: h.user ?? defaultUser(),
      identityFiles: h.identityFile ? [expandHome(h.identityFile)] : [],
      from: 'settings',
    });
  }
  return out;
}

/** The host a run names; a name that is not listed is looked up in the ssh config like `ssh NAME` would. */
export function resolveHost(name: string, opts: SshOptions): HostEntry {
  const found = listHosts(opts).find((h) => h.name === name);
  if (found) return found;
  const m = /^(?:([^@\s]+)@)?([A-Za-z0-9._-]+)(?::(\d+))?$/.exec(name);
  if (!m) throw new MnemoError(`"${name}" is not a host Mnemo knows.`, 'Pick a Host of ~/.ssh/config or add the host in the settings (mnemo.training.hosts).');
  const config = readConfig(opts);
  const entry: HostEntry = config ? fromConfig(config, m[2]) : { name, hostname: m[2], port: 22, user: defaultUser(), identityFiles: [], from: 'settings' };
  return { ...entry, name, user: m[1] ?? entry.user, port: m[3] ? Number(m[3]) : entry.port };
}
