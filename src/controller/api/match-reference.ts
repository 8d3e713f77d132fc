import { NuboError } from '../../errors/nubo-error.js';

/** The shortest id prefix taken as a reference: the tables show 8 characters; fewer would match by accident. */
export const MIN_PREFIX = 4;

/** A reference (a name or an id prefix) that fits several resources; the candidates are listed so the caller can pick one (HTTP 400). */
export class AmbiguousIdError extends NuboError {
  readonly code = 'AMBIGUOUS_ID';
  constructor(readonly resource: string, readonly ref: string, candidates: readonly { id: string; name?: string }[]) {
    const list = candidates.map((c) => (c.name === undefined ? c.id : `${c.id} (${c.name})`)).join(', ');
    super(`${resource} ${ref} is ambiguous: it fits ${candidates.length} ${resource}s (${list}); give more of the id`, {
      resource, id: ref, candidates: candidates.map((c) => c.id),
    });
  }
}

/**
 * The one item whose id starts with `ref` (the short ids the CLI's tables show),
 * undefined when none does or `ref` is too short to be taken as a prefix.
 * @throws AmbiguousIdError when several do
 */
export function byIdPrefix<T extends { readonly id: string; readonly name?: string }>(resource: string, ref: string, items: readonly T[]): T | undefined {
  if (ref.length < MIN_PREFIX) return undefined;
  const matches = items.filter((i) => i.id.startsWith(ref));
  if (matches.length > 1) throw new AmbiguousIdError(resource, ref, matches);
  return matches[0];
}
