import { badRequest } from './occi-error.js';
import type { CategoryDefinition } from './occi-text.js';
import type { AttributeValue, CategoryRef, CategorySet, LinkInstance, ResourceInstance, SentAction, SentEntity, SentLink } from './occi-instance.js';
import type { Action, AttributeDefinition, Kind, Mixin } from './occi-model.js';

/**
 * The OCCI 1.2 JSON rendering (GFD.226, `application/occi+json`): entities,
 * collections, the query interface's categories, and action invocations.
 * Parsing checks the shapes the rendering's schema allows and names the field
 * that breaks it.
 */

type Json = Record<string, unknown>;

function attributeDefinitions(defs: readonly AttributeDefinition[]): Json {
  const out: Json = {};
  for (const d of defs) {
    out[d.name] = {
      mutable: d.mutable, required: d.required, type: d.type, description: d.description,
      ...(d.default !== undefined ? { default: d.default } : {}),
      ...(d.values !== undefined ? { pattern: `^(${d.values.join('|')})$` } : {}),
    };
  }
  return out;
}

const kindJson = (k: Kind, base: string): Json => ({
  term: k.term, scheme: k.scheme, title: k.title, attributes: attributeDefinitions(k.attributes), actions: [...k.actions],
  ...(k.parent !== undefined ? { parent: k.parent } : {}), location: base + k.location,
});
const mixinJson = (m: Mixin, base: string): Json => ({
  term: m.term, scheme: m.scheme, title: m.title, attributes: attributeDefinitions(m.attributes), actions: [...m.actions],
  depends: [...m.depends], applies: [...m.applies], location: base + m.location,
});
const actionJson = (a: Action): Json => ({ term: a.term, scheme: a.scheme, title: a.title, attributes: attributeDefinitions(a.attributes) });

/** The query interface (GFD.226 §3.8 model): kinds, mixins and actions. */
export function renderCategorySetJson(set: CategorySet, base: string): Json {
  return { kinds: set.kinds.map((k) => kindJson(k, base)), mixins: set.mixins.map((m) => mixinJson(m, base)), actions: set.actions.map(actionJson) };
}

export function renderLinkJson(l: LinkInstance): Json {
  return {
    kind: l.kind, ...(l.mixins.length > 0 ? { mixins: [...l.mixins] } : {}), attributes: { ...l.attributes }, actions: [],
    id: l.id, ...(l.title !== undefined ? { title: l.title } : {}), source: { ...l.source }, target: { ...l.target },
  };
}

export function renderResourceJson(r: ResourceInstance): Json {
  return {
    kind: r.kind, ...(r.mixins.length > 0 ? { mixins: [...r.mixins] } : {}), attributes: { ...r.attributes }, actions: [...r.actions],
    id: r.id, ...(r.links.length > 0 ? { links: r.links.map(renderLinkJson) } : {}),
    ...(r.summary !== undefined ? { summary: r.summary } : {}), ...(r.title !== undefined ? { title: r.title } : {}),
  };
}

/** A collection: `resources` and/or `links` (each present when it has members, `resources: []` when both are empty). */
export function renderCollectionJson(resources: readonly ResourceInstance[], links: readonly LinkInstance[]): Json {
  if (resources.length === 0 && links.length === 0) return { resources: [] };
  return { ...(resources.length > 0 ? { resources: resources.map(renderResourceJson) } : {}), ...(links.length > 0 ? { links: links.map(renderLinkJson) } : {}) };
}

// ---------------------------------------------------------------------------
// Parsing

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (e) {
    throw badRequest(`malformed application/occi+json: ${(e as Error).message}`);
  }
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function only(o: Json, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw badRequest(`${what}: unknown member ${JSON.stringify(k)} (allowed: ${allowed.join(', ')})`, { member: k });
}

function str(o: Json, key: string, what: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw badRequest(`${what}.${key} must be a non-empty string`, { member: key });
  return v;
}

function strings(o: Json, key: string, what: string): string[] {
  const v = o[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw badRequest(`${what}.${key} must be an array of strings`, { member: key });
  return v;
}

function attributes(o: Json, what: string): Record<string, AttributeValue> {
  const v = o.attributes;
  if (v === undefined) return {};
  if (!isObject(v)) throw badRequest(`${what}.attributes must be an object`, { member: 'attributes' });
  const out: Record<string, AttributeValue> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') throw badRequest(`attribute ${k}: nubo takes strings, numbers and booleans only`, { attribute: k });
    out[k] = x;
  }
  return out;
}

function categoryRef(identifier: string, cls: 'kind' | 'mixin', what: string): CategoryRef {
  const hash = identifier.lastIndexOf('#');
  if (hash <= 0 || hash === identifier.length - 1) throw badRequest(`${what}: ${JSON.stringify(identifier)} is not a category identifier (scheme#term)`);
  return { scheme: identifier.slice(0, hash + 1), term: identifier.slice(hash + 1), class: cls };
}

function kindedLocation(o: Json, key: 'source' | 'target', what: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (!isObject(v) || typeof v.location !== 'string') throw badRequest(`${what}.${key} must be {"location": …}`, { member: key });
  return v.location;
}

