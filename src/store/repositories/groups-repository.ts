import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { GroupsTable } from '../schema.js';
import { inTransaction, isUniqueViolation, type StoreContext } from '../store-context.js';
import { ConflictError, NotFoundError } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';

export interface Group {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
}

export interface GroupMember {
  readonly groupId: string;
  readonly userId: string;
  /** The group's admin: manages its members and sees their resources. */
  readonly admin: boolean;
  readonly createdAt: string;
}

const toGroup = (r: GroupsTable): Group => ({ id: r.id, name: r.name, createdAt: r.created_at });

/** Groups of users (what is shared is shared with a group) and their members. */
export class GroupsRepository {
  constructor(private readonly ctx: StoreContext) {}

  async create(input: { name: string }): Promise<Group> {
    const v = validateInput('group', z.object({ name: fields.name }), input);
    const row: GroupsTable = { id: randomUUID(), name: v.name, created_at: this.ctx.now() };
    try {
      await this.ctx.db.insertInto('groups').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError('group', 'name', v.name, 'already exists', { cause: err });
      throw err;
    }
    return toGroup(row);
  }

  async get(id: string): Promise<Group> {
    const r = await this.ctx.db.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError('group', id);
    return toGroup(r);
  }

  async findByName(name: string): Promise<Group | undefined> {
    const r = await this.ctx.db.selectFrom('groups').selectAll().where('name', '=', name).executeTakeFirst();
    return r && toGroup(r);
  }

  async list(): Promise<Group[]> {
    return (await this.ctx.db.selectFrom('groups').selectAll().orderBy('name').execute()).map(toGroup);
  }

  /** Deletes the group with its memberships and shares (what was shared goes back to its owner alone). */
  async delete(id: string): Promise<Group> {
    return inTransaction(this.ctx, async (trx) => {
      const r = await trx.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst();
      if (!r) throw new NotFoundError('group', id);
      // Explicit rather than by cascade: SQLite enforces foreign keys only when the connection asks for it.
      await trx.deleteFrom('group_members').where('group_id', '=', id).execute();
      await trx.deleteFrom('shares').where('group_id', '=', id).execute();
      await trx.deleteFrom('groups').where('id', '=', id).execute();
      return toGroup(r);
    });
  }

  /** Adds a member, or changes an existing member's admin flag. */
  async setMember(groupId: string, userId: string, admin: boolean): Promise<GroupMember> {
    const createdAt = this.ctx.now();
    return inTransaction(this.ctx, async (trx) => {
      if (!(await trx.selectFrom('groups').select('id').where('id', '=', groupId).executeTakeFirst())) throw new NotFoundError('group', groupId);
      const existing = await trx.selectFrom('group_members').selectAll().where('group_id', '=', groupId).where('user_id', '=', userId).executeTakeFirst();
      if (existing) {
        await trx.updateTable('group_members').set({ admin: admin ? 1 : 0 }).where('group_id', '=', groupId).where('user_id', '=', userId).execute();
        return { groupId, userId, admin, createdAt: existing.created_at };
      }
      await trx.insertInto('group_members').values({ group_id: groupId, user_id: userId, admin: admin ? 1 : 0, created_at: createdAt }).execute();
      return { groupId, userId, admin, createdAt };
    });
  }

  /** @throws NotFoundError when the user is not a member */
  async removeMember(groupId: string, userId: string): Promise<void> {
    const r = await this.ctx.db.deleteFrom('group_members').where('group_id', '=', groupId).where('user_id', '=', userId).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw new NotFoundError('member', userId);
  }

  async members(groupId: string): Promise<GroupMember[]> {
    const rows = await this.ctx.db.selectFrom('group_members').selectAll().where('group_id', '=', groupId).orderBy('created_at').execute();
    return rows.map((r) => ({ groupId: r.group_id, userId: r.user_id, admin: r.admin === 1, createdAt: r.created_at }));
  }

  /** The groups a user is in. */
  async membershipsOf(userId: string): Promise<GroupMember[]> {
    const rows = await this.ctx.db.selectFrom('group_members').selectAll().where('user_id', '=', userId).execute();
    return rows.map((r) => ({ groupId: r.group_id, userId: r.user_id, admin: Number(r.admin) === 1, createdAt: r.created_at }));
  }
}
