import { badRequest } from './occi-error.js';
import type { Attributes, AttributeValue, CategoryRef, CategorySet, LinkInstance, ResourceInstance, SentAction, SentEntity, SentLink } from './occi-instance.js';
import { identifierOf, type AttributeDefinition, type Category } from './occi-model.js';

/**
 * The OCCI 1.2 text renderings (GFD.222): the same `Name: value` lines as the
 * body of `text/plain` or as the headers of `text/occi`. Parsing and rendering
 * are pure; the server moves the lines between headers and bodies.
 */

/** One rendered or received line: a header name (Category, Link, X-OCCI-Attribute, X-OCCI-Location) and its value. */
export type TextLine = readonly [name: string, value: string];

const OCCI_HEADERS = new Map(['category', 'link', 'x-occi-attribute', 'x-occi-location'].map((h) => [h, h]));
const TERM = /^[a-z0-9][a-z0-9_-]*$/;
const ATTRIBUTE_NAME = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$/;
const NUMBER = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;

/** Splits at `sep` outside double quotes (a backslash escapes the next character inside them). */
export function splitOutsideQuotes(s: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quoted && c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1]!;
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === sep && !quoted) {
      parts.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  if (quoted) throw badRequest(`unbalanced double quote in ${JSON.stringify(s)}`);
  parts.push(cur);
  return parts;
}

function unquote(raw: string, what: string): string {
  const v = raw.trim();
  if (v.length < 2 || !v.startsWith('"') || !v.endsWith('"')) throw badRequest(`${what}: expected a quoted string, got ${JSON.stringify(v)}`);
  return v.slice(1, -1).replace(/\\(.)/g, '$1');
}

/** An attribute's value as the text rendering writes it: a quoted string, a number, or true/false. */
export function parseAttributeValue(name: string, raw: string): AttributeValue {
  const v = raw.trim();
  if (v.startsWith('"')) return unquote(v, `attribute ${name}`);
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (NUMBER.test(v)) return Number(v);
  throw badRequest(`attribute ${name}: ${JSON.stringify(v)} is neither a quoted string, a number nor true/false`, { attribute: name });
}

export function renderAttributeValue(v: AttributeValue): string {
  return typeof v === 'string' ? `"${v.replace(/(["\\])/g, '\\$1')}"` : String(v);
}

/** `name=value` of an X-OCCI-Attribute line (or of a Link's parameters). */
export function parseAttributePair(pair: string): [string, AttributeValue] {
  const eq = pair.indexOf('=');
  if (eq <= 0) throw badRequest(`attribute ${JSON.stringify(pair.trim())}: expected name=value`);
  const name = pair.slice(0, eq).trim();
  if (!ATTRIBUTE_NAME.test(name)) throw badRequest(`attribute name ${JSON.stringify(name)} is not a valid OCCI attribute name (dot-separated lower-case words)`, { attribute: name });
  return [name, parseAttributeValue(name, pair.slice(eq + 1))];
}

/** The parameters after the first `;`-separated part: key="value" (or key=value). */
function params(parts: readonly string[], what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of parts) {
    if (p.trim() === '') continue;
    const eq = p.indexOf('=');
    if (eq <= 0) throw badRequest(`${what}: malformed parameter ${JSON.stringify(p.trim())}`);
    const key = p.slice(0, eq).trim();
    const raw = p.slice(eq + 1).trim();
    out.set(key, raw.startsWith('"') ? unquote(raw, `${what} ${key}`) : raw);
  }
  return out;
}

/** One Category value: `term; scheme="…"; class="kind"…`. */
export function parseCategory(value: string): CategoryRef {
  const [head, ...rest] = splitOutsideQuotes(value, ';');
  const term = (head ?? '').trim();
  if (!TERM.test(term)) throw badRequest(`Category: ${JSON.stringify(term)} is not a valid term (lower-case letters, digits, - and _)`);
  const p = params(rest, `Category ${term}`);
  const scheme = p.get('scheme');
  if (scheme === undefined || !scheme.endsWith('#')) throw badRequest(`Category ${term}: a scheme ending in '#' is required`);
  const cls = p.get('class');
  if (cls !== undefined && !['kind', 'mixin', 'action'].includes(cls)) throw badRequest(`Category ${term}: class must be kind, mixin or action, not ${JSON.stringify(cls)}`);
  return { term, scheme, ...(cls !== undefined ? { class: cls } : {}) };
}

/** A category as a client defines it (a user-defined mixin POSTed to the query interface): its identifier and the definition's parameters. */
export interface CategoryDefinition extends CategoryRef {
  readonly title?: string;
  readonly location?: string;
  /** `rel` (text) or `depends` + `applies` (JSON): category identifiers. */
  readonly rel: readonly string[];
  /** Whether it defines attributes or actions (nubo's user-defined mixins have neither). */
  readonly definesMore: boolean;
}

