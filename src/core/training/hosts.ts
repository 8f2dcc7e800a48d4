/**
 * SSH hosts a run can go to: the Host aliases of ~/.ssh/config (parsed with ssh-config, which
 * applies OpenSSH's first-value-wins rule across Host blocks and `Host *`), then the hosts from
 * settings. `Include` lines are followed (globs, `~`, paths relative to ~/.ssh) and IdentityFile's
 * `%` tokens and `${VAR}`s are expanded, as OpenSSH does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir, hostname as localHostname, userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import SSHConfig from 'ssh-config';
import { globSync } from 'tinyglobby';
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

/** OpenSSH's limit on nested Include files (READCONF_MAX_DEPTH). */
const MAX_INCLUDE_DEPTH = 16;

/** The words of an Include line: separated by spaces, each possibly in double quotes. */
function includeWords(rest: string): string[] {
  return [...rest.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]).filter((w) => w !== '');
}

/**
 * The config's text with every `Include` replaced by the files it names, in place. Paths that are
 * not absolute are relative to ~/.ssh, as for any user config (also one given with -F); each word
 * is a glob whose files come in lexical order; a pattern that matches nothing is skipped, as ssh
 * does. An Include inside a Host or Match block (other than `Host *` / `Match all`) is conditional
 * in OpenSSH: its file is read only for hosts that block matches. Its leading directives are
 * inlined into that block, which gives the same; its own Host and Match sections are left out
 * (they would have to hold for both blocks at once, which ssh-config cannot express), so their
 * aliases are not listed: `ssh ALIAS` does not see them either.
 */
function inlineIncludes(path: string, sshDir: string, depth: number, conditional: boolean): string {
  let text = readFileSync(path, 'utf8');
  if (conditional) {
    const section = /^[ \t]*(?:host|match)\b/im.exec(text);
    if (section) text = text.slice(0, section.index);
  }
  if (!/^[ \t]*include\b/im.test(text)) return text;
  let inBlock = false;
  return text
    .split(/\r?\n/)
    .map((line) => {
      const block = /^[ \t]*(host|match)(?:[ \t]*=[ \t]*|[ \t]+)(.*?)[ \t]*$/i.exec(line);
      if (block) inBlock = !(block[1].toLowerCase() === 'host' ? block[2] === '*' : /^all$/i.test(block[2]));
      const m = /^[ \t]*include(?:[ \t]*=[ \t]*|[ \t]+)(.*?)[ \t]*$/i.exec(line);
      if (!m) return line;
      if (depth >= MAX_INCLUDE_DEPTH) throw new MnemoError(`The SSH config includes files more than ${MAX_INCLUDE_DEPTH} deep (at ${path}): an Include loop?`, 'Fix the Include lines (ssh -G HOST shows what OpenSSH makes of them).', path);
      const parts: string[] = [];
      for (const word of includeWords(m[1])) {
        const pattern = expandHome(word);
        const abs = isAbsolute(pattern) ? pattern : join(sshDir, pattern);
        const files = /[*?[]/.test(abs) ? globSync(abs, { absolute: true, onlyFiles: true, expandDirectories: false }).sort() : existsSync(abs) ? [abs] : [];
        for (const f of files) parts.push(inlineIncludes(f, sshDir, depth + 1, conditional || inBlock));
      }
      // The included text stands where the Include was.
      return [`# ${line.trim()}`, ...parts].join('\n');
    })
    .join('\n');
}

function readConfig(opts: SshOptions): SSHConfig | undefined {
  const path = opts.sshConfigPath ?? join(homedir(), '.ssh', 'config');
  if (!existsSync(path)) return undefined;
  try {
    return SSHConfig.parse(inlineIncludes(path, join(homedir(), '.ssh'), 0, false));
  } catch (err) {
    if (err instanceof MnemoError) throw err;
    throw new MnemoError(`Could not read the SSH config ${path}: ${(err as Error).message}.`, 'Fix the file (ssh -G HOST shows what OpenSSH makes of it).', path);
  }
}

/**
 * IdentityFile's tokens, as ssh_config(5) defines them: %% %d (home) %h (host name) %i (uid)
 * %l (local host name) %L (its first part) %n (the alias as given) %p (port) %r (remote user) %u (local user), and
 * ${VAR} from the environment. A token it does not know is left as written.
 */
function expandTokens(path: string, h: { alias: string; hostname: string; port: number; user: string }): string {
  const uid = typeof process.getuid === 'function' ? String(process.getuid()) : '';
  const tokens: Record<string, string> = { '%': '%', d: homedir(), h: h.hostname, i: uid, l: localHostname(), L: localHostname().split('.')[0], n: h.alias, p: String(h.port), r: h.user, u: defaultUser() };
  return expandHome(path)
    .replace(/%(.)/g, (all, t: string) => tokens[t] ?? all)
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (all, name: string) => process.env[name] ?? all);
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function fromConfig(config: SSHConfig, alias: string): HostEntry {
  // matchExec: false, so a `Match exec` line never runs a command just to list hosts.
  const c = config.compute(alias, { ignoreCase: true, matchExec: false });
  const files = c.identityfile ?? c.IdentityFile;
  const portValue = Number(one(c.port ?? c.Port) ?? 22);
  const port = Number.isInteger(portValue) && portValue > 0 ? portValue : 22;
  const user = one(c.user ?? c.User) ?? defaultUser();
  // HostName may itself hold %h (the alias): "HostName %h.example.org".
  const hostname = (one(c.hostname ?? c.HostName) ?? alias).replace(/%(.)/g, (all, t: string) => (t === 'h' ? alias : t === '%' ? '%' : all));
  const at = { alias, hostname, port, user };
  return {
    name: alias,
    hostname,
    port,
    user,
    identityFiles: (Array.isArray(files) ? files : files ? [files] : []).map((f) => expandTokens(f, at)),
    from: 'ssh-config',
  };
}

export function listHosts(opts: SshOptions): HostEntry[] {
  return hostsOf(readConfig(opts), opts);
}

/** The hosts of a config already read (undefined: none), then those of the settings. */
function hostsOf(config: SSHConfig | undefined, opts: SshOptions): HostEntry[] {
  const out: HostEntry[] = [];
  const seen = new Set<string>();
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
  // The config (and the files it includes) is read once.
  const config = readConfig(opts);
  const found = hostsOf(config, opts).find((h) => h.name === name);
  if (found) return found;
  const m = /^(?:([^@\s]+)@)?([A-Za-z0-9._-]+)(?::(\d+))?$/.exec(name);
  if (!m) throw new MnemoError(`"${name}" is not a host Mnemo knows.`, 'Pick a Host of ~/.ssh/config or add the host in the settings (mnemo.training.hosts).');
  const entry: HostEntry = config ? fromConfig(config, m[2]) : { name, hostname: m[2], port: 22, user: defaultUser(), identityFiles: [], from: 'settings' };
  return { ...entry, name, user: m[1] ?? entry.user, port: m[3] ? Number(m[3]) : entry.port };
}
