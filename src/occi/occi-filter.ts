import { badRequest } from './occi-error.js';
import type { Attributes, CategoryRef, CategorySet, EntityInstance } from './occi-instance.js';
import { identifierOf, kindByIdentifier } from './occi-model.js';

/**
 * Filtering (GFD.223 §3.4.3): the query interface keeps the categories named
 * (a Category header, or `?category=<identifier>`), a collection keeps the
 * entities that have every named category (their kind, an ancestor of it, or
 * a mixin) and every named attribute value.
 */

export function filterCategories(all: CategorySet, wanted: readonly CategoryRef[]): CategorySet {
  if (wanted.length === 0) return all;
  const ids = new Set(wanted.map(identifierOf));
  const known = new Set([...all.kinds, ...all.mixins, ...all.actions].map(identifierOf));
  for (const id of ids) if (!known.has(id)) throw badRequest(`unknown category ${id}: the query interface lists no such kind, mixin or action`, { category: id });
  return {
    kinds: all.kinds.filter((k) => ids.has(identifierOf(k))),
    mixins: all.mixins.filter((m) => ids.has(identifierOf(m))),
    actions: all.actions.filter((a) => ids.has(identifierOf(a))),
  };
}

/** A kind's identifier and its ancestors'. */
function kindLine(kind: string): string[] {
  const out = [kind];
  let k = kindByIdentifier(kind);
  while (k?.parent !== undefined) {
    out.push(k.parent);
    k = kindByIdentifier(k.parent);
  }
  return out;
}

/** A category a mixin depends on counts as the entity's too (a template's os_tpl parent). */
export function entityMatches(e: EntityInstance, categories: readonly string[], attributes: Attributes, mixinParents: ReadonlyMap<string, readonly string[]>): boolean {
  const has = new Set([...kindLine(e.kind), ...e.mixins, ...e.mixins.flatMap((m) => mixinParents.get(m) ?? [])]);
  if (!categories.every((c) => has.has(c))) return false;
  return Object.entries(attributes).every(([k, v]) => e.attributes[k] === v);
}
