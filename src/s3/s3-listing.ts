import type { Store } from '../store/open-store.js';
import { KEY_MAX_SUFFIX, type S3Object } from '../store/repositories/s3-repository.js';

export interface Listing {
  readonly contents: S3Object[];
  readonly prefixes: string[];
  readonly truncated: boolean;
  /** Where the next page starts (after this, bytewise), when truncated. */
  readonly cursor: string | undefined;
  /** The last key or common prefix returned (V1's NextMarker). */
  readonly last: string | undefined;
}

const BATCH = 1000;

/**
 * One page of a listing: keys under `prefix` after `after`, keys that hold
 * `delimiter` past the prefix rolled up into common prefixes (each counted as
 * one entry), at most `maxKeys` entries. A common prefix is skipped past in one
 * query, so a "directory" of a million keys costs one row, not a million.
 */
export async function listPage(store: Store, bucket: string, o: { prefix: string; delimiter: string; after: string | undefined; maxKeys: number }): Promise<Listing> {
  const contents: S3Object[] = [];
  const prefixes: string[] = [];
  let cursor = o.after;
  // A marker that is itself a common prefix stands for everything under it.
  if (cursor !== undefined && o.delimiter !== '' && cursor.startsWith(o.prefix) && cursor.endsWith(o.delimiter) && cursor.length > o.prefix.length) cursor += KEY_MAX_SUFFIX;
  let last: string | undefined;
  const full = (): boolean => contents.length + prefixes.length >= o.maxKeys;
  outer: while (!full()) {
    const batch = await store.s3.listObjects(bucket, { prefix: o.prefix, after: cursor, limit: BATCH });
    if (batch.length === 0) return { contents, prefixes, truncated: false, cursor: undefined, last };
    for (const obj of batch) {
      if (full()) break outer;
      const at = o.delimiter === '' ? -1 : obj.key.indexOf(o.delimiter, o.prefix.length);
      if (at >= 0) {
        const cp = obj.key.slice(0, at + o.delimiter.length);
        prefixes.push(cp);
        last = cp;
        cursor = cp + KEY_MAX_SUFFIX;
        continue outer;
      }
      contents.push(obj);
      last = obj.key;
      cursor = obj.key;
    }
    if (batch.length < BATCH) return { contents, prefixes, truncated: false, cursor: undefined, last };
  }
  const more = await store.s3.listObjects(bucket, { prefix: o.prefix, after: cursor, limit: 1 });
  return { contents, prefixes, truncated: more.length > 0, cursor: more.length > 0 ? cursor : undefined, last };
}
