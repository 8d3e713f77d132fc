import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { USER_ROLES, type UsersTable, type UserRole } from '../schema.js';
import type { Transaction } from 'kysely';
import type { Database, VmState } from '../schema.js';
import { fromJson, inTransaction, isUniqueViolation, toJson, type StoreContext } from '../store-context.js';
import { ConflictError, NotFoundError } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';
import { MAX_SSH_KEY_CHARS, MAX_SSH_KEYS } from '../../util/ssh-public-key.js';

export interface User {
  readonly id: string;
  readonly name: string;
  readonly role: UserRole;
  readonly sshKeys: readonly string[];
  readonly createdAt: string;
  /** When the user was deleted; a deleted user has no tokens and no groups, and is kept for the records that name it. */
  readonly deletedAt: string | null;
}

// The same limits as the agent's config drive takes (agent-api): a key stored here always reaches the guest.
const sshKeyField = z.string().min(1).max(MAX_SSH_KEY_CHARS).regex(/^\S+ \S+[^\r\n]*$/, 'must be one "type base64 [comment]" line');
const sshKeysField = z.array(sshKeyField).max(MAX_SSH_KEYS);

const createUserSchema = z.object({
  name: fields.name,
  role: z.enum(USER_ROLES).default('user'),
  sshKeys: sshKeysField.default([]),
});
export type CreateUserInput = z.input<typeof createUserSchema>;

/** The stored form of a bearer token: sha256, hex. The token itself is never stored. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function toUser(r: UsersTable): User {
  return { id: r.id, name: r.name, role: r.role, sshKeys: fromJson<string[]>(r.ssh_keys, []), createdAt: r.created_at, deletedAt: r.deleted_at };
}

/** A fresh bearer token: what the caller keeps; the store keeps its hash. */
export function newToken(): string {
  return `nubo_${randomBytes(32).toString('base64url')}`;
}

/** The VM states that hold nothing on a host; a user with VMs in other states cannot be deleted. */
const GONE_VM_STATES: VmState[] = ['terminated'];

