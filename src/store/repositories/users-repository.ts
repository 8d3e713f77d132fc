import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { USER_ROLES, type UsersTable, type UserRole } from '../schema.js';
import { fromJson, isUniqueViolation, toJson, type StoreContext } from '../store-context.js';
import { ConflictError, NotFoundError } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';
import { MAX_SSH_KEY_CHARS, MAX_SSH_KEYS } from '../../util/ssh-public-key.js';

export interface User {
  readonly id: string;
  readonly name: string;
  readonly role: UserRole;
  readonly sshKeys: readonly string[];
  readonly createdAt: string;
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
  return { id: r.id, name: r.name, role: r.role, sshKeys: fromJson<string[]>(r.ssh_keys, []), createdAt: r.created_at };
}

export class UsersRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** Creates a user and returns its bearer token; this is the only time the token is seen. */
  async create(input: CreateUserInput): Promise<{ user: User; token: string }> {
    const v = validateInput('user', createUserSchema, input);
    const token = `nubo_${randomBytes(32).toString('base64url')}`;
    const row: UsersTable = {
      id: randomUUID(),
      name: v.name,
      role: v.role,
      token_hash: hashToken(token),
      ssh_keys: toJson(v.sshKeys),
      created_at: this.ctx.now(),
    };
    try {
      await this.ctx.db.insertInto('users').values(row).execute();
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
    const r = await this.ctx.db.selectFrom('users').selectAll().where('token_hash', '=', hashToken(token)).executeTakeFirst();
    return r && toUser(r);
  }

  async findByName(name: string): Promise<User | undefined> {
    const r = await this.ctx.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return r && toUser(r);
  }

  async get(id: string): Promise<User> {
    const r = await this.ctx.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError('user', id);
    return toUser(r);
  }

  async list(): Promise<User[]> {
    const rows = await this.ctx.db.selectFrom('users').selectAll().orderBy('name').execute();
    return rows.map(toUser);
  }
}
