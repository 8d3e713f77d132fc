import type { Action, Kind, Mixin } from './occi-model.js';

/**
 * What the renderings carry, independent of the rendering: entity instances
 * (GFD.221 Resource and Link), the model the query interface lists, and what
 * a client sent (categories, attributes, links, an action).
 */

export type AttributeValue = string | number | boolean;
export type Attributes = Readonly<Record<string, AttributeValue>>;

/** A location and, when known, the kind of what is there (the JSON rendering's `kinded_uri`). */
export interface KindedUri {
  readonly location: string;
  readonly kind?: string;
}

export interface LinkInstance {
  readonly kind: string;
  readonly mixins: readonly string[];
  readonly id: string;
  readonly title?: string;
  readonly location: string;
  readonly source: KindedUri;
  readonly target: KindedUri;
  readonly attributes: Attributes;
}

export interface ResourceInstance {
  readonly kind: string;
  readonly mixins: readonly string[];
  readonly id: string;
  readonly title?: string;
  readonly summary?: string;
  readonly location: string;
  readonly attributes: Attributes;
  /** Identifiers of the actions that apply now. */
  readonly actions: readonly string[];
  readonly links: readonly LinkInstance[];
}

export type EntityInstance = ResourceInstance | LinkInstance;
export const isLink = (e: EntityInstance): e is LinkInstance => 'source' in e;

/** The categories the query interface lists (after filtering). */
export interface CategorySet {
  readonly kinds: readonly Kind[];
  readonly mixins: readonly Mixin[];
  readonly actions: readonly Action[];
}

/** A category as a client names it: scheme and term, and the class when it said one. */
export interface CategoryRef {
  readonly scheme: string;
  readonly term: string;
  readonly class?: string;
}

/** A link as a client sent it inside a resource (text `Link:` or JSON `links`). */
export interface SentLink {
  readonly target: string;
  readonly rel?: string;
  readonly kind?: string;
  readonly attributes: Attributes;
}

/** An entity (or filter) as a client sent it, in any rendering. */
export interface SentEntity {
  readonly categories: readonly CategoryRef[];
  readonly attributes: Attributes;
  readonly links: readonly SentLink[];
  /** JSON's `source`/`target` of a link, when the entity is one. */
  readonly source?: string;
  readonly target?: string;
}

/** An action invocation as a client sent it. */
export interface SentAction {
  /** The action's identifier (scheme + term); undefined when the body named none. */
  readonly action: string | undefined;
  readonly attributes: Attributes;
}
