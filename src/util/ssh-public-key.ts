import { createHash } from 'node:crypto';

/** The key types OpenSSH 9 accepts in authorized_keys (ssh-dss is gone from its defaults, but a guest may still take it). */
const KEY_TYPES: ReadonlySet<string> = new Set([
  'ssh-ed25519', 'ssh-rsa', 'ssh-dss',
  'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com',
]);

/** Limits shared by the store, the API and the agent's config drive: a key accepted anywhere reaches the guest. */
export const MAX_SSH_KEY_CHARS = 8192;
export const MAX_SSH_KEYS = 32;

export interface SshPublicKey {
  readonly type: string;
  /** The key blob as in the line (base64). */
  readonly blob: string;
  readonly comment: string;
  /** As `ssh-keygen -l` prints it: `SHA256:` and the unpadded base64 of the blob's digest. */
  readonly fingerprint: string;
}

/**
 * Parses one public-key line (`type base64 [comment]`, as in a .pub file).
 * Returns a reason instead when it is not one: the blob must be base64 and
 * start with the same type name as the line, which is what tells a key from
 * any two words. The key's numbers are the guest's sshd's to check.
 */
export function parseSshPublicKey(line: string): SshPublicKey | string {
  if (/[\r\n]/.test(line)) return 'must be one line';
  const m = /^(\S+) (\S+)(?: (.*))?$/.exec(line);
  if (!m) return 'must be one "type base64 [comment]" line, as in a .pub file';
  const [, type = '', blob = '', comment = ''] = m;
  if (!KEY_TYPES.has(type)) return `"${type.slice(0, 40)}" is not an ssh public key type (${[...KEY_TYPES].join(', ')})`;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob) || blob.length % 4 !== 0) return 'the key is not base64';
  const bytes = Buffer.from(blob, 'base64');
  const nameLength = bytes.length >= 4 ? bytes.readUInt32BE(0) : -1;
  if (nameLength !== type.length || bytes.length <= 4 + nameLength || bytes.toString('latin1', 4, 4 + nameLength) !== type) {
    return `the key's data is not a ${type} key`;
  }
  const fingerprint = `SHA256:${createHash('sha256').update(bytes).digest('base64').replace(/=+$/, '')}`;
  return { type, blob, comment, fingerprint };
}
