import type { IncomingHttpHeaders } from 'node:http';

/** The request headers S3 keeps with an object and gives back on GET/HEAD. */
const KEPT = ['content-type', 'content-encoding', 'content-disposition', 'content-language', 'cache-control', 'expires'];

export function storedHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(h)) {
    if (value === undefined) continue;
    const v = Array.isArray(value) ? value.join(',') : value;
    if (name.startsWith('x-amz-meta-') || KEPT.includes(name)) out[name] = v;
  }
  // aws-chunked is how the body travelled, not what it is.
  const enc = out['content-encoding']?.split(',').map((s) => s.trim()).filter((s) => s !== 'aws-chunked' && s !== '');
  if (enc !== undefined) {
    if (enc.length === 0) delete out['content-encoding'];
    else out['content-encoding'] = enc.join(',');
  }
  out['content-type'] ??= 'binary/octet-stream';
  return out;
}
