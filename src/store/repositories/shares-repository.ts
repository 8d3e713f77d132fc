import { z } from 'zod';
import { SHARE_KINDS, type ShareKind } from '../schema.js';
import type { StoreContext } from '../store-context.js';
import { NotFoundError } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';

export interface Share {
  readonly kind: ShareKind;
  readonly resourceId: string;
  readonly groupId: string;
  readonly createdAt: string;
}

const shareInput = z.object({ kind: z.enum(SHARE_KINDS), resourceId: fields.id, groupId: fields.id });

/** Images, templates and networks shared with groups: the members may read and use them. */
export class SharesRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** Shares (again: a second share with the same group changes nothing). */
  async add(kind: ShareKind, resourceId: string, groupId: string): Promise<Share> {
    const v = validateInput('share', shareInput, { kind, resourceId, groupId });
    const createdAt = this.ctx.now();
    await this.ctx.db.insertInto('shares').values({ resource_kind: v.kind, resource_id: v.resourceId, group_id: v.groupId, created_at: createdAt })
      .onConflict((oc) => oc.columns(['resource_kind', 'resource_id', 'group_id']).doNothing()).execute();
    const r = await this.ctx.db.selectFrom('shares').selectAll().where('resource_kind', '=', v.kind).where('resource_id', '=', v.resourceId).where('group_id', '=', v.groupId).executeTakeFirstOrThrow();
    return { kind: r.resource_kind, resourceId: r.resource_id, groupId: r.group_id, createdAt: r.created_at };
  }

  /** @throws NotFoundError when it was not shared with the group */
  async remove(kind: ShareKind, resourceId: string, groupId: string): Promise<void> {
    const r = await this.ctx.db.deleteFrom('shares').where('resource_kind', '=', kind).where('resource_id', '=', resourceId).where('group_id', '=', groupId).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw new NotFoundError('share', groupId);
  }

  /** The groups each of the resources is shared with (those shared with none are absent). */
  async groupsOf(kind: ShareKind, resourceIds?: readonly string[]): Promise<Map<string, string[]>> {
    let q = this.ctx.db.selectFrom('shares').select(['resource_id', 'group_id']).where('resource_kind', '=', kind);
    if (resourceIds !== undefined) {
      if (resourceIds.length === 0) return new Map();
      q = q.where('resource_id', 'in', [...resourceIds]);
    }
    const out = new Map<string, string[]>();
    for (const r of await q.orderBy('created_at').execute()) out.set(r.resource_id, [...(out.get(r.resource_id) ?? []), r.group_id]);
    return out;
  }
}
