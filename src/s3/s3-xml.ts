import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { S3Error } from './s3-error.js';

export const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@', suppressEmptyNode: false, processEntities: true });

/** An S3 response document: `<?xml …?><Root xmlns=…>body</Root>`. Arrays repeat their element, as S3's lists do. */
export function s3Xml(root: string, body: Record<string, unknown>, namespace = true): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ [root]: namespace ? { '@xmlns': S3_NS, ...body } : body })}`;
}

/**
 * Text XML 1.0 can carry: characters it forbids (controls such as NUL, lone
 * surrogates, U+FFFE/U+FFFF) percent-encoded. An error's Resource echoes the
 * request's path, and one such character there made the whole error document
 * unparseable for botocore (it then reports a bare "400" instead of the code).
 */
export function xmlSafe(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, (c) => encodeURIComponent(c.length === 1 && c.charCodeAt(0) >= 0xd800 && c.charCodeAt(0) <= 0xdfff ? '\uFFFD' : c));
}

const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: false, removeNSPrefix: true, processEntities: true });

/**
 * A request body's XML as a plain object (values left as strings), or
 * MalformedXML naming what is wrong. fast-xml-parser: a maintained, pure
 * JavaScript parser with a validator and no DTD or external-entity loading.
 */
export function parseS3Xml(text: string, root: string): Record<string, unknown> {
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new S3Error(400, 'MalformedXML', `The XML you provided was not well-formed or did not validate against our published schema: ${valid.err.msg} (line ${valid.err.line})`);
  const doc = parser.parse(text) as Record<string, unknown>;
  const body = doc[root];
  if (body === undefined || body === null || typeof body !== 'object') {
    if (body === '') return {};
    throw new S3Error(400, 'MalformedXML', `The XML you provided was not well-formed or did not validate against our published schema: the root element must be <${root}>`);
  }
  return body as Record<string, unknown>;
}

/** An element that may appear once or many times, always as an array. */
export const asList = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
