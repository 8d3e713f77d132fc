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

/**
 * How long a key found and opened is trusted without its row being read again. Within one controller a revocation is
 * immediate all the same (`delete` and `forgetUser` drop what is kept); this bounds how long a key revoked through
 * another controller sharing the database (PostgreSQL) still verifies here.
 */
export const ACCESS_KEY_TRUST_MS = 2_000;
/** How many opened keys are kept: past it the cache starts again empty. */
const OPENED_KEPT = 10_000;

export interface AccessKeysOptions {
  /** Default ACCESS_KEY_TRUST_MS; 0 reads the row for every request. */
  readonly trustMs?: number | undefined;
  /** ms, monotonic (tests). */
  readonly now?: (() => number) | undefined;
}

/**
 * Access keys: made with their secret sealed, listed without it, looked up (opened) for SigV4. A key found is kept,
 * opened, for ACCESS_KEY_TRUST_MS: every EC2 and S3 request verifies its signature, and reading the row (joined to its
 * user) and opening the secret (AES-GCM) was ~0.2 ms of each. Deleting a key, or its user, through this controller
 * forgets it at once, so the very next request is refused; a deletion through another controller sharing PostgreSQL
 * is seen here within ACCESS_KEY_TRUST_MS. A key not found is never kept: one just made works at once everywhere.
 */
export class AccessKeys {
  readonly #opened = new Map<string, { readonly key: AccessKeySecret; readonly until: number }>();
  /** Bumped by every forgetting: a lookup that read its row before a deletion does not keep what it read. */
  #generation = 0;
  readonly #trustMs: number;
  readonly #now: () => number;

  constructor(private readonly store: Store, private readonly cipher: AccessKeyCipher, o: AccessKeysOptions = {}) {
    this.#trustMs = o.trustMs ?? ACCESS_KEY_TRUST_MS;
    this.#now = o.now ?? (() => performance.now());
  }

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

  /** Revokes the key: refused from the next request on (forgotten once the row is gone, whatever the outcome). */
  async delete(userId: string, id: string): Promise<AccessKey> {
    try {
      return await this.store.accessKeys.delete(userId, id);
    } finally {
      this.#forget((key, keyId) => keyId === id);
    }
  }

  /** The user was deleted (their keys stop verifying with them): what is kept of their keys goes. */
  forgetUser(userId: string): void {
    this.#forget((key) => key.userId === userId);
  }

  #forget(which: (key: AccessKeySecret, keyId: string) => boolean): void {
    this.#generation++;
    for (const [id, kept] of this.#opened) if (which(kept.key, id)) this.#opened.delete(id);
  }

  /** The SigV4 verifier's lookup: undefined for a key unknown, revoked, of a deleted user, or sealed under another key file. */
  lookupSecret = async (accessKeyId: string): Promise<AccessKeySecret | undefined> => {
    const now = this.#now();
    const kept = this.#opened.get(accessKeyId);
    if (kept !== undefined && now < kept.until) return kept.key;
    if (kept !== undefined) this.#opened.delete(accessKeyId);
    const generation = this.#generation;
    const k = await this.store.accessKeys.findActive(accessKeyId);
    if (!k) return undefined;
    const secret = this.cipher.open(k.id, k.secretSealed);
    if (secret === undefined) return undefined;
    const key = { secret, userId: k.userId };
    // Kept only when nothing was forgotten while the row was read: a deletion that committed after the read must win.
    if (this.#trustMs > 0 && generation === this.#generation) {
      if (this.#opened.size >= OPENED_KEPT) this.#opened.clear();
      this.#opened.set(accessKeyId, { key, until: now + this.#trustMs });
    }
    return key;
  };
}
