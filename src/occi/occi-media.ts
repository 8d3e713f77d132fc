import { OcciError } from './occi-error.js';

/**
 * The three renderings nubo speaks (GFD.222 text/plain and text/occi, GFD.226
 * application/occi+json), and `text/uri-list` (RFC 2483), which only a
 * collection's GET answers in: one location a line.
 */
export type BodyRendering = 'text/plain' | 'text/occi' | 'application/occi+json';
export type Rendering = BodyRendering | 'text/uri-list';

const SERVED: readonly BodyRendering[] = ['application/occi+json', 'text/occi', 'text/plain'];

/**
 * The rendering of the answer from the Accept header (RFC 7231 §5.3.2: the
 * highest q wins, a wildcard matches what it covers, `application/json` is
 * taken as the OCCI JSON rendering). No Accept: text/plain, the default of
 * GFD.223. `text/uri-list` only where `uriList` (a collection's GET). Nothing
 * acceptable: 406.
 */
export function negotiate(accept: string | undefined, o: { readonly uriList?: boolean } = {}): Rendering {
  if (accept === undefined || accept.trim() === '') return 'text/plain';
  const served: readonly Rendering[] = o.uriList === true ? [...SERVED, 'text/uri-list'] : SERVED;
  let best: { r: Rendering; q: number; order: number } | undefined;
  for (const part of accept.split(',')) {
    const [type = '', ...ps] = part.split(';').map((s) => s.trim().toLowerCase());
    const qp = ps.find((p) => p.startsWith('q='));
    const q = qp === undefined ? 1 : Number(qp.slice(2));
    if (!(q > 0)) continue;
    const matches: Rendering[] = type === '*/*' ? ['text/plain']
      : type === 'text/*' ? ['text/plain']
      : type === 'application/*' || type === 'application/json' ? ['application/occi+json']
      : served.filter((r) => r === type);
    for (const r of matches) {
      // Exact types beat wildcards at equal q.
      const order = type.includes('*') ? 1 : 0;
      if (!best || q > best.q || (q === best.q && order < best.order)) best = { r, q, order };
    }
  }
  if (!best) throw new OcciError(406, `none of the renderings in Accept: ${accept} is served${o.uriList === true ? '' : ' here'}; ask for ${served.join(', ')}`, { accept });
  return best.r;
}

/** The rendering of a request's body from its Content-Type; none with no body: text/occi (everything in the headers). */
export function requestRendering(contentType: string | undefined, body: string): BodyRendering {
  const t = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (t === '') {
    if (body.trim() !== '') throw new OcciError(415, 'a request body needs a Content-Type: text/plain, text/occi or application/occi+json');
    return 'text/occi';
  }
  if (t === 'application/json' || t === 'application/occi+json') return 'application/occi+json';
  if (t === 'text/occi' || t === 'text/plain') return t;
  throw new OcciError(415, `Content-Type ${t} is not an OCCI rendering: send text/plain, text/occi or application/occi+json`, { contentType: t });
}