export class UsersRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** Creates a user and returns its bearer token; this is the only time the token is seen. */
  async create(input: CreateUserInput): Promise<{ user: User; token: string }> {
    const v = validateInput('user', createUserSchema, input);
    const token = newToken();
    const row: UsersTable = {
      id: randomUUID(),
      name: v.name,
      role: v.role,
      // Not read since 0006 (tokens are api_tokens rows); filled with a hash no token has, as the column is NOT NULL UNIQUE.
      token_hash: hashToken(`retired:${randomBytes(16).toString('hex')}`),
      ssh_keys: toJson(v.sshKeys),
      created_at: this.ctx.now(),
      deleted_at: null,
    };
    try {
      await inTransaction(this.ctx, async (trx) => {
        await trx.insertInto('users').values(row).execute();
        await trx.insertInto('api_tokens').values({ id: randomUUID(), user_id: row.id, name: 'first', token_hash: hashToken(token), created_at: row.created_at }).execute();
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError('user', 'name', v.name, 'already exists', { cause: err });
      throw err;
    }
    return { user: toUser(row), token };
  }

  /** Replaces a user's ssh public keys; they reach the config drives of the VMs the user creates from now on. */
  async setSshKeys(id: string, sshKeys: readonly string[]): Promise<User> {
    const v = validateInput('user', z.object({ sshKeys: sshKeysField }), { sshKeys });
    const r = await this.ctx.db.updateTable('users').set({ ssh_keys: toJson(v.sshKeys) }).where('id', '=', id).returningAll().executeTakeFirst();
    if (!r) throw new NotFoundError('user', id);
    return toUser(r);
  }

  /** The user a bearer token belongs to, or undefined. */
  async findByToken(token: string): Promise<User | undefined> {
    if (!token) return undefined;
    // Looked up on every request: a revoked token (its row deleted) fails the very next one.
    const r = await this.ctx.db.selectFrom('api_tokens').innerJoin('users', 'users.id', 'api_tokens.user_id').selectAll('users')
      .where('api_tokens.token_hash', '=', hashToken(token)).where('users.deleted_at', 'is', null).executeTakeFirst();
    return r && toUser(r);
  }

  async findByName(name: string): Promise<User | undefined> {
    const r = await this.ctx.db.selectFrom('users').selectAll().where('name', '=', name).where('deleted_at', 'is', null).executeTakeFirst();
    return r && toUser(r);
  }

  async get(id: string): Promise<User> {
    const r = await this.ctx.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError('user', id);
    return toUser(r);
  }

  /** The users that are not deleted (`withDeleted`: all, for the names old records carry). */
  async list(o: { withDeleted?: boolean } = {}): Promise<User[]> {
    let q = this.ctx.db.selectFrom('users').selectAll().orderBy('name');
    if (o.withDeleted !== true) q = q.where('deleted_at', 'is', null);
    return (await q.execute()).map(toUser);
  }

  /**
   * Changes a user's role. The last admin cannot step down: nobody could make another.
   * @throws ConflictError when it would leave the cloud without an admin
   */
  async setRole(id: string, role: UserRole): Promise<User> {
    const v = validateInput('user', z.object({ role: z.enum(USER_ROLES) }), { role });
    return inTransaction(this.ctx, async (trx) => {
      const u = await trx.selectFrom('users').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
      if (!u) throw new NotFoundError('user', id);
      if (u.role === 'admin' && v.role !== 'admin') await ensureAnotherAdmin(trx, id, u.name);
      const r = await trx.updateTable('users').set({ role: v.role }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
      return toUser(r);
    });
  }

  /**
   * Deletes a user: their tokens stop working at once and they leave every
   * group. Refused while they own anything that lives on (VMs not
   * terminated, volumes, images, templates) — an operator removes or hands
   * those over first, rather than finding orphans later. Their terminated
   * VMs keep naming them, so the row stays, marked deleted, and the name
   * stays taken.
   * @throws ConflictError naming what they still own, or when they are the last admin
   */
  async delete(id: string): Promise<User> {
    return inTransaction(this.ctx, async (trx) => {
      const u = await trx.selectFrom('users').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
      if (!u) throw new NotFoundError('user', id);
      if (u.role === 'admin') await ensureAnotherAdmin(trx, id, u.name);
      const owned: string[] = [];
      const note = (n: number | string | bigint, noun: string): void => {
        if (Number(n) > 0) owned.push(`${Number(n)} ${noun}${Number(n) === 1 ? '' : 's'}`);
      };
      const live = await trx.selectFrom('vms').select((eb) => eb.fn.countAll<number>().as('n')).where('owner_id', '=', id).where('state', 'not in', GONE_VM_STATES).executeTakeFirstOrThrow();
      note(live.n, 'VM not terminated');
      for (const [table, noun] of [['volumes', 'volume'], ['images', 'image'], ['templates', 'template']] as const) {
        note((await trx.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('owner_id', '=', id).executeTakeFirstOrThrow()).n, noun);
      }
      if (owned.length > 0) throw new ConflictError('user', 'id', u.name, `still owns ${owned.join(', ')}: terminate or delete them first`);
      await trx.deleteFrom('api_tokens').where('user_id', '=', id).execute();
      await trx.deleteFrom('group_members').where('user_id', '=', id).execute();
      const r = await trx.updateTable('users').set({ deleted_at: this.ctx.now() }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
      return toUser(r);
    });
  }
}

async function ensureAnotherAdmin(trx: Transaction<Database>, id: string, name: string): Promise<void> {
  const others = await trx.selectFrom('users').select('id').where('role', '=', 'admin').where('deleted_at', 'is', null).where('id', '!=', id).executeTakeFirst();
  if (!others) throw new ConflictError('user', 'role', name, 'is the last admin: make another admin first');
}
