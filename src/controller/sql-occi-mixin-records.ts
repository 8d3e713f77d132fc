import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../store/store-context.js';
import type { DefineOutcome, OcciMixinRecords, TaggedEntity, UserMixinRecord } from '../occi/occi-mixin-records.js';

/** The tables of migration 0031, typed here: only the OCCI adaptor reads or writes them. */
export interface OcciTables {
  occi_mixins: { owner_id: string; scheme: string; term: string; title: string; location: string; applies: string; created_at: string };
  occi_mixin_members: { owner_id: string; scheme: string; term: string; collection: string; entity_id: string };
}

/** OcciMixinRecords over the store's database (SQLite or PostgreSQL): the tables of migration 0031. */
export class SqlOcciMixinRecords implements OcciMixinRecords {
  constructor(private readonly db: Kysely<OcciTables>, private readonly now: () => string = () => new Date().toISOString()) {}

  async list(ownerId: string): Promise<UserMixinRecord[]> {
    const rows = await this.db.selectFrom('occi_mixins').selectAll().where('owner_id', '=', ownerId).orderBy('location').execute();
    return rows.map((r) => ({ scheme: r.scheme, term: r.term, title: r.title, location: r.location, applies: r.applies === '' ? [] : r.applies.split(' ') }));
  }

  async define(ownerId: string, m: UserMixinRecord): Promise<DefineOutcome> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const clash = await trx.selectFrom('occi_mixins').select(['scheme', 'term', 'location']).where('owner_id', '=', ownerId)
          .where((eb) => eb.or([eb.and([eb('scheme', '=', m.scheme), eb('term', '=', m.term)]), eb('location', '=', m.location)])).executeTakeFirst();
        if (clash) return clash.scheme === m.scheme && clash.term === m.term ? 'identifier-taken' : 'location-taken';
        await trx.insertInto('occi_mixins').values({
          owner_id: ownerId, scheme: m.scheme, term: m.term, title: m.title, location: m.location, applies: m.applies.join(' '), created_at: this.now(),
        }).execute();
        return 'defined' as const;
      });
    } catch (err) {
      // A define racing this one took it between the check and the insert.
      if (isUniqueViolation(err)) return 'identifier-taken';
      throw err;
    }
  }

  /** Removes the mixin and every tag of it, together. @returns false when the owner has no such mixin */
  async remove(ownerId: string, scheme: string, term: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('occi_mixin_members').where('owner_id', '=', ownerId).where('scheme', '=', scheme).where('term', '=', term).execute();
      const r = await trx.deleteFrom('occi_mixins').where('owner_id', '=', ownerId).where('scheme', '=', scheme).where('term', '=', term).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  /** Every tag of the owner's mixins: `collection/id` → the mixins' identifiers. */
  async tags(ownerId: string): Promise<Map<string, string[]>> {
    const rows = await this.db.selectFrom('occi_mixin_members').selectAll().where('owner_id', '=', ownerId).orderBy('scheme').orderBy('term').execute();
    const out = new Map<string, string[]>();
    for (const r of rows) {
      const key = `${r.collection}/${r.entity_id}`;
      out.set(key, [...(out.get(key) ?? []), r.scheme + r.term]);
    }
    return out;
  }

  /**
   * Tags `add` and untags `remove` with the owner's mixin, in one transaction;
   * `replace`: the mixin tags exactly `add` afterwards. Tagging twice is once.
   */
  async retag(ownerId: string, scheme: string, term: string, change: { readonly add: readonly TaggedEntity[]; readonly remove: readonly TaggedEntity[]; readonly replace: boolean }): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const mine = trx.deleteFrom('occi_mixin_members').where('owner_id', '=', ownerId).where('scheme', '=', scheme).where('term', '=', term);
      if (change.replace) await mine.execute();
      for (const e of change.remove) await mine.where('collection', '=', e.collection).where('entity_id', '=', e.id).execute();
      for (const e of change.add) {
        const there = await trx.selectFrom('occi_mixin_members').select('entity_id').where('owner_id', '=', ownerId).where('scheme', '=', scheme).where('term', '=', term)
          .where('collection', '=', e.collection).where('entity_id', '=', e.id).executeTakeFirst();
        if (!there) await trx.insertInto('occi_mixin_members').values({ owner_id: ownerId, scheme, term, collection: e.collection, entity_id: e.id }).execute();
      }
    });
  }
}
