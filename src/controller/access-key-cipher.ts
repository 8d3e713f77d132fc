import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmod, open, readFile } from 'node:fs/promises';
import { UnreadableFileError } from '../errors/unreadable-file-error.js';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';

/**
 * Seals access-key secrets with AES-256-GCM under a key kept in a file of its
 * own (NUBO_HOME/access-keys.key, 0600), apart from the database: a copy of
 * the database alone (a backup, a PostgreSQL dump) does not give the secrets
 * away. They cannot be hashed instead, because SigV4 verification computes an
 * HMAC with the secret itself. The key id is the associated data, so a sealed
 * secret moved to another key's row does not open.
 */
export class AccessKeyCipher {
  private constructor(private readonly key: Buffer) {}

  /** The cipher of the key file, made (0600, written once, exclusively) when missing. */
  static async load(path: string): Promise<AccessKeyCipher> {
    try {
      const fh = await open(path, 'wx', 0o600);
      try {
        await fh.writeFile(randomBytes(KEY_BYTES));
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const key = await readFile(path);
    if (key.length !== KEY_BYTES) throw new UnreadableFileError('access-key cipher key', path, `it must be ${KEY_BYTES} bytes, it is ${key.length}`);
    await chmod(path, 0o600);
    return new AccessKeyCipher(key);
  }

  seal(accessKeyId: string, secret: string): string {
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(accessKeyId, 'utf8'));
    const body = Buffer.concat([c.update(secret, 'utf8'), c.final()]);
    return `${VERSION}:${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64')}`;
  }

  /** The secret, or undefined when the sealed text was not made by this key for this key id. */
  open(accessKeyId: string, sealed: string): string | undefined {
    if (!sealed.startsWith(`${VERSION}:`)) return undefined;
    const raw = Buffer.from(sealed.slice(VERSION.length + 1), 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) return undefined;
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
      d.setAAD(Buffer.from(accessKeyId, 'utf8'));
      d.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([d.update(raw.subarray(IV_BYTES + TAG_BYTES)), d.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}
