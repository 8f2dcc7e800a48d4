/**
 * ~/.ssh/known_hosts as OpenSSH reads it: plain and hashed (`|1|salt|hash`) host patterns,
 * `[host]:port` for ports other than 22, wildcards and negations, `@revoked` lines.
 */
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** The name a host's keys are filed under: `host`, or `[host]:port` when the port is not 22. */
export function knownHostName(hostname: string, port: number): string {
  return port === 22 ? hostname : `[${hostname}]:${port}`;
}

/** `SHA256:...` (unpadded base64), as `ssh-keygen -lf` prints it. */
export function fingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** The key type written at the start of an SSH public key blob ("ssh-ed25519", "ssh-rsa", ...). */
export function keyType(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return '';
  const len = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + len).toString('latin1');
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'i');
  return re.test(name);
}

function hostsMatch(field: string, name: string): boolean {
  let matched = false;
  for (const p of field.split(',')) {
    if (p.startsWith('!')) {
      if (patternMatches(p.slice(1), name)) return false;
    } else if (patternMatches(p, name)) matched = true;
  }
  return matched;
}

export interface KnownKey {
  type: string;
  key: string;
  revoked: boolean;
}

/** The keys known_hosts lists for a host (a missing file lists none). */
export function knownKeys(file: string, hostname: string, port: number): KnownKey[] {
  if (!existsSync(file)) return [];
  const name = knownHostName(hostname, port);
  const out: KnownKey[] = [];
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker = '';
    if (fields[0].startsWith('@')) marker = fields.shift() ?? '';
    if (marker === '@cert-authority' || fields.length < 3) continue;
    if (!hostsMatch(fields[0], name)) continue;
    out.push({ type: fields[1], key: fields[2], revoked: marker === '@revoked' });
  }
  return out;
}

export type HostKeyVerdict = 'known' | 'unknown' | 'changed' | 'revoked';

/** Known: the same key is listed. Changed: the host is listed with other keys (of any type). */
export function checkHostKey(file: string, hostname: string, port: number, keyBlob: Buffer): HostKeyVerdict {
  const keys = knownKeys(file, hostname, port);
  const b64 = keyBlob.toString('base64');
  if (keys.some((k) => k.revoked && k.key === b64)) return 'revoked';
  if (keys.some((k) => !k.revoked && k.key === b64)) return 'known';
  return keys.some((k) => !k.revoked) ? 'changed' : 'unknown';
}

/** Appends a host's key (plain host name, like `ssh` with HashKnownHosts off). */
export function rememberHostKey(file: string, hostname: string, port: number, keyBlob: Buffer): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8');
    if (text && !text.endsWith('\n')) prefix = '\n';
  }
  appendFileSync(file, `${prefix}${knownHostName(hostname, port)} ${keyType(keyBlob)} ${keyBlob.toString('base64')}\n`, { mode: 0o600 });
}

/** ssh2's host key algorithm names for a known_hosts key type. */
export function hostKeyAlgorithms(type: string): string[] {
  if (type === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return [type];
}