/** One Category value of a definition: `term; scheme="…"; class="mixin"; title="…"; rel="…"; location="…"`. */
export function parseCategoryDefinition(value: string): CategoryDefinition {
  const ref = parseCategory(value);
  const p = params(splitOutsideQuotes(value, ';').slice(1), `Category ${ref.term}`);
  const title = p.get('title');
  const location = p.get('location');
  return {
    ...ref, ...(title !== undefined ? { title } : {}), ...(location !== undefined ? { location } : {}),
    rel: (p.get('rel') ?? '').split(/\s+/).filter((r) => r !== ''), definesMore: (p.get('attributes') ?? '').trim() !== '' || (p.get('actions') ?? '').trim() !== '',
  };
}

/** The Category lines of text lines as definitions (a query interface POST or DELETE). */
export function definitionsOfLines(lines: readonly TextLine[]): CategoryDefinition[] {
  const out: CategoryDefinition[] = [];
  for (const [name, value] of lines) {
    if (name !== 'category') throw badRequest(`${name}: a category definition is made of Category lines only`);
    out.push(...splitOutsideQuotes(value, ',').filter((v) => v.trim() !== '').map(parseCategoryDefinition));
  }
  return out;
}

/** The X-OCCI-Location lines of text lines (a mixin's tagging request). */
export function locationsOfLines(lines: readonly TextLine[]): string[] {
  return lines.map(([name, value]) => {
    if (name !== 'x-occi-location') throw badRequest(`${name}: a mixin is given its resources as X-OCCI-Location lines`);
    return value;
  });
}

