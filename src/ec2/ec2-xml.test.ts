import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DOMImplementation, DOMParser, XMLSerializer, type Element } from '@xmldom/xmldom';
import { EC2_NAMESPACE, ec2ErrorXml, ec2ResponseXml, type XmlObject, type XmlValue } from './ec2-xml.js';
import { instanceOf } from './ec2-instance-view.js';
import { compileInstanceTypes } from './ec2-instance-types.js';

describe('EC2 XML', () => {
  it('wraps a body in <ActionResponse> in the 2016-11-15 namespace with the request id first; lists as <item>, nulls left out', () => {
    const xml = ec2ResponseXml('DescribeKeyPairs', 'req-1', { keySet: [{ keyName: 'a & <b>', keyFingerprint: 'f' }, { keyName: 'c', n: 3, t: true }], nothing: null, gone: undefined });
    assert.equal(xml,
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<DescribeKeyPairsResponse xmlns="${EC2_NAMESPACE}"><requestId>req-1</requestId><keySet><item><keyName>a &amp; &lt;b&gt;</keyName><keyFingerprint>f</keyFingerprint></item>` +
      '<item><keyName>c</keyName><n>3</n><t>true</t></item></keySet></DescribeKeyPairsResponse>');
    const doc = new DOMParser().parseFromString(xml, 'text/xml');
    assert.equal(doc.getElementsByTagName('keyName')[0]?.textContent, 'a & <b>');
  });

  it('an empty list is an empty element (clients read it as [])', () => {
    assert.match(ec2ResponseXml('DescribeInstances', 'r', { reservationSet: [] }), /<reservationSet\/>/);
  });

  it('errors in the <Response><Errors> shape with RequestID', () => {
    assert.equal(ec2ErrorXml('InvalidAction', 'no <such> action', 'r-2'),
      '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>InvalidAction</Code><Message>no &lt;such&gt; action</Message></Error></Errors><RequestID>r-2</RequestID></Response>');
  });

  it('writes byte for byte what @xmldom/xmldom\'s DOM serialiser wrote, on the shapes the actions answer and on text to escape', () => {
    const vm = {
      id: 'v1', name: 'web & <db>', owner: 'u', template: 'tiny', templateId: 't1', state: 'running' as const, stateReason: 'a "reason" > \'x\' & <y>', host: 'h1', cluster: null,
      vcpus: 1, memoryMiB: 128, allowedActions: [], createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z',
      nics: [{ index: 0, network: 'lan', address: '198.18.0.10/24', mac: '52:54:00:00:00:01' }],
    };
    const groups = [{ id: 'sg-1', ownerId: 'u', name: 'default', description: '', createdAt: '' }];
    const instance = instanceOf({ instanceTypes: compileInstanceTypes() }, vm, {
      instanceId: 'i-0123456789abcdef0', imageId: 'ami-0123456789abcdef0', rec: { vmId: 'v1', reservationId: 'r-1', launchIndex: 0, instanceType: 'nubo.tiny', keyName: 'k&k' },
      sgs: groups, tags: new Map([['Name', '<b>&amp;</b>'], ['empty', '']]),
    }).xml;
    const bodies: [string, XmlObject][] = [
      ['DescribeInstances', { reservationSet: [{ reservationId: 'r-1', ownerId: 'u', groupSet: [], instancesSet: [instance, null, instance] }], nextToken: undefined }],
      ['RunInstances', { reservationId: 'r-1', ownerId: 'u', groupSet: [], instancesSet: [instance] }],
      ['DescribeTags', { tagSet: [] }],
      ['DescribeKeyPairs', { keySet: [{ keyName: ']]> & \u00e9\u{1F600} \t\r\n', n: 0, f: false, nested: { deeper: { empty: {} } } }] }],
      ['CreateTags', { return: true }],
    ];
    for (const [action, body] of bodies) assert.equal(ec2ResponseXml(action, 'req-9', body), viaDom(EC2_NAMESPACE, `${action}Response`, { requestId: 'req-9', ...body }), action);
    assert.equal(ec2ErrorXml('Bad', 'a <b> & "c"', 'r'), viaDom(null, 'Response', { Errors: { Error: { Code: 'Bad', Message: 'a <b> & "c"' } }, RequestID: 'r' }));
  });

  it('refuses a name that is not an XML element name, as the DOM did', () => {
    assert.throws(() => ec2ResponseXml('Describe', 'r', { 'bad name': 1 }), TypeError);
    assert.throws(() => ec2ResponseXml('Bad<Action', 'r', {}), TypeError);
  });
});

/** The answer as it was built before: an xmldom document, serialised (the reference the string writer must match). */
function viaDom(namespace: string | null, rootName: string, body: XmlObject): string {
  const doc = new DOMImplementation().createDocument(namespace, rootName, null);
  const append = (parent: Element, o: XmlObject): void => {
    for (const [name, value] of Object.entries(o)) {
      if (value === null || value === undefined) continue;
      const child = doc.createElementNS(parent.namespaceURI, name);
      fill(child, value);
      parent.appendChild(child);
    }
  };
  const fill = (el: Element, value: Exclude<XmlValue, null | undefined>): void => {
    if (Array.isArray(value)) {
      for (const v of value as readonly XmlValue[]) {
        if (v === null || v === undefined) continue;
        const item = doc.createElementNS(el.namespaceURI, 'item');
        fill(item, v);
        el.appendChild(item);
      }
    } else if (typeof value === 'object') append(el, value as XmlObject);
    else el.appendChild(doc.createTextNode(String(value)));
  };
  append(doc.documentElement!, body);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(doc)}`;
}