/** A resource or a link, as POSTed in the JSON rendering. */
export function parseEntityJson(body: string): SentEntity {
  const o = parseJson(body);
  if (!isObject(o)) throw badRequest('application/occi+json: expected an object (a resource or a link)');
  only(o, ['kind', 'mixins', 'attributes', 'actions', 'id', 'links', 'summary', 'title', 'source', 'target'], 'entity');
  const kind = str(o, 'kind', 'entity');
  if (kind === undefined) throw badRequest('entity.kind is required', { member: 'kind' });
  const categories = [categoryRef(kind, 'kind', 'entity.kind'), ...strings(o, 'mixins', 'entity').map((m) => categoryRef(m, 'mixin', 'entity.mixins'))];
  const attrs = attributes(o, 'entity');
  const title = str(o, 'title', 'entity');
  if (title !== undefined) attrs['occi.core.title'] = title;
  // The rendering's id is occi.core.id: checked as the attribute is (a PUT's must be its location's).
  const id = str(o, 'id', 'entity');
  if (id !== undefined) attrs['occi.core.id'] = id;
  const summary = str(o, 'summary', 'entity');
  if (summary !== undefined) attrs['occi.core.summary'] = summary;
  const links: SentLink[] = [];
  if (o.links !== undefined) {
    if (!Array.isArray(o.links)) throw badRequest('entity.links must be an array', { member: 'links' });
    for (const [i, l] of o.links.entries()) {
      const what = `entity.links[${i}]`;
      if (!isObject(l)) throw badRequest(`${what} must be an object`);
      only(l, ['kind', 'mixins', 'attributes', 'actions', 'id', 'source', 'target', 'title'], what);
      const target = kindedLocation(l, 'target', what);
      if (target === undefined) throw badRequest(`${what}.target is required`);
      const lk = str(l, 'kind', what);
      const rel = isObject(l.target) && typeof l.target.kind === 'string' ? l.target.kind : undefined;
      links.push({ target, ...(lk !== undefined ? { kind: lk } : {}), ...(rel !== undefined ? { rel } : {}), attributes: attributes(l, what) });
    }
  }
  const source = kindedLocation(o, 'source', 'entity');
  const target = kindedLocation(o, 'target', 'entity');
  return { categories, attributes: attrs, links, ...(source !== undefined ? { source } : {}), ...(target !== undefined ? { target } : {}) };
}

/** An action invocation: `{"action": "scheme#term", "attributes": {…}}`. */
export function parseActionJson(body: string): SentAction {
  const o = parseJson(body);
  if (!isObject(o)) throw badRequest('application/occi+json: expected an action invocation object');
  only(o, ['action', 'attributes'], 'action invocation');
  const action = str(o, 'action', 'action invocation');
  return { action, attributes: attributes(o, 'action invocation') };
}

/**
 * Mixin definitions POSTed (or DELETEd) at the query interface: the model's
 * shape (`{"mixins": [{"term", "scheme", "title", "location", "depends",
 * "applies"}]}`); kinds and actions cannot be defined.
 */
export function parseMixinDefinitionsJson(body: string): CategoryDefinition[] {
  const o = parseJson(body);
  if (!isObject(o)) throw badRequest('application/occi+json: expected {"mixins": [...]}');
  only(o, ['kinds', 'mixins', 'actions'], 'model');
  for (const k of ['kinds', 'actions'] as const) {
    if (o[k] !== undefined && !(Array.isArray(o[k]) && o[k].length === 0)) throw badRequest(`model.${k}: only mixins can be defined by a client`, { member: k });
  }
  if (!Array.isArray(o.mixins)) throw badRequest('model.mixins must be an array of mixin definitions', { member: 'mixins' });
  return o.mixins.map((m: unknown, i): CategoryDefinition => {
    const what = `model.mixins[${i}]`;
    if (!isObject(m)) throw badRequest(`${what} must be an object`);
    only(m, ['term', 'scheme', 'title', 'location', 'depends', 'applies', 'attributes', 'actions'], what);
    const term = str(m, 'term', what);
    const scheme = str(m, 'scheme', what);
    if (term === undefined || scheme === undefined) throw badRequest(`${what}: term and scheme are required`);
    if (!/^[a-z0-9][a-z0-9_-]*$/.test(term)) throw badRequest(`${what}.term ${JSON.stringify(term)} is not a valid term (lower-case letters, digits, - and _)`, { member: 'term' });
    if (!scheme.endsWith('#')) throw badRequest(`${what}.scheme must end in '#'`, { member: 'scheme' });
    const title = str(m, 'title', what);
    const location = str(m, 'location', what);
    const definesMore = (isObject(m.attributes) && Object.keys(m.attributes).length > 0) || (Array.isArray(m.actions) && m.actions.length > 0);
    return {
      term, scheme, class: 'mixin', ...(title !== undefined ? { title } : {}), ...(location !== undefined ? { location } : {}),
      rel: [...strings(m, 'depends', what), ...strings(m, 'applies', what)], definesMore,
    };
  });
}

/** A mixin's resources in a tagging request: `{"locations": ["…", …]}`. */
export function parseLocationsJson(body: string): string[] {
  const o = parseJson(body);
  if (!isObject(o)) throw badRequest('application/occi+json: expected {"locations": [...]}');
  only(o, ['locations'], 'locations');
  const l = strings(o, 'locations', 'locations');
  if (o.locations === undefined) throw badRequest('locations is required: the resources\' locations', { member: 'locations' });
  return l;
}
