import { badRequest, OcciError } from './occi-error.js';
import type { CategorySet } from './occi-instance.js';
import { COMPUTE, identifierOf, NETWORK, STORAGE, type Mixin } from './occi-model.js';
import { parseLocation } from './occi-requests.js';
import type { CategoryDefinition } from './occi-text.js';
import type { TaggedEntity, UserMixinRecord } from './occi-mixin-records.js';

/**
 * User-defined mixins (GFD.223 query interface and mixin collections): a
 * user's own tags. A definition is checked against the model before it is
 * stored — its scheme is not one of the specification's or nubo's, it names
 * no category that exists, its location is a free path of its own under the
 * OCCI root — and a tagging request's locations must be resources'. Pure.
 */

const RESERVED_SCHEMES = ['http://schemas.ogf.org/', 'http://schemas.nubo.dev/'];
/** First path segments the OCCI root uses itself. */
const RESERVED_SEGMENTS = new Set(['-', '.well-known', 'compute', 'storage', 'network', 'link', 'mixin', 'entity', 'resource']);
const LOCATION = /^\/([a-z0-9][a-z0-9_.-]{0,62}\/){1,3}$/;
/** The kinds a user-defined mixin may apply to: the resources nubo can tag. */
export const TAGGABLE = [COMPUTE, STORAGE, NETWORK];

/** A stored user mixin as the model's Mixin. */
export function userMixin(r: UserMixinRecord): Mixin {
  return { class: 'mixin', term: r.term, scheme: r.scheme, title: r.title, depends: [], applies: [...r.applies], location: r.location, actions: [], attributes: [] };
}

/** The location a client gave, as a path under the OCCI root (`/my_stuff/`): a full URL or a path under `base` is cut to that. */
function relativeLocation(location: string, base: string): string {
  let path = location.trim();
  if (/^https?:\/\//i.test(path)) {
    try {
      path = new URL(path).pathname;
    } catch {
      throw badRequest(`location ${JSON.stringify(location)} is not a URL or a path`, { attribute: 'location' });
    }
  }
  return path.startsWith(`${base}/`) ? path.slice(base.length) : path;
}

/** A mixin definition checked against the model (the caller's own mixins in it). */
export function planMixinDefinition(defs: readonly CategoryDefinition[], model: CategorySet, base: string): UserMixinRecord {
  if (defs.length !== 1) throw badRequest(`define one mixin a request, ${defs.length} given`);
  const d = defs[0]!;
  const id = identifierOf(d);
  if (d.class !== undefined && d.class !== 'mixin') throw badRequest(`${id} is a ${d.class}: only mixins can be defined by a client`, { category: id });
  if (RESERVED_SCHEMES.some((s) => d.scheme.startsWith(s))) throw badRequest(`scheme ${d.scheme} is reserved (the specification's and nubo's): define your mixins in a scheme of your own`, { category: id });
  if ([...model.kinds, ...model.mixins, ...model.actions].some((c) => identifierOf(c) === id)) throw new OcciError(409, `category ${id} is already defined`, { category: id });
  if (d.definesMore) throw badRequest(`mixin ${id}: nubo's user-defined mixins are tags: they define no attributes or actions`, { category: id });
  if (d.location === undefined) throw badRequest(`mixin ${id}: a location is required (a path of its own under ${base}, e.g. location="/my_stuff/")`, { category: id });
  const location = relativeLocation(d.location, base);
  if (!LOCATION.test(location)) throw badRequest(`mixin ${id}: location ${JSON.stringify(d.location)} must be a path of 1-3 segments of a-z, 0-9, '.', '_' and '-', ending in '/' (e.g. /my_stuff/)`, { category: id });
  const first = location.split('/')[1]!;
  if (RESERVED_SEGMENTS.has(first)) throw new OcciError(409, `mixin ${id}: location ${location} is under /${first}/, which nubo's OCCI root uses itself`, { category: id });
  const taken = [...model.kinds, ...model.mixins].find((c) => c.location === location);
  if (taken) throw new OcciError(409, `mixin ${id}: location ${location} is ${identifierOf(taken)}'s`, { category: id });
  const taggable = new Set(TAGGABLE.map(identifierOf));
  for (const r of d.rel) if (!taggable.has(r)) throw badRequest(`mixin ${id}: rel ${r} — a user-defined mixin may name only the kinds it applies to (${[...taggable].join(', ')})`, { category: id });
  return { scheme: d.scheme, term: d.term, title: d.title ?? d.term, location, applies: [...new Set(d.rel)] };
}

/** The one user mixin a removal names. */
export function planMixinRemoval(defs: readonly CategoryDefinition[], mine: readonly UserMixinRecord[], model: CategorySet): UserMixinRecord {
  if (defs.length !== 1) throw badRequest(`remove one mixin a request, ${defs.length} given`);
  const id = identifierOf(defs[0]!);
  const m = mine.find((x) => identifierOf(x) === id);
  if (m) return m;
  if ([...model.kinds, ...model.mixins, ...model.actions].some((c) => identifierOf(c) === id)) throw new OcciError(403, `category ${id} is nubo's: only your own mixins can be removed`, { category: id });
  throw new OcciError(404, `no mixin ${id} of yours`, { category: id });
}

/** A tagging request's locations as resources (each once); anything but a compute, storage or network location is refused naming it. */
export function planTagging(locations: readonly string[], base: string): TaggedEntity[] {
  const out = new Map<string, TaggedEntity>();
  for (const l of locations) {
    const p = parseLocation(l, base);
    if (!p || !['compute', 'storage', 'network'].includes(p.collection)) throw badRequest(`X-OCCI-Location ${JSON.stringify(l)} is not a compute, storage or network location (${base}/compute/<id>, …): mixins tag resources`, { location: l });
    out.set(`${p.collection}/${p.id}`, { collection: p.collection, id: p.id });
  }
  return [...out.values()];
}
