/**
 * The canonical request of SigV4, built from the request as it arrived: the
 * path and query are decoded once and re-encoded in AWS's one form, so that a
 * client encoding a character another way (`~`, `*`, `'`) still verifies.
 */

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** RFC 3986 encoding as SigV4 wants it: everything but the unreserved characters, as upper-case %XX of its UTF-8. */
export function uriEncode(s: string, keepSlash = false): string {
  let out = '';
  for (const ch of s) {
    if (UNRESERVED.test(ch) || (keepSlash && ch === '/')) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** `decodeURIComponent` that leaves `+` as it is (S3 and EC2 clients send spaces as %20) and refuses bad escapes with undefined. */
export function uriDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** The query string's pairs, decoded, in arrival order. */
export function parseQuery(rawQuery: string): Array<[string, string]> | undefined {
  const pairs: Array<[string, string]> = [];
  if (rawQuery === '') return pairs;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = uriDecode(eq < 0 ? part : part.slice(0, eq));
    const v = uriDecode(eq < 0 ? '' : part.slice(eq + 1));
    if (k === undefined || v === undefined) return undefined;
    pairs.push([k, v]);
  }
  return pairs;
}

/**
 * The canonical URI: S3 signs the path as sent (each segment encoded once, no
 * dot-segment removal); every other service encodes the encoded path again.
 */
export function canonicalUri(decodedPath: string, service: string): string {
  const once = uriEncode(decodedPath === '' ? '/' : decodedPath, true);
  return service === 's3' ? once : uriEncode(once, true);
}

export function canonicalQuery(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

export type Headers = Readonly<Record<string, string | readonly string[] | undefined>>;

/** A header's value as SigV4 canonicalises it: trimmed, inner runs of spaces collapsed, repeated headers joined by commas. */
export function headerValue(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  const values = typeof v === 'string' ? [v] : v;
  return values.map((x) => x.trim().replace(/\s+/g, ' ')).join(',');
}

export function canonicalHeaders(headers: Headers, signed: readonly string[]): string | undefined {
  let out = '';
  for (const name of signed) {
    const v = headerValue(headers, name);
    if (v === undefined) return undefined;
    out += `${name}:${v}\n`;
  }
  return out;
}
