import { randomBytes } from 'node:crypto';
import type { AccessKeySecret } from '../aws/sigv4/verify-sigv4.js';
import type { Store } from '../store/open-store.js';
import type { AccessKey } from '../store/repositories/access-keys-repository.js';
import type { AccessKeyCipher } from './access-key-cipher.js';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** `AKIA` + 16 base32 characters: the shape clients and their validators expect of an access key id. */
export function newAccessKeyId(): string {
  return `AKIA${[...randomBytes(16)].map((b) => BASE32[b % 32]).join('')}`;
}

/** 40 characters of base64 (30 random bytes), the length AWS's secrets have. */
export function newSecretAccessKey(): string {
  return randomBytes(30).toString('base64');
}

/** Access keys: made with their secret sealed, listed without it, looked up (opened) for SigV4 on every request, so deletion revokes at once. */
export class AccessKeys {
  constructor(private readonly store: Store, private readonly cipher: AccessKeyCipher) {}

  /** A new key for the user; the answer is the only time the secret is seen. */
  async create(userId: string, description = ''): Promise<{ key: AccessKey; secretAccessKey: string }> {
    const id = newAccessKeyId();
    const secretAccessKey = newSecretAccessKey();
    const key = await this.store.accessKeys.create({ id, userId, description, secretSealed: this.cipher.seal(id, secretAccessKey) });
    return { key, secretAccessKey };
  }

  list(userId: string): Promise<AccessKey[]> {
    return this.store.accessKeys.list(userId);
  }

  delete(userId: string, id: string): Promise<AccessKey> {
    return this.store.accessKeys.delete(userId, id);
  }

  /** The SigV4 verifier's lookup: undefined for a key unknown, revoked, of a deleted user, or sealed under another key file. */
  lookupSecret = async (accessKeyId: string): Promise<AccessKeySecret | undefined> => {
    const k = await this.store.accessKeys.findActive(accessKeyId);
    if (!k) return undefined;
    const secret = this.cipher.open(k.id, k.secretSealed);
    return secret === undefined ? undefined : { secret, userId: k.userId };
  };
}
