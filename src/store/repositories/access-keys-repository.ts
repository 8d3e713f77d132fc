import { z } from 'zod';
import type { AccessKeysTable } from '../schema.js';
import type { StoreContext } from '../store-context.js';
import { NotFoundError } from '../store-errors.js';
import { validateInput } from '../validate-input.js';

/** An access key as listed: never its secret. */
export interface AccessKey {
  readonly id: string;
  readonly userId: string;
  readonly description: string;
  readonly createdAt: string;
}

/** An active key's sealed secret and owner, for SigV4 verification. */
export interface SealedAccessKey extends AccessKey {
  readonly secretSealed: string;
}

const toKey = (r: AccessKeysTable): AccessKey => ({ id: r.id, userId: r.user_id, description: r.description, createdAt: r.created_at });

const newKeyInput = z.object({
  id: z.string().regex(/^AKIA[A-Z2-7]{16}$/, 'AKIA and 16 base32 characters'),
  userId: z.string().min(1).max(64),
  description: z.string().max(256).regex(/^[^\p{Cc}]*$/u, 'no control characters'),
  secretSealed: z.string().min(1).max(1024),
});

/**
 * The users' SigV4 access keys. The store holds the secret only sealed (the
 * controller seals and opens it); deleting a row revokes the key: the
 * controller that deletes it forgets what it kept of it at once, another one
 * sharing the database reads this table again within 2 s (AccessKeys).
 */
export class AccessKeysRepository {
  constructor(private readonly ctx: StoreContext) {}

  async create(input: { id: string; userId: string; description: string; secretSealed: string }): Promise<AccessKey> {
    const v = validateInput('access key', newKeyInput, input);
    const row: AccessKeysTable = { id: v.id, user_id: v.userId, description: v.description, secret_sealed: v.secretSealed, created_at: this.ctx.now() };
    await this.ctx.db.insertInto('access_keys').values(row).execute();
    return toKey(row);
  }

  async list(userId: string): Promise<AccessKey[]> {
    return (await this.ctx.db.selectFrom('access_keys').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute()).map(toKey);
  }

  /** The key if it exists and its user is not deleted; undefined otherwise (unknown and revoked look the same to a client). */
  async findActive(id: string): Promise<SealedAccessKey | undefined> {
    const r = await this.ctx.db.selectFrom('access_keys').innerJoin('users', 'users.id', 'access_keys.user_id')
      .selectAll('access_keys').where('access_keys.id', '=', id).where('users.deleted_at', 'is', null).executeTakeFirst();
    return r ? { ...toKey(r), secretSealed: r.secret_sealed } : undefined;
  }

  /** Revokes one of the user's keys. @throws NotFoundError when the user has no such key */
  async delete(userId: string, id: string): Promise<AccessKey> {
    const r = await this.ctx.db.deleteFrom('access_keys').where('user_id', '=', userId).where('id', '=', id).returningAll().executeTakeFirst();
    if (!r) throw new NotFoundError('access key', id);
    return toKey(r);
  }
}
