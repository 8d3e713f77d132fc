import { Ec2ApiError, invalidParameterValue } from './ec2-api-error.js';
import type { Ec2Filter } from './ec2-params.js';

/** An item's values per filter name (several for list fields such as group ids); tags apart, for `tag:K` and `tag-key`. */
export interface Filterable {
  readonly fields: Readonly<Record<string, readonly string[]>>;
  readonly tags: ReadonlyMap<string, string>;
}

/**
 * EC2's filter semantics: an item passes when every filter matches, a filter
 * matches when any of its values matches any of the item's values; values may
 * hold `*` and `?` wildcards. A filter name the action does not know is
 * refused (naming it) rather than ignored, so a typo never widens a result.
 */
export function checkFilters(filters: readonly Ec2Filter[], known: readonly string[]): void {
  for (const [i, f] of filters.entries()) {
    const ok = known.includes(f.name) || f.name === 'tag-key' || f.name === 'tag-value' || (f.name.startsWith('tag:') && f.name.length > 4);
    if (!ok) throw invalidParameterValue(`Filter.${i + 1}.Name`, `the filter ${JSON.stringify(f.name)} is not one of ${[...known, 'tag:<key>', 'tag-key', 'tag-value'].join(', ')}`);
    if (f.values.length === 0) throw invalidParameterValue(`Filter.${i + 1}.Value`, `the filter ${f.name} has no value`);
  }
}

export function passesFilters(filters: readonly Ec2Filter[], item: Filterable): boolean {
  return filters.every((f) => {
    let have: readonly string[];
    if (f.name.startsWith('tag:')) {
      const v = item.tags.get(f.name.slice(4));
      have = v === undefined ? [] : [v];
    } else if (f.name === 'tag-key') have = [...item.tags.keys()];
    else if (f.name === 'tag-value') have = [...item.tags.values()];
    else have = item.fields[f.name] ?? [];
    return f.values.some((pattern) => {
      const re = wildcard(pattern);
      return have.some((h) => re.test(h));
    });
  });
}

function wildcard(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

/** One page of `items` (sorted by `keyOf`) after NextToken, with the token of the next page when more remain. */
export function pageOf<T>(items: readonly T[], keyOf: (t: T) => string, maxResults: number | undefined, nextToken: string | undefined): { page: T[]; nextToken: string | undefined } {
  const sorted = [...items].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
  let start = 0;
  if (nextToken !== undefined) {
    const after = decodeToken(nextToken);
    start = sorted.findIndex((t) => keyOf(t) > after);
    if (start < 0) start = sorted.length;
  }
  if (maxResults === undefined) return { page: sorted.slice(start), nextToken: undefined };
  const page = sorted.slice(start, start + maxResults);
  const last = page.at(-1);
  return { page, nextToken: start + maxResults < sorted.length && last !== undefined ? Buffer.from(JSON.stringify({ after: keyOf(last) })).toString('base64url') : undefined };
}

function decodeToken(token: string): string {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null && typeof (v as { after?: unknown }).after === 'string') return (v as { after: string }).after;
  } catch {
    // Falls through to the refusal below.
  }
  throw new Ec2ApiError('InvalidNextToken', 'The NextToken is not one this API gave out');
}
