import { DOMImplementation, XMLSerializer, type Element } from '@xmldom/xmldom';

/** EC2's XML namespace for API version 2016-11-15, the version the SDKs and awscli send. */
export const EC2_NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export type XmlValue = string | number | boolean | null | undefined | XmlObject | readonly XmlValue[];
export interface XmlObject {
  readonly [name: string]: XmlValue;
}

/**
 * The XML of a successful action: `<{Action}Response xmlns=…><requestId>…`
 * then the body. Objects become child elements in key order, arrays EC2's
 * `<item>` lists, null and undefined are left out. Built as a DOM with
 * @xmldom/xmldom (already a dependency) so that escaping is the serializer's
 * job, never ours.
 */
export function ec2ResponseXml(action: string, requestId: string, body: XmlObject): string {
  const doc = new DOMImplementation().createDocument(EC2_NAMESPACE, `${action}Response`, null);
  const root = doc.documentElement;
  if (!root) throw new TypeError('createDocument made no root');
  append(root, { requestId, ...body });
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(doc)}`;
}

/** EC2's error shape (no namespace): `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`. */
export function ec2ErrorXml(code: string, message: string, requestId: string): string {
  const doc = new DOMImplementation().createDocument(null, 'Response', null);
  const root = doc.documentElement;
  if (!root) throw new TypeError('createDocument made no root');
  append(root, { Errors: { Error: { Code: code, Message: message } }, RequestID: requestId });
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(doc)}`;
}

function append(parent: Element, body: XmlObject): void {
  const doc = parent.ownerDocument;
  if (!doc) throw new TypeError('element without a document');
  for (const [name, value] of Object.entries(body)) {
    if (value === null || value === undefined) continue;
    const child = doc.createElementNS(parent.namespaceURI, name);
    fill(child, value);
    parent.appendChild(child);
  }
}

function fill(el: Element, value: Exclude<XmlValue, null | undefined>): void {
  const doc = el.ownerDocument;
  if (!doc) throw new TypeError('element without a document');
  if (Array.isArray(value)) {
    for (const v of value as readonly XmlValue[]) {
      if (v === null || v === undefined) continue;
      const item = doc.createElementNS(el.namespaceURI, 'item');
      fill(item, v);
      el.appendChild(item);
    }
  } else if (typeof value === 'object') {
    append(el, value as XmlObject);
  } else {
    el.appendChild(doc.createTextNode(String(value)));
  }
}
