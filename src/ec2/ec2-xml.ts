/** EC2's XML namespace for API version 2016-11-15, the version the SDKs and awscli send. */
export const EC2_NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export type XmlValue = string | number | boolean | null | undefined | XmlObject | readonly XmlValue[];
export interface XmlObject {
  readonly [name: string]: XmlValue;
}

/**
 * The XML of a successful action: `<{Action}Response xmlns=…><requestId>…`
 * then the body. Objects become child elements in key order, arrays EC2's
 * `<item>` lists, null and undefined are left out; an empty list or object is
 * an empty element (`<groupSet/>`), an empty string `<reason></reason>`.
 *
 * Written straight into a string: the answers were built as a DOM with
 * @xmldom/xmldom and serialised, ~0.1 ms of every DescribeInstances poll at
 * the bench's cadence (a DOM node per element, each name checked, then a tree
 * walk) for what is a dozen lines here. The output is byte for byte what that
 * serialiser wrote — text escaped as it escapes it (`&`, `<`, `>`), element
 * names checked against XML's — which ec2-xml.test.ts checks against xmldom on
 * every shape the actions answer.
 */
export function ec2ResponseXml(action: string, requestId: string, body: XmlObject): string {
  const out = [`${XML_DECLARATION}<${checkedName(`${action}Response`)} xmlns="${EC2_NAMESPACE}">`];
  members(out, { requestId, ...body });
  out.push(`</${action}Response>`);
  return out.join('');
}

/** EC2's error shape (no namespace): `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`. */
export function ec2ErrorXml(code: string, message: string, requestId: string): string {
  const out = [XML_DECLARATION];
  element(out, 'Response', { Errors: { Error: { Code: code, Message: message } }, RequestID: requestId });
  return out.join('');
}

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';
/** An element name as XML allows it (ASCII: every name EC2 answers with), else a TypeError, as the DOM threw. */
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const checkedName = (name: string): string => {
  if (!NAME.test(name)) throw new TypeError(`${JSON.stringify(name)} is not an XML element name`);
  return name;
};
const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };
const escapeText = (text: string): string => text.replace(/[&<>]/g, (c) => ESCAPES[c] ?? c);

function members(out: string[], body: XmlObject): void {
  for (const name of Object.keys(body)) {
    const value = body[name];
    if (value !== null && value !== undefined) element(out, name, value);
  }
}

function element(out: string[], name: string, value: Exclude<XmlValue, null | undefined>): void {
  checkedName(name);
  if (Array.isArray(value)) {
    const items = (value as readonly XmlValue[]).filter((v): v is Exclude<XmlValue, null | undefined> => v !== null && v !== undefined);
    if (items.length === 0) {
      out.push(`<${name}/>`);
      return;
    }
    out.push(`<${name}>`);
    for (const v of items) element(out, 'item', v);
    out.push(`</${name}>`);
  } else if (typeof value === 'object') {
    const at = out.length;
    out.push(`<${name}>`);
    members(out, value as XmlObject);
    if (out.length === at + 1) out[at] = `<${name}/>`;
    else out.push(`</${name}>`);
  } else {
    out.push(`<${name}>${escapeText(String(value))}</${name}>`);
  }
}