/** The URIs of a text/uri-list body (RFC 2483: one a line, lines starting with # are comments). */
export function parseUriList(body: string): string[] {
  return body.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** One Link value inside a resource: `<target>; rel="…"; category="…"; attr=value…`. */
export function parseLink(value: string): SentLink {
  const [head, ...rest] = splitOutsideQuotes(value, ';');
  const m = /^\s*<([^>]+)>\s*$/.exec(head ?? '');
  if (!m) throw badRequest(`Link: expected <target> first, got ${JSON.stringify((head ?? '').trim())}`);
  const attributes: Record<string, AttributeValue> = {};
  let rel: string | undefined;
  let kind: string | undefined;
  for (const p of rest) {
    if (p.trim() === '') continue;
    const eq = p.indexOf('=');
    const key = eq > 0 ? p.slice(0, eq).trim() : '';
    if (key === 'rel') rel = unquote(p.slice(eq + 1), 'Link rel');
    else if (key === 'category') kind = unquote(p.slice(eq + 1), 'Link category').split(/\s+/)[0];
    else if (key === 'self') continue;
    else {
      const [name, v] = parseAttributePair(p);
      attributes[name] = v;
    }
  }
  return { target: m[1]!, ...(rel !== undefined ? { rel } : {}), ...(kind !== undefined && kind !== '' ? { kind } : {}), attributes };
}

/** The OCCI lines of a text/plain body: one `Name: value` a line; blank lines are skipped. */
export function linesOfBody(body: string): TextLine[] {
  const out: TextLine[] = [];
  for (const raw of body.split(/\r?\n/)) {
    if (raw.trim() === '') continue;
    const colon = raw.indexOf(':');
    const name = colon > 0 ? raw.slice(0, colon).trim().toLowerCase() : '';
    if (!OCCI_HEADERS.has(name)) throw badRequest(`text/plain line ${JSON.stringify(raw.slice(0, 80))}: expected Category, Link, X-OCCI-Attribute or X-OCCI-Location`);
    out.push([name, raw.slice(colon + 1).trim()]);
  }
  return out;
}

/**
 * The OCCI lines of text/occi headers, from Node's raw header list (each
 * occurrence on its own); one header may also carry several values separated
 * by commas (RFC 7230), split outside quotes.
 */
export function linesOfHeaders(rawHeaders: readonly string[]): TextLine[] {
  const out: TextLine[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (!OCCI_HEADERS.has(name)) continue;
    for (const v of splitOutsideQuotes(rawHeaders[i + 1]!, ',')) if (v.trim() !== '') out.push([name, v.trim()]);
  }
  return out;
}

/** An entity (or a filter) from text lines. */
export function entityOfLines(lines: readonly TextLine[]): SentEntity {
  const categories: CategoryRef[] = [];
  const attributes: Record<string, AttributeValue> = {};
  const links: SentLink[] = [];
  for (const [name, value] of lines) {
    if (name === 'category') categories.push(...splitOutsideQuotes(value, ',').filter((v) => v.trim() !== '').map(parseCategory));
    else if (name === 'x-occi-attribute') {
      const [n, v] = parseAttributePair(value);
      if (Object.hasOwn(attributes, n)) throw badRequest(`attribute ${n} given twice`, { attribute: n });
      attributes[n] = v;
    } else if (name === 'link') links.push(parseLink(value));
    else throw badRequest('X-OCCI-Location is not part of an entity\'s rendering');
  }
  return { categories, attributes, links };
}

/** An action invocation from text lines: one Category of class action, and its attributes. */
export function actionOfLines(lines: readonly TextLine[]): SentAction {
  const e = entityOfLines(lines);
  if (e.links.length > 0) throw badRequest('an action invocation carries no Link');
  if (e.categories.length > 1) throw badRequest('an action invocation names one action Category');
  const c = e.categories[0];
  if (c?.class !== undefined && c.class !== 'action') throw badRequest(`Category ${c.term} is a ${c.class}, not an action`);
  return { action: c ? identifierOf(c) : undefined, attributes: e.attributes };
}

// ---------------------------------------------------------------------------
// Rendering

const q = (s: string): string => `"${s.replace(/(["\\])/g, '\\$1')}"`;

function attributeDefinitions(defs: readonly AttributeDefinition[]): string {
  return defs.map((d) => {
    const props = [...(d.required ? ['required'] : []), ...(d.mutable ? [] : ['immutable'])];
    return props.length > 0 ? `${d.name}{${props.join(' ')}}` : d.name;
  }).join(' ');
}

/** A category's full rendering (the query interface): term, scheme, class, title, rel, location, attributes, actions. */
export function renderCategory(c: Category, base: string): string {
  const parts = [c.term, `scheme=${q(c.scheme)}`, `class=${q(c.class)}`, `title=${q(c.title)}`];
  if (c.class === 'kind' && c.parent !== undefined) parts.push(`rel=${q(c.parent)}`);
  if (c.class === 'mixin' && c.depends.length + c.applies.length > 0) parts.push(`rel=${q([...c.depends, ...c.applies].join(' '))}`);
  if (c.class !== 'action') parts.push(`location=${q(base + c.location)}`);
  if (c.attributes.length > 0) parts.push(`attributes=${q(attributeDefinitions(c.attributes))}`);
  if (c.class !== 'action' && c.actions.length > 0) parts.push(`actions=${q(c.actions.join(' '))}`);
  return parts.join('; ');
}

export function renderCategorySet(set: CategorySet, base: string): TextLine[] {
  return [...set.kinds, ...set.mixins, ...set.actions].map((c) => ['Category', renderCategory(c, base)] as const);
}

/** A category as an instance names it: term, scheme and class only. */
function shortCategory(identifier: string, cls: 'kind' | 'mixin'): string {
  const hash = identifier.lastIndexOf('#');
  return `${identifier.slice(hash + 1)}; scheme=${q(identifier.slice(0, hash + 1))}; class=${q(cls)}`;
}

const attributeLines = (a: Attributes): TextLine[] => Object.entries(a).map(([k, v]) => ['X-OCCI-Attribute', `${k}=${renderAttributeValue(v)}`] as const);

/** A link inside its source resource's rendering: target, rel (the target's kind), self, category and attributes. */
function inlineLink(l: LinkInstance): string {
  const parts = [`<${l.target.location}>`, ...(l.target.kind !== undefined ? [`rel=${q(l.target.kind)}`] : []), `self=${q(l.location)}`, `category=${q([l.kind, ...l.mixins].join(' '))}`];
  for (const [k, v] of Object.entries(l.attributes)) parts.push(`${k}=${renderAttributeValue(v)}`);
  return parts.join('; ');
}

export function renderResource(r: ResourceInstance): TextLine[] {
  return [
    ['Category', shortCategory(r.kind, 'kind')],
    ...r.mixins.map((m) => ['Category', shortCategory(m, 'mixin')] as const),
    ...attributeLines(r.attributes),
    ...r.links.map((l) => ['Link', inlineLink(l)] as const),
    ...r.actions.map((a) => ['Link', `<${r.location}?action=${a.slice(a.lastIndexOf('#') + 1)}>; rel=${q(a)}`] as const),
  ];
}

export function renderLink(l: LinkInstance): TextLine[] {
  return [
    ['Category', shortCategory(l.kind, 'kind')],
    ...l.mixins.map((m) => ['Category', shortCategory(m, 'mixin')] as const),
    ...attributeLines(l.attributes),
  ];
}

export function renderLocations(urls: readonly string[]): TextLine[] {
  return urls.map((u) => ['X-OCCI-Location', u] as const);
}

/** text/uri-list (RFC 2483): one URI a line, each ended by CRLF; an empty collection is an empty body. */
export function renderUriList(urls: readonly string[]): string {
  return urls.map((u) => `${u}\r\n`).join('');
}

/** text/plain: the lines as the body. */
export function linesToBody(lines: readonly TextLine[]): string {
  return lines.map(([n, v]) => `${n}: ${v}\n`).join('');
}

/** text/occi: the lines as headers, each name once with its values in order. */
export function linesToHeaders(lines: readonly TextLine[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [n, v] of lines) (out[n] ??= []).push(v);
  return out;
}
