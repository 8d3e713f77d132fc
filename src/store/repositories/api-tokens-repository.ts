import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { ApiTokensTable } from '../schema.js';
import { isUniqueViolation, type StoreContext } from '../store-context.js';
import { ConflictError, NotFoundError } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';
import { hashToken, newToken } from './users-repository.js';

/** A user's API token as listed: never the token itself (only its hash is stored). */
export interface ApiToken {
  readonly id: string;
  readonly userId: string;
  readonly name: string;
  readonly createdAt: string;
}

const toToken = (r: ApiTokensTable): ApiToken => ({ id: r.id, userId: r.user_id, name: r.name, createdAt: r.created_at });

/** Several named bearer tokens per user; deleting one revokes it for the very next request (the auth hook reads this table every time). */
export class ApiTokensRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** A new token for the user; the answer is the only time the token is seen. */
  async create(userId: string, input: { name: string }): Promise<{ token: string; record: ApiToken }> {
    const v = validateInput('token', z.object({ name: fields.name }), input);
    const token = newToken();
    const row: ApiTokensTable = { id: randomUUID(), user_id: userId, name: v.name, token_hash: hashToken(token), created_at: this.ctx.now() };
    try {
      await this.ctx.db.insertInto('api_tokens').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError('token', 'name', v.name, 'already exists for this user', { cause: err });
      throw err;
    }
    return { token, record: toToken(row) };
  }

  async list(userId: string): Promise<ApiToken[]> {
    return (await this.ctx.db.selectFrom('api_tokens').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('name').execute()).map(toToken);
  }

  /** Revokes the user's token given by id or name. @throws NotFoundError when the user has no such token */
  async revoke(userId: string, ref: string): Promise<ApiToken> {
    const r = await this.ctx.db.deleteFrom('api_tokens').where('user_id', '=', userId)
      .where((eb) => eb.or([eb('id', '=', ref), eb('name', '=', ref)])).returningAll().executeTakeFirst();
    if (!r) throw new NotFoundError('token', ref);
    return toToken(r);
  }
}
